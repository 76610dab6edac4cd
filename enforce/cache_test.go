package enforce

import (
	"testing"
	"time"
)

// TestCache_ExpiresAndBounds: entries live ttl, and the cache never holds
// more than max.
func TestCache_ExpiresAndBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewCache(time.Second, 3)
	c.now = func() time.Time { return now }
	c.put("a", Verdict{Status: 200, Subject: "user:a"})
	if v, ok := c.get("a"); !ok || v.Subject != "user:a" {
		t.Fatalf("get(a) = %+v, %v", v, ok)
	}
	now = now.Add(999 * time.Millisecond)
	if _, ok := c.get("a"); !ok {
		t.Fatal("expired before its ttl")
	}
	now = now.Add(time.Millisecond)
	if _, ok := c.get("a"); ok {
		t.Fatal("served after its ttl")
	}
	for _, k := range []string{"b", "c", "d", "e", "f"} {
		c.put(k, Verdict{Status: 403})
		if len(c.seen) > 3 {
			t.Fatalf("%d entries, want at most 3", len(c.seen))
		}
	}
	if _, ok := c.get("f"); !ok {
		t.Error("the newest entry was evicted")
	}
}
