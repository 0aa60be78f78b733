package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/sioclient"
)

// recorder keeps the raw payloads of the "reading" events a client gets.
type recorder struct {
	mu  sync.Mutex
	got []string
	ch  chan string
}

func record(c *sioclient.Client) *recorder {
	r := &recorder{ch: make(chan string, 16)}
	c.On("reading", func(ev *sioclient.Event) {
		p := string(ev.Args.Raw(0))
		r.mu.Lock()
		r.got = append(r.got, p)
		r.mu.Unlock()
		r.ch <- p
	})
	return r
}

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no reading within 5 s")
		return ""
	}
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestBenchApp checks the app's three events against node-server.js's
// behaviour: rooms replace each other, publish skips the sender and other
// rooms, echo acks the payload unchanged.
func TestBenchApp(t *testing.T) {
	srv := newApp(0)
	mux := http.NewServeMux()
	mux.Handle(sio.DefaultPath, srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); ts.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func() *sioclient.Client {
		c, err := sioclient.Dial(ctx, ts.URL+"/", &sioclient.Options{NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// join, then an echo round trip: the server handles a socket's events
	// in order, so the join has taken effect when the ack is back.
	join := func(c *sioclient.Client, room any) {
		t.Helper()
		if err := c.Emit("join", room); err != nil {
			t.Fatal(err)
		}
		if _, err := c.EmitWithAck(ctx, "echo", "sync"); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := dial(), dial(), dial()
	ra, rb, rc := record(a), record(b), record(c)
	join(a, "r1")
	join(b, "r1")
	join(c, "r2")
	join(c, 42) // not a string: ignored, c stays in r2

	if err := a.Emit("publish", json.RawMessage(`{"t":1,"v":[1.5,"x"]}`)); err != nil {
		t.Fatal(err)
	}
	if got := rb.next(t); got != `{"t":1,"v":[1.5,"x"]}` {
		t.Errorf("b got %s, want the payload unchanged", got)
	}
	// b moves to r2: it now hears c, and a hears nobody.
	join(b, "r2")
	if err := c.Emit("publish", "to-r2"); err != nil {
		t.Fatal(err)
	}
	if got := rb.next(t); got != `"to-r2"` {
		t.Errorf("b got %s after moving to r2", got)
	}
	if err := b.Emit("publish", "from-b"); err != nil {
		t.Fatal(err)
	}
	if got := rc.next(t); got != `"from-b"` {
		t.Errorf("c got %s, want from-b", got)
	}
	// Barrier on a: an echo round trip after the publishes above have been
	// handled (each on its own socket) leaves time for stray deliveries.
	if _, err := a.EmitWithAck(ctx, "echo", "sync"); err != nil {
		t.Fatal(err)
	}
	if got := ra.all(); len(got) != 0 {
		t.Errorf("a (sender, then alone in r1) got %v", got)
	}
	if got := rc.all(); len(got) != 1 {
		t.Errorf("c got %v, want only from-b (not its own publish)", got)
	}

	ack, err := a.EmitWithAck(ctx, "echo", map[string]any{"seq": 7, "pad": "xx"})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Len() != 1 || string(ack.Raw(0)) != `{"pad":"xx","seq":7}` {
		t.Errorf("echo ack = %d args, first %s", ack.Len(), ack.Raw(0))
	}
}
