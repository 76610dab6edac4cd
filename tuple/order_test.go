package tuple

import "testing"

func TestIDPrefix_OrderConsistent(t *testing.T) {
	ids := []string{"", "\x00", "a", "a\x00", "a\x00b", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "b", "\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
	for _, a := range ids {
		for _, b := range ids {
			if pa, pb := IDPrefix(a), IDPrefix(b); (pa < pb && !(a < b)) || (pa > pb && !(a > b)) {
				t.Fatalf("IDPrefix(%q)=%x, IDPrefix(%q)=%x disagree with string order", a, pa, b, pb)
			}
		}
	}
	if IDPrefix("abcdefgh1") != IDPrefix("abcdefgh2") {
		t.Error("IDs equal in their first eight bytes have different prefixes")
	}
}
