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
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
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

func openDB(path string, cfg config) (*bbolt.DB, string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		db, id, err := create(path, cfg)
		if !errors.Is(err, fs.ErrExist) {
			return db, id, err
		}
		// Another Open created it first: open theirs.
		if info, err = os.Stat(path); err != nil {
			return nil, "", err
		}
	case err != nil:
		return nil, "", err
	}
	if !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%w: not a regular file", ErrNotGatehouse)
	}
	if info.Size() == 0 {
		return nil, "", fmt.Errorf("%w: empty file", ErrNotGatehouse)
	}
	// Validate read-only first: bbolt may write when it opens a file for
	// writing, and a file that is not ours must stay as it was.
	ro, err := boltOpen(path, cfg, true)
	if err != nil {
		return nil, "", err
	}
	_, err = validate(ro)
	if cerr := ro.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, "", err
	}
	db, err := boltOpen(path, cfg, false)
	if err != nil {
		return nil, "", err
	}
	id, err := validate(db)
	if err == nil {
		err = addBuckets(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, "", err
	}
	return db, id, nil
}

// addBuckets creates the buckets of addedBuckets that a validated file lacks,
// writing nothing if it has them all.
func addBuckets(db *bbolt.DB) error {
	var missing []string
	err := db.View(func(tx *bbolt.Tx) error {
		for _, name := range addedBuckets() {
			if tx.Bucket([]byte(name)) == nil {
				missing = append(missing, name)
			}
		}
		return nil
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range missing {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("add bucket %q: %w", name, err)
			}
		}
		return nil
	})
}

// create makes a new database under a temporary name and links it into place,
// so that path never names a half-initialized file. It fails with an error
// wrapping fs.ErrExist if path appeared meanwhile.
func create(path string, cfg config) (*bbolt.DB, string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+"."+randomHex(8)+".tmp")
	defer os.Remove(tmp)
	db, err := bbolt.Open(tmp, 0o600, cfg.options(false))
	if err != nil {
		return nil, "", err
	}
	id := randomHex(16)
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets() {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		format := binary.BigEndian.AppendUint32(nil, formatVersion)
		return errors.Join(
			meta.Put([]byte("magic"), []byte(magic)),
			meta.Put([]byte("format"), format),
			meta.Put([]byte("id"), []byte(id)),
			meta.Put([]byte("state"), state{}.encode()))
	})
	if err == nil {
		err = os.Link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// A file system without hard links.
			err = os.Rename(tmp, path)
		}
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = db.Close()
		return nil, "", err
	}
	return db, id, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c config) options(readOnly bool) *bbolt.Options {
	o := &bbolt.Options{Timeout: c.openTimeout, ReadOnly: readOnly}
	if !readOnly {
		o.InitialMmapSize = c.mmapSize
	}
	return o
}

// boltOpen opens path with bbolt, turning a panic or memory fault on a corrupt
// file into ErrNotGatehouse.
func boltOpen(path string, cfg config, readOnly bool) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrNotGatehouse, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, cfg.options(readOnly))
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: no lock within %v", ErrLocked, cfg.openTimeout)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %v", ErrNotGatehouse, err)
	}
}

// validate checks that db holds a gatehouse database of a known format and
// returns its ID.
func validate(db *bbolt.DB) (id string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrNotGatehouse, r)
		}
	}()
	info, err := os.Stat(db.Path())
	if err != nil {
		return "", err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		// Pages up to the high-water mark must all be in the file.
		if tx.Size() > info.Size() {
			return fmt.Errorf("%w: truncated (%d of %d bytes)", ErrNotGatehouse, info.Size(), tx.Size())
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil || string(meta.Get([]byte("magic"))) != magic {
			return fmt.Errorf("%w: no gatehouse metadata", ErrNotGatehouse)
		}
		format := meta.Get([]byte("format"))
		if len(format) != 4 {
			return fmt.Errorf("%w: bad format marker", ErrNotGatehouse)
		}
		switch v := binary.BigEndian.Uint32(format); {
		case v > formatVersion:
			return fmt.Errorf("%w: format %d, this gatehouse reads up to %d", ErrNewerFormat, v, formatVersion)
		case v == 0:
			return fmt.Errorf("%w: bad format marker", ErrNotGatehouse)
		}
		for _, name := range formatBuckets() {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("%w: bucket %q is missing", ErrNotGatehouse, name)
			}
		}
		if _, err := readState(&buckets{meta: meta}); err != nil {
			return err
		}
		id = string(meta.Get([]byte("id")))
		return nil
	})
	return id, err
}

// buckets are the buckets of one transaction.
type buckets struct {
	meta, rels, bySubject, expiry, dead, log, schemas *bbolt.Bucket
	attrs, deadAttrs, attrLog                         *bbolt.Bucket
}

func bucketsOf(tx *bbolt.Tx) (*buckets, error) {
	var bs [10]*bbolt.Bucket
	for i, name := range allBuckets() {
		if bs[i] = tx.Bucket([]byte(name)); bs[i] == nil {
			return nil, fmt.Errorf("%w: bucket %q is missing", ErrNotGatehouse, name)
		}
	}
	return &buckets{bs[0], bs[1], bs[2], bs[3], bs[4], bs[5], bs[6], bs[7], bs[8], bs[9]}, nil
}

// state is the revision range the database holds.
type state struct {
	head   store.Revision
	headTS time.Time
	minRev store.Revision // oldest revision still readable
	minTS  time.Time      // commit time of minRev
}

func (st state) encode() []byte {
	b := make([]byte, 0, 2*(revLen+timeLen))
	b = appendRev(b, st.head)
	b = appendTime(b, st.headTS)
	b = appendRev(b, st.minRev)
	return appendTime(b, st.minTS)
}

func readState(b *buckets) (state, error) {
	v := b.meta.Get([]byte("state"))
	if len(v) != 2*(revLen+timeLen) {
		return state{}, fmt.Errorf("%w: bad state record", ErrNotGatehouse)
	}
	return state{
		head:   readRev(v),
		headTS: readTime(v[revLen:]),
		minRev: readRev(v[revLen+timeLen:]),
		minTS:  readTime(v[2*revLen+timeLen:]),
	}, nil
}

func (st state) check(rev store.Revision) error {
	if rev < st.minRev || rev > st.head {
		return fmt.Errorf("%w: revision %d is outside the retained range [%d, %d]", store.ErrRevisionUnavailable, rev, st.minRev, st.head)
	}
	return nil
}

func appendRev(b []byte, rev store.Revision) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(rev))
}
func readRev(b []byte) store.Revision  { return store.Revision(binary.BigEndian.Uint64(b)) }
func revKey(rev store.Revision) []byte { return appendRev(make([]byte, 0, revLen), rev) }

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// appendKey appends the encoding ek of k.
func appendKey(b []byte, k *tuple.Key) []byte {
	for _, f := range [...]string{k.Resource.Type, k.Resource.ID, k.Relation, k.Subject.Type, k.Subject.ID, k.Subject.Relation} {
		b = append(b, f...)
		b = append(b, 0)
	}
	return b
}

func checkKey(k *tuple.Key) error {
	for _, f := range [...]string{k.Resource.Type, k.Resource.ID, k.Relation, k.Subject.Type, k.Subject.ID, k.Subject.Relation} {
		if strings.IndexByte(f, 0) >= 0 {
			return errors.New("a field contains a NUL byte")
		}
	}
	return nil
}

// decodeKey decodes an ek, copying it out of bbolt's memory.
func decodeKey(ek []byte) (tuple.Key, error) {
	s := string(ek)
	var f [6]string
	for i := range f {
		j := strings.IndexByte(s, 0)
		if j < 0 {
			return tuple.Key{}, fmt.Errorf("corrupt relationship key %q", ek)
		}
		f[i], s = s[:j], s[j+1:]
	}
	if s != "" {
		return tuple.Key{}, fmt.Errorf("corrupt relationship key %q", ek)
	}
	return tuple.Key{
		Resource: tuple.Object{Type: f[0], ID: f[1]},
		Relation: f[2],
		Subject:  tuple.Subject{Type: f[3], ID: f[4], Relation: f[5]},
	}, nil
}

// subjectKey is the bysubject key of ek.
func subjectKey(k *tuple.Key, ek []byte) []byte {
	b := make([]byte, 0, len(k.Subject.Type)+len(k.Subject.ID)+2+len(ek))
	b = append(append(b, k.Subject.Type...), 0)
	b = append(append(b, k.Subject.ID...), 0)
	return append(b, ek...)
}

// versionKey is ek + created, in a new slice.
func versionKey(ek []byte, created store.Revision) []byte {
	return appendRev(append(make([]byte, 0, len(ek)+revLen), ek...), created)
}

// appendBody appends the encoded caveat and expiration of r.
func appendBody(b []byte, r *tuple.Relationship) ([]byte, error) {
	var flags byte
	if r.Expiration != nil {
		flags |= flagExpiration
	}
	if r.Caveat != nil {
		flags |= flagCaveat
		if r.Caveat.Context != nil {
			flags |= flagContext
		}
	}
	b = append(b, flags)
	if r.Expiration != nil {
		b = appendTime(b, *r.Expiration)
	}
	if r.Caveat != nil {
		b = binary.AppendUvarint(b, uint64(len(r.Caveat.Name)))
		b = append(b, r.Caveat.Name...)
		if r.Caveat.Context != nil {
			var err error
			if b, err = appendValue(b, r.Caveat.Context); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// bodyExpiration returns the expiration encoding in body, or nil.
func bodyExpiration(body []byte) []byte {
	if len(body) < 1+timeLen || body[0]&flagExpiration == 0 {
		return nil
	}
	return body[1 : 1+timeLen]
}

// expiredAt reports whether body has an expiration at or before now.
func expiredAt(body []byte, now time.Time) bool {
	exp := bodyExpiration(body)
	return exp != nil && !readTime(exp).After(now)
}

// decodeRel builds the relationship with key k and the given body.
func decodeRel(k *tuple.Key, body []byte) (tuple.Relationship, error) {
	r := tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}
	d := decoder{b: body}
	flags := d.byte()
	if flags&flagExpiration != 0 {
		t := readTime(d.bytes(timeLen))
		r.Expiration = &t
	}
	if flags&flagCaveat != 0 {
		c := &tuple.Caveat{Name: string(d.bytes(d.uvarint()))}
		if flags&flagContext != 0 {
			m, _ := d.value().(map[string]any)
			c.Context = m
		}
		r.Caveat = c
	}
	if d.err != nil || len(d.b) != 0 {
		return tuple.Relationship{}, fmt.Errorf("corrupt relationship value for %s", keyRel(*k).String())
	}
	return r, nil
}

const (
	tagNull = iota
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagList
	tagObject
)

// appendValue appends a caveat context value. Go numbers of other types are
// stored as the float64 that JSON would decode them to.
func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, tagNull), nil
	case bool:
		if v {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case string:
		b = binary.AppendUvarint(append(b, tagString), uint64(len(v)))
		return append(b, v...), nil
	case []any:
		b = binary.AppendUvarint(append(b, tagList), uint64(len(v)))
		for _, e := range v {
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		b = binary.AppendUvarint(append(b, tagObject), uint64(len(v)))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(binary.AppendUvarint(b, uint64(len(k))), k...)
			if b, err = appendValue(b, v[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	f, ok := number(v)
	if !ok {
		return nil, fmt.Errorf("caveat context value of type %T is not a JSON value", v)
	}
	return binary.BigEndian.AppendUint64(append(b, tagNumber), math.Float64bits(f)), nil
}

func number(v any) (float64, bool) {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// decoder reads a body; the first malformed read sets err and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errors.New("corrupt value"), nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint() uint64 {
	n, w := binary.Uvarint(d.b)
	if w <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[w:]
	return n
}

func (d *decoder) value() any {
	switch d.byte() {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagNumber:
		if b := d.bytes(8); b != nil {
			return math.Float64frombits(binary.BigEndian.Uint64(b))
		}
	case tagString:
		return string(d.bytes(d.uvarint()))
	case tagList:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		l := make([]any, n)
		for i := range l {
			l[i] = d.value()
		}
		return l
	case tagObject:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		m := make(map[string]any, n)
		for range n {
			k := string(d.bytes(d.uvarint()))
			m[k] = d.value()
		}
		return m
	default:
		d.fail()
	}
	return nil
}

func keyRel(k tuple.Key) tuple.Relationship {
	return tuple.Relationship{Resource: k.Resource, Relation: k.Relation, Subject: k.Subject}
}

// txn runs fn in a read or write transaction, with the buckets and the state
// it sees.
func (s *Store) txn(writable bool, fn func(b *buckets, st state) error) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	run := s.db.View
	if writable {
		run = s.db.Update
	}
	err := run(func(tx *bbolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		st, err := readState(b)
		if err != nil {
			return err
		}
		return fn(b, st)
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(b *buckets, st state) error) error { return s.txn(false, fn) }

// viewAt runs fn in a read transaction once ctx is checked and the
// transaction has rev retained.
func (s *Store) viewAt(ctx context.Context, rev store.Revision, fn func(b *buckets) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.view(func(b *buckets, st state) error {
		if err := st.check(rev); err != nil {
			return err
		}
		return fn(b)
	})
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// errNoCommit makes update roll back without creating a revision.
var errNoCommit = errors.New("nothing to commit")

// wtx is a write transaction that commits as the next revision.
type wtx struct {
	b      *buckets
	rev    store.Revision
	ts     time.Time
	now    time.Time
	seq    uint32
	schema bool

	// bulk defers index inserts to flush, which makes them in key order:
	// bbolt splits nodes only on commit, so inserting many keys out of order
	// into one node costs quadratic time.
	bulk      bool
	bySubject [][]byte
	expiry    [][]byte
}

// flush makes the index inserts deferred by bulk.
func (w *wtx) flush() error {
	for _, x := range []struct {
		b    *bbolt.Bucket
		keys [][]byte
	}{{w.b.bySubject, w.bySubject}, {w.b.expiry, w.expiry}} {
		slices.SortFunc(x.keys, bytes.Compare)
		for _, k := range x.keys {
			if err := x.b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	w.bySubject, w.expiry = nil, nil
	return nil
}

// putIndex inserts k into an index bucket, or defers it in bulk mode.
func (w *wtx) putIndex(b *bbolt.Bucket, deferred *[][]byte, k []byte) error {
	if w.bulk {
		*deferred = append(*deferred, k)
		return nil
	}
	return b.Put(k, nil)
}

// update runs fn in a write transaction that commits as revision head+1 and
// wakes the change streams. If fn returns errNoCommit, nothing is written
// and the head is returned.
func (s *Store) update(fn func(w *wtx) error) (store.Revision, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var rev store.Revision
	err := s.txn(true, func(b *buckets, st state) error {
		// Keys in these buckets only ever grow, so full pages split best.
		b.log.FillPercent, b.dead.FillPercent, b.schemas.FillPercent = 1, 1, 1
		b.deadAttrs.FillPercent, b.attrLog.FillPercent = 1, 1
		now := s.now()
		w := &wtx{b: b, rev: st.head + 1, now: now, ts: now.Round(0)}
		if w.ts.Before(st.headTS) {
			w.ts = st.headTS
		}
		if err := fn(w); err != nil {
			if errors.Is(err, errNoCommit) {
				rev = st.head
			}
			return err
		}
		flags := byte(0)
		if w.schema {
			flags |= flagSchema
		}
		if err := b.log.Put(revKey(w.rev), append(appendTime(make([]byte, 0, timeLen+1), w.ts), flags)); err != nil {
			return err
		}
		st.head, st.headTS = w.rev, w.ts
		if err := b.meta.Put([]byte("state"), st.encode()); err != nil {
			return err
		}
		rev = w.rev
		return nil
	})
	if errors.Is(err, errNoCommit) {
		return rev, nil
	}
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	return rev, nil
}

// latest returns the newest version of ek (key and value), or nils.
func (w *wtx) latest(ek []byte) (vk, v []byte) {
	c := w.b.rels.Cursor()
	for k, val := c.Seek(ek); k != nil && len(k) == len(ek)+revLen && bytes.HasPrefix(k, ek); k, val = c.Next() {
		vk, v = k, val
	}
	return vk, v
}

// end marks the live version vk (value v) deleted at w.rev.
func (w *wtx) end(vk, v []byte) error {
	vk = slices.Clone(vk)
	nv := appendRev(make([]byte, 0, len(v)), w.rev)
	nv = append(nv, v[revLen:]...)
	if err := w.b.rels.Put(vk, nv); err != nil {
		return err
	}
	if err := w.b.dead.Put(append(revKey(w.rev), vk...), nil); err != nil {
		return err
	}
	if exp := bodyExpiration(nv[revLen:]); exp != nil {
		return w.b.expiry.Delete(append(slices.Clone(exp), vk...))
	}
	return nil
}

func (w *wtx) logUpdate(op byte, ek, body []byte) error {
	k := binary.BigEndian.AppendUint32(revKey(w.rev), w.seq)
	w.seq++
	v := make([]byte, 0, 1+binary.MaxVarintLen32+len(ek)+len(body))
	v = binary.AppendUvarint(append(v, op), uint64(len(ek)))
	v = append(append(v, ek...), body...)
	return w.b.log.Put(k, v)
}

// pending is one validated update.
type pending struct {
	op   store.Op
	rel  tuple.Relationship // as given, for AlreadyExistsError
	key  tuple.Key
	ek   []byte
	body []byte // for CREATE and TOUCH
}

// touch writes p as a new live version, ending the one it replaces. With
// create, a live unexpired version fails it.
func (w *wtx) touch(p *pending, create bool) error {
	lk, lv := w.latest(p.ek)
	switch {
	case lk == nil:
		if err := w.putIndex(w.b.bySubject, &w.bySubject, subjectKey(&p.key, p.ek)); err != nil {
			return err
		}
	case readRev(lv) == 0:
		if create && !expiredAt(lv[revLen:], w.now) {
			return &store.AlreadyExistsError{Relationship: p.rel.Clone()}
		}
		if err := w.end(lk, lv); err != nil {
			return err
		}
	}
	vk := versionKey(p.ek, w.rev)
	if err := w.b.rels.Put(vk, append(appendRev(make([]byte, 0, revLen+len(p.body)), 0), p.body...)); err != nil {
		return err
	}
	if exp := bodyExpiration(p.body); exp != nil {
		if err := w.putIndex(w.b.expiry, &w.expiry, append(slices.Clone(exp), vk...)); err != nil {
			return err
		}
	}
	return w.logUpdate(opLogTouch, p.ek, p.body)
}

// delete ends the live version of ek, if any.
func (w *wtx) delete(ek []byte) error {
	lk, lv := w.latest(ek)
	if lk == nil || readRev(lv) != 0 {
		return nil
	}
	if err := w.end(lk, lv); err != nil {
		return err
	}
	return w.logUpdate(opLogDelete, ek, nil)
}

// checkPreconditions checks ps against the live relationships at w.now.
func (w *wtx) checkPreconditions(ps []store.Precondition) error {
	for _, p := range ps {
		found := false
		err := scan(w.b, p.Filter, nil, func(_ *tuple.Key, _, v []byte) bool {
			found = readRev(v) == 0 && !expiredAt(v[revLen:], w.now)
			return !found
		})
		if err != nil {
			return err
		}
		if found != p.MustExist {
			return &store.PreconditionError{Precondition: p}
		}
	}
	return nil
}

// prepare validates and encodes updates, sorted by key.
func prepare(updates []store.Update) ([]pending, error) {
	batch := make([]pending, len(updates))
	for i, u := range updates {
		switch u.Op {
		case store.OpCreate, store.OpTouch, store.OpDelete:
		default:
			return nil, fmt.Errorf("%w: update %d has unknown operation %v", store.ErrInvalidUpdate, i, u.Op)
		}
		p := pending{op: u.Op, rel: u.Relationship, key: u.Relationship.Key()}
		if err := checkKey(&p.key); err != nil {
			return nil, fmt.Errorf("%w: relationship %s: %v", store.ErrInvalidUpdate, u.Relationship.String(), err)
		}
		p.ek = appendKey(nil, &p.key)
		if len(p.ek) > maxKeyLen {
			return nil, fmt.Errorf("%w: relationship %s: key longer than %d bytes", store.ErrInvalidUpdate, u.Relationship.String(), maxKeyLen)
		}
		if u.Op != store.OpDelete {
			var err error
			if p.body, err = appendBody(nil, &u.Relationship); err != nil {
				return nil, fmt.Errorf("%w: relationship %s: %v", store.ErrInvalidUpdate, u.Relationship.String(), err)
			}
		}
		batch[i] = p
	}
	slices.SortFunc(batch, func(a, b pending) int { return bytes.Compare(a.ek, b.ek) })
	for i := 1; i < len(batch); i++ {
		if bytes.Equal(batch[i].ek, batch[i-1].ek) {
			return nil, fmt.Errorf("%w: relationship %s appears more than once in the batch", store.ErrInvalidUpdate, keyRel(batch[i].key).String())
		}
	}
	return batch, nil
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
	batch, err := prepare(b.Updates)
	if err != nil {
		return 0, err
	}
	for _, u := range b.Attributes {
		if err := checkObject(u.Object); err != nil {
			return 0, fmt.Errorf("%w: attributes of %s: %v", store.ErrInvalidUpdate, u.Object, err)
		}
	}
	return s.update(func(w *wtx) error {
		if err := w.checkPreconditions(b.Preconditions); err != nil {
			return err
		}
		attrs, err := w.prepareAttributes(b)
		if err != nil {
			return err
		}
		for i := range batch {
			p := &batch[i]
			var err error
			if p.op == store.OpDelete {
				err = w.delete(p.ek)
			} else {
				err = w.touch(p, p.op == store.OpCreate)
			}
			if err != nil {
				return err
			}
		}
		return w.putAttributes(attrs)
	})
}

// Import implements store.Importer: one transaction, inserting in key order.
func (s *Store) Import(ctx context.Context, rels []tuple.Relationship) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	updates := make([]store.Update, len(rels))
	for i, r := range rels {
		updates[i] = store.Update{Op: store.OpCreate, Relationship: r}
	}
	batch, err := prepare(updates)
	if err != nil {
		return 0, err
	}
	return s.update(func(w *wtx) error {
		// Sorted inserts fill pages left to right; leave a little room for
		// later writes between the imported keys.
		w.b.rels.FillPercent = 0.9
		w.bulk = true
		for i := range batch {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := w.touch(&batch[i], true); err != nil {
				return err
			}
		}
		return w.flush()
	})
}

// DeleteMatching implements store.Writer.
func (s *Store) DeleteMatching(ctx context.Context, preconditions []store.Precondition, f store.Filter, limit int) (store.Revision, int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	deleted, more := 0, false
	rev, err := s.update(func(w *wtx) error {
		if err := w.checkPreconditions(preconditions); err != nil {
			return err
		}
		var victims [][]byte
		err := scan(w.b, f, nil, func(_ *tuple.Key, vk, v []byte) bool {
			if readRev(v) == 0 && !expiredAt(v[revLen:], w.now) {
				victims = append(victims, slices.Clone(vk[:len(vk)-revLen]))
			}
			return limit <= 0 || len(victims) <= limit
		})
		if err != nil {
			return err
		}
		if limit > 0 && len(victims) > limit {
			victims, more = victims[:limit], true
		}
		if len(victims) == 0 {
			return errNoCommit
		}
		for _, ek := range victims {
			if err := w.delete(ek); err != nil {
				return err
			}
		}
		deleted = len(victims)
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	return rev, deleted, more, nil
}

// scan calls fn, in key order, for every stored version (key and value) of
// the keys after `after` (nil: from the start) that match f, using the
// subject index or the narrowest key range f allows, until fn returns false.
// k is decoded once per key and shared by its versions.
func scan(b *buckets, f store.Filter, after *tuple.Key, fn func(k *tuple.Key, vk, v []byte) bool) error {
	var afterEK []byte
	if after != nil {
		afterEK = appendKey(nil, after)
	}
	if sub := f.Subject; sub != nil && sub.Type != "" && sub.ID != "" && !(f.ResourceType != "" && len(f.ResourceIDs) > 0) {
		return scanSubject(b, f, afterEK, fn)
	}
	var prefixes [][]byte
	switch {
	case f.ResourceType == "":
		prefixes = [][]byte{nil}
	case len(f.ResourceIDs) > 0:
		ids := slices.Clone(f.ResourceIDs)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			if !strings.HasPrefix(id, f.ResourceIDPrefix) {
				continue
			}
			p := append(append(append([]byte(f.ResourceType), 0), id...), 0)
			if f.Relation != "" {
				p = append(append(p, f.Relation...), 0)
			}
			prefixes = append(prefixes, p)
		}
	default:
		prefixes = [][]byte{append(append([]byte(f.ResourceType), 0), f.ResourceIDPrefix...)}
	}
	var start []byte
	if afterEK != nil {
		// Past every version of after: beyond any revision suffix.
		start = append(slices.Clone(afterEK), bytes.Repeat([]byte{0xff}, revLen)...)
	}
	c := b.rels.Cursor()
	var lastEK []byte
	var key tuple.Key
	var match bool
	for _, p := range prefixes {
		from := p
		if bytes.Compare(start, from) > 0 {
			from = start
		}
		vk, v := c.First()
		if len(from) > 0 {
			vk, v = c.Seek(from)
		}
		for ; vk != nil && bytes.HasPrefix(vk, p); vk, v = c.Next() {
			ek := vk[:len(vk)-revLen]
			if !bytes.Equal(ek, lastEK) {
				var err error
				if key, err = decodeKey(ek); err != nil {
					return err
				}
				lastEK, match = ek, f.Matches(keyRel(key))
			}
			if match && !fn(&key, vk, v) {
				return nil
			}
		}
	}
	return nil
}

// scanSubject is scan through the bysubject index.
func scanSubject(b *buckets, f store.Filter, afterEK []byte, fn func(k *tuple.Key, vk, v []byte) bool) error {
	prefix := append(append(append([]byte(f.Subject.Type), 0), f.Subject.ID...), 0)
	from := prefix
	if afterEK != nil {
		from = append(append(slices.Clone(prefix), afterEK...), 0)
	}
	sc, rc := b.bySubject.Cursor(), b.rels.Cursor()
	for sk, _ := sc.Seek(from); sk != nil && bytes.HasPrefix(sk, prefix); sk, _ = sc.Next() {
		ek := sk[len(prefix):]
		key, err := decodeKey(ek)
		if err != nil {
			return err
		}
		if !f.Matches(keyRel(key)) {
			continue
		}
		for vk, v := rc.Seek(ek); vk != nil && len(vk) == len(ek)+revLen && bytes.HasPrefix(vk, ek); vk, v = rc.Next() {
			if !fn(&key, vk, v) {
				return nil
			}
		}
	}
	return nil
}

// HeadRevision implements store.Reader.
func (s *Store) HeadRevision(ctx context.Context) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head store.Revision
	err := s.view(func(_ *buckets, st state) error {
		head = st.head
		return nil
	})
	return head, err
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, rev store.Revision, f store.Filter, page store.Page) ([]tuple.Relationship, error) {
	var out []tuple.Relationship
	err := s.viewAt(ctx, rev, func(b *buckets) error {
		var derr error
		err := scan(b, f, page.After, func(k *tuple.Key, vk, v []byte) bool {
			created, deleted := readRev(vk[len(vk)-revLen:]), readRev(v)
			if created > rev || (deleted != 0 && deleted <= rev) {
				return true
			}
			r, err := decodeRel(k, v[revLen:])
			if err != nil {
				derr = err
				return false
			}
			out = append(out, r)
			return page.Limit <= 0 || len(out) < page.Limit
		})
		return errors.Join(err, derr)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Snapshot implements store.Loader. It streams from one read transaction,
// so fn and attrs must not wait for a write to this store: a write that grows
// the file waits for read transactions to end.
func (s *Store) Snapshot(ctx context.Context, fn func(tuple.Relationship) error, attrs func(store.ObjectAttributes) error) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev store.Revision
	err := s.view(func(b *buckets, st state) error {
		rev = st.head
		if attrs != nil {
			if err := snapshotAttributes(ctx, b, st.head, attrs); err != nil {
				return err
			}
		}
		c := b.rels.Cursor()
		n := 0
		for vk, v := c.First(); vk != nil; vk, v = c.Next() {
			if readRev(v) != 0 {
				continue
			}
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			k, err := decodeKey(vk[:len(vk)-revLen])
			if err != nil {
				return err
			}
			r, err := decodeRel(&k, v[revLen:])
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
	return rev, err
}

// Changes implements store.Watcher. It waits on a channel that every commit
// closes; only this process can write the file, so no polling is needed.
func (s *Store) Changes(ctx context.Context, after store.Revision, fn func(store.Change) error) error {
	cursor := after
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Take the channel before reading, so a commit after the read wakes us.
		s.mu.Lock()
		closed, wake := s.closed, s.wake
		s.mu.Unlock()
		if closed {
			return store.ErrClosed
		}
		var batch []store.Change
		err := s.view(func(b *buckets, st state) error {
			if cursor < st.minRev || (first && cursor > st.head) {
				return fmt.Errorf("%w: changes after revision %d: retained range is [%d, %d]", store.ErrRevisionUnavailable, cursor, st.minRev, st.head)
			}
			var err error
			batch, err = readChanges(b, cursor)
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range batch {
			if err := fn(c); err != nil {
				return err
			}
			cursor = c.Revision
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return store.ErrClosed
		}
	}
}

// readChanges decodes the committed transactions after rev, whole, stopping
// at a transaction boundary once the batch bounds are reached.
func readChanges(b *buckets, rev store.Revision) ([]store.Change, error) {
	var out []store.Change
	updates := 0
	ac := b.attrLog.Cursor()
	ak, av := ac.Seek(revKey(rev + 1))
	c := b.log.Cursor()
	for k, v := c.Seek(revKey(rev + 1)); k != nil; k, v = c.Next() {
		switch len(k) {
		case revLen:
			if len(out) >= changeTxns || updates >= changeUpdates {
				return out, nil
			}
			if len(v) != timeLen+1 {
				return nil, fmt.Errorf("corrupt log header at revision %d", readRev(k))
			}
			ch := store.Change{Revision: readRev(k), Timestamp: readTime(v)}
			if v[timeLen]&flagSchema != 0 {
				sv := b.schemas.Get(k)
				if len(sv) < timeLen {
					return nil, fmt.Errorf("schema of revision %d is missing", ch.Revision)
				}
				text := string(sv[timeLen:])
				ch.Schema = &text
			}
			var err error
			if ak, av, err = readAttrLog(ac, ak, av, &ch); err != nil {
				return nil, err
			}
			updates += len(ch.Attributes)
			out = append(out, ch)
		case revLen + 4:
			if len(out) == 0 || out[len(out)-1].Revision != readRev(k) {
				return nil, fmt.Errorf("log update without header at revision %d", readRev(k))
			}
			u, err := decodeLogUpdate(v)
			if err != nil {
				return nil, fmt.Errorf("revision %d: %w", readRev(k), err)
			}
			ch := &out[len(out)-1]
			ch.Updates = append(ch.Updates, u)
			updates++
		default:
			return nil, fmt.Errorf("corrupt log key %x", k)
		}
	}
	return out, nil
}

func decodeLogUpdate(v []byte) (store.Update, error) {
	d := decoder{b: v}
	op := d.byte()
	ek := d.bytes(d.uvarint())
	if d.err != nil {
		return store.Update{}, errors.New("corrupt log update")
	}
	k, err := decodeKey(ek)
	if err != nil {
		return store.Update{}, err
	}
	switch op {
	case opLogTouch:
		r, err := decodeRel(&k, d.b)
		return store.Update{Op: store.OpTouch, Relationship: r}, err
	case opLogDelete:
		return store.Update{Op: store.OpDelete, Relationship: keyRel(k)}, nil
	}
	return store.Update{}, fmt.Errorf("corrupt log update op %d", op)
}

// WriteSchema implements store.SchemaStore.
func (s *Store) WriteSchema(ctx context.Context, text string) (store.Revision, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.update(func(w *wtx) error {
		w.schema = true
		return w.b.schemas.Put(revKey(w.rev), append(appendTime(make([]byte, 0, timeLen+len(text)), w.ts), text...))
	})
}

func decodeSchema(k, v []byte) store.SchemaVersion {
	return store.SchemaVersion{Revision: readRev(k), Timestamp: readTime(v), Text: string(v[timeLen:])}
}

// ReadSchema implements store.SchemaStore.
func (s *Store) ReadSchema(ctx context.Context) (store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return store.SchemaVersion{}, err
	}
	var out store.SchemaVersion
	err := s.view(func(b *buckets, _ state) error {
		if k, v := b.schemas.Cursor().Last(); k != nil {
			out = decodeSchema(k, v)
		}
		return nil
	})
	return out, err
}

// SchemaHistory implements store.SchemaStore.
func (s *Store) SchemaHistory(ctx context.Context) ([]store.SchemaVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.SchemaVersion
	err := s.view(func(b *buckets, _ state) error {
		c := b.schemas.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			out = append(out, decodeSchema(k, v))
		}
		return nil
	})
	return out, err
}

// GC implements store.Collector. It first moves the oldest readable revision,
// then removes what that and the expirations free, in transactions of at most
// WithGCBatch entries each, so writers are never held up for long. If it is
// interrupted, the next GC finishes the removal.
func (s *Store) GC(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m, err := s.advance(before)
	if err != nil {
		return 0, err
	}
	removed := 0
	endBefore := appendTime(nil, before)
	upToM := func(k []byte) bool { return readRev(k) <= m }
	steps := []func(b *buckets) (int, bool, error){
		// Versions ended at or before m are visible at no readable revision.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.dead, upToM, func(k []byte) (int, error) { return removeVersion(b, k[revLen:]) })
		},
		// Live versions that expired at or before `before`.
		func(b *buckets) (int, bool, error) {
			expired := func(k []byte) bool { return bytes.Compare(k[:timeLen], endBefore) <= 0 }
			return s.collect(b.expiry, expired, func(k []byte) (int, error) { return removeVersion(b, k[timeLen:]) })
		},
		// Attribute versions superseded at or before m, and tombstones
		// written then: at m and later, none or a newer version shows. The
		// index is in revision order, so a version goes before the
		// tombstone that ends it and readers never see it resurface.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.deadAttrs, upToM, func(k []byte) (int, error) { return removeAttrVersion(b, k[revLen:]) })
		},
		// The logs up to m: Changes after m starts at m+1.
		func(b *buckets) (int, bool, error) {
			return s.collect(b.log, upToM, nil)
		},
		func(b *buckets) (int, bool, error) {
			return s.collect(b.attrLog, upToM, nil)
		},
	}
	for _, step := range steps {
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			n := 0
			err := s.txn(true, func(b *buckets, _ state) error {
				var err error
				n, done, err = step(b)
				return err
			})
			if err != nil {
				return removed, err
			}
			removed += n
		}
	}
	return removed, nil
}

// advance moves the oldest readable revision to the first revision committed
// at or after before (else the head), never backwards, and returns it.
func (s *Store) advance(before time.Time) (store.Revision, error) {
	var m store.Revision
	err := s.txn(true, func(b *buckets, st state) error {
		m = st.minRev
		if !st.minTS.Before(before) || st.head == st.minRev {
			return nil
		}
		commitTime := func(rev store.Revision) (time.Time, error) {
			v := b.log.Get(revKey(rev))
			if len(v) < timeLen {
				return time.Time{}, fmt.Errorf("log header of revision %d is missing", rev)
			}
			return readTime(v), nil
		}
		// Commit times never decrease, so search the retained revisions.
		var serr error
		n := int(st.head - st.minRev)
		i := sort.Search(n, func(i int) bool {
			ts, err := commitTime(st.minRev + 1 + store.Revision(i))
			serr = errors.Join(serr, err)
			return !ts.Before(before)
		})
		if serr != nil {
			return serr
		}
		m = st.minRev + 1 + store.Revision(min(i, n-1))
		ts, err := commitTime(m)
		if err != nil {
			return err
		}
		st.minRev, st.minTS = m, ts
		return b.meta.Put([]byte("state"), st.encode())
	})
	return m, err
}

// collect removes up to s.gcBatch entries from the start of index for which
// due holds, in key order, calling remove (if not nil) for each to remove
// what it names. It returns the sum of what remove returned (the versions
// removed) and whether it is done.
func (s *Store) collect(index *bbolt.Bucket, due func(k []byte) bool, remove func(k []byte) (int, error)) (int, bool, error) {
	var keys [][]byte
	c := index.Cursor()
	k, _ := c.First()
	for ; k != nil && len(keys) < s.gcBatch && due(k); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	done := k == nil || !due(k)
	removed := 0
	for _, k := range keys {
		if err := index.Delete(k); err != nil {
			return 0, false, err
		}
		if remove == nil {
			continue
		}
		n, err := remove(k)
		if err != nil {
			return 0, false, err
		}
		removed += n
	}
	return removed, done, nil
}

// removeVersion removes the relationship version vk, if present, and its key
// from bysubject when it was the key's last version. It returns the number of
// versions removed.
func removeVersion(b *buckets, vk []byte) (int, error) {
	if b.rels.Get(vk) == nil {
		return 0, nil
	}
	if err := b.rels.Delete(vk); err != nil {
		return 0, err
	}
	ek := vk[:len(vk)-revLen]
	if next, _ := b.rels.Cursor().Seek(ek); next != nil && len(next) == len(ek)+revLen && bytes.HasPrefix(next, ek) {
		return 1, nil
	}
	key, err := decodeKey(ek)
	if err != nil {
		return 0, err
	}
	return 1, b.bySubject.Delete(subjectKey(&key, ek))
}

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
