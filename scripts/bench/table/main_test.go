package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedianAndSpread(t *testing.T) {
	runs := []result{{ConnectSeconds: 3}, {ConnectSeconds: 1}, {ConnectSeconds: 2}}
	f := func(r result) (float64, bool) { return r.ConnectSeconds, true }
	if m, n := median(runs, f); m != 2 || n != 3 {
		t.Errorf("median of 3,1,2 = %v over %d", m, n)
	}
	if m, _ := median(runs[:2], f); m != 2 {
		t.Errorf("median of 3,1 = %v, want the mean 2", m)
	}
	if m, n := median(runs, func(result) (float64, bool) { return 0, false }); m != 0 || n != 0 {
		t.Errorf("median of nothing = %v over %d", m, n)
	}
	if got := spread(runs, "%.1f", f); got != "2.0 (1.0–3.0)" {
		t.Errorf("spread = %q", got)
	}
	if got := spread(runs[:1], "%.1f", f); got != "3.0" {
		t.Errorf("spread of one run = %q", got)
	}
}

func TestLoadAndWrite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "go-1.json")
	// A log line before the JSON object, as load -json may leave.
	body := "connect ...\n" + `{"clients":100,"rss_per_conn_kb":12.5,"rooms":10,"subscribers":90,` +
		`"points":[{"rate":50,"delivered_per_second":450,"p99_ms":3,"server_cpu_percent":9}],` +
		`"overload":{"slow":5,"fast":5,"rate":10,"published":100,"fast_expected":500,"fast_delivered":250,"slow_closed":5}}` + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := load(file)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clients != 100 || len(r.Points) != 1 || r.Overload == nil {
		t.Fatalf("load = %+v", r)
	}
	if _, err := load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("load of a missing file succeeded")
	}

	var out bytes.Buffer
	write(&out, []server{{label: "sio", runs: []result{r}}}, "")
	for _, want := range []string{
		"| sio | 1 | 100 |", "12.5 |", // connect row
		"| 50 | 450 | sio | 450 |", "| 5000 |", // offered 50×90/10; 450 / 9 %
		"| sio | 5 / 5 | 10 × 0 | 100 | 50.0 |", // overload: half delivered
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	write(&out, []server{{label: "sio", runs: []result{r}}}, "overload")
	if strings.Contains(out.String(), "Connect") || !strings.Contains(out.String(), "Overload") {
		t.Errorf("-only overload printed:\n%s", out.String())
	}
}
