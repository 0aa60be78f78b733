package sio_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

var sessionIDs atomic.Int64

// fakeSession is an in-memory Engine.IO session: it records what the
// server sends and, with limit set, behaves like a bounded send queue.
type fakeSession struct {
	id string

	mu       sync.Mutex
	h        eio.Handler
	sent     []eio.Packet
	queued   int
	limit    int  // bytes; 0: unbounded
	notReady bool // SendVolatile drops
	dropped  int
	closed   bool
	reason   string
	done     chan struct{}
	changed  chan struct{}
}

var _ sio.EngineSession = (*fakeSession)(nil)

func newFakeSession() *fakeSession {
	return &fakeSession{
		id:      fmt.Sprintf("eio-%d", sessionIDs.Add(1)),
		done:    make(chan struct{}),
		changed: make(chan struct{}, 1),
	}
}

func (f *fakeSession) ID() string { return f.id }

func (f *fakeSession) Request() *http.Request {
	r := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling&room=a", nil)
	r.Header.Set("Origin", "http://example.test")
	r.RemoteAddr = "192.0.2.7:4242"
	return r
}

func (f *fakeSession) Transport() string { return "polling" }

func (f *fakeSession) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeSession) Send(compress bool, pkts ...eio.Packet) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return eio.ErrClosed
	}
	n := 0
	for _, p := range pkts {
		n += len(p.Data)
	}
	if f.limit > 0 && f.queued+n > f.limit {
		f.mu.Unlock()
		f.Close(eio.ReasonSlowClient)
		return eio.ErrSlowClient
	}
	f.queued += n
	f.sent = append(f.sent, pkts...)
	f.mu.Unlock()
	f.signal()
	return nil
}

func (f *fakeSession) SendVolatile(compress bool, pkts ...eio.Packet) bool {
	f.mu.Lock()
	if f.closed || f.notReady {
		f.dropped++
		f.mu.Unlock()
		return false
	}
	f.sent = append(f.sent, pkts...)
	f.mu.Unlock()
	f.signal()
	return true
}

// Close closes the session once; OnClose follows on another goroutine, as
// the real session flushes first.
func (f *fakeSession) Close(reason string) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.reason = reason
	h := f.h
	f.mu.Unlock()
	go func() {
		h.OnClose(reason)
		close(f.done)
	}()
}

// drain forgets the queued byte count, as if the transport wrote it all.
func (f *fakeSession) drain() {
	f.mu.Lock()
	f.queued = 0
	f.mu.Unlock()
}

func (f *fakeSession) closeReason() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason, f.closed
}

// client drives one fake session from the test: it feeds messages to the
// server and decodes what the server sent.
type client struct {
	t    testing.TB
	sess *fakeSession
	h    eio.Handler
	dec  parser.Decoder
	read int
	mu   sync.Mutex // serializes OnMessage, as the engine does
}

func dial(t testing.TB, srv *sio.Server) *client {
	t.Helper()
	sess := newFakeSession()
	sess.mu.Lock()
	sess.h = srv.OpenForTest(sess)
	sess.mu.Unlock()
	return &client{t: t, sess: sess, h: sess.h}
}

func (c *client) text(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.h.OnMessage(eio.Packet{Data: []byte(s)})
}

func (c *client) binary(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.h.OnMessage(eio.Packet{Data: b, Binary: true})
}

// next returns the next packet the server sent, waiting up to 2s.
func (c *client) next() *parser.Packet {
	c.t.Helper()
	p, ok := c.tryNext(2 * time.Second)
	if !ok {
		c.t.Fatalf("no packet from the server (session %s)", c.sess.id)
	}
	return p
}

// tryNext is next without failing.
func (c *client) tryNext(wait time.Duration) (*parser.Packet, bool) {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c.sess.mu.Lock()
		for c.read < len(c.sess.sent) {
			m := c.sess.sent[c.read]
			c.read++
			p, err := c.dec.Add(m.Data, m.Binary)
			if err != nil {
				c.sess.mu.Unlock()
				c.t.Fatalf("server sent an invalid packet %q: %v", m.Data, err)
			}
			if p != nil {
				c.sess.mu.Unlock()
				return p, true
			}
		}
		c.sess.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return nil, false
		}
		select {
		case <-c.sess.changed:
		case <-time.After(min(left, 20*time.Millisecond)):
		}
	}
}

// expectText checks that the next packet encodes to want.
func (c *client) expectText(want string) *parser.Packet {
	c.t.Helper()
	p := c.next()
	if got := string(parser.Encode(p)); got != want {
		c.t.Fatalf("server sent %s, want %s", got, want)
	}
	return p
}

// expectNone checks that the server sends nothing more for a short while.
func (c *client) expectNone() {
	c.t.Helper()
	if p, ok := c.tryNext(50 * time.Millisecond); ok {
		c.t.Fatalf("unexpected packet %s", parser.Encode(p))
	}
}

// connect joins nsp with the auth payload (may be empty) and returns the
// socket id from the CONNECT reply.
func (c *client) connect(nsp, auth string) string {
	c.t.Helper()
	reply, data := c.connectReply(nsp, auth)
	if len(reply) != 1 || reply["sid"] == "" {
		c.t.Fatalf("CONNECT reply payload %s", data)
	}
	return reply["sid"]
}

// connectReply sends a CONNECT for nsp with auth and returns the payload of
// the CONNECT reply, decoded and as sent; a payload that is no JSON object
// of strings fails the test.
func (c *client) connectReply(nsp, auth string) (map[string]string, json.RawMessage) {
	c.t.Helper()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	c.text("0" + prefix + auth)
	p := c.next()
	if p.Type != parser.Connect || p.Namespace != nsp {
		c.t.Fatalf("CONNECT reply: got %s", parser.Encode(p))
	}
	var reply map[string]string
	if err := json.Unmarshal(p.Data, &reply); err != nil {
		c.t.Fatalf("CONNECT reply payload %s", p.Data)
	}
	return reply, p.Data
}

// waitClosed waits for the session to be closed and for OnClose to return,
// and gives the reason.
func (c *client) waitClosed() string {
	c.t.Helper()
	select {
	case <-c.sess.done:
	case <-time.After(3 * time.Second):
		c.t.Fatal("session not closed")
	}
	r, _ := c.sess.closeReason()
	return r
}

func (c *client) isClosed() bool {
	_, closed := c.sess.closeReason()
	return closed
}

// eventually polls cond until it holds or 3s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newTestServer returns a server closed at the end of the test.
func newTestServer(t testing.TB, opts *sio.Options) *sio.Server {
	t.Helper()
	srv := sio.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// eventData returns the JSON payload of an EVENT packet without spaces.
func compact(raw json.RawMessage) string { return strings.TrimSpace(string(raw)) }

// reasons collects disconnect reasons safely.
type reasons struct {
	mu  sync.Mutex
	got []string
}

func (r *reasons) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *reasons) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *reasons) wait(t testing.TB, n int) []string {
	t.Helper()
	eventually(t, fmt.Sprintf("%d disconnect reasons", n), func() bool { return len(r.list()) >= n })
	return r.list()
}
