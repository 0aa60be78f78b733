package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/store"
)

// BenchmarkIngest measures sustained Append throughput with the default
// batching (5000 per batch or 1s), over 500 series, including the commit.
func BenchmarkIngest(b *testing.B) {
	s, _ := openT(b, &store.Options{})
	rs := make([]store.Reading, 500)
	for i := range rs {
		rs[i] = store.Reading{Device: fmt.Sprintf("dev%03d", i/5), Key: fmt.Sprintf("m%d", i%5), Time: t0, Unit: "W"}
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r := rs[i%500]
		r.Time = t0.Add(time.Duration(i) * time.Millisecond)
		r.Value = float64(i)
		for {
			_, err := s.Append(r)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrQueueFull) {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond) // the writer is behind: back off
		}
	}
	flush(b, s)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "readings/s")
}

// BenchmarkBareInsert is the baseline: a prepared INSERT loop in one
// transaction on the same schema, without queue, offsets or caches.
func BenchmarkBareInsert(b *testing.B) {
	s, path := openT(b, nil)
	s.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare("INSERT INTO readings (off, series, ts, value, text) VALUES (?, ?, ?, ?, NULL)")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := st.Exec(i+1, i%500+1, t0.UnixMilli()+int64(i), float64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "readings/s")
}

// writeBytes reads this process's write_bytes from /proc/self/io: bytes it
// caused to be sent to the storage layer.
func writeBytes(tb testing.TB) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		tb.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Skip("write_bytes not in /proc/self/io")
	return 0
}

// BenchmarkBytesPerReading simulates 100 readings/s spread over 500 series,
// one b.N iteration per simulated second, committing every flush interval
// on an injected clock, and reports bytes written per reading (WAL,
// checkpoints and rollups included). Run with e.g. -benchtime=3600x for an
// hour of simulated time.
func BenchmarkBytesPerReading(b *testing.B) {
	for _, every := range []int{1, 5, 10} {
		b.Run(fmt.Sprintf("flush=%ds", every), func(b *testing.B) {
			clk := newClock()
			re, _ := time.ParseDuration(os.Getenv("STORE_BENCH_ROLLUP"))
			if ps, err := strconv.Atoi(os.Getenv("STORE_BENCH_PAGE_SIZE")); err == nil {
				store.SetPageSize(ps)
				defer store.SetPageSize(4096)
			}
			s, _ := openT(b, &store.Options{FlushInterval: -1, Now: clk.Now, RollupEvery: re})
			rs := make([]store.Reading, 500)
			for i := range rs {
				rs[i] = store.Reading{Device: fmt.Sprintf("dev%03d", i/5), Key: fmt.Sprintf("m%d", i%5), Unit: "W"}
			}
			// Warm up: create the series and the first pages.
			for i := range rs {
				r := rs[i]
				r.Time = clk.Now()
				mustAppend(b, s, r)
			}
			flush(b, s)
			before := writeBytes(b)
			b.ResetTimer()
			n := 0
			for sec := 0; sec < b.N; sec++ {
				now := clk.Add(time.Second)
				for j := range 100 {
					r := rs[n%500]
					r.Time = now.Add(time.Duration(j) * 10 * time.Millisecond)
					r.Value = float64(n % 1000)
					mustAppend(b, s, r)
					n++
				}
				if sec%every == every-1 {
					flush(b, s)
				}
			}
			flush(b, s)
			b.StopTimer()
			b.ReportMetric(float64(writeBytes(b)-before)/float64(n), "B/reading")
		})
	}
}

// queryDB is generated once per benchmark run: devices × 5 metrics every
// 10 s over STORE_BENCH_DAYS days (default 1; the 7 days is 30M
// rows).
func queryDB(b *testing.B) (*store.Store, *clock, time.Time) {
	days := 1.0
	if v := os.Getenv("STORE_BENCH_DAYS"); v != "" {
		days, _ = strconv.ParseFloat(v, 64)
	}
	const devices, metrics = 100, 5
	clk := newClock()
	start := clk.Now()
	s, _ := openT(b, &store.Options{FlushInterval: -1, Now: clk.Now, QueueSize: 1 << 20, BatchSize: 20000})
	steps := int(days * 24 * 360)
	genStart := time.Now()
	for step := range steps {
		ts := start.Add(time.Duration(step) * 10 * time.Second)
		for d := range devices {
			for m := range metrics {
				r := store.Reading{Device: fmt.Sprintf("dev%03d", d), Key: fmt.Sprintf("m%d", m), Time: ts,
					Value: float64((step*7+d*13+m)%1000) / 10, Unit: "W"}
				mustAppend(b, s, r)
			}
		}
		if step%6 == 5 { // every simulated minute
			clk.Add(time.Minute)
			flush(b, s)
		}
	}
	clk.Add(15 * time.Minute)
	flush(b, s)
	b.Logf("generated %d readings (%.1f days) in %v", steps*devices*metrics, days, time.Since(genStart))
	return s, clk, start.Add(time.Duration(steps) * 10 * time.Second)
}

// BenchmarkQuery measures query latency on a generated database.
func BenchmarkQuery(b *testing.B) {
	s, _, end := queryDB(b)
	ctx := context.Background()
	b.Run("Range1h", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			got, err := s.Range(ctx, "dev042", "m3", end.Add(-time.Hour), end)
			if err != nil || len(got) != 360 {
				b.Fatalf("%d samples, %v", len(got), err)
			}
		}
	})
	b.Run("Downsample1h_500pts", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got, err := s.Downsample(ctx, "dev042", "m3", end.Add(-time.Hour), end, 500); err != nil || len(got) == 0 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("Downsample24h_500pts", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got, err := s.Downsample(ctx, "dev042", "m3", end.Add(-24*time.Hour), end, 500); err != nil || len(got) == 0 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("Downsample7d_1000pts", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got, err := s.Downsample(ctx, "dev042", "m3", end.Add(-7*24*time.Hour), end, 1000); err != nil || len(got) == 0 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("LatestAll", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got, err := s.Latest(ctx); err != nil || len(got) != 500 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("After_1000_of_5devices", func(b *testing.B) {
		from := s.Committed() - 50000
		for i := 0; i < b.N; i++ {
			if got, err := s.After(ctx, []string{"dev001", "dev002", "dev003", "dev004", "dev005"}, from, 1000); err != nil || len(got) == 0 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("ExportCSV1h_device", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.ExportCSV(ctx, io.Discard, "dev042", nil, end.Add(-time.Hour), end); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = filepath.Join
}
