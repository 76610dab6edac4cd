package memory

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

func BenchmarkTmpIndexInsert(b *testing.B) {
	es := make([]*entry, b.N)
	for i := range es {
		es[i] = &entry{key: tuple.Key{Resource: tuple.Object{Type: "document", ID: fmt.Sprint(i * 7919 % 1000003)}, Relation: "viewer", Subject: tuple.Subject{Type: "user", ID: fmt.Sprint(i % 5000)}}}
	}
	b.ResetTimer()
	var x index
	for _, e := range es {
		x.insert(e)
	}
}

func BenchmarkTmpMapInsert(b *testing.B) {
	es := make([]*entry, b.N)
	for i := range es {
		es[i] = &entry{key: tuple.Key{Resource: tuple.Object{Type: "document", ID: fmt.Sprint(i * 7919 % 1000003)}, Relation: "viewer", Subject: tuple.Subject{Type: "user", ID: fmt.Sprint(i % 5000)}}}
	}
	b.ResetTimer()
	m := map[tuple.Key]*entry{}
	for _, e := range es {
		m[e.key] = e
	}
}
