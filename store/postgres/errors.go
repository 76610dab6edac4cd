package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/store"
)

// Errors of opening and migrating a database.
var (
	// ErrBadURL: the connection string does not parse.
	ErrBadURL = errors.New("invalid PostgreSQL connection string")
	// ErrNotMigrated: the database lacks gatehouse's tables or some of its
	// migrations; run `gatehouse migrate` (or start with --migrate).
	ErrNotMigrated = errors.New("database is not migrated to this version of gatehouse")
	// ErrNewerSchema: the database was migrated by a newer gatehouse.
	ErrNewerSchema = errors.New("database schema is newer than this gatehouse")
)

// classify wraps a driver error: failures to reach the server become
// store.ErrUnavailable, context errors stay as they are, anything else is kept
// (for the log) under what was being done.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%s: %w: %v", what, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unreachable reports whether err means the server could not be reached or
// went away, as opposed to refusing the statement.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: shutdown, crash, starting up;
		// 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}
