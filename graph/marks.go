package graph

// marks holds a small state per (object, relation) for one walk over the
// index. Objects are dense interned numbers, so a state lives in a page of
// markPage bytes per relation, allocated on first use: no hashing on the hot
// path, and memory in proportion to the pages touched. Numbers past the
// index's objects (the absent-subject sentinels) live in a map.
type marks struct {
	objects int
	byRel   [][]*[markPage]uint8
	beyond  map[uint64]uint8
}

const (
	markShift = 12
	markPage  = 1 << markShift
	markMask  = markPage - 1
)

func newMarks(objects int) *marks { return &marks{objects: objects} }

func (m *marks) get(o uint32, rel uint16) uint8 {
	if int(o) >= m.objects {
		return m.beyond[uint64(o)<<16|uint64(rel)]
	}
	if int(rel) >= len(m.byRel) || m.byRel[rel] == nil {
		return 0
	}
	p := m.byRel[rel][o>>markShift]
	if p == nil {
		return 0
	}
	return p[o&markMask]
}

func (m *marks) set(o uint32, rel uint16, v uint8) {
	if int(o) >= m.objects {
		if m.beyond == nil {
			m.beyond = map[uint64]uint8{}
		}
		m.beyond[uint64(o)<<16|uint64(rel)] = v
		return
	}
	if int(rel) >= len(m.byRel) {
		m.byRel = append(m.byRel, make([][]*[markPage]uint8, int(rel)+1-len(m.byRel))...)
	}
	pages := m.byRel[rel]
	if pages == nil {
		pages = make([]*[markPage]uint8, (m.objects+markPage-1)/markPage)
		m.byRel[rel] = pages
	}
	p := pages[o>>markShift]
	if p == nil {
		p = new([markPage]uint8)
		pages[o>>markShift] = p
	}
	p[o&markMask] = v
}
