// Package store defines how gatehouse persists relationships and schema and streams their changes.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

// Revision orders committed write transactions. Revisions strictly increase in
// commit order (they need not be consecutive); 0 is "before anything was written".
type Revision int64

// CompareKeys orders relationship keys as Read returns them: by resource type,
// resource ID, relation, subject type, subject ID, then subject relation, each
// compared bytewise (so "" sorts first and "B" before "a"). It returns -1, 0 or +1.
func CompareKeys(a, b tuple.Key) int {
	if c := strings.Compare(a.Resource.Type, b.Resource.Type); c != 0 {
		return c
	}
	if c := strings.Compare(a.Resource.ID, b.Resource.ID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Relation, b.Relation); c != 0 {
		return c
	}
	if c := strings.Compare(a.Subject.Type, b.Subject.Type); c != 0 {
		return c
	}
	if c := strings.Compare(a.Subject.ID, b.Subject.ID); c != 0 {
		return c
	}
	return strings.Compare(a.Subject.Relation, b.Subject.Relation)
}

// Op is the kind of a relationship mutation.
type Op int

const (
	// OpCreate inserts a relationship and fails with ErrAlreadyExists if one with
	// the same key exists.
	OpCreate Op = iota + 1
	// OpTouch inserts or replaces a relationship (its caveat and expiration).
	OpTouch
	// OpDelete removes a relationship; deleting one that does not exist is not an error.
	OpDelete
)

// String returns the SpiceDB name of the operation.
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "CREATE"
	case OpTouch:
		return "TOUCH"
	case OpDelete:
		return "DELETE"
	default:
		return fmt.Sprintf("Op(%d)", int(o))
	}
}

// Update is one relationship mutation.
type Update struct {
	Op           Op
	Relationship tuple.Relationship
}

// SubjectFilter narrows a Filter by subject.
type SubjectFilter struct {
	Type string
	// ID, if non-empty, must match exactly.
	ID string
	// Relation, if non-nil, must match exactly; a pointer to "" matches subjects
	// without a relation (SpiceDB's "...").
	Relation *string
}

// Filter selects relationships. Empty fields match anything; at least one of
// ResourceType, ResourceIDs / ResourceIDPrefix or Subject should be set by callers
// that expose filters to users (SpiceDB requires it), but the store accepts any.
type Filter struct {
	ResourceType     string
	ResourceIDs      []string
	ResourceIDPrefix string
	Relation         string
	Subject          *SubjectFilter
}

// Matches reports whether r is selected by f.
func (f Filter) Matches(r tuple.Relationship) bool {
	if f.ResourceType != "" && r.Resource.Type != f.ResourceType {
		return false
	}
	if len(f.ResourceIDs) > 0 {
		found := false
		for _, id := range f.ResourceIDs {
			if id == r.Resource.ID {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.ResourceIDPrefix != "" && (len(r.Resource.ID) < len(f.ResourceIDPrefix) || r.Resource.ID[:len(f.ResourceIDPrefix)] != f.ResourceIDPrefix) {
		return false
	}
	if f.Relation != "" && r.Relation != f.Relation {
		return false
	}
	if s := f.Subject; s != nil {
		if s.Type != "" && r.Subject.Type != s.Type {
			return false
		}
		if s.ID != "" && r.Subject.ID != s.ID {
			return false
		}
		if s.Relation != nil && r.Subject.Relation != *s.Relation {
			return false
		}
	}
	return true
}

// Precondition must hold, inside the write transaction, for the write to commit.
type Precondition struct {
	// MustExist requires at least one relationship matching Filter; otherwise
	// none may match.
	MustExist bool
	Filter    Filter
}

// Change is one committed transaction as seen by the change stream.
type Change struct {
	Revision Revision
	// Timestamp is the commit time; it never decreases as revisions increase.
	Timestamp time.Time
	// Updates contains only OpTouch (the relationship as it now is) and OpDelete
	// (of which only the key is guaranteed), at most one per key. It is empty for
	// a transaction that changed no relationship.
	Updates []Update
	// Attributes holds, for each object whose attributes the transaction
	// changed, its attributes as they now are (Values nil: it has none left), at
	// most one per object, ordered by type then ID.
	Attributes []ObjectAttributes
	// Schema is set when the transaction wrote a new schema.
	Schema *string
}

// AttrOp is the kind of an attribute mutation.
type AttrOp int

const (
	// AttrSet replaces the object's attributes with Values.
	AttrSet AttrOp = iota + 1
	// AttrMerge sets the top-level keys of Values; a key whose value is nil is removed.
	AttrMerge
	// AttrDelete removes every attribute of the object; Values is ignored.
	AttrDelete
)

// String names the operation.
func (o AttrOp) String() string {
	switch o {
	case AttrSet:
		return "SET"
	case AttrMerge:
		return "MERGE"
	case AttrDelete:
		return "DELETE"
	default:
		return fmt.Sprintf("AttrOp(%d)", int(o))
	}
}

// AttributeUpdate is one mutation of an object's attributes: a JSON object
// (values nil, bool, float64, string, []any, map[string]any) per type:id.
// An object whose attributes become empty has none: it reads as absent.
type AttributeUpdate struct {
	Op     AttrOp
	Object tuple.Object
	Values map[string]any
}

// ObjectAttributes is an object and its attributes.
type ObjectAttributes struct {
	Object tuple.Object
	Values map[string]any
}

// AttrCondition is what an AttributePrecondition requires.
type AttrCondition int

const (
	// AttrMustExist: the object has attributes.
	AttrMustExist AttrCondition = iota + 1
	// AttrMustNotExist: the object has none.
	AttrMustNotExist
	// AttrMustMatch: each top-level key of Match is present with an equal
	// (JSON-equal) value.
	AttrMustMatch
)

// AttributePrecondition must hold, inside the write transaction and before its
// own mutations, for the write to commit.
type AttributePrecondition struct {
	Object    tuple.Object
	Condition AttrCondition
	Match     map[string]any
}

// DefaultMaxAttributeBytes bounds an object's attributes, as compact JSON, when
// a Batch sets no limit.
const DefaultMaxAttributeBytes = 4096

// Batch is one write transaction of relationship and attribute mutations.
type Batch struct {
	Preconditions          []Precondition
	Updates                []Update
	AttributePreconditions []AttributePrecondition
	Attributes             []AttributeUpdate
	// MaxAttributeBytes bounds each object's attributes after the batch, as
	// compact JSON; 0 means DefaultMaxAttributeBytes.
	MaxAttributeBytes int
}

// AttributeFilter selects objects by type and, optionally, ID prefix.
type AttributeFilter struct {
	Type     string
	IDPrefix string
}

// Page is a position in a filtered read; the zero Page starts at the beginning.
type Page struct {
	After *tuple.Key
	Limit int
}

// SchemaVersion is one stored schema text.
type SchemaVersion struct {
	Revision  Revision
	Timestamp time.Time
	Text      string
}

// Errors returned by stores. Stores wrap them with detail; test with errors.Is.
var (
	// ErrAlreadyExists: a CREATE met an existing relationship.
	ErrAlreadyExists = errors.New("relationship already exists")
	// ErrPreconditionFailed: a precondition of the write did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrRevisionUnavailable: the revision is older than the GC window or newer than the head.
	ErrRevisionUnavailable = errors.New("revision unavailable")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalidUpdate: the write batch itself is malformed (e.g. the same
	// relationship twice in one transaction).
	ErrInvalidUpdate = errors.New("invalid update")
	// ErrAttributesTooLarge: an object's attributes would exceed the batch's limit.
	ErrAttributesTooLarge = errors.New("attributes too large")
	// ErrUnavailable: the datastore cannot be reached right now (a network or
	// server failure). The operation may or may not have taken effect if it was
	// a write whose commit was in flight; retrying later is the remedy.
	ErrUnavailable = errors.New("datastore unavailable")
)

// AlreadyExistsError names the relationship a CREATE tried to write (as given in
// the update) whose key was already present.
type AlreadyExistsError struct{ Relationship tuple.Relationship }

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("could not CREATE relationship `%s`, as it already existed", e.Relationship.String())
}

// Unwrap makes errors.Is(err, ErrAlreadyExists) hold.
func (e *AlreadyExistsError) Unwrap() error { return ErrAlreadyExists }

// PreconditionError names the precondition that failed.
type PreconditionError struct{ Precondition Precondition }

func (e *PreconditionError) Error() string {
	if e.Precondition.MustExist {
		return "unable to satisfy write precondition: no relationship matches a MUST_MATCH filter"
	}
	return "unable to satisfy write precondition: a relationship matches a MUST_NOT_MATCH filter"
}

// Unwrap makes errors.Is(err, ErrPreconditionFailed) hold.
func (e *PreconditionError) Unwrap() error { return ErrPreconditionFailed }

// AttributesTooLargeError names the object whose attributes exceed the limit.
type AttributesTooLargeError struct {
	Object      tuple.Object
	Size, Limit int
}

func (e *AttributesTooLargeError) Error() string {
	return fmt.Sprintf("attributes of %s would be %d bytes, over the limit of %d", e.Object, e.Size, e.Limit)
}

// Unwrap makes errors.Is(err, ErrAttributesTooLarge) hold.
func (e *AttributesTooLargeError) Unwrap() error { return ErrAttributesTooLarge }

// AttributePreconditionError names the attribute precondition that failed.
type AttributePreconditionError struct{ Precondition AttributePrecondition }

func (e *AttributePreconditionError) Error() string {
	switch e.Precondition.Condition {
	case AttrMustExist:
		return fmt.Sprintf("unable to satisfy write precondition: %s has no attributes", e.Precondition.Object)
	case AttrMustNotExist:
		return fmt.Sprintf("unable to satisfy write precondition: %s has attributes", e.Precondition.Object)
	default:
		return fmt.Sprintf("unable to satisfy write precondition: attributes of %s do not match", e.Precondition.Object)
	}
}

// Unwrap makes errors.Is(err, ErrPreconditionFailed) hold.
func (e *AttributePreconditionError) Unwrap() error { return ErrPreconditionFailed }

// Writer commits relationship mutations atomically.
//
// Writes treat a relationship that has expired (by the store's clock) as absent:
// CREATE replaces it, preconditions do not see it and DeleteMatching neither
// deletes nor counts it; GC removes it later. Preconditions are checked first,
// against the state before the transaction's own updates.
type Writer interface {
	// Write applies updates atomically after checking preconditions, returning
	// the new revision. Every successful Write creates a revision, even one that
	// changes nothing (an empty batch, or a DELETE of an absent relationship).
	// Errors: ErrInvalidUpdate (unknown Op, or one key twice in the batch),
	// *PreconditionError, *AlreadyExistsError, ErrUnavailable, ErrClosed. On
	// error nothing is written (with ErrUnavailable, unless the commit itself was
	// in flight when the connection was lost).
	Write(ctx context.Context, preconditions []Precondition, updates []Update) (Revision, error)
	// WriteBatch is Write with attribute mutations too, all in one transaction:
	// relationship and attribute preconditions are checked first, then the
	// relationship updates and the attribute mutations (in order; several may
	// name one object) are applied. Errors: Write's, and
	// *AttributePreconditionError, *AttributesTooLargeError, ErrInvalidUpdate
	// (an unknown AttrOp or AttrCondition, or a value that is not JSON).
	WriteBatch(ctx context.Context, b Batch) (Revision, error)
	// DeleteMatching deletes up to limit (0 = no limit) live relationships matching f,
	// after checking preconditions. more is true when further matches remain.
	// If nothing matched, no revision is created and the head revision is returned.
	// Errors: *PreconditionError, ErrClosed.
	DeleteMatching(ctx context.Context, preconditions []Precondition, f Filter, limit int) (rev Revision, deleted int, more bool, err error)
}

// Reader reads relationships at a revision.
type Reader interface {
	// HeadRevision returns the newest committed revision. Errors: ErrClosed.
	HeadRevision(ctx context.Context) (Revision, error)
	// Read returns relationships matching f as of rev, ordered by CompareKeys,
	// starting after page.After, at most page.Limit (0 = no limit). Expired
	// relationships are returned too (until GC removes them); callers hide them.
	// Errors: ErrRevisionUnavailable (rev newer than the head or older than GC
	// retained), ErrClosed.
	Read(ctx context.Context, rev Revision, f Filter, page Page) ([]tuple.Relationship, error)
}

// AttributeReader reads object attributes at a revision.
type AttributeReader interface {
	// ReadAttributes returns the attributes, as of rev, of those of objects that
	// have any. Errors: ErrRevisionUnavailable, ErrClosed.
	ReadAttributes(ctx context.Context, rev Revision, objects []tuple.Object) (map[tuple.Object]map[string]any, error)
	// ScanAttributes returns the objects matching f that have attributes as of
	// rev, ordered by ID (bytewise), with IDs after `after`, at most limit
	// (0 = no limit). Errors: ErrRevisionUnavailable, ErrClosed.
	ScanAttributes(ctx context.Context, rev Revision, f AttributeFilter, after string, limit int) ([]ObjectAttributes, error)
}

// Loader loads everything at the head, for building an index.
type Loader interface {
	// Snapshot calls fn for every live relationship and, if attrs is not nil,
	// attrs for every object with attributes, all at the returned revision (the
	// head when it was called), including expired relationships GC has not
	// removed yet. It stops at and returns the first error of fn or attrs.
	// Errors: ErrClosed.
	Snapshot(ctx context.Context, fn func(tuple.Relationship) error, attrs func(ObjectAttributes) error) (Revision, error)
}

// Watcher streams committed changes in revision order.
type Watcher interface {
	// Changes calls fn for each change after the given revision, in order, waiting
	// for new ones until ctx is done (returning ctx.Err()) or fn returns an error
	// (returning it). Every committed revision is delivered, including ones with
	// no relationship updates, so a follower can reach any revision HeadRevision
	// returned. Errors: ErrRevisionUnavailable when after is newer than the head
	// or older than the retained history (also when a slow consumer falls behind
	// a GC), ErrClosed (also when the store is closed while waiting). A store
	// behind a network retries lost connections itself: the stream pauses while
	// the datastore is unreachable and resumes where it was, so a follower never
	// has to restart.
	Changes(ctx context.Context, after Revision, fn func(Change) error) error
}

// SchemaStore keeps schema text and its history.
type SchemaStore interface {
	// WriteSchema stores a new schema text, returning its revision, which is a
	// revision like any other (the change stream delivers it with Schema set).
	// Errors: ErrClosed.
	WriteSchema(ctx context.Context, text string) (Revision, error)
	// ReadSchema returns the current schema text and the revision that wrote it;
	// it is the zero SchemaVersion if none was ever written. Errors: ErrClosed.
	ReadSchema(ctx context.Context) (SchemaVersion, error)
	// SchemaHistory returns stored schema versions, newest first; GC keeps them.
	// Errors: ErrClosed.
	SchemaHistory(ctx context.Context) ([]SchemaVersion, error)
}

// Collector removes history.
type Collector interface {
	// GC removes deleted relationships and history (of relationships and
	// attributes) older than before, and relationships that expired at or
	// before it. It returns how many relationship and attribute versions
	// (deleted, replaced or expired) it removed.
	//
	// Afterwards the revisions committed before `before` are unavailable to Read
	// and Changes, except the head revision, which always stays available; a
	// later GC with an earlier cutoff makes nothing available again. Removing
	// expired relationships creates no revision and no change: they are already
	// invisible. Errors: ErrClosed.
	GC(ctx context.Context, before time.Time) (int, error)
}

// Importer is implemented by stores with a faster path than Write for loading
// many new relationships at once (PostgreSQL's COPY, say).
type Importer interface {
	// Import creates every relationship in rels in one transaction, returning its
	// revision. It has Write's CREATE semantics: a live relationship with the
	// same key fails the whole import with *AlreadyExistsError, an expired one
	// is replaced. Errors: ErrInvalidUpdate (one key twice in rels),
	// *AlreadyExistsError, ErrUnavailable, ErrClosed. On error nothing is written.
	Import(ctx context.Context, rels []tuple.Relationship) (Revision, error)
}

// Store is everything a gatehouse datastore provides.
//
// Caveat contexts and attributes hold JSON values (nil, bool, float64,
// string, []any, map[string]any) and are returned exactly as written. Stores copy what they are
// given and what they return, so callers may mutate either afterwards.
type Store interface {
	Writer
	Reader
	AttributeReader
	Loader
	Watcher
	SchemaStore
	Collector
	// Close releases the store; later calls return ErrClosed and waiting
	// Changes calls return it too. Closing twice is harmless.
	Close() error
}
