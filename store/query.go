package store

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// catchUp commits the readings still queued, so that a query answers with
// every reading appended before it: a chart opened now shows the last
// second too, not only what the last flush tick committed. While commits
// fail it does not wait for them: the query answers with what is on disk.
func (s *Store) catchUp(ctx context.Context) {
	if s.Stats().Queued == 0 || s.Health() != nil {
		return
	}
	// A failed commit is the writer's to retry and Health's to report.
	_ = s.Flush(ctx)
}

// Range returns the samples of one series with from <= Time < to, in time
// order (offset order for equal times), including readings appended before
// the call and not committed yet (see catchUp). An unknown series gives no
// samples. For long ranges prefer Downsample.
func (s *Store) Range(ctx context.Context, device, key string, from, to time.Time) ([]Sample, error) {
	s.catchUp(ctx)
	info, ok := s.cache.get(seriesKey{device, key})
	if !ok {
		return nil, nil
	}
	return s.rangeOf(ctx, []int64{info.id}, from, to)
}

// rangeOf returns the samples of the given series in [from, to), sorted by
// time then offset. One scan per offset range serves all the series.
func (s *Store) rangeOf(ctx context.Context, ids []int64, from, to time.Time) ([]Sample, error) {
	f, t := msec(from), msec(to)
	var out []Sample
	in := idList(ids)
	for _, r := range s.blocks.ranges(f, t, s.Committed()) {
		rows, err := s.rdb.QueryContext(ctx, `SELECT off, series, ts, value, text FROM readings
			WHERE off BETWEEN ? AND ? AND series IN (`+in+`) AND ts >= ? AND ts < ?`, r[0], r[1], f, t)
		if err != nil {
			return nil, s.fileErr("range", err)
		}
		for rows.Next() {
			smp, err := s.scanSample(rows)
			if err != nil {
				rows.Close()
				return nil, s.fileErr("range", err)
			}
			out = append(out, smp)
		}
		if err := rows.Close(); err != nil {
			return nil, s.fileErr("range", err)
		}
	}
	// Offset order is time order except for late readings.
	if !sort.SliceIsSorted(out, func(i, j int) bool { return sampleLess(out[i], out[j]) }) {
		sort.SliceStable(out, func(i, j int) bool { return sampleLess(out[i], out[j]) })
	}
	return out, nil
}

func sampleLess(a, b Sample) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.Offset < b.Offset
}

// Bucket is one point of a downsampled series: the statistics of the numeric
// samples with Start <= Time < Start+Width.
type Bucket struct {
	Start    time.Time
	Min, Max float64
	Avg      float64
	Count    int64
}

// Downsample returns at most maxPoints buckets covering [from, to) of one
// numeric series, each with min, max and average so spikes survive. Buckets
// without samples are left out. Bucket width is (to-from)/(maxPoints-1)
// rounded up to a whole millisecond, minute or hour; widths of a minute or
// more read the 1-minute rollups, of an hour or more the 1-hour rollups,
// and only the most recent part (not yet rolled up) reads raw rows. As for
// Range, readings appended before the call count even if not committed yet.
func (s *Store) Downsample(ctx context.Context, device, key string, from, to time.Time, maxPoints int) ([]Bucket, error) {
	s.catchUp(ctx)
	if maxPoints < 1 || !to.After(from) {
		return nil, fmt.Errorf("%w: downsample needs maxPoints >= 1 and from < to", ErrInvalid)
	}
	info, ok := s.cache.get(seriesKey{device, key})
	if !ok || info.state {
		return nil, nil
	}
	f, t := msec(from), msec(to)
	span := t - f
	width := span + 1
	if maxPoints > 1 {
		width = (span + int64(maxPoints-1) - 1) / int64(maxPoints-1)
	}
	width = max(width, 1)
	now := msec(s.opts.Now())
	// Pick the coarsest level the width allows, and a coarser one when the
	// finer data is already past its retention.
	level := -1
	switch {
	case width >= levelMs[lvHour] || f < now-s.opts.MinuteRetention.Milliseconds():
		level = lvHour
	case width >= levelMs[lvMinute] || f < now-s.opts.RawRetention.Milliseconds():
		level = lvMinute
	}
	if level >= 0 {
		g := levelMs[level]
		width = (width + g - 1) / g * g
	}
	if maxPoints == 1 {
		width = span + 1
	}
	bucketOf := func(ts int64) int64 {
		if maxPoints == 1 {
			return f
		}
		return floorDiv(ts, width) * width
	}
	out := map[int64]*agg{}
	merge := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var b int64
			var a agg
			if err := rows.Scan(&b, &a.min, &a.max, &a.sum, &a.count); err != nil {
				return err
			}
			k := bucketOf(b)
			o := out[k]
			if o == nil {
				out[k] = &a
				continue
			}
			o.min, o.max = min(o.min, a.min), max(o.max, a.max)
			o.sum += a.sum
			o.count += a.count
		}
		return rows.Err()
	}
	// Each source covers the part of the range the coarser ones lack:
	// 1h rollups up to their watermark, then 1m rollups, then raw rows.
	lo := f
	for l := lvHour; l >= lvMinute; l-- {
		if l > level {
			continue
		}
		hi := min(t, s.rollDone[l].Load())
		if hi <= lo {
			continue
		}
		g := levelMs[l]
		rows, err := s.rdb.QueryContext(ctx, `SELECT bucket, min, max, sum, count FROM `+levelTable[l]+`
			WHERE series = ? AND bucket >= ? AND bucket < ?`, info.id, floorDiv(lo, g)*g, hi)
		if err != nil {
			return nil, s.fileErr("downsample", err)
		}
		if err := merge(rows); err != nil {
			return nil, s.fileErr("downsample", err)
		}
		lo = hi
	}
	if lo < t {
		// Raw rows are bucketed here rather than by a SQL GROUP BY, which
		// would sort them in a temporary B-tree first.
		for _, r := range s.blocks.ranges(lo, t, s.Committed()) {
			rows, err := s.rdb.QueryContext(ctx, `SELECT ts, value FROM readings
				WHERE off BETWEEN ? AND ? AND series = ? AND ts >= ? AND ts < ? AND value IS NOT NULL`, r[0], r[1], info.id, lo, t)
			if err != nil {
				return nil, s.fileErr("downsample", err)
			}
			for rows.Next() {
				var ts int64
				var v float64
				if err := rows.Scan(&ts, &v); err != nil {
					rows.Close()
					return nil, s.fileErr("downsample", err)
				}
				k := bucketOf(ts)
				o := out[k]
				if o == nil {
					o = &agg{}
					out[k] = o
				}
				o.add(v)
			}
			if err := rows.Close(); err != nil {
				return nil, s.fileErr("downsample", err)
			}
		}
	}
	res := make([]Bucket, 0, len(out))
	for k, a := range out {
		if a.count == 0 {
			continue
		}
		res = append(res, Bucket{Start: fromMsec(k), Min: a.min, Max: a.max, Avg: a.sum / float64(a.count), Count: a.count})
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Start.Before(res[j].Start) })
	return res, nil
}

// Latest returns the newest committed sample of every series of the given
// devices (all devices when none are given), sorted by device then key.
// It is served from memory.
func (s *Store) Latest(ctx context.Context, devices ...string) ([]Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, d := range devices {
		want[d] = true
	}
	c := &s.cache
	c.mu.RLock()
	var out []Sample
	for id, smp := range c.latest {
		k := c.byID[id]
		if len(devices) > 0 && !want[k.device] {
			continue
		}
		smp.Unit = c.byKey[k].unit
		out = append(out, smp)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// After returns up to limit committed samples with an offset above offset,
// of the given devices (all when devices is empty), in offset order: the
// page a reconnecting client needs. Call again with the last offset
// returned until fewer than limit come back. It returns ErrPruned when
// retention already removed readings after offset, and ErrUnknownOffset for
// an offset this database never handed out. limit <= 0 means 1000.
func (s *Store) After(ctx context.Context, devices []string, offset int64, limit int) ([]Sample, error) {
	if limit <= 0 {
		limit = 1000
	}
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	if offset < 0 || offset >= next {
		return nil, fmt.Errorf("%w: %d (next is %d)", ErrUnknownOffset, offset, next)
	}
	if offset < s.oldest.Load() {
		return nil, fmt.Errorf("%w: %d (pruned through %d)", ErrPruned, offset, s.oldest.Load())
	}
	q := "SELECT off, series, ts, value, text FROM readings WHERE off > ? AND off <= ?"
	args := []any{offset, s.Committed()}
	if len(devices) > 0 {
		ids := s.cache.ids(devices)
		if len(ids) == 0 {
			return nil, nil
		}
		q += " AND series IN (" + idList(ids) + ")"
	}
	q += " ORDER BY off LIMIT ?"
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fileErr("after", err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		smp, err := s.scanSample(rows)
		if err != nil {
			return nil, s.fileErr("after", err)
		}
		out = append(out, smp)
	}
	return out, s.fileErr("after", rows.Err())
}

// scanSample reads a row of (off, series, ts, value, text); the series id
// is resolved through the cache.
func (s *Store) scanSample(rows *sql.Rows) (Sample, error) {
	var smp Sample
	var id, ts int64
	var v sql.NullFloat64
	var t sql.NullString
	if err := rows.Scan(&smp.Offset, &id, &ts, &v, &t); err != nil {
		return Sample{}, err
	}
	k, info := s.cache.key(id)
	smp.Reading = Reading{Device: k.device, Key: k.key, Time: fromMsec(ts), Value: v.Float64, Text: t.String,
		IsState: t.Valid, Unit: info.unit}
	return smp, nil
}

// ExportCSV writes the samples of a device with from <= Time < to (those
// appended before the call included, as for Range) as CSV to w: a header "time,device,key,value,unit,offset", then one row
// per sample in time order, time in RFC 3339 with milliseconds (UTC); the
// value column holds the number or the state text. keys selects series;
// none means all of the device's.
func (s *Store) ExportCSV(ctx context.Context, w io.Writer, device string, keys []string, from, to time.Time) error {
	s.catchUp(ctx)
	if len(keys) == 0 {
		c := &s.cache
		c.mu.RLock()
		for k := range c.byKey {
			if k.device == device {
				keys = append(keys, k.key)
			}
		}
		c.mu.RUnlock()
	}
	var ids []int64
	for _, k := range keys {
		if info, ok := s.cache.get(seriesKey{device, k}); ok {
			ids = append(ids, info.id)
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"time", "device", "key", "value", "unit", "offset"}); err != nil {
		return err
	}
	if len(ids) == 0 {
		cw.Flush()
		return cw.Error()
	}
	// Hour by hour, so memory stays bounded however long the range; each
	// window is sorted, and the windows follow each other in time.
	for lo := from; lo.Before(to); lo = lo.Add(exportWindow) {
		hi := lo.Add(exportWindow)
		if hi.After(to) {
			hi = to
		}
		page, err := s.rangeOf(ctx, ids, lo, hi)
		if err != nil {
			return err
		}
		for _, smp := range page {
			v := smp.Text
			if !smp.IsState {
				v = strconv.FormatFloat(smp.Value, 'g', -1, 64)
			}
			rec := []string{smp.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), smp.Device, smp.Key, v, smp.Unit,
				strconv.FormatInt(smp.Offset, 10)}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return nil
}

// exportWindow is the slice of time ExportCSV reads at once.
const exportWindow = time.Hour

// idList formats series ids for an IN clause; they are integers from our
// own table, so no quoting is needed.
func idList(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}
