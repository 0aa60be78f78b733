package store

import (
	"context"
	"database/sql"
	"sort"
	"sync"
)

// block describes a run of consecutive offsets and the span of reading
// times in it. Readings arrive roughly in time order, so a time range maps
// to a few offset ranges; a late reading only widens its block's span.
type block struct {
	first, last  int64 // offsets, inclusive
	minTs, maxTs int64 // Unix ms
	minute       int64 // ingest minute that opened the block
	dirty        bool  // not yet written to the blocks table
	pruned       int64 // rows below this offset are already deleted
}

// blockIndex holds every block in memory (a week is about 10,000 of them)
// in offset order. The writer changes it; queries read it.
type blockIndex struct {
	mu sync.RWMutex
	bs []block
}

// add records a committed batch spanning offsets [first, last].
func (x *blockIndex) add(first, last, minTs, maxTs, minute int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.bs); n > 0 && x.bs[n-1].minute == minute {
		b := &x.bs[n-1]
		b.last = last
		b.minTs, b.maxTs = min(b.minTs, minTs), max(b.maxTs, maxTs)
		b.dirty = true
		return
	}
	x.bs = append(x.bs, block{first: first, last: last, minTs: minTs, maxTs: maxTs, minute: minute, dirty: true, pruned: first})
}

// ranges returns merged offset ranges whose blocks may hold readings with
// from <= ts < to, limited to offsets at or below top.
func (x *blockIndex) ranges(from, to, top int64) [][2]int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out [][2]int64
	prev := -2
	for i, b := range x.bs {
		if b.maxTs < from || b.minTs >= to || b.pruned > top {
			continue
		}
		hi := min(b.last, top)
		if prev == i-1 && len(out) > 0 {
			out[len(out)-1][1] = hi
		} else {
			out = append(out, [2]int64{b.pruned, hi})
		}
		prev = i
	}
	return out
}

// load reads the persisted blocks and rebuilds one for the committed rows
// after them (written since the last rollup pass, or before a crash).
func (x *blockIndex) load(ctx context.Context, db *sql.DB) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	rows, err := db.QueryContext(ctx, "SELECT first_off, last_off, min_ts, max_ts FROM blocks ORDER BY first_off")
	if err != nil {
		return err
	}
	for rows.Next() {
		var b block
		if err := rows.Scan(&b.first, &b.last, &b.minTs, &b.maxTs); err != nil {
			rows.Close()
			return err
		}
		b.minute, b.pruned = -1, b.first
		x.bs = append(x.bs, b)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var after int64
	if n := len(x.bs); n > 0 {
		after = x.bs[n-1].last
	}
	var first, last, minTs, maxTs sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MIN(off), MAX(off), MIN(ts), MAX(ts) FROM readings WHERE off > ?", after).
		Scan(&first, &last, &minTs, &maxTs); err != nil {
		return err
	}
	if first.Valid {
		x.bs = append(x.bs, block{first: first.Int64, last: last.Int64, minTs: minTs.Int64, maxTs: maxTs.Int64,
			minute: -1, dirty: true, pruned: first.Int64})
	}
	sort.Slice(x.bs, func(i, j int) bool { return x.bs[i].first < x.bs[j].first })
	return nil
}

// save writes the changed blocks in tx. The caller calls saved after the
// commit.
func (x *blockIndex) save(ctx context.Context, tx execer) ([]int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var firsts []int64
	for _, b := range x.bs {
		if !b.dirty {
			continue
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO blocks (first_off, last_off, min_ts, max_ts) VALUES (?, ?, ?, ?)",
			b.first, b.last, b.minTs, b.maxTs); err != nil {
			return nil, err
		}
		firsts = append(firsts, b.first)
	}
	return firsts, nil
}

func (x *blockIndex) saved(firsts []int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := map[int64]bool{}
	for _, f := range firsts {
		set[f] = true
	}
	for i := range x.bs {
		if set[x.bs[i].first] {
			x.bs[i].dirty = false
		}
	}
}

// expired returns the next offset range of at most n rows to prune: from
// the oldest block whose newest reading is before cutoff. ok is false when
// nothing has expired.
func (x *blockIndex) expired(cutoff int64, n int) (first, lo, hi int64, whole, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, b := range x.bs {
		if b.maxTs < cutoff {
			hi = min(b.pruned+int64(n)-1, b.last)
			return b.first, b.pruned, hi, hi == b.last, true
		}
	}
	return 0, 0, 0, false, false
}

// prunedTo records that the block starting at first has lost every row up
// to hi, removing it once empty.
func (x *blockIndex) prunedTo(first, hi int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range x.bs {
		if x.bs[i].first == first {
			if hi >= x.bs[i].last {
				x.bs = append(x.bs[:i], x.bs[i+1:]...)
			} else {
				x.bs[i].pruned = hi + 1
			}
			return
		}
	}
}
