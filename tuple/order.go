package tuple

// IDPrefix packs the first eight bytes of id big-endian, zero-padded: for any
// two IDs, IDPrefix(a) < IDPrefix(b) implies a < b, and equal prefixes decide
// nothing. Sorting by prefix first makes most comparisons of IDs one integer
// comparison.
func IDPrefix(id string) uint64 {
	if len(id) >= 8 {
		return uint64(id[0])<<56 | uint64(id[1])<<48 | uint64(id[2])<<40 | uint64(id[3])<<32 |
			uint64(id[4])<<24 | uint64(id[5])<<16 | uint64(id[6])<<8 | uint64(id[7])
	}
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(id) {
			p |= uint64(id[i])
		}
	}
	return p
}
