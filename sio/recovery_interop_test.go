package sio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/sioclient"
)

const burstSize = 100

// recoveryNode returns the node binary and the client script, or skips
// (fails with GATEWAYD_STRICT=1) when node or the npm packages are
// missing.
func recoveryNode(t *testing.T) (node, script string) {
	t.Helper()
	dir := filepath.Join("testdata", "recovery")
	return requireNode(t, dir, "socket.io-client"), filepath.Join(dir, "client.js")
}

// recoveryApp is a server with recovery on whose new sockets join "room"
// and get "hello"; the client answers "got-hello" once it has the hello's
// offset, which the app reports on got.
type recoveryApp struct {
	srv   *sio.Server
	hs    *http.Server
	socks chan *sio.Socket
	got   chan *sio.Socket
	shut  atomic.Bool // refuse handshakes, so the client stays away
}

func startRecoveryApp(t *testing.T, ln net.Listener, store sio.SessionStore) *recoveryApp {
	t.Helper()
	a := &recoveryApp{}
	*a = recoveryApp{
		srv: sio.NewServer(&sio.Options{
			PingInterval: 300 * time.Millisecond,
			PingTimeout:  300 * time.Millisecond,
			Recovery:     &sio.RecoveryOptions{Store: store},
			AllowRequest: func(*http.Request) error {
				if a.shut.Load() {
					return errors.New("closed for the test")
				}
				return nil
			},
		}),
		socks: make(chan *sio.Socket, 4),
		got:   make(chan *sio.Socket, 4),
	}
	a.srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("got-hello", func(*sio.Event) { a.got <- s })
		if !s.Recovered() {
			s.Join("room")
			_ = s.Emit("hello")
		}
		a.socks <- s
	})
	a.hs = &http.Server{Handler: a.srv}
	if ln != nil {
		a.serve(ln)
	}
	t.Cleanup(a.stop)
	return a
}

func (a *recoveryApp) serve(ln net.Listener) { go func() { _ = a.hs.Serve(ln) }() }

func (a *recoveryApp) stop() {
	a.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = a.hs.Shutdown(ctx)
}

// burst broadcasts the events to "room", where no socket is: all must
// come from the recovery.
func (a *recoveryApp) burst(t *testing.T) {
	t.Helper()
	for i := range burstSize {
		if err := a.srv.Of("/").To("room").Emit("burst", i); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.srv.Of("/").In("room").FetchSockets()); n != 0 {
		t.Fatalf("%d sockets in the room during the burst", n)
	}
}

func wait[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// nodeReport is one line the Node client prints.
type nodeReport struct {
	Event     string `json:"event"`
	ID        string `json:"id"`
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Bursts    []int  `json:"bursts"`
}

func TestRecoveryInteropJSClient(t *testing.T) {
	node, script := recoveryNode(t)
	for _, transport := range []string{"websocket", "polling"} {
		for _, restart := range []bool{false, true} {
			name := transport + "/cut"
			if restart {
				name = transport + "/restart"
			}
			t.Run(name, func(t *testing.T) { runJSRecovery(t, node, script, transport, restart) })
		}
	}
}

func runJSRecovery(t *testing.T, node, script, transport string, restart bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// The store outlives the first server, as a durable one would.
	store := sio.NewMemorySessionStore(nil)
	app := startRecoveryApp(t, ln, store)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, "http://"+addr, transport, strconv.Itoa(burstSize))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	reports := make(chan nodeReport, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r nodeReport
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				reports <- r
			}
		}
		close(reports)
	}()

	first := wait(t, app.socks, "the first connection")
	wait(t, app.got, "the client's hello receipt")
	var r reasons
	first.OnDisconnect(r.add)
	if restart {
		app.stop()
		r.wait(t, 1)
		// The new server records the burst before it listens.
		app = startRecoveryApp(t, nil, store)
		app.burst(t)
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		app.serve(ln2)
	} else {
		app.shut.Store(true)
		first.CloseTransport()
		r.wait(t, 1)
		app.burst(t)
		app.shut.Store(false)
	}

	var connects []nodeReport
	for rep := range reports {
		switch rep.Event {
		case "connect":
			connects = append(connects, rep)
		case "error", "timeout":
			t.Fatalf("client: %+v", rep)
		case "done":
			if !rep.Recovered || rep.ID != first.ID() {
				t.Fatalf("client done with recovered=%v id=%s, want true and %s (connects %+v)", rep.Recovered, rep.ID, first.ID(), connects)
			}
			want := make([]int, burstSize)
			for i := range want {
				want[i] = i
			}
			if !slices.Equal(rep.Bursts, want) {
				t.Fatalf("bursts %v", rep.Bursts)
			}
			if len(connects) != 2 || connects[1].ID != first.ID() || !connects[1].Recovered {
				t.Fatalf("connects %+v", connects)
			}
			s := wait(t, app.socks, "the recovered socket")
			if !s.Recovered() || s.ID() != first.ID() {
				t.Fatalf("server socket recovered=%v id=%s", s.Recovered(), s.ID())
			}
			return
		}
	}
	t.Fatal("client exited before receiving every burst")
}

func TestRecoveryGoClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := startRecoveryApp(t, ln, nil)
	c, err := sioclient.New("http://"+ln.Addr().String(), &sioclient.Options{
		ReconnectionDelay:    50 * time.Millisecond,
		ReconnectionDelayMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bursts := make(chan int, burstSize)
	c.On("hello", func(*sioclient.Event) { _ = c.Emit("got-hello") })
	c.On("burst", func(ev *sioclient.Event) {
		var i int
		var off string
		if err := ev.Args.Decode(&i, &off); err != nil || off == "" {
			t.Errorf("burst %v without offset: %v", i, err)
		}
		bursts <- i
	})
	c.Connect()
	first := wait(t, app.socks, "the first connection")
	wait(t, app.got, "the client's hello receipt")
	var r reasons
	first.OnDisconnect(r.add)
	app.shut.Store(true)
	first.CloseTransport()
	r.wait(t, 1)
	app.burst(t)
	app.shut.Store(false)
	for want := range burstSize {
		if got := wait(t, bursts, "a burst"); got != want {
			t.Fatalf("burst %d, want %d", got, want)
		}
	}
	if s := wait(t, app.socks, "the recovered socket"); !s.Recovered() || s.ID() != first.ID() {
		t.Fatalf("server socket recovered=%v id=%s", s.Recovered(), s.ID())
	}
	if !c.Recovered() || c.ID() != first.ID() {
		t.Fatalf("client Recovered()=%v ID()=%s", c.Recovered(), c.ID())
	}
}
