package eio_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
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

// eioGoroutines returns the stacks of the goroutines running package eio's
// code, outside the tests.
func eioGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "gatewayd/sio/internal/eio.") && !strings.Contains(g, "eio_test.") {
			out = append(out, g)
		}
	}
	return out
}
