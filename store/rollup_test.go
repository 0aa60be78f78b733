package store_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"testing"
	"time"

	"gatewayd/store"
)

// TestDownsampleKeepsSpikesAndUsesRollups ingests 3 hours of 1 Hz data with
// one spike, lets rollups be written, and checks that downsampled results
// from raw rows, 1-minute and 1-hour rollups all agree with the raw data.
func TestDownsampleKeepsSpikesAndUsesRollups(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	s, path := openT(t, &store.Options{FlushInterval: -1, Now: clk.Now, RollupEvery: 10 * time.Minute})
	ctx := context.Background()
	const secs = 3 * 3600
	spikeAt := 5000
	var sum float64
	for i := range secs {
		v := float64(i % 100)
		if i == spikeAt {
			v = 1e6
		}
		sum += v
		mustAppend(t, s, num("a", "temp", start.Add(time.Duration(i)*time.Second), v))
		if i%600 == 599 {
			clk.Add(10 * time.Minute)
			flush(t, s)
		}
	}
	clk.Add(3 * time.Minute)
	flush(t, s)
	end := start.Add(secs * time.Second)

	// Rollups must exist for the closed part.
	db := rawDB(t, path)
	var n1m, n1h int
	db.QueryRow("SELECT COUNT(*) FROM rollup_1m").Scan(&n1m)
	db.QueryRow("SELECT COUNT(*) FROM rollup_1h").Scan(&n1h)
	if n1m < 170 || n1h < 2 {
		t.Fatalf("rollup rows: %d per minute, %d per hour; want about 180 and 3", n1m, n1h)
	}

	for _, maxPoints := range []int{1, 2, 7, 100, 1000, 20000} {
		got, err := s.Downsample(ctx, "a", "temp", start, end, maxPoints)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || len(got) > maxPoints {
			t.Fatalf("maxPoints %d: got %d buckets", maxPoints, len(got))
		}
		var count int64
		var total, peak float64
		for i, b := range got {
			count += b.Count
			total += b.Avg * float64(b.Count)
			peak = max(peak, b.Max)
			if b.Min > b.Avg || b.Avg > b.Max {
				t.Fatalf("maxPoints %d: bucket %d has min %v avg %v max %v", maxPoints, i, b.Min, b.Avg, b.Max)
			}
			if i > 0 && !got[i-1].Start.Before(b.Start) {
				t.Fatalf("maxPoints %d: buckets out of order", maxPoints)
			}
		}
		if count != secs {
			t.Fatalf("maxPoints %d: buckets count %d samples, want %d", maxPoints, count, secs)
		}
		if math.Abs(total-sum) > 1e-6*sum {
			t.Fatalf("maxPoints %d: buckets sum to %v, want %v", maxPoints, total, sum)
		}
		if peak != 1e6 {
			t.Fatalf("maxPoints %d: the spike was lost (max %v)", maxPoints, peak)
		}
	}

	// Reopening rebuilds the open buckets from raw rows: same answer.
	before, _ := s.Downsample(ctx, "a", "temp", start, end, 50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openPath(t, path, &store.Options{FlushInterval: -1, Now: clk.Now})
	clk.Add(time.Hour)
	flush(t, s2)
	after, err := s2.Downsample(ctx, "a", "temp", start, end, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after reopen %d buckets, before %d", len(after), len(before))
	}
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("bucket %d differs after reopen: %+v vs %+v", i, after[i], before[i])
		}
	}
	if _, err := s2.Downsample(ctx, "a", "temp", end, start, 10); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("reversed range: %v, want ErrInvalid", err)
	}
}

// TestLateReadingsMergeIntoWrittenRollups appends a reading into a bucket
// whose rollup row was already written.
func TestLateReadingsMergeIntoWrittenRollups(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	s, _ := openT(t, &store.Options{FlushInterval: -1, Now: clk.Now, RollupEvery: time.Minute})
	ctx := context.Background()
	for i := range 120 {
		mustAppend(t, s, num("a", "t", start.Add(time.Duration(i)*time.Second), 1))
	}
	clk.Add(5 * time.Minute)
	flush(t, s)
	mustAppend(t, s, num("a", "t", start.Add(30*time.Second), 50)) // late
	flush(t, s)
	got, err := s.Downsample(ctx, "a", "t", start, start.Add(2*time.Minute), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Count != 61 || got[0].Max != 50 || got[1].Count != 60 {
		t.Fatalf("Downsample after a late reading = %+v", got)
	}
}

// TestRetentionPrunesInBatches checks raw rows go after RawRetention in
// small batches, rollups stay, and After reports the gap as ErrPruned.
func TestRetentionPrunesInBatches(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	s, path := openT(t, &store.Options{FlushInterval: -1, Now: clk.Now, RawRetention: 3 * time.Hour,
		MinuteRetention: 6 * time.Hour, HourRetention: 48 * time.Hour, PruneBatch: 50, RollupEvery: time.Minute})
	ctx := context.Background()
	var lastOff int64
	for i := range 600 { // 10 minutes at 1 Hz
		lastOff = mustAppend(t, s, num("a", "t", start.Add(time.Duration(i)*time.Second), float64(i)))
	}
	clk.Add(15 * time.Minute)
	flush(t, s) // writes rollups
	clk.Add(3 * time.Hour)
	flush(t, s) // starts pruning: one batch per flush
	raw := func() int {
		got, err := s.Range(ctx, "a", "t", start, start.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := raw(); n != 550 {
		t.Fatalf("after one prune step %d raw rows left, want 550 (batches of 50)", n)
	}
	for range 20 {
		flush(t, s)
	}
	if n := raw(); n != 0 {
		t.Fatalf("%d raw rows left after retention", n)
	}
	if _, err := s.After(ctx, nil, 0, 10); !errors.Is(err, store.ErrPruned) {
		t.Fatalf("After(0) once pruned = %v, want ErrPruned", err)
	}
	// The 1-minute rollups still answer.
	got, err := s.Downsample(ctx, "a", "t", start, start.Add(10*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	for _, b := range got {
		count += b.Count
	}
	if count != 600 {
		t.Fatalf("rollups cover %d samples after raw pruning, want 600", count)
	}
	// Offsets continue after every row was pruned, also across reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openPath(t, path, &store.Options{FlushInterval: -1, Now: clk.Now, RawRetention: 3 * time.Hour,
		MinuteRetention: 6 * time.Hour, HourRetention: 48 * time.Hour})
	if off := mustAppend(t, s2, num("a", "t", clk.Now(), 1)); off <= lastOff {
		t.Fatalf("offset %d after pruning everything, want > %d", off, lastOff)
	}
	// Past the minute retention the hour rollups answer.
	clk.Add(7 * time.Hour)
	for range 3 {
		flush(t, s2)
	}
	var n1m int
	if err := rawDB(t, path).QueryRow("SELECT COUNT(*) FROM rollup_1m").Scan(&n1m); err != nil || n1m != 0 {
		t.Fatalf("%d 1-minute rollup rows past their retention (%v)", n1m, err)
	}
	got, err = s2.Downsample(ctx, "a", "t", start, start.Add(10*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Count != 600 || got[0].Max != 599 {
		t.Fatalf("hour rollup answer = %+v", got)
	}
}

// rawDB opens the file directly, read-only, for checks behind the API.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLateReadingInLaterBlockIsFound appends a reading for an old time
// minutes after its neighbours were committed (so it lands in a later offset
// block) and checks time queries find it, before and after a reopen.
func TestLateReadingInLaterBlockIsFound(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	opts := &store.Options{FlushInterval: -1, Now: clk.Now, RollupEvery: time.Minute}
	s, path := openT(t, opts)
	ctx := context.Background()
	for i := range 10 {
		mustAppend(t, s, num("a", "t", start.Add(time.Duration(i)*time.Second), float64(i)))
	}
	flush(t, s)
	for m := 1; m <= 5; m++ { // later blocks with later readings
		now := clk.Add(time.Minute)
		mustAppend(t, s, num("a", "t", now, 100))
		flush(t, s)
	}
	lateOff := mustAppend(t, s, num("a", "t", start.Add(4500*time.Millisecond), 45))
	flush(t, s)
	check := func(s *store.Store, when string) {
		got, err := s.Range(ctx, "a", "t", start.Add(4*time.Second), start.Add(6*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[1].Offset != lateOff || got[1].Value != 45 || got[0].Value != 4 || got[2].Value != 5 {
			t.Fatalf("%s: Range around the late reading = %+v", when, got)
		}
		b, err := s.Downsample(ctx, "a", "t", start, start.Add(10*time.Second), 1)
		if err != nil || len(b) != 1 || b[0].Count != 11 || b[0].Max != 45 {
			t.Fatalf("%s: Downsample = %+v, %v", when, b, err)
		}
	}
	check(s, "before reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openPath(t, path, opts), "after reopen")
}
