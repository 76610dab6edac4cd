package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// changeBatch is how many transactions one poll reads at most.
const changeBatch = 1000

// Changes implements store.Watcher. It polls for revisions after the last one
// delivered: at once after a local commit or a notification from another
// replica's commit, otherwise every poll interval. While the database cannot be
// reached it retries with backoff instead of ending the stream.
func (s *Store) Changes(ctx context.Context, after store.Revision, fn func(store.Change) error) error {
	backoff := 50 * time.Millisecond
	for {
		if s.isClosed() {
			return store.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		wake := s.waitChan()
		cs, err := s.changesAfter(ctx, after)
		switch {
		case err == nil:
			backoff = 50 * time.Millisecond
		case errors.Is(err, store.ErrUnavailable):
			s.log.Warn("change stream cannot reach the database; retrying", "err", err, "retry_in", backoff)
			if err := s.sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		default:
			if s.isClosed() {
				return store.ErrClosed
			}
			return err
		}
		for _, c := range cs {
			if err := fn(c); err != nil {
				return err
			}
			after = c.Revision
		}
		if len(cs) == changeBatch {
			continue
		}
		select {
		case <-wake:
		case <-time.After(s.poll):
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing.Done():
			return store.ErrClosed
		}
	}
}

// sleep waits d, or returns early with the reason the stream must end.
func (s *Store) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing.Done():
		return store.ErrClosed
	}
}

// changesAfter reads up to changeBatch committed transactions after the given
// revision, with the relationship versions they created and deleted, from one snapshot.
func (s *Store) changesAfter(ctx context.Context, after store.Revision) ([]store.Change, error) {
	var out []store.Change
	err := s.snapshotTx(ctx, "read changes", func(ctx context.Context, tx pgx.Tx) error {
		minRev, head, err := bounds(ctx, tx)
		if err != nil {
			return err
		}
		a := int64(after)
		if a > head || (a < minRev && a != head) {
			return &unavailableRevisionError{a, minRev, head}
		}
		if a == head {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT t.revision, t.committed_at, s.text FROM gatehouse_transactions t
			LEFT JOIN gatehouse_schemas s ON s.revision = t.revision
			WHERE t.revision > $1 ORDER BY t.revision LIMIT $2`, a, changeBatch)
		if err != nil {
			return err
		}
		byRev := map[int64]int{}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Change, error) {
			var c store.Change
			var ts time.Time
			err := row.Scan(&c.Revision, &ts, &c.Schema)
			c.Timestamp = ts
			return c, err
		})
		if err != nil || len(out) == 0 {
			return err
		}
		for i, c := range out {
			byRev[int64(c.Revision)] = i
		}
		last := int64(out[len(out)-1].Revision)
		rows, err = tx.Query(ctx, `SELECT `+relColumns+`, created_revision, deleted_revision FROM gatehouse_relationships
			WHERE (created_revision > $1 AND created_revision <= $2) OR (deleted_revision > $1 AND deleted_revision <= $2)`, a, last)
		if err != nil {
			return err
		}
		defer rows.Close()
		touched := map[int64]map[tuple.Key]bool{}
		var deletes []struct {
			rev int64
			r   tuple.Relationship
		}
		for rows.Next() {
			var created, deleted int64
			r, err := scanRel(scanWith{rows, []any{&created, &deleted}})
			if err != nil {
				return err
			}
			if created > a && created <= last {
				i := byRev[created]
				out[i].Updates = append(out[i].Updates, store.Update{Op: store.OpTouch, Relationship: r})
				if touched[created] == nil {
					touched[created] = map[tuple.Key]bool{}
				}
				touched[created][r.Key()] = true
			}
			if deleted > a && deleted <= last {
				deletes = append(deletes, struct {
					rev int64
					r   tuple.Relationship
				}{deleted, r})
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := attributeChanges(ctx, tx, a, last, out, byRev); err != nil {
			return err
		}
		// A version deleted in the revision that wrote its replacement was
		// replaced, not deleted: the TOUCH says it all.
		for _, d := range deletes {
			if !touched[d.rev][d.r.Key()] {
				i := byRev[d.rev]
				out[i].Updates = append(out[i].Updates, store.Update{Op: store.OpDelete, Relationship: d.r})
			}
		}
		for i := range out {
			slices.SortFunc(out[i].Updates, func(x, y store.Update) int {
				return store.CompareKeys(x.Relationship.Key(), y.Relationship.Key())
			})
		}
		return nil
	})
	return out, err
}

// scanWith scans relColumns followed by extra destinations.
type scanWith struct {
	row   pgx.Row
	extra []any
}

func (w scanWith) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }
