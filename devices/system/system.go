// Package system reports the gateway board's own health as a device: CPU
// temperature, load average, memory use and uptime, read from the Linux
// /sys and /proc files at a fixed interval.
package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"gatewayd/devices"
)

// Metric keys the source emits.
const (
	KeyCPUTemperature  = "cpu_temperature"
	KeyLoad1           = "load1"
	KeyLoad5           = "load5"
	KeyLoad15          = "load15"
	KeyMemoryUsed      = "memory_used"
	KeyMemoryAvailable = "memory_available"
	KeyUptime          = "uptime"
)

var units = map[string]string{
	KeyCPUTemperature:  "°C",
	KeyLoad1:           "",
	KeyLoad5:           "",
	KeyLoad15:          "",
	KeyMemoryUsed:      "%",
	KeyMemoryAvailable: "MiB",
	KeyUptime:          "s",
}

// ErrParse is returned (wrapped) when a /proc or /sys file has an unexpected format.
var ErrParse = errors.New("system: cannot parse")

// Clock is the time source; the zero Options use the wall clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configures a Source. A nil *Options means all defaults.
type Options struct {
	// Device is the device id readings carry. Empty means "gateway".
	Device string
	// Interval is the time between samples. Zero means 30s.
	Interval time.Duration
	// FS is the root file system holding sys/ and proc/ (paths without a
	// leading slash). Nil means os.DirFS("/").
	FS fs.FS
	// Clock supplies time. Nil means the wall clock.
	Clock Clock
	// Logger receives read problems. Nil means slog.Default().
	Logger *slog.Logger
}

// Source samples the board's health. It implements devices.Source.
type Source struct {
	opts Options
	// warned remembers which files already produced a warning, so a broken
	// file is logged once rather than every interval.
	warned map[string]bool
}

var _ devices.Source = (*Source)(nil)

// New returns a Source for opts (copied, then defaults filled).
func New(opts *Options) *Source {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Device == "" {
		o.Device = "gateway"
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.FS == nil {
		o.FS = os.DirFS("/")
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Source{opts: o, warned: map[string]bool{}}
}

// Meta describes the device this source reports as.
func (s *Source) Meta() devices.Meta {
	u := make(map[string]string, len(units))
	for k, v := range units {
		if v != "" {
			u[k] = v
		}
	}
	return devices.Meta{Device: s.opts.Device, Name: "Gateway", Model: "gatewayd host", Source: "system", Units: u}
}

// Run emits the device's Meta, then a set of readings at once and every
// Interval until ctx ends. Unreadable files only drop their metrics; Run
// returns ctx's error when ctx ends.
func (s *Source) Run(ctx context.Context, emit func(devices.Update)) error {
	m := s.Meta()
	emit(devices.Update{Meta: &m})
	for {
		now := s.opts.Clock.Now()
		for _, r := range s.Sample(now) {
			emit(devices.Update{Reading: &r})
		}
		next := now.Add(s.opts.Interval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.opts.Clock.After(next.Sub(s.opts.Clock.Now())):
		}
	}
}

// Sample reads every metric once and returns the readings stamped with now.
// A metric whose file is missing (such as the thermal zone on a virtual
// machine) is simply left out. Sample is not safe for concurrent use.
func (s *Source) Sample(now time.Time) []devices.Reading {
	var out []devices.Reading
	add := func(key string, v float64) {
		out = append(out, devices.Reading{Device: s.opts.Device, Key: key, Time: now.UTC(), Value: v, Unit: units[key]})
	}
	if t, ok, err := s.cpuTemperature(); err != nil {
		s.warn("thermal", err)
	} else if ok {
		add(KeyCPUTemperature, t)
	}
	if b, err := s.read("proc/loadavg"); err == nil {
		if l, err := ParseLoadavg(b); err != nil {
			s.warn("proc/loadavg", err)
		} else {
			add(KeyLoad1, l[0])
			add(KeyLoad5, l[1])
			add(KeyLoad15, l[2])
		}
	}
	if b, err := s.read("proc/meminfo"); err == nil {
		if m, err := ParseMeminfo(b); err != nil {
			s.warn("proc/meminfo", err)
		} else if total, avail := m["MemTotal"], m["MemAvailable"]; total > 0 {
			add(KeyMemoryUsed, round(100*float64(total-avail)/float64(total), 2))
			add(KeyMemoryAvailable, round(float64(avail)/1024, 1))
		}
	}
	if b, err := s.read("proc/uptime"); err == nil {
		if u, err := ParseUptime(b); err != nil {
			s.warn("proc/uptime", err)
		} else {
			add(KeyUptime, u)
		}
	}
	return out
}

// read returns a file's content; a missing file is silent, other errors are
// logged once.
func (s *Source) read(name string) ([]byte, error) {
	b, err := fs.ReadFile(s.opts.FS, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.warn(name, err)
	}
	return b, err
}

func (s *Source) warn(name string, err error) {
	if s.warned[name] {
		return
	}
	s.warned[name] = true
	s.opts.Logger.Warn("system: cannot read metric", "file", name, "err", err)
}

// cpuTemperature reads the thermal zone that looks like the CPU's (type
// containing "cpu", "soc" or "x86_pkg"), else the first zone. ok is false when
// the board has no thermal zone.
func (s *Source) cpuTemperature() (celsius float64, ok bool, err error) {
	zones, err := fs.Glob(s.opts.FS, "sys/class/thermal/thermal_zone*")
	if err != nil || len(zones) == 0 {
		return 0, false, nil
	}
	sort.Slice(zones, func(i, j int) bool { return zoneNum(zones[i]) < zoneNum(zones[j]) })
	pick := ""
	for _, z := range zones {
		typ, err := fs.ReadFile(s.opts.FS, path.Join(z, "type"))
		if err != nil {
			continue
		}
		t := strings.ToLower(string(typ))
		if strings.Contains(t, "cpu") || strings.Contains(t, "soc") || strings.Contains(t, "x86_pkg") {
			pick = z
			break
		}
	}
	if pick == "" {
		pick = zones[0]
	}
	b, err := fs.ReadFile(s.opts.FS, path.Join(pick, "temp"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	c, err := ParseThermal(b)
	if err != nil {
		return 0, false, err
	}
	return c, true, nil
}

func zoneNum(p string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(path.Base(p), "thermal_zone"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// ParseThermal parses a thermal zone's temp file (millidegrees Celsius) and
// returns degrees Celsius.
func ParseThermal(b []byte) (float64, error) {
	s := string(bytes.TrimSpace(b))
	milli, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w thermal temp %q", ErrParse, trunc(s))
	}
	return float64(milli) / 1000, nil
}

// ParseLoadavg parses /proc/loadavg and returns the 1, 5 and 15 minute load averages.
func ParseLoadavg(b []byte) ([3]float64, error) {
	var l [3]float64
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("%w loadavg %q", ErrParse, trunc(string(b)))
	}
	for i := range 3 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return l, fmt.Errorf("%w loadavg field %q", ErrParse, trunc(f[i]))
		}
		l[i] = v
	}
	return l, nil
}

// ParseMeminfo parses /proc/meminfo into kB values keyed by field name
// ("MemTotal", "MemAvailable", ...). Lines it cannot read are skipped; it
// fails only when MemTotal is missing.
func ParseMeminfo(b []byte) (map[string]uint64, error) {
	m := map[string]uint64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		m[strings.TrimSpace(name)] = v
	}
	if _, ok := m["MemTotal"]; !ok {
		return nil, fmt.Errorf("%w meminfo: no MemTotal", ErrParse)
	}
	if a, ok := m["MemAvailable"]; !ok || a > m["MemTotal"] {
		// Kernels before 3.14 lack MemAvailable; MemFree is the closest.
		m["MemAvailable"] = min(m["MemFree"], m["MemTotal"])
	}
	return m, nil
}

// ParseUptime parses /proc/uptime and returns the uptime in seconds.
func ParseUptime(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%w uptime %q", ErrParse, trunc(string(b)))
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w uptime %q", ErrParse, trunc(f[0]))
	}
	return v, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return float64(int64(v*p-0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
