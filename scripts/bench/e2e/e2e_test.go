package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildGateway builds ./cmd/gatewayd into a temporary directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build gatewayd")
	}
	bin := filepath.Join(t.TempDir(), "gatewayd")
	cmd := exec.Command("go", "build", "-o", bin, "gatewayd/cmd/gatewayd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build gatewayd: %v\n%s", err, out)
	}
	return bin
}

// TestSmoke runs the smoke benchmark (10 devices, 2 dashboards, 2 s plus two
// one-second ceiling steps) against the built binary and requires every
// reading to reach every subscriber exactly once and be stored.
func TestSmoke(t *testing.T) {
	bin := buildGateway(t)
	cfg := short(defaults())
	cfg.bin = bin
	cfg.dataDir = t.TempDir()
	// The test shares the machine with its caller: no pinning.
	cfg.pin = false
	// The drain ends as soon as everything arrived; a long bound keeps a
	// loaded machine from failing the test.
	cfg.drain = 15 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log strings.Builder
	rep, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if rep.Steady == nil || len(rep.Steps) != len(cfg.ceiling) {
		t.Fatalf("phases missing: %+v", rep)
	}
	for _, r := range append([]result{*rep.Steady}, rep.Steps...) {
		if r.Published == 0 || r.Expected != r.Published*int64(cfg.dashboards) {
			t.Errorf("%s: published %d, expected deliveries %d (every device has %d subscribers)", r.Phase, r.Published, r.Expected, cfg.dashboards)
		}
		if r.Missing != 0 || r.Duplicates != 0 || r.Stray != 0 {
			t.Errorf("%s: missing %d, duplicates %d, unmatched %d", r.Phase, r.Missing, r.Duplicates, r.Stray)
		}
		if r.Stored != r.Published {
			t.Errorf("%s: stored %d of %d", r.Phase, r.Stored, r.Published)
		}
		if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
			t.Errorf("%s: latencies out of order: p50 %v p99 %v max %v", r.Phase, r.P50, r.P99, r.Max)
		}
		if r.GatewayRSSKB <= 0 {
			t.Errorf("%s: gateway RSS not measured", r.Phase)
		}
	}
	// Bursts add readings on top of the steady rate.
	if s := rep.Steady; s.Published <= int64(float64(cfg.devices)*cfg.rate*cfg.duration.Seconds()) {
		t.Errorf("steady phase published %d: no bursts", s.Published)
	}
	if t.Failed() {
		var b strings.Builder
		rep.print(&b)
		t.Logf("log:\n%s\nreport:\n%s", log.String(), b.String())
	}
	rep.print(io.Discard)
}

// TestSmokeQoS1 runs the steady smoke phase with acknowledged publishes:
// every publish must be acknowledged by the broker and reach both dashboards.
func TestSmokeQoS1(t *testing.T) {
	bin := buildGateway(t)
	cfg := short(defaults())
	cfg.bin, cfg.dataDir, cfg.pin, cfg.qos = bin, t.TempDir(), false, 1
	cfg.ceiling = nil
	cfg.drain = 15 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log strings.Builder
	rep, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	r := rep.Steady
	if r == nil || r.Published == 0 || r.Acked != r.Published || r.Missing != 0 || r.Duplicates != 0 || r.Stored != r.Published || !r.OK {
		t.Fatalf("steady phase: %+v\n%s", r, log.String())
	}
}

// TestVerdict checks the ceiling step's pass rules.
func TestVerdict(t *testing.T) {
	good := result{TargetRate: 1000, PublishRate: 990, Published: 5000, Stored: 5000, P99: 50 * time.Millisecond}
	if ok, why := verdict(good, 100*time.Millisecond); !ok {
		t.Fatalf("good step failed: %s", why)
	}
	for name, mod := range map[string]func(*result){
		"missing":   func(r *result) { r.Missing = 1 },
		"duplicate": func(r *result) { r.Duplicates = 1 },
		"unstored":  func(r *result) { r.Stored = 4999 },
		"slow":      func(r *result) { r.P99 = 101 * time.Millisecond },
		"underrate": func(r *result) { r.PublishRate = 900 },
		"unacked":   func(r *result) { r.QoS, r.Acked = 1, 4999 },
	} {
		r := good
		mod(&r)
		if ok, _ := verdict(r, 100*time.Millisecond); ok {
			t.Errorf("%s: step passed", name)
		}
	}
}

// TestParseRates checks -ceiling parsing.
func TestParseRates(t *testing.T) {
	r, err := parseRates(" 1000, 2e3,,5000")
	if err != nil || len(r) != 3 || r[1] != 2000 {
		t.Fatalf("parseRates = %v, %v", r, err)
	}
	for _, bad := range []string{"x", "-1", "0"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

// TestProcReaders checks the /proc readers on this process.
func TestProcReaders(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn a little CPU so the reading is not trivially zero.
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	if c, err := cpuTime(os.Getpid()); err != nil || c <= 0 {
		t.Errorf("cpuTime = %v, %v", c, err)
	}
	if rss, hwm, err := memKB(os.Getpid()); err != nil || rss <= 0 || hwm < rss {
		t.Errorf("memKB = %d, %d, %v", rss, hwm, err)
	}
}
