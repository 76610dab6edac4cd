package gatehousev1_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	gatehousev1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse-dev/gatehouse/gen/gatehouse/v1/gatehousev1connect"
)

// These tests pin the wire shape of gatehouse.v1: procedure names, streaming
// types, field numbers, kinds and cardinalities, and enum numbers. An edit to
// proto/ that changes any of them fails here; if the change is intended (and
// compatible, see buf.yaml's WIRE_JSON breaking rules), update the tables.

func TestServices_Methods(t *testing.T) {
	tests := []struct {
		procedure string
		input     protoreflect.FullName
		output    protoreflect.FullName
	}{
		{gatehousev1connect.AttributeServiceWriteAttributesProcedure, "gatehouse.v1.WriteAttributesRequest", "gatehouse.v1.WriteAttributesResponse"},
		{gatehousev1connect.AttributeServiceReadAttributesProcedure, "gatehouse.v1.ReadAttributesRequest", "gatehouse.v1.ReadAttributesResponse"},
		{gatehousev1connect.AuthorizeServiceAuthorizeProcedure, "gatehouse.v1.AuthorizeRequest", "gatehouse.v1.AuthorizeResponse"},
	}
	want := map[string]bool{}
	for _, tt := range tests {
		want[tt.procedure] = true
		t.Run(tt.procedure, func(t *testing.T) {
			// Procedures are "/<service>/<method>".
			service, method, _ := strings.Cut(strings.TrimPrefix(tt.procedure, "/"), "/")
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
			if err != nil {
				t.Fatalf("service %s: %v", service, err)
			}
			sd, ok := d.(protoreflect.ServiceDescriptor)
			if !ok {
				t.Fatalf("%s is a %T, not a service", service, d)
			}
			md := sd.Methods().ByName(protoreflect.Name(method))
			if md == nil {
				t.Fatalf("service %s has no method %s", service, method)
			}
			if md.IsStreamingClient() || md.IsStreamingServer() {
				t.Errorf("%s: streaming client=%v server=%v, want unary", tt.procedure, md.IsStreamingClient(), md.IsStreamingServer())
			}
			if got := md.Input().FullName(); got != tt.input {
				t.Errorf("%s input = %s, want %s", tt.procedure, got, tt.input)
			}
			if got := md.Output().FullName(); got != tt.output {
				t.Errorf("%s output = %s, want %s", tt.procedure, got, tt.output)
			}
		})
	}

	// No method was added or removed without updating this test.
	for _, file := range []protoreflect.FileDescriptor{
		gatehousev1.File_gatehouse_v1_attributes_proto,
		gatehousev1.File_gatehouse_v1_authorize_proto,
		gatehousev1.File_gatehouse_v1_common_proto,
	} {
		for i := 0; i < file.Services().Len(); i++ {
			sd := file.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				p := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				if !want[p] {
					t.Errorf("unexpected procedure %s", p)
				}
			}
		}
	}
}

func TestServices_ConnectHandlerPaths(t *testing.T) {
	attrs, _ := gatehousev1connect.NewAttributeServiceHandler(gatehousev1connect.UnimplementedAttributeServiceHandler{})
	authz, _ := gatehousev1connect.NewAuthorizeServiceHandler(gatehousev1connect.UnimplementedAuthorizeServiceHandler{})
	if attrs != "/gatehouse.v1.AttributeService/" || authz != "/gatehouse.v1.AuthorizeService/" {
		t.Errorf("handler paths = %q, %q", attrs, authz)
	}
	if got := gatehousev1connect.AttributeServiceName; got != "gatehouse.v1.AttributeService" {
		t.Errorf("AttributeServiceName = %q", got)
	}
	if got := gatehousev1connect.AuthorizeServiceName; got != "gatehouse.v1.AuthorizeService" {
		t.Errorf("AuthorizeServiceName = %q", got)
	}
}

type field struct {
	name   protoreflect.Name
	number protoreflect.FieldNumber
	kind   protoreflect.Kind
	list   bool
	// typ is the full name of the message or enum type, for those kinds.
	typ protoreflect.FullName
	// oneof is the containing oneof, if any.
	oneof protoreflect.Name
}

const (
	str     = protoreflect.StringKind
	boolean = protoreflect.BoolKind
	u32     = protoreflect.Uint32Kind
	msg     = protoreflect.MessageKind
	enum    = protoreflect.EnumKind
	strct   = protoreflect.FullName("google.protobuf.Struct")
	objRef  = protoreflect.FullName("gatehouse.v1.ObjectRef")
	subjRef = protoreflect.FullName("gatehouse.v1.SubjectRef")
	consist = protoreflect.FullName("gatehouse.v1.Consistency")
	dec     = protoreflect.FullName("gatehouse.v1.Decision")
)

func TestMessages_Fields(t *testing.T) {
	tests := map[protoreflect.FullName][]field{
		"gatehouse.v1.ObjectRef": {
			{name: "object_type", number: 1, kind: str},
			{name: "object_id", number: 2, kind: str},
		},
		"gatehouse.v1.SubjectRef": {
			{name: "object", number: 1, kind: msg, typ: objRef},
			{name: "optional_relation", number: 2, kind: str},
		},
		"gatehouse.v1.Consistency": {
			{name: "minimize_latency", number: 1, kind: boolean, oneof: "requirement"},
			{name: "at_least_as_fresh", number: 2, kind: str, oneof: "requirement"},
			{name: "at_exact_snapshot", number: 3, kind: str, oneof: "requirement"},
			{name: "fully_consistent", number: 4, kind: boolean, oneof: "requirement"},
		},
		"gatehouse.v1.AttributeUpdate": {
			{name: "operation", number: 1, kind: enum, typ: "gatehouse.v1.AttributeUpdate.Operation"},
			{name: "object", number: 2, kind: msg, typ: objRef},
			{name: "values", number: 3, kind: msg, typ: strct},
		},
		"gatehouse.v1.AttributePrecondition": {
			{name: "object", number: 1, kind: msg, typ: objRef},
			{name: "condition", number: 2, kind: enum, typ: "gatehouse.v1.AttributePrecondition.Condition"},
			{name: "must_match", number: 3, kind: msg, typ: strct},
		},
		"gatehouse.v1.WriteAttributesRequest": {
			{name: "updates", number: 1, kind: msg, list: true, typ: "gatehouse.v1.AttributeUpdate"},
			{name: "preconditions", number: 2, kind: msg, list: true, typ: "gatehouse.v1.AttributePrecondition"},
			{name: "relationship_updates", number: 3, kind: msg, list: true, typ: "gatehouse.v1.RelationshipUpdate"},
		},
		"gatehouse.v1.Relationship": {
			{name: "resource", number: 1, kind: msg, typ: objRef},
			{name: "relation", number: 2, kind: str},
			{name: "subject", number: 3, kind: msg, typ: subjRef},
			{name: "optional_caveat_name", number: 4, kind: str},
			{name: "optional_caveat_context", number: 5, kind: msg, typ: strct},
			{name: "optional_expires_at", number: 6, kind: msg, typ: "google.protobuf.Timestamp"},
		},
		"gatehouse.v1.RelationshipUpdate": {
			{name: "operation", number: 1, kind: enum, typ: "gatehouse.v1.RelationshipUpdate.Operation"},
			{name: "relationship", number: 2, kind: msg, typ: "gatehouse.v1.Relationship"},
		},
		"gatehouse.v1.WriteAttributesResponse": {
			{name: "written_at", number: 1, kind: str},
		},
		"gatehouse.v1.ReadAttributesRequest": {
			{name: "consistency", number: 1, kind: msg, typ: consist},
			{name: "objects", number: 2, kind: msg, list: true, typ: objRef},
			{name: "filter", number: 3, kind: msg, typ: "gatehouse.v1.AttributeFilter"},
			{name: "limit", number: 4, kind: u32},
			{name: "cursor", number: 5, kind: str},
		},
		"gatehouse.v1.AttributeFilter": {
			{name: "object_type", number: 1, kind: str},
			{name: "optional_object_id_prefix", number: 2, kind: str},
		},
		"gatehouse.v1.ReadAttributesResponse": {
			{name: "objects", number: 1, kind: msg, list: true, typ: "gatehouse.v1.ObjectAttributes"},
			{name: "read_at", number: 2, kind: str},
			{name: "next_cursor", number: 3, kind: str},
		},
		"gatehouse.v1.ObjectAttributes": {
			{name: "object", number: 1, kind: msg, typ: objRef},
			{name: "values", number: 2, kind: msg, typ: strct},
		},
		"gatehouse.v1.AuthorizeRequest": {
			{name: "resource", number: 1, kind: msg, typ: objRef},
			{name: "permission", number: 2, kind: str},
			{name: "subject", number: 3, kind: msg, typ: subjRef},
			{name: "subject_token", number: 4, kind: str},
			{name: "context", number: 5, kind: msg, typ: strct},
			{name: "consistency", number: 6, kind: msg, typ: consist},
			{name: "explain", number: 7, kind: boolean},
		},
		"gatehouse.v1.AuthorizeResponse": {
			{name: "decision", number: 1, kind: enum, typ: dec},
			{name: "checked_at", number: 2, kind: str},
			{name: "missing_context", number: 3, kind: str, list: true},
			{name: "subject", number: 4, kind: msg, typ: subjRef},
			{name: "explanation", number: 5, kind: msg, typ: "gatehouse.v1.Explanation"},
		},
		"gatehouse.v1.Explanation": {
			{name: "root", number: 1, kind: msg, typ: "gatehouse.v1.ExplainNode"},
		},
		"gatehouse.v1.ExplainNode": {
			{name: "kind", number: 1, kind: enum, typ: "gatehouse.v1.ExplainNode.Kind"},
			{name: "resource", number: 2, kind: msg, typ: objRef},
			{name: "relation", number: 3, kind: str},
			{name: "result", number: 4, kind: enum, typ: dec},
			{name: "relationship", number: 5, kind: str},
			{name: "caveat_name", number: 6, kind: str},
			{name: "caveat_context", number: 7, kind: msg, typ: strct},
			{name: "missing_context", number: 8, kind: str, list: true},
			{name: "children", number: 9, kind: msg, list: true, typ: "gatehouse.v1.ExplainNode"},
			{name: "note", number: 10, kind: str},
		},
	}

	// Every message of the package is pinned.
	seen := map[protoreflect.FullName]bool{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if d.ParentFile().Package() == "gatehouse.v1" {
			seen[d.FullName()] = true
			if _, ok := tests[d.FullName()]; !ok {
				t.Errorf("message %s is not pinned in this test", d.FullName())
			}
		}
		return true
	})

	for name, fields := range tests {
		t.Run(string(name), func(t *testing.T) {
			if !seen[name] {
				t.Fatalf("message %s is not registered", name)
			}
			mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
			if err != nil {
				t.Fatal(err)
			}
			md := mt.Descriptor()
			if got, want := md.Fields().Len(), len(fields); got != want {
				t.Errorf("%d fields, want %d", got, want)
			}
			for _, f := range fields {
				fd := md.Fields().ByName(f.name)
				if fd == nil {
					t.Errorf("no field %s", f.name)
					continue
				}
				if fd.Number() != f.number {
					t.Errorf("%s: number %d, want %d", f.name, fd.Number(), f.number)
				}
				if fd.Kind() != f.kind {
					t.Errorf("%s: kind %v, want %v", f.name, fd.Kind(), f.kind)
				}
				if fd.IsList() != f.list || fd.IsMap() {
					t.Errorf("%s: list=%v map=%v, want list=%v", f.name, fd.IsList(), fd.IsMap(), f.list)
				}
				if fd.HasPresence() && fd.ContainingOneof() == nil && fd.Kind() != msg {
					t.Errorf("%s: has explicit presence (optional), want implicit", f.name)
				}
				var typ protoreflect.FullName
				switch {
				case fd.Message() != nil:
					typ = fd.Message().FullName()
				case fd.Enum() != nil:
					typ = fd.Enum().FullName()
				}
				if typ != f.typ {
					t.Errorf("%s: type %q, want %q", f.name, typ, f.typ)
				}
				var oneof protoreflect.Name
				if od := fd.ContainingOneof(); od != nil {
					oneof = od.Name()
				}
				if oneof != f.oneof {
					t.Errorf("%s: oneof %q, want %q", f.name, oneof, f.oneof)
				}
				if got, want := fd.JSONName(), jsonName(f.name); got != want {
					t.Errorf("%s: JSON name %q, want %q", f.name, got, want)
				}
			}
		})
	}
}

// jsonName is protoc's default lowerCamelCase JSON name.
func jsonName(name protoreflect.Name) string {
	var b []byte
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b = append(b, c-'a'+'A')
			upper = false
		default:
			b = append(b, c)
			upper = false
		}
	}
	return string(b)
}

func TestEnums_Values(t *testing.T) {
	tests := map[protoreflect.FullName][]protoreflect.Name{
		"gatehouse.v1.Decision": {
			"DECISION_UNSPECIFIED", "DECISION_ALLOWED", "DECISION_DENIED", "DECISION_CONDITIONAL",
		},
		"gatehouse.v1.AttributeUpdate.Operation": {
			"OPERATION_UNSPECIFIED", "OPERATION_SET", "OPERATION_MERGE", "OPERATION_DELETE",
		},
		"gatehouse.v1.RelationshipUpdate.Operation": {
			"OPERATION_UNSPECIFIED", "OPERATION_CREATE", "OPERATION_TOUCH", "OPERATION_DELETE",
		},
		"gatehouse.v1.AttributePrecondition.Condition": {
			"CONDITION_UNSPECIFIED", "CONDITION_MUST_EXIST", "CONDITION_MUST_NOT_EXIST", "CONDITION_MUST_MATCH",
		},
		"gatehouse.v1.ExplainNode.Kind": {
			"KIND_UNSPECIFIED", "KIND_PERMISSION", "KIND_RELATION", "KIND_UNION", "KIND_INTERSECTION",
			"KIND_EXCLUSION", "KIND_ARROW", "KIND_RELATIONSHIP", "KIND_CAVEAT", "KIND_CYCLE_CUT", "KIND_MAX_DEPTH",
		},
	}

	// Every enum of the package is pinned.
	protoregistry.GlobalTypes.RangeEnums(func(et protoreflect.EnumType) bool {
		d := et.Descriptor()
		if d.ParentFile().Package() == "gatehouse.v1" {
			if _, ok := tests[d.FullName()]; !ok {
				t.Errorf("enum %s is not pinned in this test", d.FullName())
			}
		}
		return true
	})

	for name, values := range tests {
		t.Run(string(name), func(t *testing.T) {
			et, err := protoregistry.GlobalTypes.FindEnumByName(name)
			if err != nil {
				t.Fatal(err)
			}
			vs := et.Descriptor().Values()
			if vs.Len() != len(values) {
				t.Errorf("%d values, want %d", vs.Len(), len(values))
			}
			// The values are numbered in the order listed, from 0.
			for i, v := range values {
				vd := vs.ByName(v)
				if vd == nil {
					t.Errorf("no value %s", v)
					continue
				}
				if vd.Number() != protoreflect.EnumNumber(i) {
					t.Errorf("%s = %d, want %d", v, vd.Number(), i)
				}
			}
		})
	}
}

func TestFiles_GoPackage(t *testing.T) {
	// Pins the package and that the generated code is what the repo imports.
	for _, file := range []protoreflect.FileDescriptor{
		gatehousev1.File_gatehouse_v1_attributes_proto,
		gatehousev1.File_gatehouse_v1_authorize_proto,
		gatehousev1.File_gatehouse_v1_common_proto,
	} {
		if file.Package() != "gatehouse.v1" {
			t.Errorf("%s: package %s", file.Path(), file.Package())
		}
		if file.Syntax() != protoreflect.Proto3 {
			t.Errorf("%s: syntax %v, want proto3", file.Path(), file.Syntax())
		}
	}
}
