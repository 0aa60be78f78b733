package eio

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Transport names, as they appear in the "transport" query parameter.
const (
	transportPolling   = "polling"
	transportWebSocket = "websocket"
)

// Error codes of the JSON body of a refused request, as the reference server
// sends them.
const (
	codeTransportUnknown   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var codeMessages = [...]string{
	codeTransportUnknown:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

const (
	// upgradeGetWait is how long a GET that arrives during an upgrade waits
	// for the client's "5" before it is answered with a noop.
	upgradeGetWait = 100 * time.Millisecond
	// maxFlushWait bounds how long a server-side close waits for queued
	// packets to be written.
	maxFlushWait = 2 * time.Second
	// tombstoneTTL is how long a polling session closed by the client still
	// answers one late GET with a noop.
	tombstoneTTL = time.Second
)

// Server is an Engine.IO v4 server: an http.Handler that accepts polling and
// websocket sessions and hands their messages to a Handler.
type Server struct {
	opts    Options
	open    func(*Session) Handler
	log     *slog.Logger
	polling bool // polling transport allowed
	ws      bool // websocket transport allowed

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
	wg       sync.WaitGroup // ServeHTTP calls, writers and OnClose calls

	// reactor watches idle websockets; started on first use, stopped by
	// Close. rmu guards its start and stop.
	rmu        sync.Mutex
	reactor    atomic.Pointer[reactor]
	reactorOff bool // none to start: stopped, or epoll unavailable
}

// NewServer returns a Server with the given options (nil means defaults).
// open is called for every new session before its handshake is written and
// returns the Handler that receives the session's traffic.
func NewServer(opts *Options, open func(s *Session) Handler) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1e6
	}
	if o.Transports == nil {
		o.Transports = []string{transportPolling, transportWebSocket}
	}
	if o.HTTPCompressionThreshold == 0 {
		o.HTTPCompressionThreshold = 1024
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts:     o,
		open:     open,
		log:      o.Logger,
		polling:  slices.Contains(o.Transports, transportPolling),
		ws:       slices.Contains(o.Transports, transportWebSocket),
		sessions: make(map[string]*Session),
	}
}

// SessionCount returns the number of sessions currently known to the server.
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if !ss.isTombstone() {
			n++
		}
	}
	return n
}

// Close closes every session with reason "server shutting down", refuses new
// requests, and waits until every goroutine of the server has returned.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close(ReasonServerShutdown, closeShutdown)
	}
	s.wg.Wait()
	s.rmu.Lock()
	s.reactorOff = true
	r := s.reactor.Load()
	s.rmu.Unlock()
	if r != nil {
		r.stop()
	}
}

// idleReactor returns the reactor that watches idle websockets, starting it
// on first use. It returns nil when there is none: not on Linux, epoll
// unavailable, or the server closed.
func (s *Server) idleReactor() *reactor {
	if r := s.reactor.Load(); r != nil {
		return r
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if r := s.reactor.Load(); r != nil || s.reactorOff {
		return r
	}
	r := newReactor(s)
	if r == nil {
		s.reactorOff = true
		return nil
	}
	s.reactor.Store(r)
	return r
}

// track registers one goroutine with the server; it reports false when the
// server is closed.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// goTracked runs f in a new goroutine that Close waits for. After Close has
// begun it still runs f, because closing sessions need their last steps.
func (s *Server) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) lookup(sid string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

func (s *Server) remove(ss *Session) {
	s.mu.Lock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
}

// ServeHTTP answers every Engine.IO request: handshakes, polling GETs and
// POSTs, websocket connections and CORS preflights. Mount it at a path prefix
// such as /socket.io/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()

	if s.opts.CORS != nil {
		if s.applyCORS(w, r) {
			return
		}
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		s.refuse(w, http.StatusBadRequest, codeUnsupportedVersion)
		return
	}
	transport := q.Get("transport")
	if !(transport == transportPolling && s.polling) && !(transport == transportWebSocket && s.ws) {
		s.refuse(w, http.StatusBadRequest, codeTransportUnknown)
		return
	}
	isUpgrade := headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
	if (transport == transportWebSocket) != isUpgrade {
		s.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			s.refuse(w, http.StatusBadRequest, codeBadHandshakeMethod)
			return
		}
		if !s.allowed(w, r) {
			return
		}
		if transport == transportWebSocket {
			s.serveWebSocket(w, r, nil)
		} else {
			s.handshakePolling(w, r)
		}
		return
	}
	ss := s.lookup(sid)
	if ss == nil {
		s.refuse(w, http.StatusBadRequest, codeUnknownSID)
		return
	}
	if transport == transportWebSocket {
		if !s.allowed(w, r) {
			return
		}
		s.serveWebSocket(w, r, ss)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ss.servePollGet(w, r)
	case http.MethodPost:
		ss.servePollPost(w, r)
	default:
		s.refuse(w, http.StatusBadRequest, codeBadRequest)
	}
}

// allowed runs Options.AllowRequest and answers 403 when it refuses.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.AllowRequest == nil {
		return true
	}
	if err := s.opts.AllowRequest(r); err != nil {
		s.log.Debug("eio: request refused", "remote", r.RemoteAddr, "err", err)
		s.refuse(w, http.StatusForbidden, codeForbidden)
		return false
	}
	return true
}

// refuse answers an Engine.IO error as the reference server does.
func (s *Server) refuse(w http.ResponseWriter, status, code int) {
	body := `{"code":` + strconv.Itoa(code) + `,"message":"` + codeMessages[code] + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// newSID returns an unguessable session id: 20 random bytes, base64url.
func newSID() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// handshakeData is the JSON of the open packet.
func (s *Server) handshakeData(sid string, upgrades bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[`...)
	if upgrades {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, s.opts.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.opts.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, s.opts.MaxPayload, 10)
	return append(b, '}')
}

// newSession creates and registers a session, calls the open callback and
// starts the heartbeat. The open packet is the first queued packet, so it is
// written before anything the callback sends.
func (s *Server) newSession(r *http.Request, transport string, conn *websocket.Conn, out *coalescer) *Session {
	sid := newSID()
	upgrades := transport == transportPolling && s.ws && !s.opts.DisallowUpgrades
	ss := &Session{
		srv:       s,
		id:        sid,
		conn:      conn,
		out:       out,
		transport: transport,
	}
	// Only the open callback sees the request: a session that kept it
	// would keep its headers, URL and request state for its whole life.
	ss.req.Store(r)
	defer ss.req.Store(nil)
	open := packet{typ: typeOpen, data: s.handshakeData(sid, upgrades)}
	ss.queue = append(ss.queue, open)
	ss.queued = open.size()

	s.mu.Lock()
	s.sessions[sid] = ss
	// A handshake that raced Close was not in Close's list of sessions.
	closing := s.closed
	s.mu.Unlock()

	// hmu is held until the handler is known: a close that happens during
	// the open callback makes OnClose wait for it.
	ss.hmu.Lock()
	var h Handler
	if s.open != nil {
		h = s.open(ss)
	}
	if h == nil {
		h = nopHandler{}
	}
	ss.h = h
	ss.hmu.Unlock()
	ss.startHeartbeat()
	if closing {
		ss.close(ReasonServerShutdown, closeShutdown)
	}
	return ss
}

type nopHandler struct{}

func (nopHandler) OnMessage(Packet) {}
func (nopHandler) OnClose(string)   {}

// applyCORS sets the CORS response headers; it answers a preflight itself
// and then reports true.
func (s *Server) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	c := s.opts.CORS
	h := w.Header()
	origin := r.Header.Get("Origin")
	anyOrigin := c.OriginFunc == nil && slices.Contains(c.Origins, "*")
	switch {
	case anyOrigin && !c.Credentials:
		h.Set("Access-Control-Allow-Origin", "*")
	case origin != "" && s.originAllowed(origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method != http.MethodOptions {
		if len(c.ExposedHeaders) > 0 {
			h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposedHeaders, ","))
		}
		return false
	}
	methods := c.Methods
	if methods == nil {
		methods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ","))
	if c.AllowedHeaders != nil {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ","))
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (s *Server) originAllowed(origin string) bool {
	c := s.opts.CORS
	if c.OriginFunc != nil {
		return c.OriginFunc(origin)
	}
	for _, o := range c.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// headerHasToken reports whether the comma-separated header key contains
// token, case-insensitively.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
