package system_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"gatewayd/devices"
	"gatewayd/devices/internal/clock"
	"gatewayd/devices/system"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func piFS() fstest.MapFS {
	return fstest.MapFS{
		"sys/class/thermal/thermal_zone0/type": {Data: []byte("cpu-thermal\n")},
		"sys/class/thermal/thermal_zone0/temp": {Data: []byte("48312\n")},
		"proc/loadavg":                         {Data: []byte("0.52 0.58 1.59 1/123 4567\n")},
		"proc/meminfo": {Data: []byte("MemTotal:        1000000 kB\nMemFree:          100000 kB\n" +
			"MemAvailable:     250000 kB\nBuffers:           1000 kB\n")},
		"proc/uptime": {Data: []byte("12345.67 23456.78\n")},
	}
}

func byKey(rs []devices.Reading) map[string]devices.Reading {
	m := map[string]devices.Reading{}
	for _, r := range rs {
		m[r.Key] = r
	}
	return m
}

func TestSampleReadsEveryMetric(t *testing.T) {
	s := system.New(&system.Options{FS: piFS(), Device: "pi"})
	got := byKey(s.Sample(start))
	want := map[string]float64{
		system.KeyCPUTemperature:  48.312,
		system.KeyLoad1:           0.52,
		system.KeyLoad5:           0.58,
		system.KeyLoad15:          1.59,
		system.KeyMemoryUsed:      75,
		system.KeyMemoryAvailable: 244.1,
		system.KeyUptime:          12345.67,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d readings %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		r, ok := got[k]
		if !ok {
			t.Errorf("missing %s", k)
			continue
		}
		if r.Value != v || r.Device != "pi" || !r.Time.Equal(start) {
			t.Errorf("%s = %+v, want value %v device pi", k, r, v)
		}
	}
	if got[system.KeyCPUTemperature].Unit != "°C" {
		t.Errorf("temperature unit %q", got[system.KeyCPUTemperature].Unit)
	}
}

func TestPicksCPUZone(t *testing.T) {
	fs := piFS()
	fs["sys/class/thermal/thermal_zone0/type"] = &fstest.MapFile{Data: []byte("acpitz\n")}
	fs["sys/class/thermal/thermal_zone0/temp"] = &fstest.MapFile{Data: []byte("27800\n")}
	fs["sys/class/thermal/thermal_zone1/type"] = &fstest.MapFile{Data: []byte("x86_pkg_temp\n")}
	fs["sys/class/thermal/thermal_zone1/temp"] = &fstest.MapFile{Data: []byte("61000\n")}
	got := byKey(system.New(&system.Options{FS: fs}).Sample(start))
	if v := got[system.KeyCPUTemperature].Value; v != 61 {
		t.Fatalf("cpu temperature %v, want 61 from the x86_pkg_temp zone", v)
	}
	if got[system.KeyLoad1].Device != "gateway" {
		t.Fatalf("default device id %q, want gateway", got[system.KeyLoad1].Device)
	}
}

func TestMissingThermalZoneIsNotAnError(t *testing.T) {
	fs := piFS()
	delete(fs, "sys/class/thermal/thermal_zone0/type")
	delete(fs, "sys/class/thermal/thermal_zone0/temp")
	got := byKey(system.New(&system.Options{FS: fs}).Sample(start))
	if _, ok := got[system.KeyCPUTemperature]; ok {
		t.Fatal("temperature reported without a thermal zone")
	}
	if _, ok := got[system.KeyLoad1]; !ok {
		t.Fatal("load missing when only the thermal zone is absent")
	}
}

func TestBrokenFileDropsOnlyItsMetric(t *testing.T) {
	fs := piFS()
	fs["proc/loadavg"] = &fstest.MapFile{Data: []byte("garbage\n")}
	got := byKey(system.New(&system.Options{FS: fs}).Sample(start))
	if _, ok := got[system.KeyLoad1]; ok {
		t.Fatal("load reported from a garbage file")
	}
	if _, ok := got[system.KeyUptime]; !ok {
		t.Fatal("uptime missing")
	}
}

func TestRunEmitsAtInterval(t *testing.T) {
	clk := clock.NewFake(start)
	s := system.New(&system.Options{FS: piFS(), Clock: clk, Interval: 10 * time.Second})
	var mu sync.Mutex
	var ups []devices.Update
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(u devices.Update) { mu.Lock(); ups = append(ups, u); mu.Unlock() })
	}()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	for range 3 {
		if err := clk.BlockUntil(wctx, 1); err != nil {
			t.Fatal("Run never waited on the clock:", err)
		}
		clk.Advance(10 * time.Second)
	}
	if err := clk.BlockUntil(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ups[0].Meta == nil || ups[0].Meta.Device != "gateway" || ups[0].Meta.Units[system.KeyUptime] != "s" {
		t.Fatalf("first update %+v, want Meta", ups[0])
	}
	var times []time.Time
	for _, u := range ups[1:] {
		if u.Reading != nil && u.Reading.Key == system.KeyUptime {
			times = append(times, u.Reading.Time)
		}
	}
	if len(times) != 4 {
		t.Fatalf("got %d samples, want 4 (start + 3 intervals)", len(times))
	}
	for i, tm := range times {
		if want := start.Add(time.Duration(i) * 10 * time.Second); !tm.Equal(want) {
			t.Errorf("sample %d at %v, want %v", i, tm, want)
		}
	}
}

func TestParsers(t *testing.T) {
	if _, err := system.ParseThermal([]byte("abc")); !errors.Is(err, system.ErrParse) {
		t.Errorf("thermal garbage: %v", err)
	}
	if v, err := system.ParseThermal([]byte("-5500\n")); err != nil || v != -5.5 {
		t.Errorf("thermal negative: %v %v", v, err)
	}
	if _, err := system.ParseLoadavg([]byte("1 2")); !errors.Is(err, system.ErrParse) {
		t.Errorf("short loadavg: %v", err)
	}
	if _, err := system.ParseLoadavg([]byte("NaN 1 1")); !errors.Is(err, system.ErrParse) {
		t.Errorf("NaN loadavg: %v", err)
	}
	if _, err := system.ParseUptime([]byte("Inf 1")); !errors.Is(err, system.ErrParse) {
		t.Errorf("Inf uptime: %v", err)
	}
	if _, err := system.ParseMeminfo([]byte("MemFree: 1 kB")); !errors.Is(err, system.ErrParse) {
		t.Errorf("meminfo without total: %v", err)
	}
	m, err := system.ParseMeminfo([]byte("MemTotal: 100 kB\nMemFree: 40 kB\n"))
	if err != nil || m["MemAvailable"] != 40 {
		t.Errorf("old kernel meminfo: %v %v", m, err)
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{"48312\n", "0.52 0.58 0.59 1/123 4567\n", "MemTotal: 1 kB\nMemAvailable: 2 kB\n", "1.5 2.5", "", "-1 -1 -1", "1e400 1 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := system.ParseUptime(b); err == nil && (v < 0 || v != v) {
			t.Fatalf("uptime %v accepted", v)
		}
		if l, err := system.ParseLoadavg(b); err == nil {
			for _, v := range l {
				if v < 0 || v != v {
					t.Fatalf("load %v accepted", v)
				}
			}
		}
		if m, err := system.ParseMeminfo(b); err == nil && m["MemAvailable"] > m["MemTotal"] {
			t.Fatalf("available > total: %v", m)
		}
		_, _ = system.ParseThermal(b)
	})
}
