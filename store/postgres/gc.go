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
	for _, step := range []struct {
		q      string
		arg    any
		counts bool
	}{
		// Relationship versions deleted or replaced at or before the oldest readable revision.
		{`DELETE FROM gatehouse_relationships WHERE (` + pk + `) IN (SELECT ` + pk + ` FROM gatehouse_relationships WHERE deleted_revision <= $1 LIMIT $2)`, minRev, true},
		// Relationships expired at or before the cutoff, live or not.
		{`DELETE FROM gatehouse_relationships WHERE (` + pk + `) IN (SELECT ` + pk + ` FROM gatehouse_relationships WHERE expires_at <= $1 LIMIT $2)`, before, true},
		// Attribute versions replaced or removed at or before the oldest readable revision.
		{`DELETE FROM gatehouse_attributes WHERE (object_type, object_id, created_revision) IN
			(SELECT object_type, object_id, created_revision FROM gatehouse_attributes WHERE deleted_revision <= $1 LIMIT $2)`, minRev, true},
		// The transaction log before it.
		{`DELETE FROM gatehouse_transactions WHERE revision IN (SELECT revision FROM gatehouse_transactions WHERE revision < $1 LIMIT $2)`, minRev, false},
	} {
		n, err := s.deleteInBatches(ctx, step.q, step.arg)
		if step.counts {
			removed += n
		}
		if err != nil {
			return removed, err
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

// deleteInBatches runs a DELETE taking (arg, batch size) until it deletes
// fewer rows than a batch, and returns how many it deleted.
func (s *Store) deleteInBatches(ctx context.Context, q string, arg any) (int, error) {
	n := 0
	for {
		tag, err := s.pool.Exec(ctx, q, arg, s.gcBatch)
		if err != nil {
			return n, s.fail("gc", err)
		}
		n += int(tag.RowsAffected())
		if tag.RowsAffected() < int64(s.gcBatch) {
			return n, nil
		}
	}
}
