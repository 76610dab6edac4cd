package service

import (
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestProtoCodec: what the codec writes, proto.Unmarshal reads back equal;
// what proto.Marshal writes, the codec reads back equal (into a message that
// held other values, which must not survive); a write request with a string
// that is not UTF-8 is still refused.
func TestProtoCodec(t *testing.T) {
	ctx, err := structpb.NewStruct(map[string]any{"tenant": "acme", "levels": []any{"a", 2.5, true}, "nested": map[string]any{"x": nil}})
	if err != nil {
		t.Fatal(err)
	}
	req := &v1.CheckPermissionRequest{
		Resource:   &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u"}, OptionalRelation: "member"},
		Context:    ctx,
	}
	c := protoCodec{}
	b, err := c.MarshalAppend([]byte("prefix"), req)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:6]) != "prefix" {
		t.Fatalf("MarshalAppend lost what dst held")
	}
	var back v1.CheckPermissionRequest
	if err := proto.Unmarshal(b[6:], &back); err != nil || !proto.Equal(&back, req) {
		t.Fatalf("proto.Unmarshal of the codec's bytes: %v, equal %v", err, proto.Equal(&back, req))
	}
	raw, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	into := &v1.CheckPermissionRequest{Permission: "stale", WithTracing: true}
	if err := c.Unmarshal(raw, into); err != nil || !proto.Equal(into, req) {
		t.Fatalf("codec Unmarshal: %v; got %v, want %v", err, into, req)
	}

	bad := &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"}, Relation: "viewer",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u"}}}}}}
	b, err = c.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the relation name "viewer" into bytes that are not UTF-8.
	for i := 0; i+6 <= len(b); i++ {
		if string(b[i:i+6]) == "viewer" {
			b[i], b[i+1] = 0xff, 0xfe
		}
	}
	if err := c.Unmarshal(b, &v1.WriteRelationshipsRequest{}); err == nil {
		t.Error("a write request with a string that is not UTF-8 was accepted")
	}
}
