package tuple

import (
	"testing"
	"time"
)

func TestParse_RoundTrip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "document:1#viewer@user:alice", "document:1#viewer@user:alice"},
		{"userset", "document:1#viewer@group:eng#member", "document:1#viewer@group:eng#member"},
		{"ellipsis", "document:1#viewer@user:alice#...", "document:1#viewer@user:alice"},
		{"wildcard", "document:1#viewer@user:*", "document:1#viewer@user:*"},
		{"caveat", `document:1#viewer@user:a[only:{"day":"mon"}]`, `document:1#viewer@user:a[only:{"day":"mon"}]`},
		{"expiration", "document:1#viewer@user:a[expiration:2030-01-02T03:04:05Z]", "document:1#viewer@user:a[expiration:2030-01-02T03:04:05Z]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := r.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParse_Rejects(t *testing.T) {
	for _, in := range []string{"", "document:1", "document#viewer@user:a", "Document:1#viewer@user:a", "document:1#viewer@user:a[bad"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", in)
		}
	}
}

func TestRelationship_Expired(t *testing.T) {
	r := MustParse("document:1#viewer@user:a[expiration:2030-01-02T03:04:05Z]")
	if r.Expired(time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("expired before its time")
	}
	if !r.Expired(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatal("not expired at its expiration")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"document:1#viewer@user:alice", `d:1#v@u:a[c:{"x":1}]`, "a:b#c@d:e#f[expiration:2020-01-01T00:00:00Z]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("re-parse of %q (from %q) failed: %v", r.String(), s, err)
		}
		if again.Key() != r.Key() {
			t.Fatalf("key changed: %v vs %v", again.Key(), r.Key())
		}
	})
}
