package postgres

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// keyColumns are the columns of a relationship key, in store.CompareKeys order.
const keyColumns = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation"

// relColumns are the columns scanRel reads.
const relColumns = keyColumns + ", caveat_name, caveat_context, expires_at"

// liveAt is the condition of a version that is live and, by the clock value in
// the given parameter, not expired: what writes and preconditions see.
// Columns are qualified with q ("" or "r.").
func liveAt(q, nowParam string) string {
	return q + "deleted_revision = 9223372036854775807 AND (" + q + "expires_at IS NULL OR " + q + "expires_at > " + nowParam + ")"
}

// qualified prefixes each column of a comma-separated list with q.
func qualified(q, cols string) string {
	return q + strings.ReplaceAll(cols, ", ", ", "+q)
}

// visibleAt is the condition of a version visible at the revision in the given parameter.
func visibleAt(revParam string) string {
	return "created_revision <= " + revParam + " AND deleted_revision > " + revParam
}

// params collects positional query arguments.
type params struct{ args []any }

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// filterSQL returns the conditions selecting f, "TRUE" if none.
func filterSQL(f store.Filter, p *params) string {
	var w []string
	if f.ResourceType != "" {
		w = append(w, "resource_type = "+p.add(f.ResourceType))
	}
	if len(f.ResourceIDs) > 0 {
		w = append(w, "resource_id = ANY("+p.add(f.ResourceIDs)+"::text[])")
	}
	if f.ResourceIDPrefix != "" {
		w = append(w, prefixSQL("resource_id", f.ResourceIDPrefix, p))
	}
	if f.Relation != "" {
		w = append(w, "relation = "+p.add(f.Relation))
	}
	if sf := f.Subject; sf != nil {
		if sf.Type != "" {
			w = append(w, "subject_type = "+p.add(sf.Type))
		}
		if sf.ID != "" {
			w = append(w, "subject_id = "+p.add(sf.ID))
		}
		if sf.Relation != nil {
			w = append(w, "subject_relation = "+p.add(*sf.Relation))
		}
	}
	if len(w) == 0 {
		return "TRUE"
	}
	return strings.Join(w, " AND ")
}

// prefixSQL returns the condition that column starts with prefix, as an index
// range ("TRUE" for the empty prefix).
func prefixSQL(column, prefix string, p *params) string {
	if prefix == "" {
		return "TRUE"
	}
	if upper, ok := prefixUpperBound(prefix); ok {
		return column + " >= " + p.add(prefix) + " AND " + column + " < " + p.add(upper)
	}
	return column + " >= " + p.add(prefix) + " AND left(" + column + ", " + p.add(utf8.RuneCountInString(prefix)) + "::integer) = " + p.add(prefix)
}

// prefixUpperBound returns the smallest string greater than every string with
// the given prefix, in bytewise (= code point) order, so that a prefix match
// becomes an index range. ok is false when there is none.
func prefixUpperBound(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.RuneError && size <= 1 || r == utf8.MaxRune {
			continue
		}
		r++
		if r == 0xD800 { // skip the surrogates, which UTF-8 cannot encode
			r = 0xE000
		}
		return prefix + string(r), true
	}
	return "", false
}

// afterSQL returns the condition for keys strictly after k.
func afterSQL(k *tuple.Key, p *params) string {
	return "(" + keyColumns + ") > (" + strings.Join([]string{
		p.add(k.Resource.Type), p.add(k.Resource.ID), p.add(k.Relation),
		p.add(k.Subject.Type), p.add(k.Subject.ID), p.add(k.Subject.Relation),
	}, ", ") + ")"
}

// scanRel reads the relColumns of one row.
func scanRel(row pgx.Row) (tuple.Relationship, error) {
	var r tuple.Relationship
	var caveatName, caveatContext *string
	var expires *time.Time
	if err := row.Scan(&r.Resource.Type, &r.Resource.ID, &r.Relation, &r.Subject.Type, &r.Subject.ID, &r.Subject.Relation,
		&caveatName, &caveatContext, &expires); err != nil {
		return r, err
	}
	if caveatName != nil {
		r.Caveat = &tuple.Caveat{Name: *caveatName}
		if caveatContext != nil {
			if err := json.Unmarshal([]byte(*caveatContext), &r.Caveat.Context); err != nil {
				return r, fmt.Errorf("caveat context of %s: %w", r.String(), err)
			}
		}
	}
	if expires != nil {
		t := expires.UTC()
		r.Expiration = &t
	}
	return r, nil
}

// relArrays holds a batch of relationships as column arrays, for unnest()
// and COPY.
type relArrays struct {
	resType, resID, relation, subType, subID, subRel []string
	caveatName, caveatContext                        []*string
	expires                                          []*time.Time
}

func (a *relArrays) add(r tuple.Relationship) error {
	name, ctx, exp, err := relExtras(r)
	if err != nil {
		return err
	}
	a.addKey(r.Key())
	a.caveatName = append(a.caveatName, name)
	a.caveatContext = append(a.caveatContext, ctx)
	a.expires = append(a.expires, exp)
	return nil
}

// relRow is r as a row of the relColumns, for COPY.
func relRow(r tuple.Relationship) ([]any, error) {
	name, ctx, exp, err := relExtras(r)
	if err != nil {
		return nil, err
	}
	return []any{r.Resource.Type, r.Resource.ID, r.Relation, r.Subject.Type, r.Subject.ID, r.Subject.Relation, name, ctx, exp}, nil
}

// relExtras encodes the caveat name, caveat context (JSON) and expiration
// columns of r, nil where r has none.
func relExtras(r tuple.Relationship) (name, ctx *string, exp *time.Time, err error) {
	if r.Caveat != nil {
		n := r.Caveat.Name
		name = &n
		if r.Caveat.Context != nil {
			b, err := json.Marshal(r.Caveat.Context)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%w: caveat context of %s: %v", store.ErrInvalidUpdate, r.String(), err)
			}
			c := string(b)
			ctx = &c
		}
	}
	if r.Expiration != nil {
		t := *r.Expiration
		exp = &t
	}
	return name, ctx, exp, nil
}

func (a *relArrays) addKey(k tuple.Key) {
	a.resType = append(a.resType, k.Resource.Type)
	a.resID = append(a.resID, k.Resource.ID)
	a.relation = append(a.relation, k.Relation)
	a.subType = append(a.subType, k.Subject.Type)
	a.subID = append(a.subID, k.Subject.ID)
	a.subRel = append(a.subRel, k.Subject.Relation)
}

// keyUnnest returns a FROM item "unnest(...) AS k(<keyColumns>)" over the key arrays.
func (a *relArrays) keyUnnest(p *params) string {
	return "unnest(" + p.add(a.resType) + "::text[], " + p.add(a.resID) + "::text[], " + p.add(a.relation) + "::text[], " +
		p.add(a.subType) + "::text[], " + p.add(a.subID) + "::text[], " + p.add(a.subRel) + "::text[]) AS k(" + keyColumns + ")"
}

// relUnnest is keyUnnest with the caveat and expiration columns too.
func (a *relArrays) relUnnest(p *params) string {
	return "unnest(" + p.add(a.resType) + "::text[], " + p.add(a.resID) + "::text[], " + p.add(a.relation) + "::text[], " +
		p.add(a.subType) + "::text[], " + p.add(a.subID) + "::text[], " + p.add(a.subRel) + "::text[], " +
		p.add(a.caveatName) + "::text[], " + p.add(a.caveatContext) + "::text[], " + p.add(a.expires) + "::timestamptz[]) AS k(" + relColumns + ")"
}

// keyJoin is the condition that relationship row r has the key of k.
const keyJoin = `r.resource_type = k.resource_type COLLATE "C" AND r.resource_id = k.resource_id COLLATE "C" AND r.relation = k.relation COLLATE "C" AND r.subject_type = k.subject_type COLLATE "C" AND r.subject_id = k.subject_id COLLATE "C" AND r.subject_relation = k.subject_relation COLLATE "C"`
