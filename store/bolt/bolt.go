// Package bolt is the embedded default datastore: relationships and object
// attributes, their MVCC history, the change log and the schema history in
// one bbolt file.
//
// # On-disk layout (format version 1)
//
// Integers are big-endian. A key encoding ek is the six key fields (resource
// type, resource ID, relation, subject type, subject ID, subject relation),
// each followed by a 0x00 byte, so bytewise order of ek is store.CompareKeys
// order (fields may not contain NUL). A time is 12 bytes: the Unix seconds
// with the sign bit flipped, then the nanoseconds, so bytewise order is time
// order. A body is a flags byte, then the expiration time, the caveat name and
// the caveat context, each present only if its flag is set.
//
//	meta       "magic" → "gatehouse", "format" → uint32, "id" → store ID,
//	           "state" → head rev, head time, oldest readable rev, its time
//	rels       ek + created rev → deleted rev (0 while live) + body
//	bysubject  subject type 0x00 subject ID 0x00 ek → "" (while ek has versions)
//	expiry     expiration + ek + created rev → "" (live versions that expire)
//	dead       deleted rev + ek + created rev → "" (versions that ended)
//	log        rev → commit time + flags (bit 0: wrote a schema);
//	           rev + uint32 seq → op (1 touch, 2 delete) + uvarint len + ek [+ body]
//	schemas    rev → commit time + schema text (never collected)
//	attrs      ok + created rev → compact JSON object, or "" (a tombstone:
//	           the attributes were removed)
//	deadattrs  superseded rev + ok + created rev → "" (attribute versions that
//	           ended, and tombstones, under their own rev)
//	attrlog    rev + ok → the attributes the transaction left (compact JSON,
//	           or "" for removed), so a transaction's are in ok order
//
// An object key ok is the object type and ID, each followed by a 0x00 byte,
// so bytewise order of ok is type-then-ID order. The last three buckets came
// after format 1 was first released; Open adds them to a file without them
// once it has validated the file, so the format is still 1: an older
// gatehouse ignores them.
//
// A caveat context is a tagged tree: 0 null, 1 false, 2 true, 3 float64
// bits, 4 string (uvarint length + bytes), 5 list (uvarint count + values),
// 6 object (uvarint count + (uvarint length + key + value) in key order).
package bolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gatehouse-dev/gatehouse/store"
)

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// Errors returned by Open, wrapped with detail; test with errors.Is.
var (
	// ErrNotGatehouse: the file is not a gatehouse database (not a bbolt file,
	// empty, truncated, or a bbolt file of some other program).
	ErrNotGatehouse = errors.New("not a gatehouse database")
	// ErrNewerFormat: the file was written by a newer gatehouse.
	ErrNewerFormat = errors.New("database format is newer than this gatehouse supports")
	// ErrLocked: another process (or another Store in this one) has the file open.
	ErrLocked = errors.New("database is in use by another process")
)

const (
	formatVersion = 1
	magic         = "gatehouse"

	bucketMeta      = "meta"
	bucketRels      = "rels"
	bucketBySubject = "bysubject"
	bucketExpiry    = "expiry"
	bucketDead      = "dead"
	bucketLog       = "log"
	bucketSchemas   = "schemas"
	bucketAttrs     = "attrs"
	bucketDeadAttrs = "deadattrs"
	bucketAttrLog   = "attrlog"

	opLogTouch  = 1
	opLogDelete = 2

	flagExpiration = 1 << 0
	flagCaveat     = 1 << 1
	flagContext    = 1 << 2

	flagSchema = 1 << 0

	timeLen = 12
	revLen  = 8
	// maxKeyLen keeps every index key under bbolt's 32 KiB key limit.
	maxKeyLen = 16 << 10

	// changeTxns and changeUpdates bound one batch read by Changes (a larger
	// transaction is still delivered whole).
	changeTxns    = 64
	changeUpdates = 4096
)

// formatBuckets are the buckets every format-1 file has.
func formatBuckets() []string {
	return []string{bucketMeta, bucketRels, bucketBySubject, bucketExpiry, bucketDead, bucketLog, bucketSchemas}
}

// addedBuckets are the buckets Open adds to format-1 files written before them.
func addedBuckets() []string {
	return []string{bucketAttrs, bucketDeadAttrs, bucketAttrLog}
}

func allBuckets() []string { return append(formatBuckets(), addedBuckets()...) }

// Option configures a Store.
type Option func(*config)

type config struct {
	now         func() time.Time
	openTimeout time.Duration
	gcBatch     int
	mmapSize    int
}

// WithClock sets the clock used for commit timestamps and for deciding, in
// writes, whether a relationship has expired. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithOpenTimeout bounds how long Open waits for the file lock held by another
// process before failing with ErrLocked. The default is one second; 0 waits
// indefinitely.
func WithOpenTimeout(d time.Duration) Option {
	return func(c *config) { c.openTimeout = d }
}

// WithMmapSize sets the address space mapped for the file when it is opened
// (the default is 1 GiB; it costs no memory). A write that grows the file
// beyond the mapping remaps it, which copies what the transaction touched and
// waits for read transactions, such as a running Snapshot, to end.
func WithMmapSize(n int) Option {
	return func(c *config) { c.mmapSize = max(0, n) }
}

// WithGCBatch sets how many index entries GC removes per bbolt transaction, so
// that a large collection never holds the write lock for long. The default is 10000.
func WithGCBatch(n int) Option {
	return func(c *config) { c.gcBatch = max(1, n) }
}

// Store keeps relationships in a bbolt file. It is safe for concurrent use;
// only one Store (in one process) may have a file open at a time.
type Store struct {
	db      *bbolt.DB
	id      string
	now     func() time.Time
	gcBatch int
	done    chan struct{} // closed by Close

	wmu sync.Mutex // orders committing a write with publishing it

	mu     sync.Mutex
	closed bool
	wake   chan struct{} // closed and replaced on every commit
}

// Open opens the gatehouse database at path, creating it (and its directory)
// if it does not exist. A file that is not a gatehouse database is left
// untouched and reported with ErrNotGatehouse or ErrNewerFormat; one that
// another process has open is reported with ErrLocked.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{now: time.Now, openTimeout: time.Second, gcBatch: 10000, mmapSize: 1 << 30}
	for _, o := range opts {
		o(&cfg)
	}
	db, id, err := openDB(path, cfg)
	if err != nil {
		return nil, fmt.Errorf("open gatehouse database %s: %w", path, err)
	}
	return &Store{
		db:      db,
		id:      id,
		now:     cfg.now,
		gcBatch: cfg.gcBatch,
		done:    make(chan struct{}),
		wake:    make(chan struct{}),
	}, nil
}

// ID returns the random identifier the store was given when it was created.
func (s *Store) ID() string { return s.id }

// Close implements store.Store. Waiting Changes calls return store.ErrClosed.
// It waits for running transactions (a Snapshot in progress, say) to end.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	return s.db.Close()
}
