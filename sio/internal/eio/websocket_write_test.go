package eio_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatewayd/sio/internal/eio"
)

// writeLog is a listener whose connections report each Write they get.
type writeLog struct {
	net.Listener
	writes chan []byte
}

func (l *writeLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, writes: l.writes}, nil
}

type loggedConn struct {
	net.Conn
	writes chan []byte
}

func (c *loggedConn) Write(p []byte) (int, error) {
	select {
	case c.writes <- append([]byte(nil), p...):
	default:
	}
	return c.Conn.Write(p)
}

// nextWrite returns the next write of the server to the socket.
func nextWrite(t *testing.T, writes chan []byte) []byte {
	t.Helper()
	select {
	case b := <-writes:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no write")
		return nil
	}
}

func noMoreWrites(t *testing.T, writes chan []byte) {
	t.Helper()
	select {
	case b := <-writes:
		t.Fatalf("one more write of %d bytes: %q", len(b), b)
	case <-time.After(50 * time.Millisecond):
	}
}

// A frame goes out in one write(2) whatever its size, although the buffered
// writer above the socket is small.
func TestWebSocketFrameInOneWrite(t *testing.T) {
	sessions := make(chan *eio.Session, 1)
	srv := eio.NewServer(longOpts(), func(s *eio.Session) eio.Handler {
		sessions <- s
		return &recorder{t: t, s: s, msgs: make(chan eio.Packet, 64), closed: make(chan string, 1)}
	})
	ts := httptest.NewUnstartedServer(srv)
	writes := make(chan []byte, 64)
	ts.Listener = &writeLog{Listener: ts.Listener, writes: writes}
	ts.Start()
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	c := dialWS(t, ts.URL+"/", "")
	if b := nextWrite(t, writes); !strings.HasPrefix(string(b), "HTTP/1.1 101") {
		t.Fatalf("first write = %q, want the 101 response", b)
	}
	readFrame(t, c) // open
	nextWrite(t, writes)
	s := <-sessions

	for _, n := range []int{10, 1000, 70000} {
		if err := s.Send(false, eio.Packet{Data: []byte(strings.Repeat("x", n))}); err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(-1)
		if _, msg := readFrame(t, c); len(msg) != n+1 {
			t.Fatalf("message of %d bytes, want %d", len(msg), n+1)
		}
		b := nextWrite(t, writes)
		header := 2
		switch {
		case n+1 > 65535:
			header = 10
		case n+1 > 125:
			header = 4
		}
		if n+1+header <= 64<<10 && len(b) != n+1+header {
			t.Fatalf("packet of %d bytes: first write of %d bytes, want the whole frame (%d)", n+1, len(b), n+1+header)
		}
		if n+1+header > 64<<10 {
			// Past the coalescer's bound the payload is written directly,
			// after the header.
			for got := len(b); got < n+1+header; got += len(nextWrite(t, writes)) {
			}
		}
		noMoreWrites(t, writes)
	}

	// A pong, written by the reader outside the writer's batches, goes out
	// at once and whole.
	go func() { _, _, _ = c.Read(context.Background()) }()
	pingCtx, cancelPing := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelPing()
	if err := c.Ping(pingCtx); err != nil {
		t.Fatal(err)
	}
	b := nextWrite(t, writes)
	if len(b) < 2 || b[0] != 0x8a || len(b) != 2+int(b[1]) {
		t.Fatalf("pong written as %q, want one whole pong frame", b)
	}
	noMoreWrites(t, writes)
}
