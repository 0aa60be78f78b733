package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/store"
)

// clock is a fake time source tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// t0 is a base time an hour before the fake clock's start.
var t0 = time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// openT opens a store in a temp dir with a manual flush and closes it at the
// end of the test.
func openT(t testing.TB, opts *store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.db")
	return openPath(t, path, opts), path
}

func openPath(t testing.TB, path string, opts *store.Options) *store.Store {
	t.Helper()
	if opts == nil {
		opts = &store.Options{FlushInterval: -1}
	}
	if opts.Now == nil {
		// Fixed test times stay inside the retention window.
		c := *opts
		c.Now = newClock().Now
		opts = &c
	}
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func flush(t testing.TB, s *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func mustAppend(t testing.TB, s *store.Store, r store.Reading) int64 {
	t.Helper()
	off, err := s.Append(r)
	if err != nil {
		t.Fatalf("Append(%+v): %v", r, err)
	}
	return off
}

func num(dev, key string, ts time.Time, v float64) store.Reading {
	return store.Reading{Device: dev, Key: key, Time: ts, Value: v, Unit: "°C"}
}

func TestAppendAssignsIncreasingOffsetsAndAfterReturnsThem(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	var offs []int64
	for i := range 10 {
		dev := fmt.Sprintf("d%d", i%2)
		offs = append(offs, mustAppend(t, s, num(dev, "temp", t0.Add(time.Duration(i)*time.Second), float64(i))))
	}
	offs = append(offs, mustAppend(t, s, store.Reading{Device: "d0", Key: "power", Time: t0, Text: "ON", IsState: true}))
	for i := 1; i < len(offs); i++ {
		if offs[i] != offs[i-1]+1 {
			t.Fatalf("offsets not consecutive: %v", offs)
		}
	}
	if got := s.Committed(); got >= offs[0] {
		t.Fatalf("Committed before flush = %d, want < %d", got, offs[0])
	}
	flush(t, s)
	if got := s.Committed(); got != offs[len(offs)-1] {
		t.Fatalf("Committed = %d, want %d", got, offs[len(offs)-1])
	}
	all, err := s.After(ctx, nil, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 11 {
		t.Fatalf("After(0) returned %d samples, want 11", len(all))
	}
	for i, smp := range all {
		if smp.Offset != offs[i] {
			t.Fatalf("sample %d offset %d, want %d", i, smp.Offset, offs[i])
		}
	}
	last := all[10]
	if !last.IsState || last.Text != "ON" || last.Key != "power" {
		t.Fatalf("state sample came back as %+v", last)
	}
	if all[3].Value != 3 || all[3].Device != "d1" || !all[3].Time.Equal(t0.Add(3*time.Second)) || all[3].Unit != "°C" {
		t.Fatalf("numeric sample came back as %+v", all[3])
	}
	// Device filter and paging.
	d1, err := s.After(ctx, []string{"d1"}, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(d1) != 2 || d1[0].Device != "d1" || d1[1].Offset <= d1[0].Offset {
		t.Fatalf("After(d1, limit 2) = %+v", d1)
	}
	rest, err := s.After(ctx, []string{"d1"}, d1[1].Offset, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 3 {
		t.Fatalf("second page has %d samples, want 3", len(rest))
	}
	if _, err := s.After(ctx, nil, offs[len(offs)-1]+5, 10); !errors.Is(err, store.ErrUnknownOffset) {
		t.Fatalf("After(future offset) err = %v, want ErrUnknownOffset", err)
	}
	if got, err := s.After(ctx, []string{"nobody"}, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("After(unknown device) = %v, %v", got, err)
	}
}

func TestAfterSeesOnlyCommitted(t *testing.T) {
	s, _ := openT(t, nil)
	mustAppend(t, s, num("d", "k", t0, 1))
	flush(t, s)
	mustAppend(t, s, num("d", "k", t0, 2))
	got, err := s.After(context.Background(), nil, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("After returned %d samples before the second commit, want 1", len(got))
	}
}

func TestOffsetsNeverRepeatAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	s, err := store.Open(path, &store.Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if len(epoch) != 32 {
		t.Fatalf("epoch %q, want 32 hex digits", epoch)
	}
	var last int64
	for i := range 5 {
		last = mustAppend(t, s, num("d", "k", t0, float64(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(num("d", "k", t0, 1)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := s.Flush(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	s2 := openPath(t, path, nil)
	if s2.Epoch() != epoch {
		t.Fatalf("epoch changed across reopen: %q then %q", epoch, s2.Epoch())
	}
	if s2.Committed() != last {
		t.Fatalf("Committed after clean reopen = %d, want %d", s2.Committed(), last)
	}
	if off := mustAppend(t, s2, num("d", "k", t0, 9)); off != last+1 {
		t.Fatalf("first offset after clean reopen = %d, want %d", off, last+1)
	}
	other, _ := openT(t, nil)
	if other.Epoch() == epoch {
		t.Fatal("two databases share an epoch")
	}
}

func TestQueueFullIsReported(t *testing.T) {
	s, _ := openT(t, &store.Options{FlushInterval: -1, QueueSize: 10, BatchSize: 1000})
	for i := range 10 {
		mustAppend(t, s, num("d", "k", t0, float64(i)))
	}
	if _, err := s.Append(num("d", "k", t0, 1)); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("11th Append: %v, want ErrQueueFull", err)
	}
	flush(t, s)
	mustAppend(t, s, num("d", "k", t0, 1))
}

func TestInvalidReadingsAreRefused(t *testing.T) {
	s, _ := openT(t, nil)
	for _, r := range []store.Reading{
		{Key: "k", Value: 1},
		{Device: "d", Value: 1},
		{Device: "d", Key: "k", Value: nan()},
		{Device: "d\xff", Key: "k", Value: 1},
	} {
		if _, err := s.Append(r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Append(%+v) = %v, want ErrInvalid", r, err)
		}
	}
}

func TestBatchSizeAndIntervalCommitWithoutFlush(t *testing.T) {
	var mu sync.Mutex
	var seen []int64
	s, _ := openT(t, &store.Options{FlushInterval: 20 * time.Millisecond, BatchSize: 3,
		OnCommit: func(c int64) { mu.Lock(); seen = append(seen, c); mu.Unlock() }})
	var last int64
	for i := range 7 {
		last = mustAppend(t, s, num("d", "k", t0, float64(i)))
	}
	waitFor(t, 5*time.Second, func() bool { return s.Committed() == last })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[len(seen)-1] != last {
		t.Fatalf("OnCommit saw %v, want it to end at %d", seen, last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("OnCommit values not increasing: %v", seen)
		}
	}
}

func TestRangeAndLatest(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	for i := range 100 {
		ts := t0.Add(time.Duration(i) * time.Second)
		mustAppend(t, s, num("a", "temp", ts, float64(i)))
		mustAppend(t, s, num("a", "hum", ts, float64(100+i)))
		mustAppend(t, s, num("b", "temp", ts, float64(200+i)))
	}
	// A late reading must not become "latest".
	mustAppend(t, s, num("a", "temp", t0.Add(-time.Hour), -1))
	flush(t, s)
	got, err := s.Range(ctx, "a", "temp", t0.Add(10*time.Second), t0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("Range returned %d samples, want 10", len(got))
	}
	for i, smp := range got {
		if smp.Value != float64(10+i) || smp.Device != "a" || smp.Key != "temp" {
			t.Fatalf("Range[%d] = %+v", i, smp)
		}
	}
	if got, _ := s.Range(ctx, "a", "nope", t0, t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Range of unknown series = %v", got)
	}
	lat, err := s.Latest(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 2 || lat[0].Key != "hum" || lat[0].Value != 199 || lat[1].Key != "temp" || lat[1].Value != 99 {
		t.Fatalf("Latest(a) = %+v", lat)
	}
	all, _ := s.Latest(ctx)
	if len(all) != 3 {
		t.Fatalf("Latest() has %d series, want 3", len(all))
	}
}

func TestLatestSurvivesReopen(t *testing.T) {
	s, path := openT(t, nil)
	mustAppend(t, s, num("a", "temp", t0, 1))
	mustAppend(t, s, store.Reading{Device: "a", Key: "door", Time: t0, Text: "open", IsState: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openPath(t, path, nil)
	lat, _ := s2.Latest(context.Background(), "a")
	if len(lat) != 2 || lat[0].Text != "open" || !lat[0].IsState || lat[1].Value != 1 || lat[1].Unit != "°C" {
		t.Fatalf("Latest after reopen = %+v", lat)
	}
}

// waitFor polls cond until it holds or the time runs out.
func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := t0.Add(d)
	for !cond() {
		if t0.After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentAppend appends from many goroutines and checks every
// returned offset is unique and stored with its own reading.
func TestConcurrentAppend(t *testing.T) {
	s, _ := openT(t, &store.Options{FlushInterval: 5 * time.Millisecond, BatchSize: 64, Now: newClock().Now})
	const workers, each = 8, 300
	var mu sync.Mutex
	byOff := map[int64]float64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := float64(w*each + i)
				off, err := s.Append(num(fmt.Sprintf("d%d", w), "k", t0.Add(time.Duration(i)*time.Millisecond), v))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				byOff[off] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	flush(t, s)
	if len(byOff) != workers*each {
		t.Fatalf("%d distinct offsets for %d appends", len(byOff), workers*each)
	}
	var got []store.Sample
	var from int64
	for {
		page, err := s.After(context.Background(), nil, from, 500)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 500 {
			break
		}
		from = page[len(page)-1].Offset
	}
	if len(got) != workers*each {
		t.Fatalf("After paged through %d samples, want %d", len(got), workers*each)
	}
	for i, smp := range got {
		if byOff[smp.Offset] != smp.Value || (i > 0 && smp.Offset <= got[i-1].Offset) {
			t.Fatalf("sample %d = %+v, want value %v and increasing offsets", i, smp, byOff[smp.Offset])
		}
	}
}

// TestQueriesSeeReadingsNotYetCommitted: with no flush tick at all, Range,
// Downsample and ExportCSV still answer with the readings appended before
// them, the newest series included, while After keeps to committed rows.
func TestQueriesSeeReadingsNotYetCommitted(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	mustAppend(t, s, num("d", "k", t0, 1))
	flush(t, s)
	mustAppend(t, s, num("d", "k", t0.Add(time.Second), 2))
	mustAppend(t, s, num("fresh", "k", t0.Add(time.Second), 3))
	if n := s.Stats().Queued; n != 2 {
		t.Fatalf("queued %d before the queries, want 2", n)
	}
	after, err := s.After(ctx, nil, 0, 10)
	if err != nil || len(after) != 1 {
		t.Fatalf("After before any query: %d samples (%v), want the 1 committed", len(after), err)
	}

	got, err := s.Range(ctx, "d", "k", t0, t0.Add(time.Minute))
	if err != nil || len(got) != 2 || got[1].Value != 2 {
		t.Fatalf("Range = %+v, %v; want both readings", got, err)
	}
	mustAppend(t, s, num("d", "k", t0.Add(2*time.Second), 5))
	bs, err := s.Downsample(ctx, "d", "k", t0, t0.Add(time.Minute), 10)
	if err != nil || len(bs) == 0 || bs[0].Count+bs[len(bs)-1].Count < 2 {
		t.Fatalf("Downsample = %+v, %v", bs, err)
	}
	var total int64
	maxV := 0.0
	for _, b := range bs {
		total += b.Count
		maxV = max(maxV, b.Max)
	}
	if total != 3 || maxV != 5 {
		t.Fatalf("Downsample counts %d readings, max %v; want 3 and 5", total, maxV)
	}
	mustAppend(t, s, num("fresh", "k", t0.Add(3*time.Second), 4))
	var csv strings.Builder
	if err := s.ExportCSV(ctx, &csv, "fresh", nil, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(csv.String(), "\n"); lines != 3 {
		t.Fatalf("ExportCSV of a series never committed before: %d lines, want header + 2:\n%s", lines, csv.String())
	}
}
