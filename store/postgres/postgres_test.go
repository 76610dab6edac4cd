package postgres_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
)

// open migrates a fresh schema and opens a store on it.
func open(t *testing.T, opts ...postgres.Option) (*postgres.Store, string) {
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
