package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// objectArrays holds objects as column arrays for unnest().
type objectArrays struct{ types, ids []string }

func (a *objectArrays) add(o tuple.Object) {
	a.types = append(a.types, o.Type)
	a.ids = append(a.ids, o.ID)
}

// unnest returns a FROM item "unnest(...) AS o(object_type, object_id)".
func (a *objectArrays) unnest(p *params) string {
	return "unnest(" + p.add(a.types) + "::text[], " + p.add(a.ids) + "::text[]) AS o(object_type, object_id)"
}

// objectJoin is the condition that attribute row r belongs to object o.
const objectJoin = `r.object_type = o.object_type COLLATE "C" AND r.object_id = o.object_id COLLATE "C"`

// scanAttributes reads (object_type, object_id, attributes) rows.
func scanAttributes(rows pgx.Rows) ([]store.ObjectAttributes, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ObjectAttributes, error) {
		var oa store.ObjectAttributes
		var enc string
		if err := row.Scan(&oa.Object.Type, &oa.Object.ID, &enc); err != nil {
			return oa, err
		}
		v, err := store.DecodeAttributes([]byte(enc))
		oa.Values = v
		return oa, err
	})
}

// writeAttributes checks the batch's attribute preconditions and applies its
// attribute mutations in transaction t.
func (t *txn) writeAttributes(ctx context.Context, b store.Batch) error {
	if len(b.AttributePreconditions) == 0 && len(b.Attributes) == 0 {
		return nil
	}
	var named objectArrays
	for _, p := range b.AttributePreconditions {
		named.add(p.Object)
	}
	for _, u := range b.Attributes {
		named.add(u.Object)
	}
	p := &params{}
	rows, err := t.Query(ctx, `SELECT r.object_type, r.object_id, r.attributes FROM gatehouse_attributes r JOIN `+named.unnest(p)+
		` ON `+objectJoin+` WHERE r.deleted_revision = 9223372036854775807`, p.args...)
	if err != nil {
		return err
	}
	live, err := scanAttributes(rows)
	if err != nil {
		return err
	}
	current := make(map[tuple.Object]map[string]any, len(live))
	for _, oa := range live {
		current[oa.Object] = oa.Values
	}
	for _, pc := range b.AttributePreconditions {
		ok, err := store.AttributePreconditionHolds(pc, current[pc.Object])
		if err != nil {
			return err
		}
		if !ok {
			return &store.AttributePreconditionError{Precondition: pc}
		}
	}
	changed, enc, err := store.ApplyAttributeUpdates(b.Attributes, b.MaxAttributeBytes, func(o tuple.Object) (map[string]any, error) {
		return current[o], nil
	})
	if err != nil || len(changed) == 0 {
		return err
	}
	var ended, added objectArrays
	var values []string
	for i, oa := range changed {
		ended.add(oa.Object)
		if enc[i] != nil {
			added.add(oa.Object)
			values = append(values, string(enc[i]))
		}
	}
	p = &params{}
	q := `UPDATE gatehouse_attributes r SET deleted_revision = ` + p.add(t.rev) + ` FROM ` + ended.unnest(p) +
		` WHERE ` + objectJoin + ` AND r.deleted_revision = 9223372036854775807`
	if _, err := t.Exec(ctx, q, p.args...); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	p = &params{}
	q = `INSERT INTO gatehouse_attributes (object_type, object_id, attributes, created_revision) SELECT o.object_type, o.object_id, o.attributes, ` +
		p.add(t.rev) + `::bigint FROM unnest(` + p.add(added.types) + `::text[], ` + p.add(added.ids) + `::text[], ` + p.add(values) +
		`::text[]) AS o(object_type, object_id, attributes)`
	_, err = t.Exec(ctx, q, p.args...)
	return err
}

// ReadAttributes implements store.AttributeReader.
func (s *Store) ReadAttributes(ctx context.Context, rev store.Revision, objects []tuple.Object) (map[tuple.Object]map[string]any, error) {
	out := make(map[tuple.Object]map[string]any)
	err := s.atRevision(ctx, "read attributes", rev, func(ctx context.Context, tx pgx.Tx) error {
		if len(objects) == 0 {
			return nil
		}
		var named objectArrays
		for _, o := range objects {
			named.add(o)
		}
		p := &params{}
		rows, err := tx.Query(ctx, `SELECT r.object_type, r.object_id, r.attributes FROM gatehouse_attributes r JOIN `+named.unnest(p)+
			` ON `+objectJoin+` WHERE r.`+visibleAt(p.add(int64(rev))), p.args...)
		if err != nil {
			return err
		}
		found, err := scanAttributes(rows)
		for _, oa := range found {
			out[oa.Object] = oa.Values
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanAttributes implements store.AttributeReader.
func (s *Store) ScanAttributes(ctx context.Context, rev store.Revision, f store.AttributeFilter, after string, limit int) ([]store.ObjectAttributes, error) {
	var out []store.ObjectAttributes
	err := s.atRevision(ctx, "scan attributes", rev, func(ctx context.Context, tx pgx.Tx) error {
		p := &params{}
		q := `SELECT object_type, object_id, attributes FROM gatehouse_attributes WHERE ` + visibleAt(p.add(int64(rev))) +
			` AND object_type = ` + p.add(f.Type) + ` AND ` + prefixSQL("object_id", f.IDPrefix, p)
		if after != "" {
			q += ` AND object_id > ` + p.add(after)
		}
		q += ` ORDER BY object_id`
		if limit > 0 {
			q += ` LIMIT ` + p.add(limit)
		}
		rows, err := tx.Query(ctx, q, p.args...)
		if err != nil {
			return err
		}
		out, err = scanAttributes(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// liveAttributes calls fn for every object with attributes, as tx sees them.
func liveAttributes(ctx context.Context, tx pgx.Tx, fn func(store.ObjectAttributes) error) error {
	rows, err := tx.Query(ctx, `SELECT object_type, object_id, attributes FROM gatehouse_attributes WHERE deleted_revision = 9223372036854775807`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oa store.ObjectAttributes
		var enc string
		if err := rows.Scan(&oa.Object.Type, &oa.Object.ID, &enc); err != nil {
			return err
		}
		if oa.Values, err = store.DecodeAttributes([]byte(enc)); err != nil {
			return err
		}
		if err := fn(oa); err != nil {
			return &callbackError{err}
		}
	}
	return rows.Err()
}

// attributeChanges adds to the changes of revisions (a, last] the attributes
// they wrote, ordered by type then ID.
func attributeChanges(ctx context.Context, tx pgx.Tx, a, last int64, out []store.Change, byRev map[int64]int) error {
	rows, err := tx.Query(ctx, `SELECT object_type, object_id, attributes, created_revision, deleted_revision FROM gatehouse_attributes
		WHERE (created_revision > $1 AND created_revision <= $2) OR (deleted_revision > $1 AND deleted_revision <= $2)`, a, last)
	if err != nil {
		return err
	}
	defer rows.Close()
	written := map[int64]map[tuple.Object]bool{}
	type ended struct {
		rev int64
		obj tuple.Object
	}
	var ends []ended
	for rows.Next() {
		var o tuple.Object
		var enc string
		var created, deleted int64
		if err := rows.Scan(&o.Type, &o.ID, &enc, &created, &deleted); err != nil {
			return err
		}
		if created > a && created <= last {
			v, err := store.DecodeAttributes([]byte(enc))
			if err != nil {
				return err
			}
			i := byRev[created]
			out[i].Attributes = append(out[i].Attributes, store.ObjectAttributes{Object: o, Values: v})
			if written[created] == nil {
				written[created] = map[tuple.Object]bool{}
			}
			written[created][o] = true
		}
		if deleted > a && deleted <= last {
			ends = append(ends, ended{deleted, o})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// A version ended in the revision that wrote the next one was replaced;
	// otherwise the object's attributes were removed.
	for _, e := range ends {
		if !written[e.rev][e.obj] {
			i := byRev[e.rev]
			out[i].Attributes = append(out[i].Attributes, store.ObjectAttributes{Object: e.obj})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Attributes, func(x, y store.ObjectAttributes) int {
			if c := strings.Compare(x.Object.Type, y.Object.Type); c != 0 {
				return c
			}
			return strings.Compare(x.Object.ID, y.Object.ID)
		})
	}
	return nil
}
