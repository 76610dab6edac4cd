package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/authzed-go/v1"
	"github.com/jackc/pgx/v5"
	"go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/postgres/pgtest"
)

const crashSchema = `definition user {}

definition document {
	relation viewer: user
	permission view = viewer
}`

// migrated returns a fresh PostgreSQL schema's URL, migrated with `gatehouse migrate`.
func migrated(t *testing.T) string {
	t.Helper()
	u := pgtest.URL(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--datastore", u}, noEnv, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("gatehouse migrate: %v", err)
	}
	if !strings.Contains(out.String(), "applied 0001_initial") {
		t.Fatalf("gatehouse migrate printed %q, want the applied migration", out.String())
	}
	return u
}

func noEnv(string) string { return "" }

func docViewer(doc, user string) *v1.Relationship {
	return &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Relation: "viewer",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: user}},
	}
}

func check(ctx context.Context, c *authzed.Client, doc, user string, cons *v1.Consistency) (v1.CheckPermissionResponse_Permissionship, error) {
	res, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: cons,
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: user}},
	})
	if err != nil {
		return 0, err
	}
	return res.Permissionship, nil
}

func mustWriteSchema(t *testing.T, c *authzed.Client) {
	t.Helper()
	if _, err := c.WriteSchema(context.Background(), &v1.WriteSchemaRequest{Schema: crashSchema}); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
}

// readDocs returns every document relationship as "doc@user", fully consistent.
func readDocs(t *testing.T, c *authzed.Client) map[string]bool {
	t.Helper()
	stream, err := c.ReadRelationships(context.Background(), &v1.ReadRelationshipsRequest{
		Consistency: fullyConsistent(), RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("ReadRelationships: %v", err)
		}
		r := res.GetRelationship()
		out[r.GetResource().GetObjectId()+"@"+r.GetSubject().GetObject().GetObjectId()] = true
	}
}

func TestServe_BoltIsTheDefaultAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, "--data-dir", dir)
	if !strings.Contains(p.logs.String(), `"datastore":"bolt:`+filepath.Join(dir, "gatehouse.db")) {
		t.Fatalf("serve did not log the bolt datastore:\n%s", p.logs.String())
	}
	c := p.client()
	mustWriteSchema(t, c)
	if _, err := c.WriteRelationships(context.Background(), &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: docViewer("readme", "alice")},
	}}); err != nil {
		t.Fatal(err)
	}
	p.stop()

	p = startProcess(t, "--data-dir", dir)
	got, err := check(context.Background(), p.client(), "readme", "alice", fullyConsistent())
	if err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("after restart: check = %v, %v; want HAS_PERMISSION", got, err)
	}
}

// crashTxn is one write transaction of the crash load: five relationships
// created together, or the deletion of an earlier transaction's five.
type crashTxn struct {
	doc    string // documents doc_0..doc_4, each viewed by user:u
	delete bool
	acked  bool
}

// crashLoad writes transactions from several goroutines until stop is closed
// and records which were acknowledged. Each goroutine has at most one write in
// flight, so at most `writers` transactions are unacknowledged. A writer stops
// at its first error (the server is gone, or something is wrong: err keeps
// the first error seen before stop).
type crashLoad struct {
	mu    sync.Mutex
	txns  []crashTxn
	acked int
	err   error
	live  int // writers still writing
	wg    sync.WaitGroup
}

func startCrashLoad(c *authzed.Client, round, writers int, stop <-chan struct{}) *crashLoad {
	l := &crashLoad{live: writers}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() {
				l.mu.Lock()
				l.live--
				l.mu.Unlock()
			}()
			var mine []int // indexes of this writer's acknowledged, undeleted creates
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tx := crashTxn{doc: fmt.Sprintf("r%dw%dt%d", round, w, i)}
				op := v1.RelationshipUpdate_OPERATION_CREATE
				if i%7 == 6 && len(mine) > 0 {
					l.mu.Lock()
					tx.doc = l.txns[mine[0]].doc
					l.mu.Unlock()
					mine = mine[1:]
					tx.delete, op = true, v1.RelationshipUpdate_OPERATION_DELETE
				}
				var updates []*v1.RelationshipUpdate
				for j := range 5 {
					updates = append(updates, &v1.RelationshipUpdate{Operation: op, Relationship: docViewer(fmt.Sprintf("%s_%d", tx.doc, j), "u")})
				}
				l.mu.Lock()
				idx := len(l.txns)
				l.txns = append(l.txns, tx)
				l.mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates})
				cancel()
				if err != nil {
					select {
					case <-stop:
					default:
						l.mu.Lock()
						if l.err == nil {
							l.err = err
						}
						l.mu.Unlock()
					}
					return
				}
				l.mu.Lock()
				l.txns[idx].acked = true
				l.acked++
				l.mu.Unlock()
				if !tx.delete {
					mine = append(mine, idx)
				}
			}
		}()
	}
	return l
}

// progress returns how many transactions were acknowledged, how many writers
// are still writing, and the first error a writer met.
func (l *crashLoad) progress() (acked, live int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.live, l.err
}

// wait waits for the writers to stop and returns every transaction tried.
func (l *crashLoad) wait() []crashTxn {
	l.wg.Wait()
	return l.txns
}

// verifyCrash checks that every acknowledged transaction is durable and every
// transaction is all or nothing.
func verifyCrash(t *testing.T, txns []crashTxn, present map[string]bool) {
	t.Helper()
	count := func(doc string) int {
		n := 0
		for j := range 5 {
			if present[fmt.Sprintf("%s_%d@u", doc, j)] {
				n++
			}
		}
		return n
	}
	deleted := map[string]bool{}   // by an acknowledged delete
	attempted := map[string]bool{} // by any delete
	for _, tx := range txns {
		if tx.delete {
			attempted[tx.doc] = true
			if tx.acked {
				deleted[tx.doc] = true
			}
		}
	}
	known := map[string]bool{}
	for _, tx := range txns {
		if tx.delete {
			continue
		}
		for j := range 5 {
			known[fmt.Sprintf("%s_%d@u", tx.doc, j)] = true
		}
		n := count(tx.doc)
		switch {
		case n != 0 && n != 5:
			t.Errorf("transaction %s is half-present: %d of 5 relationships", tx.doc, n)
		case tx.acked && deleted[tx.doc] && n != 0:
			t.Errorf("acknowledged delete of %s lost: %d relationships remain", tx.doc, n)
		case tx.acked && !attempted[tx.doc] && n != 5:
			t.Errorf("acknowledged create of %s lost", tx.doc)
		}
	}
	for k := range present {
		if !known[k] {
			t.Errorf("relationship %s was never written", k)
		}
	}
}

// crashRounds runs the crash test: serve, load, kill -9, restart, verify.
func crashRounds(t *testing.T, args ...string) {
	var all []crashTxn
	for round := range 3 {
		p := startProcess(t, args...)
		c := p.client()
		if round == 0 {
			mustWriteSchema(t, c)
		}
		stop := make(chan struct{})
		load := startCrashLoad(c, round, 4, stop)
		// Kill once the load is well under way (not after a fixed time: a
		// slow machine may take longer to get going), a little after a
		// batch of acknowledgements so that writes are in flight.
		deadline := time.Now().Add(30 * time.Second)
		for {
			acked, live, err := load.progress()
			if acked >= 40 {
				break
			}
			if live == 0 || time.Now().After(deadline) {
				p.kill9()
				close(stop)
				load.wait()
				t.Fatalf("round %d: only %d transactions acknowledged in 30s (writers left: %d); first error: %v", round, acked, live, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		p.kill9()
		close(stop)
		txns := load.wait()
		all = append(all, txns...)

		p = startProcess(t, args...)
		verifyCrash(t, all, readDocs(t, p.client()))
		acked := 0
		for _, tx := range txns {
			if tx.acked {
				acked++
			}
		}
		t.Logf("round %d: %d transactions attempted, %d acknowledged before kill -9", round, len(txns), acked)
		if acked < 20 {
			t.Fatalf("round %d: only %d transactions acknowledged; the load did not run", round, acked)
		}
		p.stop()
	}
}

func TestServe_KillNineBolt(t *testing.T) {
	crashRounds(t, "--data-dir", t.TempDir())
}

func TestServe_KillNinePostgres(t *testing.T) {
	crashRounds(t, "--datastore", migrated(t))
}

// TestServe_PostgresReplicas runs two gatehouse processes on one database: a
// write through one is visible through the other, fully consistent and with
// the token the write returned.
func TestServe_PostgresReplicas(t *testing.T) {
	u := migrated(t)
	a := startProcess(t, "--datastore", u).client()
	b := startProcess(t, "--datastore", u).client()
	ctx := context.Background()
	mustWriteSchema(t, a)
	for i := range 20 {
		doc := fmt.Sprintf("d%d", i)
		w, err := a.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: docViewer(doc, "alice")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		token := &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.WrittenAt}}
		for _, cons := range []*v1.Consistency{token, fullyConsistent()} {
			got, err := check(ctx, b, doc, "alice", cons)
			if err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
				t.Fatalf("replica b, %v: check %s = %v, %v; want HAS_PERMISSION", cons, doc, got, err)
			}
		}
		// And back: a delete through b is seen by a.
		d, err := b.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: doc}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := check(ctx, a, doc, "alice", &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: d.DeletedAt}})
		if err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
			t.Fatalf("replica a after delete through b: check %s = %v, %v; want NO_PERMISSION", doc, got, err)
		}
	}
}

// TestServe_PostgresOutage cuts gatehouse off its database (through a proxy that
// drops every connection and refuses new ones, as a restarting server does):
// checks at minimize_latency go on from the index, writes and fully consistent
// reads fail with Unavailable, and all recovers without restarting gatehouse.
func TestServe_PostgresOutage(t *testing.T) {
	u := migrated(t)
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, parsed.Host)
	parsed.Host = proxy.addr()
	p := startProcess(t, "--datastore", parsed.String())
	c := p.client()
	ctx := context.Background()
	mustWriteSchema(t, c)
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: docViewer("before", "alice")},
	}}); err != nil {
		t.Fatal(err)
	}
	if got, err := check(ctx, c, "before", "alice", fullyConsistent()); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("before the outage: %v, %v", got, err)
	}

	proxy.down()
	minimize := &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
	for i := range 20 {
		got, err := check(ctx, c, "before", "alice", minimize)
		if err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			t.Fatalf("during the outage, minimize_latency check %d = %v, %v; want HAS_PERMISSION from the index", i, got, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = c.WriteRelationships(wctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: docViewer("during", "alice")},
	}})
	cancel()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("write during the outage: %v; want Unavailable", err)
	}
	if strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "pgx") {
		t.Fatalf("write error leaks driver detail: %v", err)
	}
	_, err = check(ctx, c, "before", "alice", fullyConsistent())
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("fully consistent check during the outage: %v; want Unavailable", err)
	}

	proxy.up()
	var token *v1.ZedToken
	waitFor(t, "write after the database is back", 30*time.Second, func(ctx context.Context) error {
		w, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: docViewer("after", "alice")},
		}})
		if err == nil {
			token = w.WrittenAt
		}
		return err
	})
	got, err := check(ctx, c, "after", "alice", &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}})
	if err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
		t.Fatalf("after the outage the index did not catch up: %v, %v", got, err)
	}
	if got, err := check(ctx, c, "during", "alice", fullyConsistent()); err != nil || got != v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION {
		t.Fatalf("the write refused during the outage is present: %v, %v", got, err)
	}
}

// TestServe_BadDatastore: a datastore gatehouse cannot use is one clear error at
// start, and nothing is changed.
func TestServe_BadDatastore(t *testing.T) {
	serveErr := func(t *testing.T, args ...string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), noEnv, strings.NewReader(""), io.Discard, io.Discard)
		if err == nil {
			t.Fatal("serve started")
		}
		return err
	}
	unchanged := func(t *testing.T, path string, before []byte) {
		t.Helper()
		after, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("%s changed by the failed start (%v)", path, err)
		}
	}
	t.Run("corrupt bolt file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gatehouse.db")
		junk := bytes.Repeat([]byte("not a database "), 2000)
		os.WriteFile(path, junk, 0o600)
		err := serveErr(t, "--data-dir", dir)
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a gatehouse database") {
			t.Fatalf("error = %v; want it to name the file and say it is not a gatehouse database", err)
		}
		unchanged(t, path, junk)
	})
	t.Run("foreign bolt file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gatehouse.db")
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("someone-else")); return err })
		db.Close()
		before, _ := os.ReadFile(path)
		err = serveErr(t, "--data-dir", dir)
		if !strings.Contains(err.Error(), "not a gatehouse database") {
			t.Fatalf("error = %v; want not a gatehouse database", err)
		}
		unchanged(t, path, before)
	})
	t.Run("unknown datastore", func(t *testing.T) {
		if err := serveErr(t, "--datastore", "mysql://x"); !strings.Contains(err.Error(), "want bolt, memory or a postgres:// URL") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("unreachable postgres", func(t *testing.T) {
		err := serveErr(t, "--datastore", "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2")
		if !strings.Contains(err.Error(), "datastore unavailable") {
			t.Fatalf("error = %v; want datastore unavailable", err)
		}
	})
	t.Run("empty postgres", func(t *testing.T) {
		err := serveErr(t, "--datastore", pgtest.URL(t))
		if !strings.Contains(err.Error(), "has no gatehouse tables") || !strings.Contains(err.Error(), "gatehouse migrate") {
			t.Fatalf("error = %v; want it to say the database is not migrated and how to migrate", err)
		}
	})
	t.Run("newer postgres", func(t *testing.T) {
		u := migrated(t)
		conn, err := pgx.Connect(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `INSERT INTO gatehouse_migrations (version, name) VALUES (999, '0999_future')`); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--datastore", u}, {"--datastore", u, "--migrate"}} {
			if err := serveErr(t, args...); !strings.Contains(err.Error(), "newer than this gatehouse") {
				t.Fatalf("serve %v: error = %v; want newer schema", args, err)
			}
		}
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM gatehouse_migrations`).Scan(&n); err != nil || n != len(postgres.Migrations())+1 {
			t.Fatalf("migrations table changed: %d rows, %v", n, err)
		}
	})
}
