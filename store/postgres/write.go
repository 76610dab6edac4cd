package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// txn is the write transaction that will commit as revision rev.
type txn struct {
	pgx.Tx
	rev int64
	now time.Time // the store clock when the revision was taken
}

// errSkip from a commit body rolls back without creating a revision.
var errSkip = fmt.Errorf("postgres: nothing to commit")

// commit runs body in a transaction that holds the next revision: it locks the
// metadata row, so writers commit one at a time and in revision order, and a
// reader that sees revision N has seen all below it. body's error rolls back;
// errSkip rolls back and returns the head revision.
func (s *Store) commit(ctx context.Context, what string, body func(ctx context.Context, t *txn) error) (store.Revision, error) {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, s.fail(what, err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var head int64
	var headTS time.Time
	if err := tx.QueryRow(ctx, `SELECT head_revision, head_timestamp FROM gatehouse_meta FOR UPDATE`).Scan(&head, &headTS); err != nil {
		return 0, s.fail(what, err)
	}
	now := s.now()
	// Commit timestamps never decrease, whatever the clocks of the replicas do.
	ts := now.Truncate(time.Microsecond)
	if ts.Before(headTS) {
		ts = headTS
	}
	t := &txn{Tx: tx, rev: head + 1, now: now}
	if err := body(ctx, t); err != nil {
		if err == errSkip {
			return store.Revision(head), nil
		}
		return 0, s.fail(what, err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO gatehouse_transactions (revision, committed_at) VALUES ($1, $2)`, t.rev, ts)
	b.Queue(`UPDATE gatehouse_meta SET head_revision = $1, head_timestamp = $2`, t.rev, ts)
	b.Queue(`SELECT pg_notify('`+notifyChannel+`', $1)`, fmt.Sprint(t.rev))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, s.fail(what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, s.fail(what, err)
	}
	s.signal()
	return store.Revision(t.rev), nil
}

// Write implements store.Writer.
func (s *Store) Write(ctx context.Context, preconditions []store.Precondition, updates []store.Update) (store.Revision, error) {
	return s.WriteBatch(ctx, store.Batch{Preconditions: preconditions, Updates: updates})
}

// WriteBatch implements store.Writer.
func (s *Store) WriteBatch(ctx context.Context, b store.Batch) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkBatch(b.Updates); err != nil {
		return 0, err
	}
	var creates, all, puts relArrays
	var createRels []tuple.Relationship
	for _, u := range b.Updates {
		all.addKey(u.Relationship.Key())
		switch u.Op {
		case store.OpCreate:
			creates.addKey(u.Relationship.Key())
			createRels = append(createRels, u.Relationship)
			fallthrough
		case store.OpTouch:
			if err := puts.add(u.Relationship); err != nil {
				return 0, err
			}
		}
	}
	return s.commit(ctx, "write", func(ctx context.Context, t *txn) error {
		if err := checkPreconditions(ctx, t, b.Preconditions); err != nil {
			return err
		}
		if err := t.refuseExisting(ctx, &creates, createRels); err != nil {
			return err
		}
		if len(all.resType) > 0 {
			p := &params{}
			q := `UPDATE gatehouse_relationships r SET deleted_revision = ` + p.add(t.rev) + ` FROM ` + all.keyUnnest(p) +
				` WHERE ` + keyJoin + ` AND r.deleted_revision = 9223372036854775807`
			if _, err := t.Exec(ctx, q, p.args...); err != nil {
				return err
			}
		}
		if len(puts.resType) > 0 {
			p := &params{}
			q := `INSERT INTO gatehouse_relationships (` + relColumns + `, created_revision) SELECT k.*, ` + p.add(t.rev) + `::bigint FROM ` + puts.relUnnest(p)
			if _, err := t.Exec(ctx, q, p.args...); err != nil {
				return err
			}
		}
		return t.writeAttributes(ctx, b)
	})
}

// checkBatch refuses unknown operations and a key given twice.
func checkBatch(updates []store.Update) error {
	keys := make([]tuple.Key, len(updates))
	for i, u := range updates {
		switch u.Op {
		case store.OpCreate, store.OpTouch, store.OpDelete:
		default:
			return fmt.Errorf("%w: update %d has unknown operation %v", store.ErrInvalidUpdate, i, u.Op)
		}
		keys[i] = u.Relationship.Key()
	}
	return checkDistinct(keys)
}

func checkDistinct(keys []tuple.Key) error {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, store.CompareKeys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			r := tuple.Relationship{Resource: keys[i].Resource, Relation: keys[i].Relation, Subject: keys[i].Subject}
			return fmt.Errorf("%w: relationship %s appears more than once in the batch", store.ErrInvalidUpdate, r.String())
		}
	}
	return nil
}

// refuseExisting fails with *store.AlreadyExistsError if any key in creates
// (whose relationships, in the same order, are rels) is live and unexpired.
func (t *txn) refuseExisting(ctx context.Context, creates *relArrays, rels []tuple.Relationship) error {
	if len(rels) == 0 {
		return nil
	}
	p := &params{}
	q := `SELECT k.ord - 1 FROM unnest(` + p.add(creates.resType) + `::text[], ` + p.add(creates.resID) + `::text[], ` +
		p.add(creates.relation) + `::text[], ` + p.add(creates.subType) + `::text[], ` + p.add(creates.subID) + `::text[], ` +
		p.add(creates.subRel) + `::text[]) WITH ORDINALITY AS k(` + keyColumns + `, ord) JOIN gatehouse_relationships r ON ` + keyJoin +
		` AND ` + liveAt("r.", p.add(t.now)) + ` LIMIT 1`
	var i int64
	err := t.QueryRow(ctx, q, p.args...).Scan(&i)
	if errNoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return &store.AlreadyExistsError{Relationship: rels[i].Clone()}
}

// checkPreconditions runs every precondition in one round trip.
func checkPreconditions(ctx context.Context, t *txn, ps []store.Precondition) error {
	if len(ps) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, pc := range ps {
		p := &params{}
		b.Queue(`SELECT EXISTS (SELECT 1 FROM gatehouse_relationships WHERE `+liveAt("", p.add(t.now))+` AND `+filterSQL(pc.Filter, p)+`)`, p.args...)
	}
	br := t.SendBatch(ctx, b)
	defer br.Close()
	for _, pc := range ps {
		var found bool
		if err := br.QueryRow().Scan(&found); err != nil {
			return err
		}
		if found != pc.MustExist {
			return &store.PreconditionError{Precondition: pc}
		}
	}
	return br.Close()
}

// DeleteMatching implements store.Writer.
func (s *Store) DeleteMatching(ctx context.Context, preconditions []store.Precondition, f store.Filter, limit int) (store.Revision, int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	var deleted int
	var more bool
	rev, err := s.commit(ctx, "delete relationships", func(ctx context.Context, t *txn) error {
		if err := checkPreconditions(ctx, t, preconditions); err != nil {
			return err
		}
		p := &params{}
		live := liveAt("", p.add(t.now))
		where := filterSQL(f, p)
		victims := `SELECT ` + keyColumns + ` FROM gatehouse_relationships WHERE ` + live + ` AND ` + where
		if limit > 0 {
			victims += ` ORDER BY ` + keyColumns + ` LIMIT ` + p.add(limit)
		}
		q := `WITH k AS (` + victims + `) UPDATE gatehouse_relationships r SET deleted_revision = ` + p.add(t.rev) +
			` FROM k WHERE ` + keyJoin + ` AND r.deleted_revision = 9223372036854775807`
		tag, err := t.Exec(ctx, q, p.args...)
		if err != nil {
			return err
		}
		deleted = int(tag.RowsAffected())
		if deleted == 0 {
			return errSkip
		}
		if limit > 0 && deleted == limit {
			p := &params{}
			q := `SELECT EXISTS (SELECT 1 FROM gatehouse_relationships WHERE ` + liveAt("", p.add(t.now)) + ` AND ` + filterSQL(f, p) + `)`
			if err := t.QueryRow(ctx, q, p.args...).Scan(&more); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	return rev, deleted, more, nil
}

// WriteSchema implements store.SchemaStore.
func (s *Store) WriteSchema(ctx context.Context, text string) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.commit(ctx, "write schema", func(ctx context.Context, t *txn) error {
		_, err := t.Exec(ctx, `INSERT INTO gatehouse_schemas (revision, committed_at, text) VALUES ($1, (SELECT GREATEST(head_timestamp, $2) FROM gatehouse_meta), $3)`,
			t.rev, t.now.Truncate(time.Microsecond), text)
		return err
	})
}

// importColumns are the columns Import copies.
var importColumns = []string{"resource_type", "resource_id", "relation", "subject_type", "subject_id", "subject_relation",
	"caveat_name", "caveat_context", "expires_at", "created_revision"}

// errImportConflict: the fast import path met an existing key.
var errImportConflict = errors.New("postgres: import met an existing relationship")

// Import implements store.Importer. The fast path copies (COPY) the
// relationships straight into the relationship table in the transaction that
// holds the revision; if a key is already there (the unique index of live
// versions refuses it), the transaction is rolled back and the import is redone
// through a temporary table, which replaces expired relationships and names the
// live one that makes the import fail.
func (s *Store) Import(ctx context.Context, rels []tuple.Relationship) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys := make([]tuple.Key, len(rels))
	for i, r := range rels {
		keys[i] = r.Key()
	}
	if err := checkDistinct(keys); err != nil {
		return 0, err
	}
	rows := make([][]any, len(rels))
	for i, r := range rels {
		row, err := relRow(r)
		if err != nil {
			return 0, err
		}
		rows[i] = append(row, nil) // created_revision, set in the transaction
	}
	rev, err := s.commit(ctx, "import relationships", func(ctx context.Context, t *txn) error {
		for _, row := range rows {
			row[9] = t.rev
		}
		_, err := t.CopyFrom(ctx, pgx.Identifier{"gatehouse_relationships"}, importColumns, pgx.CopyFromRows(rows))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
			return errImportConflict
		}
		return err
	})
	if !errors.Is(err, errImportConflict) {
		return rev, err
	}
	return s.importChecked(ctx, rels, keys, rows)
}

// importChecked is Import's path for imports that meet existing keys.
func (s *Store) importChecked(ctx context.Context, rels []tuple.Relationship, keys []tuple.Key, rows [][]any) (store.Revision, error) {
	for i := range rows {
		rows[i] = rows[i][:9]
	}
	return s.commit(ctx, "import relationships", func(ctx context.Context, t *txn) error {
		if _, err := t.Exec(ctx, `CREATE TEMPORARY TABLE gatehouse_import (
			resource_type text COLLATE "C", resource_id text COLLATE "C", relation text COLLATE "C",
			subject_type text COLLATE "C", subject_id text COLLATE "C", subject_relation text COLLATE "C",
			caveat_name text, caveat_context text, expires_at timestamptz) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := t.CopyFrom(ctx, pgx.Identifier{"gatehouse_import"}, importColumns[:9], pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if len(rows) > 10000 {
			// Give the planner row counts for the joins below.
			if _, err := t.Exec(ctx, `ANALYZE gatehouse_import`); err != nil {
				return err
			}
		}
		p := &params{}
		q := `SELECT ` + qualified("k.", keyColumns) + ` FROM gatehouse_import k JOIN gatehouse_relationships r ON ` + keyJoin +
			` AND ` + liveAt("r.", p.add(t.now)) + ` LIMIT 1`
		var k tuple.Key
		err := t.QueryRow(ctx, q, p.args...).Scan(&k.Resource.Type, &k.Resource.ID, &k.Relation, &k.Subject.Type, &k.Subject.ID, &k.Subject.Relation)
		if err == nil {
			return &store.AlreadyExistsError{Relationship: rels[slices.Index(keys, k)].Clone()}
		}
		if !errNoRows(err) {
			return err
		}
		// Expired relationships with the same keys are replaced.
		p = &params{}
		q = `UPDATE gatehouse_relationships r SET deleted_revision = ` + p.add(t.rev) + ` FROM gatehouse_import k WHERE ` + keyJoin +
			` AND r.deleted_revision = 9223372036854775807`
		if _, err := t.Exec(ctx, q, p.args...); err != nil {
			return err
		}
		p = &params{}
		q = `INSERT INTO gatehouse_relationships (` + relColumns + `, created_revision) SELECT ` + relColumns + `, ` + p.add(t.rev) + `::bigint FROM gatehouse_import`
		_, err = t.Exec(ctx, q, p.args...)
		return err
	})
}
