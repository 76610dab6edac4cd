// Package pgtest gives tests an empty PostgreSQL schema of their own in the
// database named by GATEHOUSE_TEST_POSTGRES_URL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test database's URL.
const EnvURL = "GATEHOUSE_TEST_POSTGRES_URL"

// EnvRequired, when set to 1, turns a missing or unreachable test database into a failure.
const EnvRequired = "GATEHOUSE_TEST_POSTGRES_REQUIRED"

// BaseURL returns the test database's URL, or skips t (fails it when
// EnvRequired is set) if there is none.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("%s is required but not set", EnvURL)
		}
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://postgres@127.0.0.1:5432/postgres to run them", EnvURL)
	}
	return u
}

// URL creates a new, empty schema in the test database and returns a URL whose
// connections use it (through search_path); the schema is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gh_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test database (%s): %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return WithSearchPath(t, base, name)
}

// WithSearchPath returns base with its search_path set to schema.
func WithSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	if strings.Contains(base, "://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse %s: %v", EnvURL, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " search_path=" + schema
}
