package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Reading is one sample to store. Its fields mirror devices.Reading, so the
// gateway converts with store.Reading(r).
type Reading struct {
	// Device is the device id; Key the metric or state name. Both required.
	Device string
	Key    string
	// Time is when the sample was taken; zero means Options.Now(). It is
	// stored with millisecond precision.
	Time time.Time
	// Value is a numeric sample (ignored when IsState). NaN and ±Inf are
	// rejected.
	Value float64
	// Text is a state sample such as "ON" or "open", kept when IsState.
	Text string
	// IsState tells a state sample from a numeric one.
	IsState bool
	// Unit is the unit of a numeric sample when known; the last non-empty
	// unit seen is kept per series.
	Unit string
}

// Sample is a stored reading with its offset.
type Sample struct {
	Offset int64
	Reading
}

// maxNameLen bounds device ids and keys; longer ones are refused.
const maxNameLen = 256

func (r *Reading) validate() error {
	switch {
	case r.Device == "" || r.Key == "":
		return fmt.Errorf("%w: reading needs a device and a key", ErrInvalid)
	case len(r.Device) > maxNameLen || len(r.Key) > maxNameLen || len(r.Unit) > maxNameLen:
		return fmt.Errorf("%w: device, key or unit longer than %d bytes", ErrInvalid, maxNameLen)
	case !utf8.ValidString(r.Device) || !utf8.ValidString(r.Key) || !utf8.ValidString(r.Text):
		return fmt.Errorf("%w: device, key and text must be UTF-8", ErrInvalid)
	case !r.IsState && !validFloat(r.Value):
		return fmt.Errorf("%w: value %v for %s/%s", ErrInvalid, r.Value, r.Device, r.Key)
	}
	return nil
}

// item is a queued reading with its offset.
type item struct {
	off int64
	r   Reading
}

// Append queues r for the next batched commit and returns its offset at
// once, so the caller may send the reading live before it is on disk.
// Offsets increase strictly in call order and are never reused, even after a
// crash (see Committed). Append never blocks on I/O: when QueueSize readings
// are already waiting (for example while the disk is failing) it returns
// ErrQueueFull and the reading is not stored.
func (s *Store) Append(r Reading) (int64, error) {
	if err := r.validate(); err != nil {
		return 0, err
	}
	if r.Time.IsZero() {
		r.Time = s.opts.Now()
	}
	if r.IsState {
		r.Value = 0
	} else {
		r.Text = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.next-1-s.committed.Load() >= int64(s.opts.QueueSize) {
		return 0, ErrQueueFull
	}
	off := s.next
	s.next++
	// A slice under the mutex we already hold, not a channel: the writer is
	// woken once per batch instead of once per reading.
	s.pending = append(s.pending, item{off: off, r: r})
	if len(s.pending) == s.opts.BatchSize {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return off, nil
}

// Flush commits every reading appended before the call and runs due
// maintenance (rollups, pruning). It returns the commit error, if any;
// the readings stay queued and the writer keeps retrying.
func (s *Store) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case s.flushReq <- ch:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type seriesKey struct{ device, key string }

type seriesInfo struct {
	id    int64
	state bool
	unit  string
}

// seriesCache maps device+key to the small integer series id, and keeps the
// newest committed sample of each series. The writer fills it; queries read it.
type seriesCache struct {
	mu     sync.RWMutex
	byKey  map[seriesKey]seriesInfo
	byID   map[int64]seriesKey
	latest map[int64]Sample
}

func (c *seriesCache) init() {
	c.byKey = map[seriesKey]seriesInfo{}
	c.byID = map[int64]seriesKey{}
	c.latest = map[int64]Sample{}
}

func (c *seriesCache) get(k seriesKey) (seriesInfo, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.byKey[k]
	return i, ok
}

// ids returns the series ids of the given devices (all when none given),
// sorted.
func (c *seriesCache) ids(devices []string) []int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	want := map[string]bool{}
	for _, d := range devices {
		want[d] = true
	}
	var ids []int64
	for k, i := range c.byKey {
		if len(devices) == 0 || want[k.device] {
			ids = append(ids, i.id)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	return ids
}

func (c *seriesCache) key(id int64) (seriesKey, seriesInfo) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k := c.byID[id]
	return k, c.byKey[k]
}

func (c *seriesCache) setLatest(id int64, smp Sample) bool {
	cur, ok := c.latest[id]
	if ok && (cur.Time.After(smp.Time) || (cur.Time.Equal(smp.Time) && cur.Offset > smp.Offset)) {
		return false
	}
	c.latest[id] = smp
	return true
}

// load reads the series table and the latest samples (the persisted table
// plus whatever was committed after it was written).
func (c *seriesCache) load(ctx context.Context, db *sql.DB) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rows, err := db.QueryContext(ctx, "SELECT id, device, key, state, unit FROM series")
	if err != nil {
		return err
	}
	for rows.Next() {
		var k seriesKey
		var i seriesInfo
		if err := rows.Scan(&i.id, &k.device, &k.key, &i.state, &i.unit); err != nil {
			rows.Close()
			return err
		}
		c.byKey[k] = i
		c.byID[i.id] = k
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var from int64
	if err := db.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'latest_offset'").Scan(&from); err != nil {
		return err
	}
	scan := func(q string, args ...any) error {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, off, ts int64
			var v sql.NullFloat64
			var t sql.NullString
			if err := rows.Scan(&id, &off, &ts, &v, &t); err != nil {
				return err
			}
			k, ok := c.byID[id]
			if !ok {
				continue
			}
			info := c.byKey[k]
			c.setLatest(id, Sample{Offset: off, Reading: Reading{Device: k.device, Key: k.key, Time: fromMsec(ts),
				Value: v.Float64, Text: t.String, IsState: t.Valid, Unit: info.unit}})
		}
		return rows.Err()
	}
	if err := scan("SELECT series, off, ts, value, text FROM latest"); err != nil {
		return err
	}
	return scan("SELECT series, off, ts, value, text FROM readings WHERE off > ?", from)
}
