// Package store keeps the gateway's history in one SQLite file: readings
// with a monotonically increasing offset, 1-minute and 1-hour rollups, the
// device registry and events.
//
// # Writing
//
// Append assigns a reading its offset at once and queues it; one writer
// goroutine commits the queue in batches (every FlushInterval, or at
// BatchSize readings, or on Flush/Close). The gateway may send a reading to
// dashboards with its offset before it is on disk; Committed (or the
// OnCommit callback) tells how far the disk has caught up, so recovery never
// promises more than that.
//
// # What a crash can lose
//
// A kill -9 or power loss loses at most the readings still queued: those
// appended during the last FlushInterval (1s by default) plus, while commits
// are failing, everything queued since (at most QueueSize readings). Every
// reading whose offset was at or below Committed survives a process crash
// (the WAL is written before the commit returns). On power loss, with
// synchronous=NORMAL, the last commits before the loss may also roll back,
// but the file always opens consistent. Offsets are never reused: after an
// unclean shutdown the counter skips past every offset the previous run
// could have handed out without committing. Rollup buckets still open in
// memory are rebuilt from raw rows at open, so they lose nothing.
//
// # Failures
//
// When a commit fails (disk full, file made read-only, I/O error) the batch
// stays queued, Health returns the error naming the file and the cause,
// OnHealth fires, and the writer retries on a freshly opened connection with
// backoff (100ms doubling to 10s). Append keeps assigning offsets until
// QueueSize readings wait, then returns ErrQueueFull: it never blocks and
// never drops silently, so the gateway can keep serving live data. A file
// that is not a database fails Open with ErrCorrupt.
//
// # Concurrency
//
// Every method is safe for concurrent use. Queries use a pool of read
// connections and see committed data only (Latest is served from memory).
// Registry and event writes share the single writer connection.
package store
