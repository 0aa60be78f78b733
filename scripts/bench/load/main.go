// Command load is a load generator for the Socket.IO benchmark app (see
// scripts/bench/node-server.js for its events). It speaks Engine.IO v4 /
// Socket.IO v5 text frames over raw WebSockets and measures four things
// against a server on loopback:
//
//   - connect: time to connect N clients and the server's RSS before and
//     after (read from /proc/<pid>/status when -pid is given);
//   - fan-out: S subscribers spread over R rooms, one publisher per room,
//     publishing at a total rate for a bounded duration: delivered
//     messages/s, p50/p99 latency from a timestamp in the payload, loss;
//     With -rates, one such point per rate on the same connections, each
//     with the server's CPU time from /proc/<pid>/stat;
//   - echo: C clients doing echo-with-ack round trips, one outstanding each;
//   - overload: clients that stop reading while one publisher sends to them
//     and to clients that keep reading: the server's RSS peak and how many
//     stalled clients it closed.
//
// Every phase is bounded in count and time, and -timeout bounds the run.
//
//	load -url http://127.0.0.1:PORT -pid PID -clients 200 -rooms 10 -subs 180 -rate 200 -duration 5s -echo 50
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config holds the command-line settings.
type config struct {
	url         string
	path        string
	pid         int
	clients     int
	concurrency int
	rooms       int
	subs        int
	rate        float64
	duration    time.Duration
	payload     int
	echo        int
	echoDur     time.Duration
	timeout     time.Duration
	jsonOut     bool

	// rates, when set, replaces rate: one fan-out point per rate, on the
	// same connections.
	rates []float64

	// Overload phase: slow clients stop reading while one publisher
	// sends to them and to fast clients; 0 slow clients skips it.
	slow      int
	fast      int
	ovRate    float64
	ovDur     time.Duration
	ovPayload int

	// hold keeps the clients connected and idle this long after the
	// connect phase, for a profiler to look at the idle server.
	hold time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:3000", "server base URL (loopback only)")
	flag.StringVar(&cfg.path, "path", "/socket.io/", "Socket.IO path")
	flag.IntVar(&cfg.pid, "pid", 0, "server process id for RSS readings (0: none)")
	flag.IntVar(&cfg.clients, "clients", 200, "clients to connect (at least subs+rooms and echo)")
	flag.IntVar(&cfg.concurrency, "concurrency", 32, "connections dialled at once")
	flag.DurationVar(&cfg.hold, "hold", 0, "keep the clients connected and idle this long after connecting (for profiling)")
	flag.IntVar(&cfg.rooms, "rooms", 10, "rooms for the fan-out phase (0 skips it)")
	flag.IntVar(&cfg.subs, "subs", 180, "subscribers spread over the rooms")
	flag.Float64Var(&cfg.rate, "rate", 200, "total publishes per second over all rooms")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "fan-out publishing time")
	flag.IntVar(&cfg.payload, "payload", 64, "extra payload bytes per reading")
	flag.IntVar(&cfg.echo, "echo", 50, "clients doing echo round trips (0 skips the phase)")
	flag.DurationVar(&cfg.echoDur, "echo-duration", 3*time.Second, "echo phase time")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as one JSON object")
	rates := flag.String("rates", "", "comma-separated publish rates, one fan-out point each (overrides -rate)")
	flag.IntVar(&cfg.slow, "slow", 0, "overload phase: clients that stop reading (0 skips the phase)")
	flag.IntVar(&cfg.fast, "fast", 50, "overload phase: clients that keep reading")
	flag.Float64Var(&cfg.ovRate, "overload-rate", 500, "overload phase: publishes per second")
	flag.DurationVar(&cfg.ovDur, "overload-duration", 10*time.Second, "overload phase: publishing time")
	flag.IntVar(&cfg.ovPayload, "overload-payload", 1024, "overload phase: extra payload bytes per reading")
	flag.Parse()
	if *rates != "" {
		for f := range strings.SplitSeq(*rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				fmt.Fprintf(os.Stderr, "load: bad -rates entry %q\n", f)
				os.Exit(2)
			}
			cfg.rates = append(cfg.rates, r)
		}
	}

	if _, err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// results is what a run measured; zero fields were not measured.
type results struct {
	Clients        int     `json:"clients"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectPerSec  float64 `json:"connects_per_second"`
	RSSBeforeKB    int64   `json:"rss_before_kb,omitempty"`
	RSSAfterKB     int64   `json:"rss_after_kb,omitempty"`
	RSSPerConnKB   float64 `json:"rss_per_conn_kb,omitempty"`

	Rooms         int     `json:"rooms,omitempty"`
	Subscribers   int     `json:"subscribers,omitempty"`
	Published     int64   `json:"published,omitempty"`
	Expected      int64   `json:"expected,omitempty"`
	Delivered     int64   `json:"delivered,omitempty"`
	DeliveredRate float64 `json:"delivered_per_second,omitempty"`
	LossPercent   float64 `json:"loss_percent"`
	FanoutP50ms   float64 `json:"fanout_p50_ms,omitempty"`
	FanoutP99ms   float64 `json:"fanout_p99_ms,omitempty"`
	RSSFanoutKB   int64   `json:"rss_after_fanout_kb,omitempty"`

	EchoClients int     `json:"echo_clients,omitempty"`
	EchoCount   int64   `json:"echo_count,omitempty"`
	EchoRate    float64 `json:"echo_per_second,omitempty"`
	EchoP50ms   float64 `json:"echo_p50_ms,omitempty"`
	EchoP99ms   float64 `json:"echo_p99_ms,omitempty"`
	EchoErrors  int64   `json:"echo_errors,omitempty"`

	// Points holds every fan-out point; the Fanout fields above repeat
	// the last one.
	Points   []point   `json:"points,omitempty"`
	Overload *overload `json:"overload,omitempty"`
}

// point is one fan-out measurement at one publish rate.
type point struct {
	Rate          float64 `json:"rate"`
	Published     int64   `json:"published"`
	Expected      int64   `json:"expected"`
	Delivered     int64   `json:"delivered"`
	DeliveredRate float64 `json:"delivered_per_second"`
	LossPercent   float64 `json:"loss_percent"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	CPUPercent    float64 `json:"server_cpu_percent"`
	RSSKB         int64   `json:"rss_kb,omitempty"`
}

// overload is what the overload phase measured.
type overload struct {
	Slow          int     `json:"slow"`
	Fast          int     `json:"fast"`
	Rate          float64 `json:"rate"`
	PayloadBytes  int     `json:"payload_bytes"`
	Published     int64   `json:"published"`
	FastExpected  int64   `json:"fast_expected"`
	FastDelivered int64   `json:"fast_delivered"`
	RSSBeforeKB   int64   `json:"rss_before_kb"`
	RSSPeakKB     int64   `json:"rss_peak_kb"`
	RSSEndKB      int64   `json:"rss_end_kb"`
	SlowClosed    int     `json:"slow_closed"`
	CPUPercent    float64 `json:"server_cpu_percent"`
}

// reading is the payload a publisher sends and subscribers receive.
type reading struct {
	T   int64  `json:"t"` // UnixNano when published
	E   int64  `json:"e"` // measurement epoch: late arrivals from an earlier point are ignored
	Seq int64  `json:"seq"`
	Pad string `json:"pad,omitempty"`
}

func (cfg config) validate() error {
	u, err := url.Parse(cfg.url)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url must point at a loopback address, got %q", host)
	}
	switch {
	case cfg.clients <= 0 || cfg.clients > 100000:
		return errors.New("-clients must be in 1..100000")
	case cfg.concurrency <= 0:
		return errors.New("-concurrency must be positive")
	case cfg.rooms < 0 || cfg.subs < 0 || cfg.echo < 0:
		return errors.New("-rooms, -subs and -echo must not be negative")
	case cfg.rooms > 0 && cfg.subs+cfg.rooms > cfg.clients:
		return fmt.Errorf("-clients (%d) must be at least -subs + -rooms (%d)", cfg.clients, cfg.subs+cfg.rooms)
	case cfg.echo > cfg.clients:
		return fmt.Errorf("-clients (%d) must be at least -echo (%d)", cfg.clients, cfg.echo)
	case cfg.rooms > 0 && (cfg.rate <= 0 || cfg.rate > 1e6):
		return errors.New("-rate must be in (0, 1e6]")
	case len(cfg.rates) > 20:
		return errors.New("-rates takes at most 20 rates")
	case cfg.slow < 0 || cfg.fast < 0 || (cfg.slow > 0 && cfg.slow+cfg.fast+1 > cfg.clients):
		return fmt.Errorf("-clients (%d) must be at least -slow + -fast + 1", cfg.clients)
	case cfg.slow > 0 && (cfg.ovRate <= 0 || cfg.ovRate > 1e5 || cfg.ovDur <= 0 || cfg.ovDur > 5*time.Minute || cfg.ovPayload < 0 || cfg.ovPayload > 1<<20):
		return errors.New("overload settings out of range")
	case cfg.duration <= 0 || cfg.duration > 10*time.Minute || cfg.echoDur <= 0 || cfg.echoDur > 10*time.Minute:
		return errors.New("durations must be in (0, 10m]")
	case cfg.payload < 0 || cfg.payload > 1<<20:
		return errors.New("-payload must be in 0..1MiB")
	}
	for _, r := range cfg.rates {
		if r <= 0 || r > 1e6 {
			return errors.New("-rates entries must be in (0, 1e6]")
		}
	}
	return nil
}

// run connects the clients and runs the phases cfg asks for, printing a
// line per phase; it returns what it measured.
func run(cfg config) (results, error) {
	var res results
	if err := cfg.validate(); err != nil {
		return res, err
	}
	endpoint, err := wsURL(cfg.url, cfg.path)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()

	sink := &fanoutSink{}

	// Phase 1: connect.
	res.Clients = cfg.clients
	res.RSSBeforeKB = readRSS(cfg.pid)
	start := time.Now()
	clients, err := connectAll(ctx, endpoint, cfg.clients, cfg.concurrency, sink)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); c.close() }()
		}
		wg.Wait()
	}()
	if err != nil {
		return res, fmt.Errorf("connect phase: %w", err)
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	res.ConnectPerSec = float64(cfg.clients) / res.ConnectSeconds
	// Let the server settle before reading its memory.
	time.Sleep(500 * time.Millisecond)
	res.RSSAfterKB = readRSS(cfg.pid)
	if res.RSSAfterKB > 0 {
		res.RSSPerConnKB = float64(res.RSSAfterKB-res.RSSBeforeKB) / float64(cfg.clients)
	}
	report(cfg, "connect", fmt.Sprintf("%d clients in %.2fs (%.0f/s); server RSS %d kB -> %d kB (%.1f kB/conn)",
		cfg.clients, res.ConnectSeconds, res.ConnectPerSec, res.RSSBeforeKB, res.RSSAfterKB, res.RSSPerConnKB))
	if cfg.hold > 0 {
		select {
		case <-time.After(cfg.hold):
		case <-ctx.Done():
		}
	}

	// Phase 2: fan-out.
	if cfg.rooms > 0 {
		if err := joinRooms(ctx, cfg, clients); err != nil {
			return res, fmt.Errorf("fan-out phase: %w", err)
		}
		rates := cfg.rates
		if len(rates) == 0 {
			rates = []float64{cfg.rate}
		}
		res.Rooms = cfg.rooms
		res.Subscribers = cfg.subs
		for i, rate := range rates {
			pt, err := fanout(ctx, cfg, rate, int64(i+1), clients, sink)
			if err != nil {
				return res, fmt.Errorf("fan-out phase at %g/s: %w", rate, err)
			}
			res.Points = append(res.Points, pt)
			res.Published, res.Expected, res.Delivered = pt.Published, pt.Expected, pt.Delivered
			res.DeliveredRate, res.LossPercent = pt.DeliveredRate, pt.LossPercent
			res.FanoutP50ms, res.FanoutP99ms = pt.P50ms, pt.P99ms
			res.RSSFanoutKB = pt.RSSKB
			report(cfg, "fanout", fmt.Sprintf("%d subs in %d rooms at %g pub/s: %d published, %d/%d delivered (%.0f msg/s), loss %.2f%%, latency p50 %.2f ms p99 %.2f ms, server CPU %.0f%%, RSS %d kB",
				cfg.subs, cfg.rooms, rate, pt.Published, pt.Delivered, pt.Expected, pt.DeliveredRate, pt.LossPercent, pt.P50ms, pt.P99ms, pt.CPUPercent, pt.RSSKB))
		}
	}

	// Phase 3: echo with ack.
	if cfg.echo > 0 {
		if err := echo(ctx, cfg, clients[:cfg.echo], &res); err != nil {
			return res, fmt.Errorf("echo phase: %w", err)
		}
		report(cfg, "echo", fmt.Sprintf("%d clients, %d round trips (%.0f/s), latency p50 %.2f ms p99 %.2f ms, %d errors",
			res.EchoClients, res.EchoCount, res.EchoRate, res.EchoP50ms, res.EchoP99ms, res.EchoErrors))
	}

	// Phase 4: overload with clients that stop reading.
	if cfg.slow > 0 {
		ov, err := overloadPhase(ctx, cfg, clients, sink)
		if err != nil {
			return res, fmt.Errorf("overload phase: %w", err)
		}
		res.Overload = &ov
		report(cfg, "overload", fmt.Sprintf("%d stalled + %d reading clients, %d published at %g/s (%d B): fast got %d/%d; server RSS %d kB -> peak %d kB, end %d kB; %d stalled clients closed by the server; CPU %.0f%%",
			ov.Slow, ov.Fast, ov.Published, ov.Rate, ov.PayloadBytes, ov.FastDelivered, ov.FastExpected, ov.RSSBeforeKB, ov.RSSPeakKB, ov.RSSEndKB, ov.SlowClosed, ov.CPUPercent))
	}
	if cfg.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
	return res, nil
}

var started = time.Now()

func report(cfg config, phase, line string) {
	out := os.Stdout
	if cfg.jsonOut {
		out = os.Stderr
	}
	fmt.Fprintf(out, "%6.1fs %-8s %s\n", time.Since(started).Seconds(), phase, line)
}

// connectAll dials n clients with at most conc dials in flight; every
// client's events go to sink.
func connectAll(ctx context.Context, endpoint string, n, conc int, sink *fanoutSink) ([]*client, error) {
	clients := make([]*client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			clients[i], errs[i] = dial(dctx, endpoint, sink.onEvent)
		}()
	}
	wg.Wait()
	var ok []*client
	var firstErr error
	failed := 0
	for i, c := range clients {
		if c != nil {
			ok = append(ok, c)
		}
		if errs[i] != nil {
			failed++
			if firstErr == nil {
				firstErr = errs[i]
			}
		}
	}
	if firstErr != nil {
		return ok, fmt.Errorf("%d of %d connections failed, first: %w", failed, n, firstErr)
	}
	return ok, nil
}

// fanoutSink counts "reading" events and records their latency.
type fanoutSink struct {
	active    atomic.Bool
	epoch     atomic.Int64
	delivered atomic.Int64
	last      atomic.Int64 // UnixNano of the latest delivery
	bad       atomic.Int64
	lat       samples
}

func (s *fanoutSink) onEvent(name string, data []byte) {
	if name != "reading" || !s.active.Load() {
		return
	}
	r, ok := parseStamp(data)
	if !ok {
		if err := json.Unmarshal(data, &r); err != nil {
			r.T = 0
		}
	}
	if r.T == 0 {
		s.bad.Add(1)
		return
	}
	if r.E != s.epoch.Load() {
		return
	}
	now := time.Now().UnixNano()
	s.delivered.Add(1)
	s.last.Store(now)
	s.lat.add(time.Duration(now - r.T))
}

// parseStamp reads T and E from a reading as this program encodes it
// ({"t":N,"e":N,...}; both servers forward it byte for byte or re-encode it
// in the same key order) without a full JSON decode, which would make the
// load generator the bottleneck of the fan-out. ok is false for any other
// shape, and the caller falls back to encoding/json.
func parseStamp(b []byte) (r reading, ok bool) {
	num := func(b []byte, key string) (int64, []byte, bool) {
		if !bytes.HasPrefix(b, []byte(key)) {
			return 0, nil, false
		}
		b = b[len(key):]
		i := 0
		if i < len(b) && b[i] == '-' {
			i++
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		n, err := strconv.ParseInt(string(b[:i]), 10, 64)
		return n, b[i:], err == nil
	}
	t, rest, ok := num(b, `{"t":`)
	if !ok {
		return r, false
	}
	e, rest, ok := num(rest, `,"e":`)
	if !ok || len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') || b[len(b)-1] != '}' {
		return r, false
	}
	return reading{T: t, E: e}, true
}

// reset starts a new measurement: only readings of epoch count from now on.
func (s *fanoutSink) reset(epoch int64) {
	s.active.Store(false)
	s.epoch.Store(epoch)
	s.delivered.Store(0)
	s.last.Store(0)
	s.lat.mu.Lock()
	s.lat.d = s.lat.d[:0]
	s.lat.mu.Unlock()
}

func roomName(i int) string { return "room-" + strconv.Itoa(i) }

// joinRooms makes the subscribers join the rooms round robin and the
// publishers one room each.
func joinRooms(ctx context.Context, cfg config, clients []*client) error {
	subs := clients[:cfg.subs]
	pubs := clients[cfg.subs : cfg.subs+cfg.rooms]
	// Join, then an echo round trip per client as a barrier: the server
	// handles a socket's events in order, so once the ack is back the
	// join has taken effect.
	join := func(c *client, room string) error {
		if err := c.emit(ctx, "join", room); err != nil {
			return err
		}
		_, err := c.call(ctx, "echo", "sync")
		return err
	}
	if err := parallel(ctx, len(subs), 32, func(i int) error { return join(subs[i], roomName(i%cfg.rooms)) }); err != nil {
		return err
	}
	return parallel(ctx, len(pubs), 32, func(i int) error { return join(pubs[i], roomName(i)) })
}

// fanout makes one publisher per room publish at rate in total for
// cfg.duration (the rooms are joined by joinRooms) and measures one point.
func fanout(ctx context.Context, cfg config, rate float64, epoch int64, clients []*client, sink *fanoutSink) (point, error) {
	pt := point{Rate: rate}
	pubs := clients[cfg.subs : cfg.subs+cfg.rooms]
	members := make([]int64, cfg.rooms)
	for i := range cfg.subs {
		members[i%cfg.rooms]++
	}

	pad := strings.Repeat("x", cfg.payload)
	perRoom := rate / float64(cfg.rooms)
	interval := time.Duration(float64(time.Second) / perRoom)
	maxPerRoom := int64(math.Ceil(perRoom*cfg.duration.Seconds())) + 1
	var published, expected atomic.Int64
	sink.reset(epoch)
	sink.active.Store(true)
	pctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	cpu0 := readCPU(cfg.pid)
	start := time.Now()
	var wg sync.WaitGroup
	var pubErr atomic.Value
	for r, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the publishers so rooms do not fire in lockstep.
			next := start.Add(time.Duration(r) * interval / time.Duration(len(pubs)))
			for seq := int64(0); seq < maxPerRoom; seq++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-pctx.Done():
						return
					}
				}
				if pctx.Err() != nil {
					return
				}
				msg := reading{T: time.Now().UnixNano(), E: epoch, Seq: seq, Pad: pad}
				if err := p.emit(ctx, "publish", msg); err != nil {
					pubErr.Store(err)
					return
				}
				published.Add(1)
				expected.Add(members[r])
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := pubErr.Load().(error); err != nil {
		return pt, err
	}
	// Wait (bounded) for deliveries still in flight.
	want := expected.Load()
	deadline := time.Now().Add(10 * time.Second)
	for sink.delivered.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	sink.active.Store(false)
	cpu1 := readCPU(cfg.pid)

	pt.Published = published.Load()
	pt.Expected = want
	pt.Delivered = sink.delivered.Load()
	// Deliveries can trail the publishing window when the server falls
	// behind, so the rate is over the time until the last one arrived.
	if last := time.Unix(0, sink.last.Load()); last.Sub(start) > elapsed {
		elapsed = last.Sub(start)
	}
	pt.DeliveredRate = float64(pt.Delivered) / elapsed.Seconds()
	if want > 0 {
		pt.LossPercent = 100 * float64(want-pt.Delivered) / float64(want)
	}
	pt.P50ms = ms(sink.lat.quantile(0.50))
	pt.P99ms = ms(sink.lat.quantile(0.99))
	// CPU over the publishing window and the drain after it.
	if cpu0 >= 0 && cpu1 >= 0 {
		pt.CPUPercent = 100 * float64(cpu1-cpu0) / clockTicks / time.Since(start).Seconds()
	}
	pt.RSSKB = readRSS(cfg.pid)
	if n := sink.bad.Load(); n > 0 {
		return pt, fmt.Errorf("%d readings with an unparsable payload", n)
	}
	return pt, nil
}

// overloadPhase puts cfg.slow clients that stop reading and cfg.fast
// clients that keep reading in one room and publishes large readings to it
// for cfg.ovDur, sampling the server's RSS; then it resumes the stalled
// clients and counts those the server has closed.
func overloadPhase(ctx context.Context, cfg config, clients []*client, sink *fanoutSink) (overload, error) {
	ov := overload{Slow: cfg.slow, Fast: cfg.fast, Rate: cfg.ovRate, PayloadBytes: cfg.ovPayload}
	slow := clients[:cfg.slow]
	fast := clients[cfg.slow : cfg.slow+cfg.fast]
	pub := clients[cfg.slow+cfg.fast]
	const room = "overload"
	members := append(append([]*client(nil), slow...), fast...)
	members = append(members, pub)
	err := parallel(ctx, len(members), 32, func(i int) error {
		c := members[i]
		if err := c.emit(ctx, "join", room); err != nil {
			return err
		}
		_, err := c.call(ctx, "echo", "sync")
		return err
	})
	if err != nil {
		return ov, err
	}
	const epoch = -1
	sink.reset(epoch)
	sink.active.Store(true)
	for _, c := range slow {
		c.pause()
	}
	// Resumed on every path, so that closing the clients cannot hang.
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, c := range slow {
				c.resume()
			}
		}
	}
	defer resume()

	var fast0 int64
	for _, c := range fast {
		fast0 += c.readings.Load()
	}
	ov.RSSBeforeKB = readRSS(cfg.pid)
	ov.RSSPeakKB = ov.RSSBeforeKB
	pctx, cancel := context.WithTimeout(ctx, cfg.ovDur)
	defer cancel()
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if kb := readRSS(cfg.pid); kb > ov.RSSPeakKB {
					ov.RSSPeakKB = kb
				}
			}
		}
	}()
	cpu0 := readCPU(cfg.pid)
	start := time.Now()
	pad := strings.Repeat("x", cfg.ovPayload)
	interval := time.Duration(float64(time.Second) / cfg.ovRate)
	next := start
	for seq := int64(0); pctx.Err() == nil; seq++ {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-pctx.Done():
			}
			if pctx.Err() != nil {
				break
			}
		}
		msg := reading{T: time.Now().UnixNano(), E: epoch, Seq: seq, Pad: pad}
		if err := pub.emit(pctx, "publish", msg); err != nil {
			break // the server stopped taking publishes: the phase is over
		}
		ov.Published++
		next = next.Add(interval)
	}
	<-samplerDone
	// Let the fast clients drain what the server already queued for them.
	time.Sleep(time.Second)
	ov.FastExpected = ov.Published * int64(cfg.fast)
	for _, c := range fast {
		ov.FastDelivered += c.readings.Load()
	}
	ov.FastDelivered -= fast0
	ov.RSSEndKB = readRSS(cfg.pid)
	if kb := ov.RSSEndKB; kb > ov.RSSPeakKB {
		ov.RSSPeakKB = kb
	}
	if cpu1 := readCPU(cfg.pid); cpu0 >= 0 && cpu1 >= 0 {
		ov.CPUPercent = 100 * float64(cpu1-cpu0) / clockTicks / time.Since(start).Seconds()
	}
	sink.active.Store(false)
	resume()
	// A stalled client the server closed reads what its kernel buffers
	// hold and then the close; one the server kept reads on.
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range slow {
		select {
		case <-c.done:
			ov.SlowClosed++
		case <-time.After(time.Until(deadline)):
		}
	}
	return ov, nil
}

// echo runs echo-with-ack round trips on every client, one outstanding each,
// for cfg.echoDur.
func echo(ctx context.Context, cfg config, clients []*client, res *results) error {
	var lat samples
	var count, errCount atomic.Int64
	ectx, cancel := context.WithTimeout(ctx, cfg.echoDur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	// Bounded in count as well as time: no client does more than this.
	const maxPerClient = 1_000_000
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxPerClient && ectx.Err() == nil; i++ {
				t0 := time.Now()
				data, err := c.call(ectx, "echo", reading{T: t0.UnixNano(), Seq: int64(i)})
				if err != nil {
					if ectx.Err() == nil {
						errCount.Add(1)
					}
					return
				}
				var back []reading
				if json.Unmarshal(data, &back) != nil || len(back) != 1 || back[0].Seq != int64(i) {
					errCount.Add(1)
					return
				}
				lat.add(time.Since(t0))
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.EchoClients = len(clients)
	res.EchoCount = count.Load()
	res.EchoRate = float64(res.EchoCount) / elapsed.Seconds()
	res.EchoP50ms = ms(lat.quantile(0.50))
	res.EchoP99ms = ms(lat.quantile(0.99))
	res.EchoErrors = errCount.Load()
	if res.EchoErrors > 0 {
		return fmt.Errorf("%d echo round trips failed", res.EchoErrors)
	}
	return nil
}

// parallel runs fn(0..n-1) with at most conc running at once and returns the
// first error.
func parallel(ctx context.Context, n, conc int, fn func(int) error) error {
	sem := make(chan struct{}, conc)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// samples collects latencies; it keeps at most maxSamples so memory stays
// bounded on long runs.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

const maxSamples = 2_000_000

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	if len(s.d) < maxSamples {
		s.d = append(s.d, d)
	}
	s.mu.Unlock()
}

// quantile returns the q-quantile (nearest rank) of the samples, or 0 when
// there are none.
func (s *samples) quantile(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	sort.Slice(s.d, func(i, j int) bool { return s.d[i] < s.d[j] })
	i := int(math.Ceil(q*float64(len(s.d)))) - 1
	return s.d[max(0, min(i, len(s.d)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTicks = 100

// readCPU returns the utime+stime of pid in clock ticks, or -1 when pid is 0
// or unreadable.
func readCPU(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	return parseCPU(b)
}

// parseCPU extracts utime+stime (fields 14 and 15) from the text of
// /proc/<pid>/stat, or -1 when malformed. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
func parseCPU(stat []byte) int64 {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so utime is f[11] and stime f[12].
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + st
}

// readRSS returns the VmRSS of pid in kB, or 0 when pid is 0 or unreadable.
func readRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	return parseRSS(b)
}

// parseRSS extracts VmRSS (kB) from the text of /proc/<pid>/status.
func parseRSS(status []byte) int64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return 0
}
