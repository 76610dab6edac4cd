package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// open migrates a fresh schema and opens a store on it.
func open(t testing.TB, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := postgres.Open(ctx, url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url
}

func TestStore_Conformance(t *testing.T) {
	pgtest.BaseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := open(t)
		return s
	})
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)

	if _, err := postgres.Open(ctx, url); !errors.Is(err, postgres.ErrNotMigrated) {
		t.Fatalf("Open of an empty schema: %v, want ErrNotMigrated", err)
	}

	// Concurrent migrators: each migration is applied exactly once.
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = postgres.Migrate(ctx, url)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if want := len(postgres.Migrations()); total != want {
		t.Fatalf("concurrent migrators applied %d migrations in all, want %d", total, want)
	}
	if again, err := postgres.Migrate(ctx, url); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate applied %v (%v), want nothing", again, err)
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open after Migrate: %v", err)
	}
	id := s.ID()
	s.Close()
	s, err = postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != id || id == "" {
		t.Fatalf("store ID %q, then %q: want one stable, non-empty ID", id, s.ID())
	}
	s.Close()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO gatehouse_migrations (version, name) VALUES (9999, '9999_future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, url); !errors.Is(err, postgres.ErrNewerSchema) {
		t.Fatalf("Open of a newer schema: %v, want ErrNewerSchema", err)
	}
	if _, err := postgres.Migrate(ctx, url); !errors.Is(err, postgres.ErrNewerSchema) {
		t.Fatalf("Migrate of a newer schema: %v, want ErrNewerSchema", err)
	}
}

func TestOpen_Errors(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://%zz"); !errors.Is(err, postgres.ErrBadURL) {
		t.Fatalf("bad URL: %v, want ErrBadURL", err)
	}
	if _, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("unreachable server: %v, want store.ErrUnavailable", err)
	}
}

// TestChanges_AcrossStores: a commit through one Store reaches the change
// stream of another Store on the same database (as on another replica) well
// before the poll interval, through NOTIFY.
func TestChanges_AcrossStores(t *testing.T) {
	a, url := open(t)
	b, err := postgres.Open(context.Background(), url, postgres.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan store.Change, 1)
	go b.Changes(ctx, 0, func(c store.Change) error { got <- c; return nil })
	time.Sleep(200 * time.Millisecond) // let b's stream reach its wait
	rev, err := a.Write(ctx, nil, []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse("document:1#viewer@user:a")}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Revision != rev || len(c.Updates) != 1 {
			t.Fatalf("change = %+v, want revision %d with one update", c, rev)
		}
	case <-ctx.Done():
		t.Fatal("the other store's change stream did not wake up (poll interval is an hour)")
	}
}
