package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// snapshotTx runs fn in a read-only REPEATABLE READ transaction, so that the
// metadata it reads and the rows it reads come from one snapshot.
func (s *Store) snapshotTx(ctx context.Context, what string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.fail(what, err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := fn(ctx, tx); err != nil {
		switch err.(type) {
		case *unavailableRevisionError, *callbackError:
			return err
		}
		return s.fail(what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(what, err)
	}
	return nil
}

// unavailableRevisionError wraps store.ErrRevisionUnavailable with the bounds.
type unavailableRevisionError struct{ rev, min, head int64 }

func (e *unavailableRevisionError) Error() string {
	return fmt.Sprintf("%v: revision %d is outside the retained range [%d, %d]", store.ErrRevisionUnavailable, e.rev, e.min, e.head)
}

func (e *unavailableRevisionError) Unwrap() error { return store.ErrRevisionUnavailable }

// bounds reads the oldest readable and the head revision.
func bounds(ctx context.Context, tx pgx.Tx) (minRev, head int64, err error) {
	err = tx.QueryRow(ctx, `SELECT min_revision, head_revision FROM gatehouse_meta`).Scan(&minRev, &head)
	return minRev, head, err
}

// atRevision runs fn in a snapshot transaction after checking that rev is
// readable: not past the head, not collected.
func (s *Store) atRevision(ctx context.Context, what string, rev store.Revision, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.snapshotTx(ctx, what, func(ctx context.Context, tx pgx.Tx) error {
		minRev, head, err := bounds(ctx, tx)
		if err != nil {
			return err
		}
		if int64(rev) > head || (int64(rev) < minRev && int64(rev) != head) {
			return &unavailableRevisionError{int64(rev), minRev, head}
		}
		return fn(ctx, tx)
	})
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, rev store.Revision, f store.Filter, page store.Page) ([]tuple.Relationship, error) {
	var out []tuple.Relationship
	err := s.atRevision(ctx, "read relationships", rev, func(ctx context.Context, tx pgx.Tx) error {
		p := &params{}
		q := `SELECT ` + relColumns + ` FROM gatehouse_relationships WHERE ` + visibleAt(p.add(int64(rev))) + ` AND ` + filterSQL(f, p)
		if page.After != nil {
			q += ` AND ` + afterSQL(page.After, p)
		}
		q += ` ORDER BY ` + keyColumns
		if page.Limit > 0 {
			q += ` LIMIT ` + p.add(page.Limit)
		}
		rows, err := tx.Query(ctx, q, p.args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (tuple.Relationship, error) { return scanRel(row) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// callbackError carries an error of a caller's callback through a transaction.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// Snapshot implements store.Loader. Rows are streamed from one REPEATABLE READ
// transaction, so memory does not grow with the store.
func (s *Store) Snapshot(ctx context.Context, fn func(tuple.Relationship) error, attrs func(store.ObjectAttributes) error) (store.Revision, error) {
	var head int64
	err := s.snapshotTx(ctx, "load snapshot", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if _, head, err = bounds(ctx, tx); err != nil {
			return err
		}
		if attrs != nil {
			if err := liveAttributes(ctx, tx, attrs); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT `+relColumns+` FROM gatehouse_relationships WHERE deleted_revision = 9223372036854775807`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRel(rows)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return &callbackError{err}
			}
		}
		return rows.Err()
	})
	if cb, ok := err.(*callbackError); ok {
		return 0, cb.err
	}
	if err != nil {
		return 0, err
	}
	return store.Revision(head), nil
}

// ReadSchema implements store.SchemaStore.
func (s *Store) ReadSchema(ctx context.Context) (store.SchemaVersion, error) {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return store.SchemaVersion{}, err
	}
	defer cancel()
	var v store.SchemaVersion
	err = s.pool.QueryRow(ctx, `SELECT revision, committed_at, text FROM gatehouse_schemas ORDER BY revision DESC LIMIT 1`).
		Scan(&v.Revision, &v.Timestamp, &v.Text)
	if errNoRows(err) {
		return store.SchemaVersion{}, nil
	}
	if err != nil {
		return store.SchemaVersion{}, s.fail("read schema", err)
	}
	return v, nil
}

// SchemaHistory implements store.SchemaStore.
func (s *Store) SchemaHistory(ctx context.Context) ([]store.SchemaVersion, error) {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT revision, committed_at, text FROM gatehouse_schemas ORDER BY revision DESC`)
	if err != nil {
		return nil, s.fail("read schema history", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SchemaVersion, error) {
		var v store.SchemaVersion
		var ts time.Time
		err := row.Scan(&v.Revision, &ts, &v.Text)
		v.Timestamp = ts
		return v, err
	})
	if err != nil {
		return nil, s.fail("read schema history", err)
	}
	return out, nil
}
