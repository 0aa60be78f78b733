package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/devices"
	"gatewayd/gateway"
	"gatewayd/sio/sioclient"
	"gatewayd/store"
)

// instance is one run of the gateway on a given store file and address.
type instance struct {
	gw   *gateway.Gateway
	st   *store.Store
	src  *fakeSource
	hs   *httptest.Server
	stop context.CancelFunc
	done chan error
}

func startInstance(t *testing.T, dbPath, addr string, mod func(*gateway.Config)) *instance {
	t.Helper()
	st, err := store.Open(dbPath, &store.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	cfg := gateway.Config{Store: st, Sources: []devices.Source{src}, Auth: gateway.AuthConfig{Disabled: true}}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 {
		// The previous instance's port may take a moment to be free.
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(gw.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	in := &instance{gw: gw, st: st, src: src, hs: hs, stop: cancel, done: make(chan error, 1)}
	go func() { in.done <- gw.Run(ctx) }()
	return in
}

// closeHTTP stops serving dashboards, as the first step of a shutdown:
// every Socket.IO connection is told the server is shutting down, a reason
// that keeps its session for recovery.
func (in *instance) closeHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.gw.Shutdown(ctx)
	in.hs.Close()
}

// shutdown stops the gateway, which flushes the store.
func (in *instance) shutdown(t *testing.T) {
	in.closeHTTP()
	in.stop()
	if err := <-in.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	in.st.Close()
}

// A dashboard cut off while readings keep arriving, then a gateway restart,
// then the dashboard's own reconnection: it receives every missed reading
// once, in order, and its socket is recovered.
func TestCatchUpAcrossGatewayRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "gw.db")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()

	a := startInstance(t, dbPath, addr, nil)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	a.src.reading("dev1", "temperature", t0, -1)
	waitKnown(t, "http://"+addr, "dev1")

	c, err := sioclient.New("http://"+addr, &sioclient.Options{
		ReconnectionDelay: 50 * time.Millisecond, ReconnectionDelayMax: 200 * time.Millisecond, RandomizationFactor: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var got []readingMsg
	c.On("reading", func(ev *sioclient.Event) {
		var r readingMsg
		ev.Args.Decode(&r)
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	connected := make(chan struct{}, 10)
	c.OnConnect(func() { connected <- struct{}{} })
	c.Connect()
	<-connected
	call(t, c, "subscribe", map[string]any{"devices": []string{"dev1"}}, nil)
	for i := range 5 {
		a.src.reading("dev1", "temperature", t0.Add(time.Duration(i+1)*time.Millisecond), float64(i))
	}
	waitFor(t, "the first 5 live readings", func() bool { return count() == 5 })

	// Cut the dashboard off: the gateway keeps ingesting.
	a.closeHTTP()
	waitFor(t, "the client to notice", func() bool { return !c.Connected() })
	const missed = 500
	for i := range missed {
		a.src.reading("dev1", "temperature", t0.Add(time.Duration(100+i)*time.Millisecond), float64(1000+i))
	}
	waitFor(t, "readings committed", func() bool { return a.st.Committed() >= missed+6 })
	a.shutdown(t)

	b := startInstance(t, dbPath, addr, nil)
	defer b.shutdown(t)
	waitFor(t, "reconnection", func() bool { return c.Connected() })
	waitFor(t, "500 missed readings", func() bool { return count() >= 5+missed })
	time.Sleep(100 * time.Millisecond) // a duplicate would have arrived by now
	if !c.Recovered() {
		t.Fatal("the client's session was not recovered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 5+missed {
		t.Fatalf("got %d readings, want %d", len(got), 5+missed)
	}
	for i, r := range got[5:] {
		if r.V == nil || *r.V != float64(1000+i) {
			t.Fatalf("missed reading %d: %+v", i, r)
		}
		if i > 0 && r.O <= got[5+i-1].O {
			t.Fatalf("offsets out of order at %d", i)
		}
	}
	// The connection handler, which counts the resume, may run just after
	// the replay reached the client.
	waitFor(t, "the resume counted as a hit", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), `gatewayd_dashboard_resumes_total{result="hit"} 1`)
	})
	// New readings flow live after the recovery, to the restored room.
	b.src.reading("dev1", "temperature", time.Now(), 42)
	mu.Unlock()
	waitFor(t, "a live reading after recovery", func() bool { return count() == 5+missed+1 })
	mu.Lock()
}

// Beyond the replay limit the dashboard gets a gap event with the range
// instead of every reading.
func TestCatchUpGap(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "gw.db")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	a := startInstance(t, dbPath, addr, func(c *gateway.Config) { c.ReplayLimit = 50 })
	defer a.shutdown(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	a.src.reading("dev1", "temperature", t0, 0)
	waitKnown(t, "http://"+addr, "dev1")
	px := newBlipProxy(t, addr)
	c, err := sioclient.New("http://"+px.addr(), &sioclient.Options{ReconnectionDelay: 300 * time.Millisecond, RandomizationFactor: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gaps := make(chan json.RawMessage, 1)
	c.On("gap", func(ev *sioclient.Event) {
		var g json.RawMessage
		ev.Args.Decode(&g)
		gaps <- g
	})
	readings := make(chan struct{}, 1000)
	c.On("reading", func(*sioclient.Event) { readings <- struct{}{} })
	connected := make(chan struct{}, 10)
	c.OnConnect(func() { connected <- struct{}{} })
	c.Connect()
	<-connected
	call(t, c, "subscribe", map[string]any{"devices": []string{"dev1"}}, nil)
	a.src.reading("dev1", "temperature", t0.Add(time.Millisecond), 1)
	<-readings

	// A network blip: the connection drops under both ends. The client
	// comes back within 300 ms, after 200 readings have gone by.
	px.blip()
	waitFor(t, "the client to notice", func() bool { return !c.Connected() })
	for i := range 200 {
		a.src.reading("dev1", "temperature", t0.Add(time.Duration(10+i)*time.Millisecond), float64(i))
	}
	select {
	case raw := <-gaps:
		var g struct {
			Devices              []string
			FromOffset, ToOffset int64
		}
		json.Unmarshal(raw, &g)
		if len(g.Devices) != 1 || g.Devices[0] != "dev1" || g.ToOffset-g.FromOffset < 200 {
			t.Fatalf("gap %s", raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no gap event")
	}
	if !c.Recovered() {
		t.Fatal("not recovered")
	}
	if n := len(readings); n > 0 {
		t.Fatalf("%d readings replayed one by one besides the gap", n)
	}
}

// blipProxy forwards TCP to a backend and can cut every connection at once,
// like a network blip: neither end closes cleanly first.
type blipProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlipProxy(t *testing.T, backend string) *blipProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blipProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.blip() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	return p
}

func (p *blipProxy) addr() string { return p.ln.Addr().String() }

func (p *blipProxy) blip() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
