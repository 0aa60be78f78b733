package sio_test

import (
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/sioclient"
)

// TestReconnectStorm connects many Go clients to a server with recovery
// on, all in one room, cuts every connection at once from the server side,
// broadcasts events while they are away, and waits until every client has
// reconnected on its own, recovered its session and received every event
// in order. By default it runs a small storm; docs/benchmarks.md gives the
// command for the large one (SIO_STORM_CLIENTS=2000).
func TestReconnectStorm(t *testing.T) {
	clients, events := 40, 20
	delay := 100 * time.Millisecond
	if v := os.Getenv("SIO_STORM_CLIENTS"); v != "" {
		clients, _ = strconv.Atoi(v)
		events = 100
	}
	if v := os.Getenv("SIO_STORM_EVENTS"); v != "" {
		events, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("SIO_STORM_DELAY"); v != "" {
		delay, _ = time.ParseDuration(v)
	}
	if clients <= 0 || events <= 0 || delay <= 0 {
		t.Fatal("bad SIO_STORM_CLIENTS, SIO_STORM_EVENTS or SIO_STORM_DELAY")
	}
	storm(t, clients, events, delay)
}

// stormClient counts what one client received.
type stormClient struct {
	c        *sioclient.Client
	hello    atomic.Bool
	next     atomic.Int64 // next burst index expected
	disorder atomic.Int64 // bursts out of order, duplicated or skipped
	lostAt   atomic.Int64 // unix ns when the client saw the drop
	backAt   atomic.Int64 // unix ns when it connected again
}

func storm(t *testing.T, clients, events int, delay time.Duration) {
	srv := newTestServer(t, &sio.Options{Recovery: &sio.RecoveryOptions{}})
	var mu sync.Mutex
	var socks []*sio.Socket
	var recovered, refused, disconnected atomic.Int64
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		if s.Recovered() {
			recovered.Add(1)
			return
		}
		if s.RecoveryFailure() != nil {
			refused.Add(1)
		}
		s.Join("storm")
		s.OnDisconnect(func(sio.Reason) { disconnected.Add(1) })
		mu.Lock()
		socks = append(socks, s)
		mu.Unlock()
		_ = s.Emit("hello")
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	start := time.Now()
	cs := make([]*stormClient, clients)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	par := 64 // bound the concurrent handshakes
	if v, err := strconv.Atoi(os.Getenv("SIO_STORM_CONNECT_PAR")); err == nil && v > 0 {
		par = v
	}
	sem := make(chan struct{}, par)
	for i := range cs {
		sc := &stormClient{}
		c, err := sioclient.New(hs.URL, &sioclient.Options{
			ReconnectionDelay:    delay,
			ReconnectionDelayMax: 5 * delay,
		})
		if err != nil {
			t.Fatal(err)
		}
		sc.c = c
		c.On("hello", func(*sioclient.Event) { sc.hello.Store(true) })
		c.OnReconnectAttempt(func(int) { attempts.Add(1) })
		c.OnDisconnect(func(string) { sc.lostAt.Store(time.Now().UnixNano()) })
		c.OnConnect(func() { sc.backAt.Store(time.Now().UnixNano()) })
		c.On("burst", func(ev *sioclient.Event) {
			var n int64
			if ev.Args.Decode(&n) != nil || !sc.next.CompareAndSwap(n, n+1) {
				sc.disorder.Add(1)
			}
		})
		cs[i] = sc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.Connect()
		}()
	}
	wg.Wait()
	defer func() {
		for _, sc := range cs {
			sc.c.Close()
		}
	}()
	waitFor(t, 60*time.Second, "every client connected", func() bool {
		for _, sc := range cs {
			if !sc.hello.Load() {
				return false
			}
		}
		return true
	})
	t.Logf("%d clients connected in %v", clients, time.Since(start).Round(time.Millisecond))

	// The storm: every engine connection closed at once, server side.
	drop := time.Now()
	mu.Lock()
	victims := socks
	socks = nil
	mu.Unlock()
	for _, s := range victims {
		s.CloseTransport()
	}
	waitFor(t, 30*time.Second, "every socket disconnected", func() bool { return disconnected.Load() == int64(clients) })
	for i := range events {
		if err := srv.Of("/").To("storm").Emit("burst", i); err != nil {
			t.Fatal(err)
		}
	}
	burstDone := time.Since(drop)
	status := func() (connected, rec, complete int) {
		for _, sc := range cs {
			if sc.c.Connected() {
				connected++
			}
			if sc.c.Recovered() {
				rec++
			}
			if sc.next.Load() == int64(events) {
				complete++
			}
		}
		return
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		connected, rec, complete := status()
		if connected == clients && rec == clients && complete == clients {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d connected, %d recovered, %d with every event of %d clients; server recoveries %d, refused %d, connections %d",
				connected, rec, complete, clients, recovered.Load(), refused.Load(), srv.Stats().Connections)
		}
	}
	all := time.Since(drop)

	lost, disorder := int64(0), int64(0)
	var seen, back []time.Duration
	for _, sc := range cs {
		seen = append(seen, time.Duration(sc.lostAt.Load()-drop.UnixNano()))
		back = append(back, time.Duration(sc.backAt.Load()-drop.UnixNano()))
		lost += int64(events) - sc.next.Load()
		disorder += sc.disorder.Load()
	}
	t.Logf("storm: %d clients, %d events: all recovered %v after the drop (burst sent by %v); reconnection attempts %d; server recoveries %d, refused %d; lost %d, out of order %d",
		clients, events, all.Round(time.Millisecond), burstDone.Round(time.Millisecond), attempts.Load(),
		recovered.Load(), refused.Load(), lost, disorder)
	slices.Sort(seen)
	slices.Sort(back)
	pct := func(d []time.Duration, p int) time.Duration { return d[(len(d)-1)*p/100].Round(time.Millisecond) }
	t.Logf("after the drop, clients saw it by p50 %v / p99 %v / max %v and were connected again by p50 %v / p99 %v / max %v",
		pct(seen, 50), pct(seen, 99), pct(seen, 100), pct(back, 50), pct(back, 99), pct(back, 100))
	if lost != 0 || disorder != 0 || recovered.Load() != int64(clients) || refused.Load() != 0 {
		t.Fatalf("lost %d, out of order %d, recovered %d of %d, refused %d", lost, disorder, recovered.Load(), clients, refused.Load())
	}
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
