// Command e2e is the gateway's end-to-end benchmark: simulated MQTT devices
// publish telemetry to gatewayd's embedded broker and Socket.IO dashboards
// receive the readings, all on this machine.
//
// It starts gatewayd (the binary given with -bin, on free loopback ports,
// pinned to core 0 with taskset when there are two cores; the load pins
// itself to core 1), or attaches to a running one with -attach. Then:
//
//   - N devices (raw MQTT 3.1.1 connections) each publish {"seq":v} to
//     devices/<id>/telemetry, and D dashboards subscribe to K devices each;
//   - the steady phase publishes R readings/s per device for -duration, with a
//     burst every -burst-every (-burst-devices devices send -burst-size
//     readings back to back);
//   - each reading's value names its phase and sequence number, so every
//     arrival is matched to its send time (latency p50/p99/max) and counted:
//     every reading of a subscribed device must reach each of its
//     subscribers exactly once (missing and duplicates are reported);
//   - readings stored per second come from gatewayd_store_committed_offset
//     in /metrics, gateway CPU from /proc/<pid>/stat and RSS from
//     /proc/<pid>/status;
//   - the ceiling search then runs the -ceiling total rates (readings/s) for
//     -step each, without bursts, and stops at the first with loss, a
//     stored count short of the published one, p99 over -max-p99, or a
//     publishing rate the load could not reach; the last good rate is the
//     ceiling.
//
// Everything is loopback, bounded in count and time (-timeout), and stops by
// itself. -short is a smoke run of a few seconds.
//
//	go build -o bin/gatewayd ./cmd/gatewayd
//	go run ./scripts/bench/e2e -bin bin/gatewayd
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// config holds the command-line settings.
type config struct {
	bin          string
	attach       string // gateway base URL; empty starts -bin
	attachMQTT   string
	attachPID    int
	dataDir      string
	pin          bool
	devices      int
	dashboards   int
	perDash      int
	rate         float64
	duration     time.Duration
	burstEvery   time.Duration
	burstDevices int
	burstSize    int
	qos          int
	workers      int
	ceiling      []float64
	step         time.Duration
	maxP99       time.Duration
	drain        time.Duration
	timeout      time.Duration
	jsonOut      bool
}

// defaults returns the full benchmark's settings.
func defaults() config {
	return config{
		pin: true, devices: 1000, dashboards: 200, perDash: 10, rate: 1,
		duration: 20 * time.Second, burstEvery: 5 * time.Second, burstDevices: 50, burstSize: 20,
		workers: 4, ceiling: []float64{1000, 2000, 5000, 10000, 20000, 40000},
		step: 5 * time.Second, maxP99: 100 * time.Millisecond, drain: 5 * time.Second,
		timeout: 10 * time.Minute,
	}
}

// short returns the smoke run's settings: seconds, not minutes.
func short(c config) config {
	c.devices, c.dashboards, c.perDash = 10, 2, 10
	c.duration, c.burstEvery, c.burstDevices, c.burstSize = 2*time.Second, time.Second, 2, 5
	c.ceiling, c.step = []float64{100, 200}, time.Second
	c.drain, c.timeout = 3*time.Second, time.Minute
	return c
}

func main() {
	cfg := defaults()
	var isShort bool
	var ceiling string
	flag.StringVar(&cfg.bin, "bin", "", "gatewayd binary to start (built from ./cmd/gatewayd)")
	flag.StringVar(&cfg.attach, "attach", "", "attach to a running gateway at this base URL instead of starting one (loopback only)")
	flag.StringVar(&cfg.attachMQTT, "attach-mqtt", "127.0.0.1:1883", "with -attach: the broker's address")
	flag.IntVar(&cfg.attachPID, "attach-pid", 0, "with -attach: the gateway's process id for CPU and RSS (0: not measured)")
	flag.StringVar(&cfg.dataDir, "data", "", "data directory of a started gateway (default: a new temporary directory, removed afterwards)")
	flag.BoolVar(&cfg.pin, "pin", cfg.pin, "pin the gateway to core 0 and the load to core 1 with taskset")
	flag.IntVar(&cfg.devices, "devices", cfg.devices, "simulated MQTT devices")
	flag.IntVar(&cfg.dashboards, "dashboards", cfg.dashboards, "Socket.IO dashboards")
	flag.IntVar(&cfg.perDash, "per-dashboard", cfg.perDash, "devices each dashboard subscribes to")
	flag.Float64Var(&cfg.rate, "rate", cfg.rate, "readings per second per device in the steady phase")
	flag.DurationVar(&cfg.duration, "duration", cfg.duration, "steady phase publishing time (0 skips it)")
	flag.DurationVar(&cfg.burstEvery, "burst-every", cfg.burstEvery, "time between bursts in the steady phase (0: none)")
	flag.IntVar(&cfg.burstDevices, "burst-devices", cfg.burstDevices, "devices bursting at each burst")
	flag.IntVar(&cfg.burstSize, "burst-size", cfg.burstSize, "readings each bursting device sends back to back")
	flag.IntVar(&cfg.qos, "qos", 0, "MQTT QoS of the publishes (0 or 1)")
	flag.IntVar(&cfg.workers, "workers", cfg.workers, "publisher goroutines")
	flag.StringVar(&ceiling, "ceiling", "1000,2000,5000,10000,20000,40000", "total rates (readings/s) of the ceiling search, comma-separated (empty skips it)")
	flag.DurationVar(&cfg.step, "step", cfg.step, "publishing time of each ceiling step")
	flag.DurationVar(&cfg.maxP99, "max-p99", cfg.maxP99, "p99 latency a ceiling step may reach")
	flag.DurationVar(&cfg.drain, "drain", cfg.drain, "how long to wait for the last readings after publishing stops")
	flag.DurationVar(&cfg.timeout, "timeout", cfg.timeout, "bound on the whole run")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.BoolVar(&isShort, "short", false, "smoke run: 10 devices, 2 dashboards, 2 s, two short ceiling steps")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if isShort {
		s := short(cfg)
		// Flags given explicitly win over the smoke settings.
		if !set["ceiling"] {
			ceiling = joinRates(s.ceiling)
		}
		keep := cfg
		cfg = s
		restoreSet(&cfg, keep, set)
	}
	rates, err := parseRates(ceiling)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	cfg.ceiling = rates

	if *cpuProfile != "" {
		// The latency includes the load generator's own work, so its
		// profile tells how much of a figure is the measuring side's.
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if rep != nil {
		if cfg.jsonOut {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			rep.print(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		pprof.StopCPUProfile() // os.Exit skips the deferred one
		os.Exit(1)
	}
}

// restoreSet copies into c the fields of keep whose flags were given.
func restoreSet(c *config, keep config, set map[string]bool) {
	for name, p := range map[string][2]any{
		"devices": {&c.devices, keep.devices}, "dashboards": {&c.dashboards, keep.dashboards},
		"per-dashboard": {&c.perDash, keep.perDash}, "burst-devices": {&c.burstDevices, keep.burstDevices},
		"burst-size": {&c.burstSize, keep.burstSize},
	} {
		if set[name] {
			*p[0].(*int) = p[1].(int)
		}
	}
	for name, p := range map[string][2]any{
		"duration": {&c.duration, keep.duration}, "burst-every": {&c.burstEvery, keep.burstEvery},
		"step": {&c.step, keep.step}, "drain": {&c.drain, keep.drain}, "timeout": {&c.timeout, keep.timeout},
	} {
		if set[name] {
			*p[0].(*time.Duration) = p[1].(time.Duration)
		}
	}
}

// parseRates parses a comma-separated list of positive, finite rates.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 1) {
			return nil, fmt.Errorf("bad ceiling rate %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// joinRates formats rates for -ceiling.
func joinRates(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(s, ",")
}

// result is what one phase measured.
type result struct {
	Phase         string        `json:"phase"`
	TargetRate    float64       `json:"target_rate"`     // readings/s asked for
	PublishRate   float64       `json:"publish_rate"`    // readings/s published
	Published     int64         `json:"published"`       // readings published
	Expected      int64         `json:"expected"`        // deliveries due to dashboards
	Delivered     int64         `json:"delivered"`       // distinct deliveries
	Missing       int64         `json:"missing"`         // Expected - Delivered
	Duplicates    int64         `json:"duplicates"`      // extra deliveries
	Stray         int64         `json:"stray"`           // unmatched readings
	P50           time.Duration `json:"p50_ns"`          // publish → dashboard latency
	P99           time.Duration `json:"p99_ns"`          //
	Max           time.Duration `json:"max_ns"`          //
	P99NoBurst    time.Duration `json:"p99_no_burst_ns"` // p99 of the readings not sent in bursts
	BurstReadings int64         `json:"burst_readings"`  // readings sent in bursts
	Stored        int64         `json:"stored"`          // committed offset delta
	StoredPerSec  float64       `json:"stored_per_sec"`  // Stored over the publishing time
	GatewayCPU    float64       `json:"gateway_cpu"`     // cores used while publishing
	GatewayRSSKB  int64         `json:"gateway_rss_kb"`  // VmRSS at the end
	GatewayHWMKB  int64         `json:"gateway_hwm_kb"`  // peak RSS so far
	LoadCPU       float64       `json:"load_cpu"`        // cores the load generator used
	GatewayWait   float64       `json:"gateway_runq"`    // gateway threads waiting for a CPU, on average
	LoadWait      float64       `json:"load_runq"`       // load threads waiting for a CPU, on average
	LoadAvg       float64       `json:"load_avg"`        // machine 1-minute load average at the end
	QoS           int           `json:"qos"`             // MQTT QoS of the publishes
	Acked         int64         `json:"acked"`           // PUBACKs received (QoS 1)
	Dropped       float64       `json:"dropped"`         // gatewayd_dropped_total delta
	OK            bool          `json:"ok"`              // a ceiling step passed
	Why           string        `json:"why,omitempty"`   // why it failed
	PublishWindow time.Duration `json:"publish_ns"`
}

// report is the whole run.
type report struct {
	Devices    int      `json:"devices"`
	Dashboards int      `json:"dashboards"`
	PerDash    int      `json:"per_dashboard"`
	Pinned     bool     `json:"pinned"`
	Steady     *result  `json:"steady,omitempty"`
	Steps      []result `json:"ceiling_steps,omitempty"`
	Ceiling    float64  `json:"ceiling"` // last good total rate; 0 if none passed
	CeilingCap bool     `json:"ceiling_at_top"`
}

// print writes the report as a table.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "devices %d, dashboards %d × %d devices, gateway pinned: %v\n", r.Devices, r.Dashboards, r.PerDash, r.Pinned)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\ttarget/s\tpublished/s\texpected\tmissing\tdup\tp50 ms\tp99 ms\tp99 no-burst\tmax ms\tstored/s\tstored\tgw CPU\tgw runq\tgw RSS MB\tload CPU\tload runq\tload avg\tverdict\t")
	row := func(x result) {
		noBurst := "-"
		if x.BurstReadings > 0 {
			noBurst = fmt.Sprintf("%.1f", ms(x.P99NoBurst))
		}
		v := "ok"
		if !x.OK {
			v = "FAIL: " + x.Why
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%.1f\t%.0f\t%d/%d\t%.0f%%\t%.2f\t%.1f\t%.0f%%\t%.2f\t%.1f\t%s\t\n",
			x.Phase, x.TargetRate, x.PublishRate, x.Expected, x.Missing, x.Duplicates,
			ms(x.P50), ms(x.P99), noBurst, ms(x.Max), x.StoredPerSec, x.Stored, x.Published,
			100*x.GatewayCPU, x.GatewayWait, float64(x.GatewayRSSKB)/1024, 100*x.LoadCPU, x.LoadWait, x.LoadAvg, v)
	}
	if r.Steady != nil {
		row(*r.Steady)
	}
	for _, s := range r.Steps {
		row(s)
	}
	tw.Flush()
	if len(r.Steps) > 0 {
		at := ""
		if r.CeilingCap {
			at = " (every step passed: the ceiling is at least this)"
		}
		fmt.Fprintf(w, "ceiling: %.0f readings/s%s\n", r.Ceiling, at)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// run performs the benchmark; progress goes to logw. The report holds what
// was measured even when err is not nil.
func run(ctx context.Context, cfg config, logw io.Writer) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if cfg.devices <= 0 || cfg.dashboards < 0 || cfg.perDash <= 0 || cfg.rate <= 0 {
		return nil, errors.New("devices, per-dashboard and rate must be positive")
	}
	if cfg.qos != 0 && cfg.qos != 1 {
		return nil, errors.New("qos must be 0 or 1")
	}
	cfg.perDash = min(cfg.perDash, cfg.devices)
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }

	rep := &report{Devices: cfg.devices, Dashboards: cfg.dashboards, PerDash: cfg.perDash}
	httpURL, mqttAddr, pid := cfg.attach, cfg.attachMQTT, cfg.attachPID
	if cfg.attach == "" {
		if cfg.bin == "" {
			return nil, errors.New("give -bin (a gatewayd binary) or -attach")
		}
		dir := cfg.dataDir
		if dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
		} else {
			d, err := os.MkdirTemp("", "gatewayd-e2e-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		g, err := startGateway(ctx, cfg.bin, dir, nil, cfg.pin)
		if err != nil {
			return nil, err
		}
		defer g.stop()
		httpURL, mqttAddr, pid = g.httpURL, g.mqtt, g.pid()
		rep.Pinned = g.pinned
		if g.pinned {
			rep.Pinned = pinSelf(1)
		}
		logf("gatewayd pid %d at %s, MQTT %s, pinned %v", pid, httpURL, mqttAddr, rep.Pinned)
	}

	ids := make([]string, cfg.devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("e2e-%04d", i)
	}
	devs, err := dialDevices(ctx, mqttAddr, "e2e-", cfg.devices, byte(cfg.qos))
	if err != nil {
		return nil, fmt.Errorf("connect devices: %w", err)
	}
	defer func() {
		for _, d := range devs {
			d.close()
		}
	}()
	logf("%d devices connected", len(devs))

	off0, err := committedOffset(ctx, httpURL)
	if err != nil {
		return nil, err
	}
	// Warm-up: one reading per device makes it known to the gateway, which
	// refuses subscriptions to unknown devices.
	for i, d := range devs {
		if err := d.publish(int64(i % phaseID)); err != nil {
			return nil, fmt.Errorf("warm-up publish: %w", err)
		}
	}
	if err := waitDevices(ctx, httpURL, ids); err != nil {
		return nil, err
	}
	// The warm-up readings must be committed before the first phase reads
	// the store's offset, or they would count as that phase's.
	if err := waitCommitted(ctx, httpURL, off0+int64(len(devs))); err != nil {
		return nil, err
	}

	var cur atomic.Pointer[phaseState]
	dashes := make([]*dashboard, cfg.dashboards)
	subs := make([]int, cfg.devices) // subscribers per device
	{
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, 20)
		for i := range dashes {
			mine := make([]int, cfg.perDash)
			for j := range mine {
				mine[j] = (i*cfg.perDash + j) % cfg.devices
				subs[mine[j]]++
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				d, err := dialDashboard(ctx, httpURL+"/", i, mine, ids, &cur)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				dashes[i] = d
			}()
		}
		wg.Wait()
		defer func() {
			for _, d := range dashes {
				if d != nil {
					d.c.Close()
				}
			}
		}()
		if firstErr != nil {
			return rep, firstErr
		}
	}
	logf("%d dashboards subscribed to %d devices each", len(dashes), cfg.perDash)

	ph := &phaser{cfg: cfg, devs: devs, dashes: dashes, subs: subs, cur: &cur, httpURL: httpURL, pid: pid, logf: logf}
	if cfg.duration > 0 {
		l := load{total: cfg.rate * float64(cfg.devices), duration: cfg.duration,
			burstEvery: cfg.burstEvery, burstDevices: cfg.burstDevices, burstSize: cfg.burstSize, workers: cfg.workers}
		r, err := ph.run(ctx, "steady", l)
		rep.Steady = &r
		if err != nil {
			return rep, err
		}
	}
	rep.CeilingCap = len(cfg.ceiling) > 0
	for _, rate := range cfg.ceiling {
		l := load{total: rate, duration: cfg.step, workers: cfg.workers}
		r, err := ph.run(ctx, fmt.Sprintf("ceiling %.0f", rate), l)
		rep.Steps = append(rep.Steps, r)
		if err != nil {
			rep.CeilingCap = false
			return rep, err
		}
		if !r.OK {
			rep.CeilingCap = false
			break
		}
		rep.Ceiling = rate
	}
	return rep, nil
}

// waitDevices polls GET /api/devices until every id is known (10 s at most).
func waitDevices(ctx context.Context, httpURL string, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	missing := len(ids)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, httpURL+"/api/devices", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var list []struct {
				ID string `json:"id"`
			}
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if err == nil {
				known := make(map[string]bool, len(list))
				for _, d := range list {
					known[d.ID] = true
				}
				missing = 0
				for _, id := range ids {
					if !known[id] {
						missing++
					}
				}
				if missing == 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2e: %d of %d devices unknown to the gateway after the warm-up", missing, len(ids))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitCommitted polls the store's committed offset until it reaches want
// (20 s at most).
func waitCommitted(ctx context.Context, httpURL string, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		off, err := committedOffset(ctx, httpURL)
		if err == nil && off >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2e: store committed offset %d, want %d: %v", off, want, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// phaser runs phases against one set of devices and dashboards.
type phaser struct {
	cfg     config
	devs    []*device
	dashes  []*dashboard
	subs    []int
	cur     *atomic.Pointer[phaseState]
	httpURL string
	pid     int
	n       int64
	logf    func(string, ...any)
}

// run runs one phase and measures it.
func (p *phaser) run(ctx context.Context, name string, l load) (result, error) {
	p.n++
	res := result{Phase: name, TargetRate: l.total, QoS: p.cfg.qos}
	perDev := l.perDeviceCap(len(p.devs))
	ps := newPhaseState(p.n, len(p.devs), perDev, p.dashes)
	p.cur.Store(ps)

	off0, err := committedOffset(ctx, p.httpURL)
	if err != nil {
		return res, err
	}
	drop0 := droppedTotal(ctx, p.httpURL)
	var gcpu0, lcpu0, gwait0, lwait0 time.Duration
	if p.pid > 0 {
		gcpu0, _ = cpuTime(p.pid)
		gwait0, _ = runqWait(p.pid)
	}
	lcpu0, _ = cpuTime(os.Getpid())
	lwait0, _ = runqWait(os.Getpid())
	var bursts atomic.Int64 // the publishers run concurrently
	var acks0 int64
	for _, d := range p.devs {
		acks0 += d.acks.Load()
	}
	start := time.Now()
	pub, err := publishPhase(ctx, p.devs, l, func(dev int, burst bool) (int64, bool) {
		seq := ps.next[dev]
		if seq >= perDev {
			return 0, false
		}
		ps.next[dev]++
		if burst {
			ps.burst[dev][seq].Store(true)
			bursts.Add(1)
		}
		ps.sent[dev][seq].Store(int64(time.Since(ps.base)) + 1)
		return ps.id*phaseID + int64(seq), true
	})
	window := time.Since(start)
	res.PublishWindow = window
	if p.pid > 0 {
		if c, err := cpuTime(p.pid); err == nil {
			res.GatewayCPU = (c - gcpu0).Seconds() / window.Seconds()
		}
		if w, err := runqWait(p.pid); err == nil {
			res.GatewayWait = (w - gwait0).Seconds() / window.Seconds()
		}
	}
	if c, err := cpuTime(os.Getpid()); err == nil {
		res.LoadCPU = (c - lcpu0).Seconds() / window.Seconds()
	}
	if w, err := runqWait(os.Getpid()); err == nil {
		res.LoadWait = (w - lwait0).Seconds() / window.Seconds()
	}
	res.Published = pub
	res.BurstReadings = bursts.Load()
	res.PublishRate = float64(pub) / l.duration.Seconds()
	if err != nil {
		return res, err
	}
	for dev, n := range ps.next {
		res.Expected += int64(n * p.subs[dev])
	}

	// Drain: wait for every due delivery and for the store to commit every
	// published reading, or the drain time.
	deadline := time.Now().Add(p.cfg.drain)
	var off1 int64
	for {
		var got int64
		for _, dp := range ps.dash {
			got += dp.delivered.Load()
		}
		off1, err = committedOffset(ctx, p.httpURL)
		if err != nil {
			return res, err
		}
		if (got >= res.Expected && off1-off0 >= pub) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p.pid > 0 {
		res.GatewayRSSKB, res.GatewayHWMKB, _ = memKB(p.pid)
	}
	res.LoadAvg = loadAvg()
	res.Dropped = droppedTotal(ctx, p.httpURL) - drop0
	for _, d := range p.devs {
		res.Acked += d.acks.Load()
	}
	res.Acked -= acks0
	res.Stored = off1 - off0
	res.StoredPerSec = float64(res.Stored) / l.duration.Seconds()

	var lat, latSteady []time.Duration
	for _, dp := range ps.dash {
		res.Delivered += dp.delivered.Load()
		res.Duplicates += dp.dups.Load()
		res.Stray += dp.stray.Load()
		dp.mu.Lock()
		lat = append(lat, dp.lat...)
		latSteady = append(latSteady, dp.latSteady...)
		dp.mu.Unlock()
	}
	res.Missing = res.Expected - res.Delivered
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50 = lat[len(lat)*50/100]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		res.Max = lat[len(lat)-1]
	}
	if len(latSteady) > 0 && res.BurstReadings > 0 {
		slices.Sort(latSteady)
		res.P99NoBurst = latSteady[min(len(latSteady)-1, len(latSteady)*99/100)]
	}
	res.OK, res.Why = verdict(res, p.cfg.maxP99)
	p.logf("%s: published %d (%.0f/s), missing %d, dup %d, p50 %.1f ms, p99 %.1f ms, stored %d, gw CPU %.0f%% runq %.2f, load CPU %.0f%% runq %.2f: %v %s",
		name, pub, res.PublishRate, res.Missing, res.Duplicates, ms(res.P50), ms(res.P99), res.Stored, 100*res.GatewayCPU, res.GatewayWait, 100*res.LoadCPU, res.LoadWait, res.OK, res.Why)
	return res, nil
}

// verdict decides whether a phase passed: nothing lost or doubled, all
// stored, p99 within maxP99, and the load reached 95% of its target rate.
func verdict(r result, maxP99 time.Duration) (bool, string) {
	var why []string
	if r.Missing != 0 {
		why = append(why, fmt.Sprintf("%d missing", r.Missing))
	}
	if r.Duplicates != 0 {
		why = append(why, fmt.Sprintf("%d duplicated", r.Duplicates))
	}
	if r.Stray != 0 {
		why = append(why, fmt.Sprintf("%d unmatched", r.Stray))
	}
	if r.Stored < r.Published {
		why = append(why, fmt.Sprintf("%d not stored", r.Published-r.Stored))
	}
	if r.P99 > maxP99 {
		why = append(why, fmt.Sprintf("p99 %.0f ms", ms(r.P99)))
	}
	if r.QoS > 0 && r.Acked < r.Published {
		why = append(why, fmt.Sprintf("%d not acknowledged", r.Published-r.Acked))
	}
	if r.PublishRate < 0.95*r.TargetRate {
		why = append(why, "load could not reach the rate")
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// droppedTotal sums gatewayd_dropped_total over its reasons (0 if unreadable).
func droppedTotal(ctx context.Context, httpURL string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "gatewayd_dropped_total") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
