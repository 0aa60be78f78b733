package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Options configures a Store. A nil *Options means all defaults; Open copies
// the struct, so the caller's value is never changed.
type Options struct {
	// FlushInterval is how long a reading may wait in the queue before the
	// writer commits it. It bounds what a crash can lose. Zero means 1s; a
	// negative value means commits happen only by BatchSize or Flush.
	FlushInterval time.Duration
	// BatchSize commits as soon as this many readings wait. Zero means 5000.
	BatchSize int
	// QueueSize caps the readings accepted but not yet committed; beyond it
	// Append returns ErrQueueFull. Zero means 100000.
	QueueSize int
	// RawRetention is how long raw readings are kept. Zero means 7 days.
	// Values under 2h are raised to 2h (rollups are rebuilt from raw rows).
	RawRetention time.Duration
	// MinuteRetention is how long 1-minute rollups are kept. Zero means 90 days.
	MinuteRetention time.Duration
	// HourRetention is how long 1-hour rollups are kept. Zero means 2 years
	// (730 days). Events are kept as long as 1-minute rollups.
	HourRetention time.Duration
	// RollupEvery is how often closed rollup buckets are written. Writing
	// many buckets at once touches each series' pages once instead of once
	// per minute. Zero means 10 minutes.
	RollupEvery time.Duration
	// PruneBatch is how many raw rows one pruning transaction deletes at
	// most, so pruning never holds the writer for long. Zero means 1000.
	PruneBatch int
	// Now returns the current time; tests inject a fake clock. Nil means
	// time.Now. Retention, rollups and readings without a time use it.
	Now func() time.Time
	// OnCommit, if set, is called by the writer goroutine after each commit
	// with the highest committed offset. It must not block.
	OnCommit func(committed int64)
	// OnHealth, if set, is called by the writer goroutine when the store
	// starts failing (err != nil) or recovers (err == nil). It must not block.
	OnHealth func(err error)
}

// Defaults used when an Options field is zero.
const (
	DefaultFlushInterval   = time.Second
	DefaultBatchSize       = 5000
	DefaultQueueSize       = 100000
	DefaultRawRetention    = 7 * 24 * time.Hour
	DefaultMinuteRetention = 90 * 24 * time.Hour
	DefaultHourRetention   = 730 * 24 * time.Hour
	DefaultRollupEvery     = 10 * time.Minute
	DefaultPruneBatch      = 1000
)

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.RawRetention <= 0 {
		c.RawRetention = DefaultRawRetention
	}
	if c.RawRetention < 2*time.Hour {
		c.RawRetention = 2 * time.Hour
	}
	if c.MinuteRetention <= 0 {
		c.MinuteRetention = DefaultMinuteRetention
	}
	if c.HourRetention <= 0 {
		c.HourRetention = DefaultHourRetention
	}
	if c.RollupEvery <= 0 {
		c.RollupEvery = DefaultRollupEvery
	}
	if c.PruneBatch <= 0 {
		c.PruneBatch = DefaultPruneBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is the gateway's history in one SQLite file: readings with offsets,
// rollups, the device registry and events.
//
// All methods are safe for concurrent use. Append never blocks on I/O: one
// writer goroutine commits queued readings in batches. Queries run on a small
// pool of read connections and see only committed data.
type Store struct {
	path  string
	opts  Options
	epoch string

	wmu sync.Mutex // guards wdb swaps (reopen after failure)
	wdb *sql.DB    // exactly one connection: the only writer
	rdb *sql.DB    // read pool

	// mu orders Append: offsets are assigned and readings queued under it,
	// so the queue (pending) holds them in offset order.
	mu         sync.Mutex
	next       int64 // next offset to hand out
	closed     bool
	pending    []item        // the queue: appended, not yet taken by the writer
	wake       chan struct{} // tells the writer a full batch waits
	committed  atomic.Int64
	lastCommit atomic.Int64            // duration of the last batch transaction, ns
	oldest     atomic.Int64            // highest offset ever pruned (pruned_through)
	rollDone   [numLevels]atomic.Int64 // rollup watermarks, Unix ms

	flushReq chan chan error
	ctl      chan func(*writer) // runs a function on the writer goroutine (tests)
	closing  chan struct{}
	done     chan struct{}
	closeErr error

	health atomic.Pointer[healthState]

	// cache holds series ids and the latest sample per series; written by
	// the writer goroutine, read by queries.
	cache seriesCache
	// blocks maps time spans to offset ranges for time queries.
	blocks blockIndex

	w *writer // state owned by the writer goroutine
}

type healthState struct{ err error }

// Open opens (creating if needed) the database at path, applies pending
// schema migrations in one transaction, and starts the writer. A file that
// is not a valid database gives an error wrapping ErrCorrupt that names it.
func Open(path string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	s := &Store{
		path:     path,
		opts:     o,
		wake:     make(chan struct{}, 1),
		flushReq: make(chan chan error),
		ctl:      make(chan func(*writer)),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.cache.init()
	ctx := context.Background()
	if err := initFile(path); err != nil {
		return nil, s.fileErr("create", err)
	}
	var err error
	if s.wdb, err = openDB(path, false); err != nil {
		return nil, s.fileErr("open", err)
	}
	if s.rdb, err = openDB(path, true); err != nil {
		s.wdb.Close()
		return nil, s.fileErr("open", err)
	}
	fail := func(op string, err error) (*Store, error) {
		s.wdb.Close()
		s.rdb.Close()
		return nil, s.fileErr(op, err)
	}
	if err := checkWAL(ctx, s.wdb); err != nil {
		return fail("open", err)
	}
	if err := migrate(ctx, s.wdb, 0); err != nil {
		return fail("migrate", err)
	}
	if err := s.loadState(ctx); err != nil {
		return fail("load", err)
	}
	s.w = newWriter(s)
	if err := s.w.rebuild(ctx); err != nil {
		return fail("rebuild rollups", err)
	}
	go s.w.run()
	return s, nil
}

// pageSize is the page size of new files. Every commit rewrites the pages
// it touches in full into the WAL, so small pages mean fewer bytes written
// per small batch (see docs/store.md for the measurements).
var pageSize = 4096

// initFile gives a new (absent or empty) file its page size before WAL mode
// fixes it.
func initFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return nil
	}
	db, err := sql.Open("sqlite3", "file:"+escapePath(path))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return err
	}
	_, err = db.Exec("PRAGMA journal_mode = WAL")
	return err
}

func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// dsn builds the connection string. busy_timeout comes first so it already
// applies while the other pragmas run; all pragmas are in the DSN so every
// pooled connection gets them.
func dsn(path string, readOnly bool) string {
	esc := escapePath(path)
	q := "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate"
	if readOnly {
		q += "&_query_only=1"
	}
	return "file:" + esc + "?" + q
}

func openDB(path string, readOnly bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", dsn(path, readOnly))
	if err != nil {
		return nil, err
	}
	if readOnly {
		// A few readers suffice on a 2–4 core board; WAL lets them run
		// beside the writer.
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
	} else {
		// One writer connection: SQLite admits one writer at a time anyway,
		// and a single connection never meets SQLITE_BUSY from itself.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	}
	db.SetConnMaxLifetime(0)
	return db, nil
}

// checkWAL makes sure the file really is in WAL mode; a journal_mode
// pragma on a file that is not a database fails here with a clear error.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}

// fileErr wraps err with the operation and file name, and maps SQLite's
// "not a database"/"corrupt" codes to ErrCorrupt.
func (s *Store) fileErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("%w: %s %s: %v", ErrCorrupt, op, s.path, err)
	}
	return fmt.Errorf("store: %s %s: %w", op, s.path, err)
}

// loadState reads the offset counter, the epoch and the series table, and
// records this run's queue bound so a crash never lets offsets repeat.
func (s *Store) loadState(ctx context.Context) error {
	meta := map[string]sql.NullString{}
	rows, err := s.wdb.QueryContext(ctx, "SELECT key, CAST(value AS TEXT) FROM meta")
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		meta[k] = v
	}
	if err := rows.Close(); err != nil {
		return err
	}
	num := func(k string) int64 {
		var n int64
		fmt.Sscan(meta[k].String, &n)
		return n
	}
	s.epoch = meta["epoch"].String
	var maxOff sql.NullInt64
	if err := s.wdb.QueryRowContext(ctx, "SELECT MAX(off) FROM readings").Scan(&maxOff); err != nil {
		return err
	}
	last := max(num("last_offset"), maxOff.Int64)
	if num("clean") != 1 {
		// The last run ended without Close: it may have handed out up to
		// queue_bound offsets that never reached the disk. Skip past them,
		// so a dashboard that saw one live never meets it again.
		last += num("queue_bound")
	}
	s.next = last + 1
	s.committed.Store(last)
	s.oldest.Store(num("pruned_through"))
	_, err = s.wdb.ExecContext(ctx, `UPDATE meta SET value = CASE key
		WHEN 'clean' THEN 0 WHEN 'queue_bound' THEN ? WHEN 'last_offset' THEN ? END
		WHERE key IN ('clean', 'queue_bound', 'last_offset')`, s.opts.QueueSize, last)
	if err != nil {
		return err
	}
	if err := s.cache.load(ctx, s.wdb); err != nil {
		return err
	}
	return s.blocks.load(ctx, s.wdb)
}

// Path returns the database file name given to Open.
func (s *Store) Path() string { return s.path }

// Epoch returns the random id created with the database file. Offsets are
// only comparable between two sides that agree on the epoch.
func (s *Store) Epoch() string { return s.epoch }

// Committed returns the highest offset known to be on disk: every reading
// with an offset at or below it that Append accepted has been committed.
// Recovery must not promise anything above it.
func (s *Store) Committed() int64 { return s.committed.Load() }

// Stats describes the write path, for monitoring.
type Stats struct {
	// Queued is the number of readings appended but not yet committed.
	Queued int64
	// LastCommit is how long the last batch transaction took.
	LastCommit time.Duration
}

// Stats returns the current write-path figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	return Stats{Queued: max(0, next-1-s.committed.Load()), LastCommit: time.Duration(s.lastCommit.Load())}
}

// Health returns nil while the store commits normally, or the last error
// (naming the file and the cause) while commits fail. The writer keeps
// retrying with backoff and Health turns nil again once a commit succeeds.
func (s *Store) Health() error {
	if h := s.health.Load(); h != nil {
		return h.err
	}
	return nil
}

func (s *Store) setHealth(err error) {
	old := s.health.Load()
	if err == nil && old == nil {
		return
	}
	if err == nil {
		s.health.Store(nil)
	} else {
		s.health.Store(&healthState{err: err})
	}
	if s.opts.OnHealth != nil && (old == nil) != (err == nil) {
		s.opts.OnHealth(err)
	}
}

// Close commits every queued reading (retrying for up to 10s if the disk
// is failing), marks the file cleanly closed and releases it. Readings that
// still cannot be committed are lost and reported in the error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	<-s.done
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.closeErr
	if e := s.wdb.Close(); err == nil && e != nil {
		err = s.fileErr("close", e)
	}
	if e := s.rdb.Close(); err == nil && e != nil {
		err = s.fileErr("close", e)
	}
	return err
}

// writeDB returns the current writer pool (it is replaced after failures).
func (s *Store) writeDB() *sql.DB {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.wdb
}

// reopenWriter replaces the writer connection, so a file whose permissions
// or disk changed is opened afresh.
func (s *Store) reopenWriter() error {
	db, err := openDB(s.path, false)
	if err == nil {
		// Ping forces the open now, so its error names the real cause.
		err = db.Ping()
	}
	s.wmu.Lock()
	old := s.wdb
	if err == nil {
		s.wdb = db
	}
	s.wmu.Unlock()
	if err != nil {
		if db != nil {
			db.Close()
		}
		return err
	}
	old.Close()
	s.w.resetStmts()
	return nil
}

func msec(t time.Time) int64 { return t.UnixMilli() }

func fromMsec(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func validFloat(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
