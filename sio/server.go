package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/sio/internal/eio"
)

// Server is a Socket.IO v5 server: an http.Handler to mount at Options.Path
// (by default "/socket.io/"). Namespaces are reached with Of, OfRegexp and
// OfFunc; the main namespace "/" always exists.
//
// All methods are safe for concurrent use. Close or Shutdown ends every
// connection; ServeHTTP then refuses new ones.
type Server struct {
	opts   Options
	log    *slog.Logger
	engine engine

	mu     sync.RWMutex
	nsps   map[string]*Namespace
	groups []*Namespace // dynamic parents, in registration order
	conns  map[*conn]struct{}
	closed bool

	workers sync.WaitGroup // one per connection, running handlers

	// recMu makes appending a packet to the recovery store and fanning it
	// out one step, and restoring a session another, so a restored socket
	// misses nothing and gets nothing twice. Only used with recovery on.
	recMu sync.Mutex
	now   func() time.Time
	pids  sync.Map // pid → *Socket, for the connected sockets with recovery on

	volatileDropped atomic.Uint64
	slowClients     atomic.Uint64
	parseErrors     atomic.Uint64
}

// Stats are counters of a Server, for monitoring.
type Stats struct {
	// Connections is the number of open Engine.IO connections.
	Connections int
	// VolatileDropped counts volatile packets dropped for a socket whose
	// transport was not ready.
	VolatileDropped uint64
	// SlowClients counts connections closed for going over MaxQueuedBytes.
	SlowClients uint64
	// ParseErrors counts connections closed for a protocol violation.
	ParseErrors uint64
}

// Stats returns the server's current counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	n := len(s.conns)
	s.mu.RUnlock()
	return Stats{
		Connections:     n,
		VolatileDropped: s.volatileDropped.Load(),
		SlowClients:     s.slowClients.Load(),
		ParseErrors:     s.parseErrors.Load(),
	}
}

// NewServer returns a server configured by opts (nil means all defaults).
func NewServer(opts *Options) *Server {
	s := &Server{
		opts:  opts.withDefaults(),
		nsps:  make(map[string]*Namespace),
		conns: make(map[*conn]struct{}),
		now:   time.Now,
	}
	s.log = s.opts.Logger
	s.engine = newEngine(s.opts.engineOptions(), func(sess session) eio.Handler { return s.open(sess) })
	s.Of("/")
	return s
}

// ServeHTTP answers the Engine.IO requests under Options.Path and 404 to
// anything else. It expects the full request path: mount it with
// mux.Handle(Options.Path, srv), not behind http.StripPrefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.opts.Path) && r.URL.Path+"/" != s.opts.Path {
		http.NotFound(w, r)
		return
	}
	s.engine.ServeHTTP(w, r)
}

// open creates the connection state of a new Engine.IO session.
func (s *Server) open(sess session) eio.Handler {
	c := newConn(s, sess)
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.conns[c] = struct{}{}
		s.workers.Add(1)
	}
	s.mu.Unlock()
	if closed {
		// The handshake may still be written; close right after.
		go sess.Close(ReasonServerShutdown)
		return c
	}
	c.start()
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Of returns the namespace called name, creating it on first use. A name
// without a leading "/" gets one.
func (s *Server) Of(name string) *Namespace {
	name = normalizeNsp(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nsps[name]
	if n == nil {
		n = newNamespace(s, name, nil)
		s.nsps[name] = n
	}
	return n
}

// OfRegexp returns a parent namespace for every namespace name matching re.
// Children are created when a client first connects to a matching name;
// they share the parent's middleware and connection handlers, and a
// broadcast on the parent reaches every child.
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.OfFunc(func(name string, _ *Handshake) bool { return re.MatchString(name) })
}

// OfFunc is OfRegexp with a function deciding, from the namespace name and
// the connecting client's handshake, whether a child namespace is created.
// match may be called concurrently.
func (s *Server) OfFunc(match func(name string, h *Handshake) bool) *Namespace {
	p := newNamespace(s, "", nil)
	p.match = match
	s.mu.Lock()
	s.groups = append(s.groups, p)
	s.mu.Unlock()
	return p
}

// lookup finds the namespace a CONNECT names, creating a dynamic child when
// a parent matches; nil when none does.
func (s *Server) lookup(name string, h *Handshake) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	groups := s.groups
	closed := s.closed
	s.mu.RUnlock()
	if n != nil || closed {
		return n
	}
	for _, p := range groups {
		if !p.match(name, h) {
			continue
		}
		s.mu.Lock()
		n = s.nsps[name]
		if n == nil {
			n = newNamespace(s, name, p)
			s.nsps[name] = n
			p.addChild(n)
		}
		s.mu.Unlock()
		return n
	}
	return nil
}

// Close disconnects every socket with ReasonServerShutdown, closes every
// Engine.IO connection and the adapters, without waiting for running
// handlers. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, n := range nsps {
		for _, so := range n.localSockets(nil, nil) {
			so.onclose(ReasonServerShutdown)
		}
	}
	for _, c := range conns {
		c.sess.Close(ReasonServerShutdown)
	}
	s.engine.Close()
	for _, n := range nsps {
		if err := n.adapter.Close(); err != nil {
			s.log.Error("sio: closing adapter", "nsp", n.name, "err", err)
		}
	}
}

// Shutdown is Close, then waits until the handlers still running on the
// connections return or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Close()
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func normalizeNsp(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

// newID returns a random, URL-safe 20-character id, like the reference
// server's socket ids.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
