package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one embedded schema migration.
type Migration struct {
	Version int
	Name    string
	sql     string
}

// Migrations returns the migrations compiled into this binary, oldest first.
func Migrations() []Migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("postgres: embedded migrations: %v", err)) // the embed pattern guarantees the directory
	}
	var out []Migration
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic(fmt.Sprintf("postgres: migration %q is not named NNNN_name.sql", e.Name()))
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("postgres: embedded migration %s: %v", e.Name(), err))
		}
		out = append(out, Migration{Version: v, Name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out
}

// LatestVersion is the newest migration this binary knows.
func LatestVersion() int {
	ms := Migrations()
	return ms[len(ms)-1].Version
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS gatehouse_migrations (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies the migrations the database has not recorded yet, each once,
// in its own transaction, and returns the names of those it applied. Concurrent
// migrators are safe: the one that records a version first applies it, the
// other finds it recorded. A database already at a newer version than this
// binary knows fails with ErrNewerSchema and is left alone.
func Migrate(ctx context.Context, url string) ([]string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify("connect", err)
	}
	defer conn.Close(context.Background())
	if err := createMigrationsTableOnce(ctx, conn); err != nil {
		return nil, err
	}
	current, err := currentVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if latest := LatestVersion(); current > latest {
		return nil, fmt.Errorf("%w: the database is at migration %d, this binary knows up to %d", ErrNewerSchema, current, latest)
	}
	var applied []string
	for _, m := range Migrations() {
		if m.Version <= current {
			continue
		}
		done, err := apply(ctx, conn, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

// createMigrationsTableOnce creates the migrations table if it is absent.
// PostgreSQL's IF NOT EXISTS is not safe against a concurrent creator, which
// makes the loser fail with a duplicate key; by then the table exists.
func createMigrationsTableOnce(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, createMigrationsTable)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07" || pgErr.Code == "42710") { // unique_violation, duplicate_table, duplicate_object (its row type)
		_, err = conn.Exec(ctx, createMigrationsTable)
	}
	if err != nil {
		return classify("create migrations table", err)
	}
	return nil
}

// apply runs one migration in a transaction that first records it, so a
// concurrent migrator blocks on the record and then finds it taken.
func apply(ctx context.Context, conn *pgx.Conn, m Migration) (bool, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, classify("begin migration", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `INSERT INTO gatehouse_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation: another migrator applied it
			return false, nil
		}
		return false, classify("record migration "+m.Name, err)
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, classify("apply", err))
	}
	if err := tx.Commit(ctx); err != nil {
		return false, classify("commit migration "+m.Name, err)
	}
	return true, nil
}

// querier is what version checks need of a connection or pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentVersion returns the newest recorded migration, 0 if none is, and
// ErrNotMigrated if the migrations table itself is absent.
func currentVersion(ctx context.Context, q querier) (int, error) {
	var v *int
	err := q.QueryRow(ctx, `SELECT max(version) FROM gatehouse_migrations`).Scan(&v)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return 0, fmt.Errorf("%w: the database has no gatehouse tables", ErrNotMigrated)
		}
		return 0, classify("read migration version", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// checkVersion fails unless the database is at exactly this binary's version.
func checkVersion(ctx context.Context, q querier) error {
	v, err := currentVersion(ctx, q)
	if err != nil {
		return err
	}
	latest := LatestVersion()
	switch {
	case v > latest:
		return fmt.Errorf("%w: the database is at migration %d, this binary knows up to %d; upgrade gatehouse", ErrNewerSchema, v, latest)
	case v < latest:
		return fmt.Errorf("%w: the database is at migration %d of %d", ErrNotMigrated, v, latest)
	}
	return nil
}
