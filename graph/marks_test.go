package graph

import "testing"

func TestMarks(t *testing.T) {
	m := newMarks(10_000)
	type key struct {
		o   uint32
		rel uint16
	}
	want := map[key]uint8{}
	for i, k := range []key{{0, 0}, {9_999, 3}, {4096, 1}, {4095, 1}, {absentResource, 2}, {absentResource, 5}, {17, 0}} {
		v := uint8(i%2 + 1)
		m.set(k.o, k.rel, v)
		want[k] = v
	}
	m.set(17, 0, 2) // overwrite
	want[key{17, 0}] = 2
	for k, v := range want {
		if got := m.get(k.o, k.rel); got != v {
			t.Errorf("get(%d, %d) = %d, want %d", k.o, k.rel, got, v)
		}
	}
	for _, k := range []key{{1, 0}, {9_999, 1}, {4096, 0}, {absentResource, 0}, {5, 9}} {
		if got := m.get(k.o, k.rel); got != 0 {
			t.Errorf("get(%d, %d) = %d for a mark never set", k.o, k.rel, got)
		}
	}
}
