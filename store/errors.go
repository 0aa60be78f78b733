package store

import "errors"

// Sentinel errors. Errors returned by the store wrap these (test with
// errors.Is) and name the database file and the cause.
var (
	// ErrQueueFull is returned by Append when QueueSize readings are already
	// waiting to be committed; the reading was not queued and got no offset.
	ErrQueueFull = errors.New("store: write queue full")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is returned for a reading or argument the store cannot keep
	// (empty device or key, NaN value, bad range, ...).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrNotFound is returned by Device for an unknown device id.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt is returned by Open when the file is not a readable SQLite
	// database (garbage, truncated, or damaged pages).
	ErrCorrupt = errors.New("store: database file is corrupt")
	// ErrSchemaTooNew is returned by Open for a file written by a newer build.
	ErrSchemaTooNew = errors.New("store: schema is newer than this build")
	// ErrPruned is returned by After when readings after the given offset
	// have already been removed by retention, so a complete catch-up is
	// impossible.
	ErrPruned = errors.New("store: offset is older than retained history")
	// ErrUnknownOffset is returned by After for an offset this database never
	// handed out (the client talks about another database).
	ErrUnknownOffset = errors.New("store: offset unknown to this database")
)
