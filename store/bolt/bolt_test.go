package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/bolt"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

func openStore(t testing.TB, path string, opts ...bolt.Option) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A small GC batch makes the suite's collections span transactions.
		return openStore(t, filepath.Join(t.TempDir(), "gatehouse.db"), bolt.WithGCBatch(2))
	})
}

// dump is everything a store shows, rendered for comparison.
type dump struct {
	Head     store.Revision
	AtHead   []string
	AtOld    []string
	Snapshot []string
	Schema   store.SchemaVersion
	History  []store.SchemaVersion
	Changes  []string
}

func dumpStore(t *testing.T, s *bolt.Store, old store.Revision) dump {
	t.Helper()
	ctx := context.Background()
	var d dump
	var err error
	if d.Head, err = s.HeadRevision(ctx); err != nil {
		t.Fatalf("HeadRevision: %v", err)
	}
	for _, x := range []struct {
		rev store.Revision
		out *[]string
	}{{d.Head, &d.AtHead}, {old, &d.AtOld}} {
		rs, err := s.Read(ctx, x.rev, store.Filter{}, store.Page{})
		if err != nil {
			t.Fatalf("Read at %d: %v", x.rev, err)
		}
		*x.out = relStrings(rs)
	}
	var snap []tuple.Relationship
	if _, err := s.Snapshot(ctx, func(r tuple.Relationship) error { snap = append(snap, r); return nil }); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	d.Snapshot = relStrings(snap)
	if d.Schema, err = s.ReadSchema(ctx); err != nil {
		t.Fatalf("ReadSchema: %v", err)
	}
	if d.History, err = s.SchemaHistory(ctx); err != nil {
		t.Fatalf("SchemaHistory: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err = s.Changes(cctx, 0, func(c store.Change) error {
		d.Changes = append(d.Changes, describeChange(c))
		if c.Revision >= d.Head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Changes: %v", err)
	}
	return d
}

func relStrings(rs []tuple.Relationship) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func describeChange(c store.Change) string {
	parts := []string{fmt.Sprintf("@%d %s", c.Revision, c.Timestamp.Format(time.RFC3339Nano))}
	for _, u := range c.Updates {
		parts = append(parts, u.Op.String()+" "+u.Relationship.String())
	}
	if c.Schema != nil {
		parts = append(parts, fmt.Sprintf("SCHEMA %q", *c.Schema))
	}
	return strings.Join(parts, ", ")
}

func TestStore_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "gatehouse.db")
	s := openStore(t, path)
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Fatalf("Stat(%s) = %v, %v; want mode %v", p, fi.Mode(), err, want)
		}
	}
	id := s.ID()
	if len(id) != 32 {
		t.Fatalf("ID() = %q, want 32 hex digits", id)
	}
	exp := time.Date(2031, 7, 8, 9, 10, 11, 123456789, time.FixedZone("X", 3600))
	cav := &tuple.Caveat{Name: "c", Context: map[string]any{"n": 1.5, "l": []any{"x", nil, true, map[string]any{"": -0.25}}, "e": map[string]any{}}}
	r1, err := s.Write(ctx, nil, []store.Update{
		{Op: store.OpCreate, Relationship: withCaveat(tuple.MustParse("document:1#viewer@user:a"), cav)},
		{Op: store.OpTouch, Relationship: withExpiration(tuple.MustParse("document:2#viewer@group:g#member"), exp)},
		{Op: store.OpTouch, Relationship: tuple.MustParse("document:3#viewer@user:b")},
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := s.WriteSchema(ctx, "definition user {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	if _, err := s.Write(ctx, nil, []store.Update{
		{Op: store.OpDelete, Relationship: tuple.MustParse("document:3#viewer@user:b")},
		{Op: store.OpTouch, Relationship: tuple.MustParse("document:1#viewer@user:a")},
	}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := s.WriteSchema(ctx, "definition user {}\ndefinition document {}"); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	before := dumpStore(t, s, r1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, path)
	defer s.Close()
	after := dumpStore(t, s, r1)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopening:\n got  %+v\n want %+v", after, before)
	}
	if len(after.AtOld) != 3 || len(after.Changes) != 4 || len(after.History) != 2 {
		t.Fatalf("unexpected contents: %+v", after)
	}
	if s.ID() != id {
		t.Fatalf("ID after reopening = %q, want %q", s.ID(), id)
	}
	// The caveat context and expiration survive exactly.
	got, err := s.Read(ctx, r1, store.Filter{}, store.Page{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got[0].Caveat, cav) || !got[1].Expiration.Equal(exp) {
		t.Fatalf("read back %v, want caveat %+v and expiration %v", relStrings(got), cav, exp)
	}
	next, err := s.Write(ctx, nil, []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse("document:4#viewer@user:c")}})
	if err != nil || next != after.Head+1 {
		t.Fatalf("Write after reopening = (%d, %v), want revision %d", next, err, after.Head+1)
	}

	// GC history is kept across a restart too.
	if _, err := s.GC(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openStore(t, path)
	defer s.Close()
	if _, err := s.Read(ctx, r1, store.Filter{}, store.Page{}); !errors.Is(err, store.ErrRevisionUnavailable) {
		t.Fatalf("Read at a collected revision after reopening: %v, want ErrRevisionUnavailable", err)
	}
	if h, err := s.SchemaHistory(ctx); err != nil || len(h) != 2 {
		t.Fatalf("SchemaHistory after GC and reopening = (%v, %v), want 2 versions", h, err)
	}
}

func withCaveat(r tuple.Relationship, c *tuple.Caveat) tuple.Relationship {
	r.Caveat = c
	return r
}

func withExpiration(r tuple.Relationship, at time.Time) tuple.Relationship {
	r.Expiration = &at
	return r
}

func TestStore_BadFile(t *testing.T) {
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"random bytes", func(t *testing.T, path string) { writeFile(t, path, random) }, bolt.ErrNotGatehouse},
		{"empty file", func(t *testing.T, path string) { writeFile(t, path, nil) }, bolt.ErrNotGatehouse},
		{"truncated", func(t *testing.T, path string) {
			s := openStore(t, path)
			var us []store.Update
			for i := range 2000 {
				us = append(us, store.Update{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:%d#viewer@user:a", i))})
			}
			if _, err := s.Write(context.Background(), nil, us); err != nil {
				t.Fatal(err)
			}
			s.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The meta pages survive; most pages they point to do not.
			writeFile(t, path, b[:64<<10])
		}, bolt.ErrNotGatehouse},
		{"foreign bbolt file", func(t *testing.T, path string) {
			withBolt(t, path, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("widgets"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
		}, bolt.ErrNotGatehouse},
		{"empty bbolt file", func(t *testing.T, path string) {
			withBolt(t, path, func(*bbolt.Tx) error { return nil })
		}, bolt.ErrNotGatehouse},
		{"newer format", func(t *testing.T, path string) {
			openStore(t, path).Close()
			withBolt(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{0, 0, 0, 99})
			})
		}, bolt.ErrNewerFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			tt.make(t, path)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.WithOpenTimeout(100*time.Millisecond))
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want errors.Is(err, %v)", err, tt.want)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(got, want) {
				t.Fatalf("the failed Open changed the file (%v)", rerr)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Fatalf("the failed Open left files behind: %v", entries)
			}
		})
	}

	t.Run("already open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		s := openStore(t, path)
		defer s.Close()
		start := time.Now()
		s2, err := bolt.Open(path, bolt.WithOpenTimeout(200*time.Millisecond))
		if err == nil {
			s2.Close()
			t.Fatalf("second Open succeeded")
		}
		if !errors.Is(err, bolt.ErrLocked) {
			t.Fatalf("second Open: %v, want ErrLocked", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("second Open took %v", d)
		}
	})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func withBolt(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

const helperEnv = "GATEHOUSE_BOLT_KILL_TEST_DB"

// killRel is relationship i of transaction n written by TestHelperWriter.
func killRel(n, i int) tuple.Relationship {
	return tuple.MustParse(fmt.Sprintf("document:t%d_%d#viewer@user:u%d", n, i, i))
}

const killRels = 5

// TestHelperWriter is the child process of TestStore_KillNine: it writes
// transactions until it is killed, printing "rev n" after each (and
// "rev n del m" when transaction n also deleted transaction m's relationships).
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
		del := -1
		if n%7 == 6 {
			del = n - 3
			for i := range killRels {
				us = append(us, store.Update{Op: store.OpDelete, Relationship: killRel(del, i)})
			}
		}
		rev, err := s.Write(ctx, nil, us)
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
		// The change stream replays to the same state.
		replay := make(map[tuple.Key]bool)
		stop := errors.New("stop")
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.Changes(cctx, 0, func(c store.Change) error {
			for _, u := range c.Updates {
				replay[u.Relationship.Key()] = u.Op == store.OpTouch
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

func BenchmarkStore_Import(b *testing.B) {
	const n = 100_000
	rels := make([]tuple.Relationship, n)
	for i := range rels {
		// Unsorted input, as an export from another system would be.
		j := (i * 7919) % n
		rels[i] = tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", j, j%1000))
	}
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openStore(b, filepath.Join(b.TempDir(), "gatehouse.db"))
		b.StartTimer()
		start := time.Now()
		if _, err := s.Import(context.Background(), rels); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rels/s")
}

func BenchmarkStore_Write(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "gatehouse.db"))
	defer s.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		us := []store.Update{
			{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", i, i%100))},
			{Op: store.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:d%d#editor@user:u%d", i, i%100))},
		}
		start := time.Now()
		if _, err := s.Write(ctx, nil, us); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}

// TestStore_Import pins Import's CREATE semantics, which storetest does not
// cover: it is all or nothing, and an expired relationship (by the store's
// clock) is replaced.
func TestStore_Import(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openStore(t, filepath.Join(t.TempDir(), "gatehouse.db"), bolt.WithClock(func() time.Time { return now }))
	defer s.Close()
	r1, err := s.Write(ctx, nil, []store.Update{
		{Op: store.OpTouch, Relationship: tuple.MustParse("document:live#viewer@user:a")},
		{Op: store.OpTouch, Relationship: withExpiration(tuple.MustParse("document:exp#viewer@user:a"), now.Add(time.Minute))},
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh := []tuple.Relationship{tuple.MustParse("document:z#viewer@user:b"), tuple.MustParse("document:b#viewer@user:b")}

	tests := []struct {
		name string
		rels []tuple.Relationship
		want error
	}{
		{"duplicate key", append(slices.Clone(fresh), fresh[0]), store.ErrInvalidUpdate},
		{"live key", append(slices.Clone(fresh), tuple.MustParse("document:live#viewer@user:a")), store.ErrAlreadyExists},
		{"unexpired key", append(slices.Clone(fresh), tuple.MustParse("document:exp#viewer@user:a")), store.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Import(ctx, tt.rels); !errors.Is(err, tt.want) {
				t.Fatalf("Import: %v, want errors.Is(err, %v)", err, tt.want)
			}
			if h, _ := s.HeadRevision(ctx); h != r1 {
				t.Fatalf("head %d after a failed Import, want %d", h, r1)
			}
		})
	}

	now = now.Add(time.Hour) // document:exp has expired
	rev, err := s.Import(ctx, append(slices.Clone(fresh), tuple.MustParse("document:exp#viewer@user:a")))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	got, err := s.Read(ctx, rev, store.Filter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"document:b#viewer@user:b", "document:exp#viewer@user:a", "document:live#viewer@user:a", "document:z#viewer@user:b"}
	if !slices.Equal(relStrings(got), want) {
		t.Fatalf("after Import: %v, want %v", relStrings(got), want)
	}
	bySubject, err := s.Read(ctx, rev, store.Filter{Subject: &store.SubjectFilter{Type: "user", ID: "b"}}, store.Page{})
	if err != nil || !slices.Equal(relStrings(bySubject), []string{want[0], want[3]}) {
		t.Fatalf("Read by subject after Import = (%v, %v)", relStrings(bySubject), err)
	}
	var changes []store.Change
	stop := errors.New("stop")
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.Changes(cctx, r1, func(c store.Change) error { changes = append(changes, c); return stop })
	if len(changes) != 1 || changes[0].Revision != rev || len(changes[0].Updates) != 3 || !changes[0].Timestamp.Equal(now) {
		t.Fatalf("changes after %d: %+v, want one at %d with 3 TOUCHes at %v", r1, changes, rev, now)
	}
}
