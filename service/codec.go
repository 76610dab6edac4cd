package service

import (
	"errors"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"
)

var errNotProto = errors.New("not a protobuf message")

// vtMarshaler is implemented by the authzed-go messages, which carry
// vtprotobuf's generated (reflection-free) encoders.
type vtMarshaler interface {
	SizeVT() int
	MarshalToSizedBufferVT([]byte) (int, error)
}

type vtUnmarshaler interface {
	UnmarshalVT([]byte) error
}

// protoCodec is the binary protobuf codec of every handler: connect-go's
// behaviour (proto.Marshal and proto.Unmarshal), except that messages with
// vtprotobuf encoders are written with them, and the read requests on the
// hot path (checks and lookups) are read with them: decoding a request
// context (google.protobuf.Struct) by reflection cost 14% of a caveated
// check's server CPU. vtprotobuf's decoder does not check that strings are
// UTF-8, as SpiceDB's, which decodes every request with it, does not; it is
// used only for requests nothing is stored from, so a write still refuses
// invalid UTF-8.
type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (c protoCodec) Marshal(msg any) ([]byte, error) {
	return c.MarshalAppend(nil, msg)
}

// MarshalAppend lets connect reuse its buffers.
func (protoCodec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	if m, ok := msg.(vtMarshaler); ok {
		size := m.SizeVT()
		start := len(dst)
		dst = append(dst, make([]byte, size)...)
		n, err := m.MarshalToSizedBufferVT(dst[start:])
		if err != nil {
			return nil, err
		}
		return dst[:start+n], nil
	}
	pm, ok := msg.(proto.Message)
	if !ok {
		return nil, errNotProto
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm)
}

func (protoCodec) Unmarshal(data []byte, msg any) error {
	switch m := msg.(type) {
	case *v1.CheckPermissionRequest, *v1.CheckBulkPermissionsRequest, *v1.LookupResourcesRequest, *v1.LookupSubjectsRequest:
		proto.Reset(m.(proto.Message))
		return m.(vtUnmarshaler).UnmarshalVT(data)
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return errNotProto
}
