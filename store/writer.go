package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"
)

// Rollup levels.
const (
	lvMinute = iota
	lvHour
	numLevels
)

var (
	levelMs    = [numLevels]int64{60_000, 3_600_000}
	levelTable = [numLevels]string{"rollup_1m", "rollup_1h"}
	levelMeta  = [numLevels]string{"rollup_1m_done", "rollup_1h_done"}
)

// rollupGrace is how long after a bucket ends it stays open in memory for
// late readings; later ones are merged into the written row directly.
const rollupGrace = time.Minute

type aggKey struct {
	level  int
	series int64
	bucket int64 // start, Unix ms
}

type agg struct {
	min, max, sum float64
	count         int64
}

func (a *agg) add(v float64) {
	if a.count == 0 || v < a.min {
		a.min = v
	}
	if a.count == 0 || v > a.max {
		a.max = v
	}
	a.sum += v
	a.count++
}

// writer is the state of the single writer goroutine; only it touches these
// fields (the done watermarks are mirrored in Store for queries).
type writer struct {
	s     *Store
	batch []item

	agg         map[aggKey]*agg
	done        [numLevels]int64 // every bucket before this is written
	dirtyLatest map[int64]bool
	lastRollup  time.Time
	nextPrune   time.Time
	nextRest    time.Time // rollup and event pruning, hourly
	pruning     bool

	failing bool
	backoff time.Duration
	retry   *time.Timer

	ins, insMany *sql.Stmt
	args         []any
}

// insChunk is how many rows one multi-row INSERT carries: fewer statement
// executions per batch, well under SQLite's 32766 parameters.
const insChunk = 100

func newWriter(s *Store) *writer {
	now := s.opts.Now()
	return &writer{
		s:           s,
		agg:         map[aggKey]*agg{},
		dirtyLatest: map[int64]bool{},
		lastRollup:  now,
		nextPrune:   now,
		nextRest:    now,
	}
}

func (w *writer) resetStmts() {
	for _, st := range []**sql.Stmt{&w.ins, &w.insMany} {
		if *st != nil {
			(*st).Close()
			*st = nil
		}
	}
}

// rebuild reloads the rollup watermarks and refills the open buckets from
// raw rows: they live only in memory, so a crash loses nothing here.
func (w *writer) rebuild(ctx context.Context) error {
	db := w.s.wdb
	for l := range numLevels {
		if err := db.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", levelMeta[l]).Scan(&w.done[l]); err != nil {
			return err
		}
		w.s.rollDone[l].Store(w.done[l])
	}
	from := min(w.done[0], w.done[1])
	for _, r := range w.s.blocks.ranges(from, math.MaxInt64, w.s.Committed()) {
		rows, err := db.QueryContext(ctx, "SELECT series, ts, value FROM readings WHERE off BETWEEN ? AND ? AND ts >= ? AND value IS NOT NULL",
			r[0], r[1], from)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, ts int64
			var v float64
			if err := rows.Scan(&id, &ts, &v); err != nil {
				rows.Close()
				return err
			}
			w.addAgg(id, ts, v)
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) addAgg(id, ts int64, v float64) {
	for l := range numLevels {
		if ts < w.done[l] {
			continue
		}
		k := aggKey{l, id, floorDiv(ts, levelMs[l]) * levelMs[l]}
		a := w.agg[k]
		if a == nil {
			a = &agg{}
			w.agg[k] = a
		}
		a.add(v)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func (w *writer) run() {
	s := w.s
	defer close(s.done)
	every := s.opts.FlushInterval
	if every < 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	w.retry = time.NewTimer(time.Hour)
	w.retry.Stop()
	for {
		select {
		case <-s.wake:
			w.drain()
			if len(w.batch) >= s.opts.BatchSize && !w.failing {
				w.commit()
			}
		case <-tick.C:
			if s.opts.FlushInterval > 0 && !w.failing {
				w.drain()
				w.commit()
			}
			if !w.failing {
				w.maintain()
			}
		case <-w.retry.C:
			w.drain()
			if w.commit() == nil {
				w.maintain()
			}
		case ch := <-s.flushReq:
			w.drain()
			err := w.commit()
			if err == nil {
				err = w.maintain()
			}
			ch <- err
		case fn := <-s.ctl:
			fn(w)
		case <-s.closing:
			w.drain()
			s.closeErr = w.final()
			return
		}
	}
}

// drain moves every queued item into the batch.
func (w *writer) drain() {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(w.batch) == 0 {
		// Swap the slices: no copy, and both keep their capacity.
		w.batch, s.pending = s.pending, w.batch[:0]
		return
	}
	w.batch = append(w.batch, s.pending...)
	clear(s.pending)
	s.pending = s.pending[:0]
}

// fail records err, schedules a retry with exponential backoff and returns
// the wrapped error.
func (w *writer) fail(op string, err error) error {
	err = w.s.fileErr(op, err)
	w.s.setHealth(err)
	if !w.failing {
		w.failing = true
		w.backoff = 100 * time.Millisecond
	} else {
		w.backoff = min(max(2*w.backoff, 100*time.Millisecond), 10*time.Second)
	}
	w.retry.Reset(w.backoff)
	return err
}

func (w *writer) ok() {
	if w.failing {
		w.failing = false
		w.retry.Stop()
	}
	w.s.setHealth(nil)
}

// commit writes the batch in one transaction. On failure the batch is kept
// for the next attempt, which starts on a freshly opened connection.
func (w *writer) commit() error {
	if len(w.batch) == 0 {
		return nil
	}
	if w.failing {
		if err := w.s.reopenWriter(); err != nil {
			return w.fail("reopen", err)
		}
	}
	start := time.Now()
	newSeries, err := w.insert()
	if err != nil {
		return w.fail("commit", err)
	}
	s := w.s
	s.lastCommit.Store(int64(time.Since(start)))
	last := w.batch[len(w.batch)-1].off
	c := &s.cache
	c.mu.Lock()
	for k, i := range newSeries {
		c.byKey[k] = i
		c.byID[i.id] = k
	}
	for _, it := range w.batch {
		info := c.byKey[seriesKey{it.r.Device, it.r.Key}]
		r := it.r
		r.Unit = info.unit
		if c.setLatest(info.id, Sample{Offset: it.off, Reading: r}) {
			w.dirtyLatest[info.id] = true
		}
		if !it.r.IsState {
			w.addAgg(info.id, msec(it.r.Time), it.r.Value)
		}
	}
	c.mu.Unlock()
	minTs, maxTs := int64(math.MaxInt64), int64(math.MinInt64)
	for _, it := range w.batch {
		ts := msec(it.r.Time)
		minTs, maxTs = min(minTs, ts), max(maxTs, ts)
	}
	s.blocks.add(w.batch[0].off, last, minTs, maxTs, floorDiv(msec(s.opts.Now()), 60_000))
	clear(w.batch)
	w.batch = w.batch[:0]
	s.committed.Store(last)
	w.ok()
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(last)
	}
	return nil
}

// insert runs the batch transaction and returns the series it created, to
// be published in the cache only once the transaction is durable.
func (w *writer) insert() (map[seriesKey]seriesInfo, error) {
	s := w.s
	ctx := context.Background()
	db := s.writeDB()
	if w.ins == nil {
		const row = "(?, ?, ?, ?, ?)"
		st, err := db.PrepareContext(ctx, "INSERT INTO readings (off, series, ts, value, text) VALUES "+row)
		if err != nil {
			return nil, err
		}
		many, err := db.PrepareContext(ctx, "INSERT INTO readings (off, series, ts, value, text) VALUES "+row+strings.Repeat(", "+row, insChunk-1))
		if err != nil {
			st.Close()
			return nil, err
		}
		w.ins, w.insMany = st, many
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ex := newTxStmts(tx)
	newSeries := map[seriesKey]seriesInfo{}
	args := w.args[:0]
	for _, it := range w.batch {
		r := &it.r
		k := seriesKey{r.Device, r.Key}
		info, ok := newSeries[k]
		if !ok {
			info, ok = s.cache.get(k)
			if !ok {
				res, err := ex.ExecContext(ctx, "INSERT INTO series (device, key, state, unit) VALUES (?, ?, ?, ?)", r.Device, r.Key, r.IsState, r.Unit)
				if err != nil {
					return nil, err
				}
				if info.id, err = res.LastInsertId(); err != nil {
					return nil, err
				}
				info.state, info.unit = r.IsState, r.Unit
				newSeries[k] = info
			}
		}
		if (r.Unit != "" && r.Unit != info.unit) || r.IsState != info.state {
			if _, err := ex.ExecContext(ctx, "UPDATE series SET unit = ?, state = ? WHERE id = ?", max(r.Unit, info.unit), r.IsState, info.id); err != nil {
				return nil, err
			}
			if r.Unit != "" {
				info.unit = r.Unit
			}
			info.state = r.IsState
			newSeries[k] = info
		}
		ts := msec(r.Time)
		if r.IsState {
			args = append(args, it.off, info.id, ts, nil, r.Text)
		} else {
			args = append(args, it.off, info.id, ts, r.Value, nil)
			if err := w.late(ctx, ex, info.id, ts, r.Value); err != nil {
				return nil, err
			}
		}
	}
	w.args = args[:0]
	many, one := tx.StmtContext(ctx, w.insMany), tx.StmtContext(ctx, w.ins)
	for len(args) >= 5*insChunk {
		if _, err := many.ExecContext(ctx, args[:5*insChunk]...); err != nil {
			return nil, err
		}
		args = args[5*insChunk:]
	}
	for ; len(args) > 0; args = args[5:] {
		if _, err := one.ExecContext(ctx, args[:5]...); err != nil {
			return nil, err
		}
	}
	clear(w.args[:cap(w.args)])
	return newSeries, tx.Commit()
}

// late merges a numeric reading into each rollup level whose bucket for it
// was already written; at a level not yet rolled up to its time it does
// nothing, as the rollup pass will count it. insert calls it for every
// numeric reading.
func (w *writer) late(ctx context.Context, ex execer, id, ts int64, v float64) error {
	for l := range numLevels {
		if ts >= w.done[l] {
			continue
		}
		b := floorDiv(ts, levelMs[l]) * levelMs[l]
		if err := upsertRollup(ctx, ex, l, id, b, &agg{min: v, max: v, sum: v, count: 1}); err != nil {
			return err
		}
	}
	return nil
}

// execer runs a statement; *sql.Tx and *txStmts both do.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// txStmts prepares each statement once per transaction: the rollup, latest
// and block writes run the same statement thousands of times, and preparing
// it each time cost more than running it.
type txStmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func newTxStmts(tx *sql.Tx) *txStmts { return &txStmts{tx: tx, m: map[string]*sql.Stmt{}} }

// ExecContext runs query as a statement prepared in the transaction; the
// statements are closed with it.
func (t *txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := t.m[query]
	if !ok {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.m[query] = st
	}
	return st.ExecContext(ctx, args...)
}

func upsertRollup(ctx context.Context, ex execer, l int, id, bucket int64, a *agg) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO `+levelTable[l]+` (series, bucket, min, max, sum, count) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (series, bucket) DO UPDATE SET min = min(min, excluded.min), max = max(max, excluded.max),
		sum = sum + excluded.sum, count = count + excluded.count`, id, bucket, a.min, a.max, a.sum, a.count)
	return err
}

// maintain writes due rollups and runs one pruning step.
func (w *writer) maintain() error {
	now := w.s.opts.Now()
	if now.Sub(w.lastRollup) >= w.s.opts.RollupEvery {
		if err := w.writeRollups(now); err != nil {
			return w.fail("rollup", err)
		}
		w.lastRollup = now
	}
	if !w.pruning && !now.Before(w.nextPrune) {
		w.pruning = true
		w.nextPrune = now.Add(time.Minute)
	}
	if w.pruning {
		more, err := w.pruneRaw(now)
		if err != nil {
			return w.fail("prune", err)
		}
		if !more {
			if !now.Before(w.nextRest) {
				if err := w.pruneRest(now); err != nil {
					return w.fail("prune", err)
				}
				w.nextRest = now.Add(time.Hour)
			}
			w.pruning = false
		}
	}
	// Reached only after a successful commit (or with nothing to commit):
	// a failure that came from maintenance itself is over too.
	w.ok()
	return nil
}

// writeRollups writes every closed bucket held in memory and the latest
// samples, in one transaction, and moves the watermarks.
func (w *writer) writeRollups(now time.Time) error {
	ctx := context.Background()
	var newDone [numLevels]int64
	cut := msec(now.Add(-rollupGrace))
	for l := range numLevels {
		newDone[l] = max(w.done[l], floorDiv(cut, levelMs[l])*levelMs[l])
	}
	tx, err := w.s.writeDB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ex := newTxStmts(tx)
	var written []aggKey
	for k, a := range w.agg {
		if k.bucket+levelMs[k.level] > newDone[k.level] {
			continue
		}
		if err := upsertRollup(ctx, ex, k.level, k.series, k.bucket, a); err != nil {
			return err
		}
		written = append(written, k)
	}
	for l := range numLevels {
		if _, err := ex.ExecContext(ctx, "UPDATE meta SET value = ? WHERE key = ?", newDone[l], levelMeta[l]); err != nil {
			return err
		}
	}
	if err := w.writeLatest(ctx, ex); err != nil {
		return err
	}
	savedBlocks, err := w.s.blocks.save(ctx, ex)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.s.blocks.saved(savedBlocks)
	for _, k := range written {
		delete(w.agg, k)
	}
	w.done = newDone
	for l := range numLevels {
		w.s.rollDone[l].Store(newDone[l])
	}
	clear(w.dirtyLatest)
	return nil
}

func (w *writer) writeLatest(ctx context.Context, ex execer) error {
	c := &w.s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	for id := range w.dirtyLatest {
		smp := c.latest[id]
		var v, t any
		if smp.IsState {
			t = smp.Text
		} else {
			v = smp.Value
		}
		if _, err := ex.ExecContext(ctx, "INSERT OR REPLACE INTO latest (series, off, ts, value, text) VALUES (?, ?, ?, ?, ?)",
			id, smp.Offset, msec(smp.Time), v, t); err != nil {
			return err
		}
	}
	_, err := ex.ExecContext(ctx, "UPDATE meta SET value = ? WHERE key = 'latest_offset'", w.s.committed.Load())
	return err
}

// pruneRaw deletes at most PruneBatch raw rows from the oldest block whose
// readings are all older than RawRetention. It reports whether it found
// anything to delete. (A block that also holds a newer, late reading is kept
// whole until that reading expires too.)
func (w *writer) pruneRaw(now time.Time) (bool, error) {
	cutoff := msec(now.Add(-w.s.opts.RawRetention))
	first, lo, hi, whole, ok := w.s.blocks.expired(cutoff, w.s.opts.PruneBatch)
	if !ok {
		return false, nil
	}
	ctx := context.Background()
	tx, err := w.s.writeDB().BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	ex := newTxStmts(tx)
	// Remember the highest offset before deleting anything, so the counter
	// never goes back even if every row is pruned.
	if _, err := ex.ExecContext(ctx, `UPDATE meta SET value = max(CAST(value AS INTEGER), (SELECT COALESCE(MAX(off), 0) FROM readings))
		WHERE key = 'last_offset'`); err != nil {
		return false, err
	}
	if _, err := ex.ExecContext(ctx, "DELETE FROM readings WHERE off BETWEEN ? AND ?", lo, hi); err != nil {
		return false, err
	}
	if whole {
		if _, err := ex.ExecContext(ctx, "DELETE FROM blocks WHERE first_off = ?", first); err != nil {
			return false, err
		}
	}
	if _, err := ex.ExecContext(ctx, "UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'pruned_through'", hi); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	w.s.blocks.prunedTo(first, hi)
	if hi > w.s.oldest.Load() {
		w.s.oldest.Store(hi)
	}
	return true, nil
}

// pruneRest trims rollups and events; these tables are small next to raw
// readings, so one transaction per pass is short.
func (w *writer) pruneRest(now time.Time) error {
	ctx := context.Background()
	tx, err := w.s.writeDB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ex := newTxStmts(tx)
	ids := w.s.cache.ids(nil)
	cut := [numLevels]int64{msec(now.Add(-w.s.opts.MinuteRetention)), msec(now.Add(-w.s.opts.HourRetention))}
	for l := range numLevels {
		// Per series, so each delete is a range of the primary key.
		for _, id := range ids {
			if _, err := ex.ExecContext(ctx, "DELETE FROM "+levelTable[l]+" WHERE series = ? AND bucket < ?", id, cut[l]); err != nil {
				return err
			}
		}
	}
	if _, err := ex.ExecContext(ctx, "DELETE FROM events WHERE ts < ?", cut[lvMinute]); err != nil {
		return err
	}
	return tx.Commit()
}

// final commits what is left at Close, retrying for a while if the disk is
// failing, then marks the file cleanly closed.
func (w *writer) final() error {
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		w.drain()
		if err = w.commit(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(w.backoff)
	}
	w.resetStmts()
	if err != nil {
		return fmt.Errorf("%w (%d readings not stored)", err, len(w.batch))
	}
	ctx := context.Background()
	tx, err := w.s.writeDB().BeginTx(ctx, nil)
	if err != nil {
		return w.s.fileErr("close", err)
	}
	defer tx.Rollback()
	ex := newTxStmts(tx)
	if err := w.writeLatest(ctx, ex); err != nil {
		return w.s.fileErr("close", err)
	}
	if _, err := w.s.blocks.save(ctx, ex); err != nil {
		return w.s.fileErr("close", err)
	}
	w.s.mu.Lock()
	last := w.s.next - 1
	w.s.mu.Unlock()
	if _, err := ex.ExecContext(ctx, `UPDATE meta SET value = CASE key WHEN 'clean' THEN 1 ELSE max(CAST(value AS INTEGER), ?) END
		WHERE key IN ('clean', 'last_offset')`, last); err != nil {
		return w.s.fileErr("close", err)
	}
	return w.s.fileErr("close", tx.Commit())
}
