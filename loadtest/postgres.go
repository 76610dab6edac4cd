package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// spicedbDatabase is the database spicedb-postgres runs on; each run drops
// and recreates it.
const spicedbDatabase = "gatehouse_loadtest_spicedb"

// defaultPostgresURL is --postgres-url's default without LOADTEST_POSTGRES_URL.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// checkPostgresURL accepts a postgres:// or postgresql:// URL, the form whose
// database name can be replaced.
func checkPostgresURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return errors.New("--postgres-url must be a URL like " + defaultPostgresURL)
	}
	return nil
}

// withDatabase returns the URL s with its database name replaced.
func withDatabase(s, db string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

// preparePostgres connects with adminURL, checks that PostgreSQL records
// commit timestamps (SpiceDB's postgres datastore needs them), and drops and
// recreates the database db. It returns the URL of db.
func preparePostgres(ctx context.Context, adminURL, db string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", fmt.Errorf("--postgres-url: %w", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at %s:%d unreachable: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.Background())
	var track string
	if err := conn.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&track); err != nil {
		return "", fmt.Errorf("PostgreSQL: SHOW track_commit_timestamp: %w", err)
	}
	if track != "on" {
		return "", errors.New("PostgreSQL has track_commit_timestamp off, which SpiceDB needs: run ALTER SYSTEM SET track_commit_timestamp = on; and restart PostgreSQL")
	}
	name := pgx.Identifier{db}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("PostgreSQL: drop database %s: %w", db, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("PostgreSQL: create database %s: %w", db, err)
	}
	return withDatabase(adminURL, db)
}
