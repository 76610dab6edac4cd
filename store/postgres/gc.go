package postgres

import (
	"context"
	"time"
)

// GC implements store.Collector. It first raises the oldest readable revision
// (a short transaction under the writers' lock), then deletes what no readable
// revision can see, in batches of the GC batch size, each its own statement.
func (s *Store) GC(ctx context.Context, before time.Time) (int, error) {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	minRev, err := s.raiseMinRevision(ctx, before)
	if err != nil {
		return 0, s.fail("gc", err)
	}
	removed := 0
	pk := keyColumns + ", created_revision"
	for _, c := range []struct {
		cond string
		arg  any
	}{
		// Versions deleted or replaced at or before the oldest readable revision.
		{`deleted_revision <= $1`, minRev},
		// Relationships expired at or before the cutoff, live or not.
		{`expires_at <= $1`, before},
	} {
		q := `DELETE FROM gatehouse_relationships WHERE (` + pk + `) IN (SELECT ` + pk + ` FROM gatehouse_relationships WHERE ` + c.cond + ` LIMIT $2)`
		for {
			tag, err := s.pool.Exec(ctx, q, c.arg, s.gcBatch)
			if err != nil {
				return removed, s.fail("gc", err)
			}
			removed += int(tag.RowsAffected())
			if tag.RowsAffected() < int64(s.gcBatch) {
				break
			}
		}
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM gatehouse_transactions WHERE revision IN
			(SELECT revision FROM gatehouse_transactions WHERE revision < $1 LIMIT $2)`, minRev, s.gcBatch)
		if err != nil {
			return removed, s.fail("gc", err)
		}
		if tag.RowsAffected() < int64(s.gcBatch) {
			break
		}
	}
	return removed, nil
}

// raiseMinRevision makes the oldest readable revision the first one committed
// at or after before (the head if there is none), never lowering it, and
// returns it.
func (s *Store) raiseMinRevision(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var minRev, head int64
	if err := tx.QueryRow(ctx, `SELECT min_revision, head_revision FROM gatehouse_meta FOR UPDATE`).Scan(&minRev, &head); err != nil {
		return 0, err
	}
	var first *int64
	if err := tx.QueryRow(ctx, `SELECT min(revision) FROM gatehouse_transactions WHERE committed_at >= $1`, before.Truncate(time.Microsecond)).Scan(&first); err != nil {
		return 0, err
	}
	target := head
	if first != nil {
		target = *first
	}
	if target <= minRev {
		return minRev, tx.Commit(ctx)
	}
	if _, err := tx.Exec(ctx, `UPDATE gatehouse_meta SET min_revision = $1`, target); err != nil {
		return 0, err
	}
	return target, tx.Commit(ctx)
}
