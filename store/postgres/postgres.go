// Package postgres is the production store: relationships with MVCC revision
// columns in PostgreSQL, read and written through pgx, shared by any number of
// gatehouse replicas.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/store"
)

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// liveRevision is deleted_revision of a live relationship version.
const liveRevision = int64(1<<63 - 1)

// notifyChannel is the LISTEN/NOTIFY channel that hints at new revisions.
const notifyChannel = "gatehouse_changes"

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for commit timestamps and for deciding, in
// writes, whether a relationship has expired. The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithPollInterval sets how often the change stream polls for new revisions
// when no notification arrives (default 500ms). Notifications from writers on
// any replica wake it sooner.
func WithPollInterval(d time.Duration) Option { return func(s *Store) { s.poll = d } }

// WithGCBatch sets how many rows one GC statement deletes (default 10,000), so
// that GC never holds long locks or builds one huge transaction.
func WithGCBatch(n int) Option { return func(s *Store) { s.gcBatch = n } }

// WithLogger sets where connection trouble of the change stream is reported.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Store is a store.Store in a PostgreSQL database migrated with Migrate.
type Store struct {
	pool    *pgxpool.Pool
	id      string
	now     func() time.Time
	poll    time.Duration
	gcBatch int
	log     *slog.Logger

	// closing is cancelled by Close; every operation's context derives from it too.
	closing  context.Context
	close    context.CancelFunc
	listenWG sync.WaitGroup

	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced when a new revision may exist
}

// Open connects to the database at url (a postgres:// URL or key=value DSN;
// pool settings such as pool_max_conns go in it too), checks that it is
// migrated to this binary's version and starts listening for change
// notifications. Errors: ErrBadURL, ErrNotMigrated, ErrNewerSchema,
// store.ErrUnavailable (the server cannot be reached).
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A server that does not answer must fail writes fast, not hang them.
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	s := &Store{
		now:     time.Now,
		poll:    500 * time.Millisecond,
		gcBatch: 10000,
		log:     slog.New(slog.DiscardHandler),
		wake:    make(chan struct{}),
	}
	s.closing, s.close = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, classify("connect to PostgreSQL", err)
	}
	if err := checkVersion(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT store_id FROM gatehouse_meta`).Scan(&s.id); err != nil {
		pool.Close()
		return nil, classify("read store identity", err)
	}
	s.pool = pool
	s.listenWG.Add(1)
	go s.listen(cfg.ConnConfig.Copy())
	return s, nil
}

// ID is the identity of the database, the same for every replica using it, so
// that revision tokens issued by one replica are accepted by the others.
func (s *Store) ID() string { return s.id }

// Close implements store.Store.
func (s *Store) Close() error {
	if s.isClosed() {
		return nil
	}
	s.close()
	s.listenWG.Wait()
	s.pool.Close()
	return nil
}

func (s *Store) isClosed() bool { return s.closing.Err() != nil }

// opCtx derives a context that is also cancelled by Close, and checks the store
// is open.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.isClosed() {
		return nil, nil, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() { stop(); cancel() }, nil
}

// fail turns an operation's error into the store's: ErrClosed once closed.
func (s *Store) fail(what string, err error) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	return classify(what, err)
}

// signal wakes every waiting change stream.
func (s *Store) signal() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

func (s *Store) waitChan() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

// listen holds a dedicated connection LISTENing for writers' notifications and
// wakes the change streams on each one. It reconnects after failures; polling
// covers any notification lost meanwhile.
func (s *Store) listen(cfg *pgx.ConnConfig) {
	defer s.listenWG.Done()
	ctx := s.closing
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("change notifications lost; reconnecting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Anything committed while we were not listening is found by the next poll;
	// wake the streams so it is found now.
	s.signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.signal()
	}
}

// HeadRevision implements store.Reader.
func (s *Store) HeadRevision(ctx context.Context) (store.Revision, error) {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT head_revision FROM gatehouse_meta`).Scan(&head); err != nil {
		return 0, s.fail("read head revision", err)
	}
	return store.Revision(head), nil
}

// errNoRows reports pgx's no-rows error.
func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
