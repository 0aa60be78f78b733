package eio_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/internal/eio"
)

func TestParkedWebSocketIsServed(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	c := e.dial("")
	readFrame(t, c) // open
	e.session()
	for i := range 3 {
		eventually(t, "the idle websocket parked", func() bool { return e.srv.ParkedCount() == 1 })
		msg := fmt.Sprintf("4hello %d", i)
		writeText(t, c, msg)
		if _, got := readFrame(t, c); got != msg {
			t.Fatalf("echo = %q, want %q", got, msg)
		}
	}
}

func TestParkedWebSocketHoldsNoReadBuffer(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	c := e.dial("")
	readFrame(t, c) // open
	r := e.session()
	eventually(t, "the idle websocket parked", func() bool { return e.srv.ParkedCount() == 1 })
	if n := r.s.ReadBufSize(); n != 0 {
		t.Fatalf("parked websocket holds a read buffer of %d bytes", n)
	}
	writeText(t, c, "4ping")
	if _, got := readFrame(t, c); got != "4ping" {
		t.Fatalf("echo = %q", got)
	}
	eventually(t, "the websocket parked again", func() bool { return e.srv.ParkedCount() == 1 })

	// A close handshake started while parked reads the client's answer
	// from a refilled buffer: it completes without waiting for the bound
	// on a close.
	start := time.Now()
	r.s.Close(eio.ReasonForcedClose)
	if err := waitWSClosed(t, c); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("close: %v", err)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonForcedClose {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close handshake took %v", d)
	}
}

func TestIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	const n = 200
	e := newEnv(t, longOpts(), false)
	for range n {
		c := e.dial("")
		readFrame(t, c) // open
		e.session()
	}
	eventually(t, "every idle websocket parked", func() bool { return e.srv.ParkedCount() == n })
	// Writers and request goroutines end on their own; the reactor's one
	// goroutine stays.
	deadline := time.Now().Add(5 * time.Second)
	stacks := eioGoroutines()
	for len(stacks) > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		stacks = eioGoroutines()
	}
	if len(stacks) > 1 {
		t.Fatalf("%d eio goroutines for %d idle websockets:\n%s", len(stacks), n, strings.Join(stacks, "\n\n"))
	}
}
