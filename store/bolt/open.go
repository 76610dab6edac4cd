package bolt

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

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
