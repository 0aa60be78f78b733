// Command load is a load generator for the Socket.IO benchmark app (see
// scripts/bench/node-server.js for its events). It speaks Engine.IO v4 /
// Socket.IO v5 text frames over raw WebSockets and measures three things
// against a server on loopback:
//
//   - connect: time to connect N clients and the server's RSS before and
//     after (read from /proc/<pid>/status when -pid is given);
//   - fan-out: S subscribers spread over R rooms, one publisher per room,
//     publishing at a total rate for a bounded duration: delivered
//     messages/s, p50/p99 latency from a timestamp in the payload, loss;
//   - echo: C clients doing echo-with-ack round trips, one outstanding each.
//
// Every phase is bounded in count and time, and -timeout bounds the run.
//
//	load -url http://127.0.0.1:PORT -pid PID -clients 200 -rooms 10 -subs 180 -rate 200 -duration 5s -echo 50
package main

import (
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
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:3000", "server base URL (loopback only)")
	flag.StringVar(&cfg.path, "path", "/socket.io/", "Socket.IO path")
	flag.IntVar(&cfg.pid, "pid", 0, "server process id for RSS readings (0: none)")
	flag.IntVar(&cfg.clients, "clients", 200, "clients to connect (at least subs+rooms and echo)")
	flag.IntVar(&cfg.concurrency, "concurrency", 32, "connections dialled at once")
	flag.IntVar(&cfg.rooms, "rooms", 10, "rooms for the fan-out phase (0 skips it)")
	flag.IntVar(&cfg.subs, "subs", 180, "subscribers spread over the rooms")
	flag.Float64Var(&cfg.rate, "rate", 200, "total publishes per second over all rooms")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "fan-out publishing time")
	flag.IntVar(&cfg.payload, "payload", 64, "extra payload bytes per reading")
	flag.IntVar(&cfg.echo, "echo", 50, "clients doing echo round trips (0 skips the phase)")
	flag.DurationVar(&cfg.echoDur, "echo-duration", 3*time.Second, "echo phase time")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as one JSON object")
	flag.Parse()

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
}

// reading is the payload a publisher sends and subscribers receive.
type reading struct {
	T   int64  `json:"t"` // UnixNano when published
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
	case cfg.duration <= 0 || cfg.duration > 10*time.Minute || cfg.echoDur <= 0 || cfg.echoDur > 10*time.Minute:
		return errors.New("durations must be in (0, 10m]")
	case cfg.payload < 0 || cfg.payload > 1<<20:
		return errors.New("-payload must be in 0..1MiB")
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

	// Phase 2: fan-out.
	if cfg.rooms > 0 {
		if err := fanout(ctx, cfg, clients, sink, &res); err != nil {
			return res, fmt.Errorf("fan-out phase: %w", err)
		}
		res.RSSFanoutKB = readRSS(cfg.pid)
		report(cfg, "fanout", fmt.Sprintf("%d subs in %d rooms, %d published, %d/%d delivered (%.0f msg/s), loss %.2f%%, latency p50 %.2f ms p99 %.2f ms",
			res.Subscribers, res.Rooms, res.Published, res.Delivered, res.Expected, res.DeliveredRate, res.LossPercent, res.FanoutP50ms, res.FanoutP99ms))
	}

	// Phase 3: echo with ack.
	if cfg.echo > 0 {
		if err := echo(ctx, cfg, clients[:cfg.echo], &res); err != nil {
			return res, fmt.Errorf("echo phase: %w", err)
		}
		report(cfg, "echo", fmt.Sprintf("%d clients, %d round trips (%.0f/s), latency p50 %.2f ms p99 %.2f ms, %d errors",
			res.EchoClients, res.EchoCount, res.EchoRate, res.EchoP50ms, res.EchoP99ms, res.EchoErrors))
	}
	if cfg.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
	return res, nil
}

func report(cfg config, phase, line string) {
	if cfg.jsonOut {
		fmt.Fprintf(os.Stderr, "%-8s %s\n", phase, line)
		return
	}
	fmt.Printf("%-8s %s\n", phase, line)
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
	delivered atomic.Int64
	last      atomic.Int64 // UnixNano of the latest delivery
	bad       atomic.Int64
	lat       samples
}

func (s *fanoutSink) onEvent(name string, data []byte) {
	if name != "reading" || !s.active.Load() {
		return
	}
	var r reading
	if err := json.Unmarshal(data, &r); err != nil || r.T == 0 {
		s.bad.Add(1)
		return
	}
	now := time.Now().UnixNano()
	s.delivered.Add(1)
	s.last.Store(now)
	s.lat.add(time.Duration(now - r.T))
}

// fanout makes subs subscribers join rooms round robin and one publisher per
// room publish at cfg.rate in total for cfg.duration.
func fanout(ctx context.Context, cfg config, clients []*client, sink *fanoutSink, res *results) error {
	subs := clients[:cfg.subs]
	pubs := clients[cfg.subs : cfg.subs+cfg.rooms]
	members := make([]int64, cfg.rooms)
	room := func(i int) string { return "room-" + strconv.Itoa(i) }

	// Join, then an echo round trip per client as a barrier: the server
	// handles a socket's events in order, so once the ack is back the
	// join has taken effect.
	join := func(c *client, r int) error {
		if err := c.emit(ctx, "join", room(r)); err != nil {
			return err
		}
		_, err := c.call(ctx, "echo", "sync")
		return err
	}
	for i := range subs {
		members[i%cfg.rooms]++
	}
	if err := parallel(ctx, len(subs), 32, func(i int) error { return join(subs[i], i%cfg.rooms) }); err != nil {
		return err
	}
	if err := parallel(ctx, len(pubs), 32, func(i int) error { return join(pubs[i], i) }); err != nil {
		return err
	}

	pad := strings.Repeat("x", cfg.payload)
	perRoom := cfg.rate / float64(cfg.rooms)
	interval := time.Duration(float64(time.Second) / perRoom)
	maxPerRoom := int64(math.Ceil(perRoom*cfg.duration.Seconds())) + 1
	var published, expected atomic.Int64
	sink.active.Store(true)
	pctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
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
				msg := reading{T: time.Now().UnixNano(), Seq: seq, Pad: pad}
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
		return err
	}
	// Wait (bounded) for deliveries still in flight.
	want := expected.Load()
	deadline := time.Now().Add(10 * time.Second)
	for sink.delivered.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	sink.active.Store(false)

	res.Rooms = cfg.rooms
	res.Subscribers = cfg.subs
	res.Published = published.Load()
	res.Expected = want
	res.Delivered = sink.delivered.Load()
	// Deliveries can trail the publishing window when the server falls
	// behind, so the rate is over the time until the last one arrived.
	if last := time.Unix(0, sink.last.Load()); last.Sub(start) > elapsed {
		elapsed = last.Sub(start)
	}
	res.DeliveredRate = float64(res.Delivered) / elapsed.Seconds()
	if want > 0 {
		res.LossPercent = 100 * float64(want-res.Delivered) / float64(want)
	}
	res.FanoutP50ms = ms(sink.lat.quantile(0.50))
	res.FanoutP99ms = ms(sink.lat.quantile(0.99))
	if n := sink.bad.Load(); n > 0 {
		return fmt.Errorf("%d readings with an unparsable payload", n)
	}
	return nil
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
