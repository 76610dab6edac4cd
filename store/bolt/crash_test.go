package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/bolt"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

const helperEnv = "GATEHOUSE_BOLT_KILL_TEST_DB"

// killRel is relationship i of transaction n written by TestHelperWriter.
func killRel(n, i int) tuple.Relationship {
	return tuple.MustParse(fmt.Sprintf("document:t%d_%d#viewer@user:u%d", n, i, i))
}

const killRels = 5

// killObject is the object whose attributes transaction n of
// TestHelperWriter sets (and the transaction deleting n's relationships removes).
func killObject(n int) tuple.Object {
	return tuple.Object{Type: "batch", ID: fmt.Sprintf("t%d", n)}
}

// TestHelperWriter is the child process of TestStore_KillNine: it writes
// transactions until it is killed, printing "rev n" after each (and
// "rev n del m" when transaction n also deleted transaction m's relationships
// and attributes). Each transaction sets its own object's attributes too.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return
	}
	s, err := bolt.Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	head, _ := s.HeadRevision(ctx)
	start := int(head) * 1000 // distinct from earlier rounds' transactions
	out := bufio.NewWriter(os.Stdout)
	for n := start; ; n++ {
		var us []store.Update
		for i := range killRels {
			us = append(us, store.Update{Op: store.OpCreate, Relationship: killRel(n, i)})
		}
		attrs := []store.AttributeUpdate{{Op: store.AttrSet, Object: killObject(n), Values: map[string]any{"n": float64(n)}}}
		del := -1
		if n%7 == 6 {
			del = n - 3
			for i := range killRels {
				us = append(us, store.Update{Op: store.OpDelete, Relationship: killRel(del, i)})
			}
			attrs = append(attrs, store.AttributeUpdate{Op: store.AttrDelete, Object: killObject(del)})
		}
		rev, err := s.WriteBatch(ctx, store.Batch{Updates: us, Attributes: attrs})
		if err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			os.Exit(1)
		}
		if del >= 0 {
			fmt.Fprintf(out, "%d %d del %d\n", rev, n, del)
		} else {
			fmt.Fprintf(out, "%d %d\n", rev, n)
		}
		out.Flush()
	}
}

func TestStore_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	acked := make(map[int]bool)   // transaction → acknowledged
	deleted := make(map[int]bool) // transaction → acknowledged delete of it
	for round := range 3 {
		lastRev, count := runWriter(t, path, acked, deleted)
		t.Logf("round %d: %d transactions acknowledged, last revision %d", round, count, lastRev)

		s := openStore(t, path)
		ctx := context.Background()
		head, err := s.HeadRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head < lastRev {
			t.Fatalf("head %d is before the last acknowledged revision %d", head, lastRev)
		}
		rs, err := s.Read(ctx, head, store.Filter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		present := make(map[int]int)
		for _, r := range rs {
			var n, i int
			if _, err := fmt.Sscanf(r.Resource.ID, "t%d_%d", &n, &i); err != nil {
				t.Fatalf("unexpected relationship %s", r)
			}
			present[n]++
		}
		for n, c := range present {
			if c != killRels {
				t.Fatalf("transaction %d has %d of its %d relationships", n, c, killRels)
			}
		}
		for n := range acked {
			// Transaction n+3 deletes n when (n+3)%7 == 6; it may have
			// committed without being acknowledged, and is never deleted.
			_, deleter := present[n+3]
			wantAbsent := (n+3)%7 == 6 && deleter
			if deleted[n] && !wantAbsent {
				t.Fatalf("transaction %d: the acknowledged transaction deleting it is missing", n)
			}
			if _, ok := present[n]; ok == wantAbsent {
				t.Fatalf("transaction %d: present %v, want present %v", n, ok, !wantAbsent)
			}
		}
		// Each transaction's attributes are there exactly when its
		// relationships are: both or neither committed (or were deleted).
		oas, err := s.ScanAttributes(ctx, head, store.AttributeFilter{Type: "batch"}, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		withAttrs := make(map[int]bool)
		for _, oa := range oas {
			var n int
			if _, err := fmt.Sscanf(oa.Object.ID, "t%d", &n); err != nil || oa.Values["n"] != float64(n) {
				t.Fatalf("unexpected attributes %s=%v", oa.Object, oa.Values)
			}
			withAttrs[n] = true
			if _, ok := present[n]; !ok {
				t.Fatalf("transaction %d: attributes without relationships", n)
			}
		}
		for n := range present {
			if !withAttrs[n] {
				t.Fatalf("transaction %d: relationships without attributes", n)
			}
		}
		// The change stream replays to the same state.
		replay := make(map[tuple.Key]bool)
		replayAttrs := make(map[tuple.Object]bool)
		stop := errors.New("stop")
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.Changes(cctx, 0, func(c store.Change) error {
			for _, u := range c.Updates {
				replay[u.Relationship.Key()] = u.Op == store.OpTouch
			}
			for _, oa := range c.Attributes {
				replayAttrs[oa.Object] = oa.Values != nil
			}
			if c.Revision >= head {
				return stop
			}
			return nil
		})
		cancel()
		if head > 0 && !errors.Is(err, stop) {
			t.Fatalf("Changes: %v", err)
		}
		var live []tuple.Key
		for k, ok := range replay {
			if ok {
				live = append(live, k)
			}
		}
		var want []tuple.Key
		for _, r := range rs {
			want = append(want, r.Key())
		}
		slices.SortFunc(live, store.CompareKeys)
		if !slices.Equal(live, want) {
			t.Fatalf("change stream replays to %d relationships, Read has %d", len(live), len(want))
		}
		replayed := 0
		for o, ok := range replayAttrs {
			var n int
			if _, err := fmt.Sscanf(o.ID, "t%d", &n); err != nil || ok != withAttrs[n] {
				t.Fatalf("change stream replays %s to attributes %v, ScanAttributes to %v", o, ok, withAttrs[n])
			}
			if ok {
				replayed++
			}
		}
		if replayed != len(withAttrs) {
			t.Fatalf("change stream replays to %d objects with attributes, ScanAttributes has %d", replayed, len(withAttrs))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runWriter runs TestHelperWriter against path, kills it with SIGKILL after a
// second and a few hundred acknowledged transactions, and records what it
// acknowledged.
func runWriter(t *testing.T, path string, acked, deleted map[int]bool) (store.Revision, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	start := time.Now()
	var last store.Revision
	count := 0
	killed := false
	for line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "error" {
			t.Fatalf("writer: %s", line)
		}
		rev, _ := strconv.Atoi(f[0])
		n, _ := strconv.Atoi(f[1])
		last, acked[n] = store.Revision(rev), true
		if len(f) == 4 {
			m, _ := strconv.Atoi(f[3])
			deleted[m] = true
		}
		count++
		if !killed && (time.Since(start) > time.Second && count >= 300 || time.Since(start) > 30*time.Second) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("writer exited by itself after %d transactions", count)
	}
	return last, count
}
