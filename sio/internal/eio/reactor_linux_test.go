package eio

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// reactorEnv is a server whose reactor reports the sessions it would resume
// instead of starting their readers.
type reactorEnv struct {
	t       *testing.T
	srv     *Server
	r       *reactor
	ln      net.Listener
	resumed chan *Session
}

func newReactorEnv(t *testing.T) *reactorEnv {
	t.Helper()
	srv := NewServer(nil, nil)
	t.Cleanup(srv.Close)
	r := srv.idleReactor()
	if r == nil {
		t.Fatal("no reactor on Linux")
	}
	e := &reactorEnv{t: t, srv: srv, r: r, resumed: make(chan *Session, 16)}
	r.resume = func(ss *Session) { e.resumed <- ss }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	e.ln = ln
	return e
}

// pair returns both ends of a new loopback TCP connection.
func (e *reactorEnv) pair() (net.Conn, net.Conn) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.ln.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.ln.Accept()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = c.Close()
		_ = s.Close()
	})
	return s, c
}

func (e *reactorEnv) park(ss *Session, conn net.Conn) {
	e.t.Helper()
	ss.mu.Lock()
	ok := e.r.park(ss, conn)
	ss.mu.Unlock()
	if !ok {
		e.t.Fatal("park refused a TCP connection")
	}
}

func (e *reactorEnv) wantResumed(want *Session) {
	e.t.Helper()
	select {
	case ss := <-e.resumed:
		if ss != want {
			e.t.Fatalf("resumed session %p, want %p", ss, want)
		}
	case <-time.After(5 * time.Second):
		e.t.Fatal("parked session not resumed")
	}
}

func (e *reactorEnv) wantNoResume(d time.Duration) {
	e.t.Helper()
	select {
	case ss := <-e.resumed:
		e.t.Fatalf("session %p resumed", ss)
	case <-time.After(d):
	}
}

func fdOf(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestReactorResumesOnceWhenReadable(t *testing.T) {
	e := newReactorEnv(t)
	a := &Session{srv: e.srv}
	sa, ca := e.pair()
	e.park(a, sa)
	e.wantNoResume(50 * time.Millisecond)
	write(t, ca, "x")
	e.wantResumed(a)
	// One-shot: unread data does not wake the session again until it
	// parks again.
	e.wantNoResume(50 * time.Millisecond)
	if n := len(e.r.parked); n != 0 {
		t.Fatalf("%d sessions still parked after the wake-up", n)
	}

	// Data that arrived before parking wakes it at once (the re-arm path).
	e.park(a, sa)
	e.wantResumed(a)

	var b [1]byte
	if _, err := sa.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	e.park(a, sa)
	e.wantNoResume(50 * time.Millisecond)
	// A peer that goes away wakes it too, so that the reader sees the end.
	_ = ca.Close()
	e.wantResumed(a)
}

func TestReactorClosedSessionGetsNoRead(t *testing.T) {
	e := newReactorEnv(t)
	a := &Session{srv: e.srv, h: nopHandler{}, transport: transportPolling}
	b := &Session{srv: e.srv}
	sa, ca := e.pair()
	sb, cb := e.pair()
	e.park(a, sa)
	e.park(b, sb)
	a.close(ReasonTransportClose, closeAbrupt)
	write(t, ca, "x")
	write(t, cb, "x")
	// b proves that the writes were seen; a, closed, must not follow.
	e.wantResumed(b)
	e.wantNoResume(100 * time.Millisecond)

	// A session that is no longer open is not parked.
	a.mu.Lock()
	a.conn, a.out = nil, &coalescer{conn: sa}
	a.mu.Unlock()
	if a.park(nil, sa, nil) {
		t.Fatal("a closed session was parked")
	}
}

func TestReactorReusedDescriptorWakesOnlyItsSession(t *testing.T) {
	e := newReactorEnv(t)
	a := &Session{srv: e.srv}
	b := &Session{srv: e.srv}
	sa, _ := e.pair()
	e.park(a, sa)
	fd := fdOf(t, sa)
	// Closed without forget: a's key stays in the table, as when a close
	// races a wake-up.
	_ = sa.Close()

	// The kernel hands out the lowest free descriptor, so a new
	// connection gets fd back, on one of its ends.
	var reuse, peer net.Conn
	for range 5 {
		x, y := e.pair()
		switch fd {
		case fdOf(t, x):
			reuse, peer = x, y
		case fdOf(t, y):
			reuse, peer = y, x
		}
		if reuse != nil {
			break
		}
	}
	if reuse == nil {
		t.Skipf("descriptor %d was not reused", fd)
	}
	e.park(b, reuse)
	// a's close completes late: that must not drop b's registration.
	e.r.forget(a)
	write(t, peer, "x")
	e.wantResumed(b)
	e.wantNoResume(100 * time.Millisecond)
}

func TestReactorStopsWithServer(t *testing.T) {
	e := newReactorEnv(t)
	sa, _ := e.pair()
	e.srv.Close()
	a := &Session{srv: e.srv}
	a.mu.Lock()
	ok := e.r.park(a, sa)
	a.mu.Unlock()
	if ok {
		t.Fatal("parked on a stopped reactor")
	}
	if e.srv.idleReactor() != e.r {
		t.Fatal("a closed server started a new reactor")
	}
	select {
	case <-e.r.done:
	default:
		t.Fatal("reactor goroutine still running after Close")
	}
}
