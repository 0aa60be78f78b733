package sio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/sio/internal/parser"
)

// Handshake describes the client of a socket, as it connected. It is
// read-only: do not modify it or its maps.
type Handshake struct {
	// Headers are the headers of the Engine.IO handshake request.
	Headers http.Header
	// Auth is the JSON object the client sent with its CONNECT for this
	// namespace; "{}" when it sent none.
	Auth json.RawMessage
	// Address is the client's IP address.
	Address string
	// Time is when the Engine.IO connection was opened.
	Time time.Time
	// Issued is Time in Unix milliseconds, as socket.io reports it.
	Issued int64
	// URL is the request URI of the handshake request, query string
	// included (see Query).
	URL string
	// Secure reports whether the handshake came over TLS.
	Secure bool
	// XDomain reports whether the handshake was cross-origin (it carried an
	// Origin header).
	XDomain bool
}

// AuthInto decodes the CONNECT payload into v, like json.Unmarshal.
func (h *Handshake) AuthInto(v any) error { return json.Unmarshal(h.Auth, v) }

// Query parses the query string of the handshake request, from URL. Each
// call returns a new map: a parsed copy kept for the life of every
// connection would cost more than parsing on the rare call.
func (h *Handshake) Query() url.Values {
	_, q, _ := strings.Cut(h.URL, "?")
	v, _ := url.ParseQuery(q) // as url.URL.Query does, malformed pairs are dropped
	return v
}

const (
	stateConnecting = iota
	stateConnected
	stateClosed
)

// ackReply is an acknowledgement, or the news that it will never come.
type ackReply struct {
	args Args
	err  error
}

// Socket is one client's connection to one namespace. A client connected
// to several namespaces over one Engine.IO connection has one Socket per
// namespace, each with its own id (never the Engine.IO session id).
//
// All methods are safe for concurrent use. Event handlers, socket
// middleware and the connection handlers of one client run one at a time,
// in arrival order, on that client's connection goroutine; acks from the
// client are processed apart from them, so a handler may wait in
// EmitWithAck. A handler that blocks holds up that client's later events
// only. OnDisconnecting and OnDisconnect handlers run in the goroutine that
// caused the disconnect (the connection's, or the caller of Disconnect).
type Socket struct {
	id   string
	nsp  *Namespace
	conn *conn
	hs   *Handshake

	hasOut    atomic.Bool // an OnAnyOutgoing handler exists
	disconnOn atomic.Bool // Disconnect was called: one DISCONNECT packet only

	mu        sync.Mutex
	state     int
	handlers  []eventHandler // in registration order; only ever appended to
	anyIn     []func(*Event)
	anyOut    []func(event string, args Args)
	mws       []func(*Event) error
	onErr     []func(error)
	onDiscing []func(reason Reason)
	onDisc    []func(reason Reason)
	acks      map[int64]chan ackReply
	data      any
	reason    Reason // set when closed

	// Connection state recovery; set before the socket is connected.
	pid         string
	recovered   bool
	recoveryErr error
	gone        chan struct{} // closed once detached and its session saved
}

// eventHandler is a handler registered with On. A socket has few, so a
// slice searched by name costs less than a map.
type eventHandler struct {
	name string
	h    func(*Event)
}

func newSocket(n *Namespace, c *conn, hs *Handshake) *Socket {
	return &Socket{
		id:   newID(),
		nsp:  n,
		conn: c,
		hs:   hs,
		gone: make(chan struct{}),
	}
}

// ID returns the socket id: random, unique per namespace connection, and
// also the name of the room only this socket is in.
func (s *Socket) ID() string { return s.id }

// Namespace returns the namespace the socket belongs to.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the details of the client's connection.
func (s *Socket) Handshake() *Handshake { return s.hs }

// Transport returns the current transport, "polling" or "websocket".
func (s *Socket) Transport() string { return s.conn.sess.Transport() }

// Recovered reports whether the socket is a session restored by connection
// state recovery: same id, rooms and Data as before the client lost its
// connection, and the packets it missed were sent after the CONNECT reply.
func (s *Socket) Recovered() bool { return s.recovered }

// RecoveryFailure says why a recovery the client asked for was refused
// (ErrRecoveryUnknownSession, ErrRecoveryExpired, ErrRecoveryOffsetGone,
// ErrRecoveryTooLarge, or a store error), so the application can send
// history instead. It is nil when the socket recovered or the client did
// not try.
func (s *Socket) RecoveryFailure() error { return s.recoveryErr }

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateConnected
}

// Data returns the value last stored with SetData, or nil.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData stores a value of the application's choice on the socket, such
// as the authenticated user set by a middleware.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// On adds a handler for the event called name. Several handlers of one
// event run in registration order; with none, the event is dropped (and a
// requested ack never sent).
func (s *Socket) On(name string, h func(ev *Event)) {
	s.mu.Lock()
	s.handlers = append(s.handlers, eventHandler{name, h})
	s.mu.Unlock()
}

// OnAny adds a handler called for every incoming event, before the
// handlers registered with On.
func (s *Socket) OnAny(h func(ev *Event)) {
	s.mu.Lock()
	s.anyIn = append(s.anyIn, h)
	s.mu.Unlock()
}

// OnAnyOutgoing adds a handler called for every event sent to this socket,
// broadcasts included, just before it is queued.
func (s *Socket) OnAnyOutgoing(h func(event string, args Args)) {
	s.mu.Lock()
	s.anyOut = append(s.anyOut, h)
	s.mu.Unlock()
	s.hasOut.Store(true)
}

// Use adds a middleware run for every incoming event before its handlers.
// The first error stops the event: its handlers do not run and the error
// goes to the OnError handlers (the client is not told).
func (s *Socket) Use(mw func(ev *Event) error) {
	s.mu.Lock()
	s.mws = append(s.mws, mw)
	s.mu.Unlock()
}

// OnError adds a handler receiving the errors of the socket's middleware.
func (s *Socket) OnError(h func(err error)) {
	s.mu.Lock()
	s.onErr = append(s.onErr, h)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is about to be
// disconnected, while it is still in its rooms.
func (s *Socket) OnDisconnecting(h func(reason Reason)) {
	s.mu.Lock()
	s.onDiscing = append(s.onDiscing, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket is disconnected, with
// one of the Reason values. On a socket already disconnected (the client
// may go while the connection handlers still run) h is called at once.
func (s *Socket) OnDisconnect(h func(reason Reason)) {
	s.mu.Lock()
	if s.state == stateClosed {
		reason := s.reason
		s.mu.Unlock()
		h(reason)
		return
	}
	s.onDisc = append(s.onDisc, h)
	s.mu.Unlock()
}

// Join adds the socket to rooms. It does nothing once the socket is
// disconnected.
func (s *Socket) Join(rooms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Holding s.mu orders this against onclose, which removes the socket
	// from every room after marking it closed.
	if s.state == stateConnected {
		s.nsp.adapter.AddAll(s.id, rooms...)
	}
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) {
	s.nsp.adapter.Del(s.id, room)
}

// Rooms returns the rooms the socket is in, its own id room included,
// sorted.
func (s *Socket) Rooms() []string {
	r := s.nsp.adapter.Rooms(s.id)
	slices.Sort(r)
	return r
}

// Broadcast returns an operator reaching every socket of the namespace
// except this one.
func (s *Socket) Broadcast() Broadcast { return s.nsp.Broadcast().Except(s.id) }

// To returns an operator reaching the sockets in rooms, except this one.
func (s *Socket) To(rooms ...string) Broadcast { return s.Broadcast().To(rooms...) }

// In is To.
func (s *Socket) In(rooms ...string) Broadcast { return s.To(rooms...) }

// Except returns an operator reaching every socket in none of rooms,
// except this one.
func (s *Socket) Except(rooms ...string) Broadcast { return s.Broadcast().Except(rooms...) }

// Emit sends event with args to the client; see Emitter.Emit.
func (s *Socket) Emit(event string, args ...any) error { return s.emitter().Emit(event, args...) }

// EmitWithAck sends event with args and waits for the client's
// acknowledgement; see Emitter.EmitWithAck.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	return s.emitter().EmitWithAck(ctx, event, args...)
}

// Volatile returns an emitter whose packets are dropped when the transport
// is not ready to send them at once.
func (s *Socket) Volatile() Emitter { return s.emitter().Volatile() }

// Compress returns an emitter that asks the transport to compress or not.
func (s *Socket) Compress(compress bool) Emitter { return s.emitter().Compress(compress) }

// Timeout returns an emitter whose EmitWithAck gives up after d.
func (s *Socket) Timeout(d time.Duration) Emitter { return s.emitter().Timeout(d) }

func (s *Socket) emitter() Emitter { return Emitter{s: s, compress: true} }

// Disconnect sends the client a DISCONNECT for this namespace and
// disconnects the socket with ReasonServerNamespaceDisconnect. With close,
// every socket of the client is disconnected this way and the Engine.IO
// connection is closed too. It does nothing on a disconnected socket.
func (s *Socket) Disconnect(close bool) {
	if close {
		s.conn.disconnectAll()
		return
	}
	if !s.Connected() || !s.disconnOn.CompareAndSwap(false, true) {
		return
	}
	_ = s.conn.send(encodePackets(&parser.Packet{Type: parser.Disconnect, Namespace: s.nsp.name, ID: -1}, ""), false, true)
	s.onclose(ReasonServerNamespaceDisconnect)
}

// CloseTransport closes the client's Engine.IO connection without sending
// DISCONNECT packets: every socket of the client is disconnected with
// ReasonForcedClose, and the client sees a transport close and reconnects
// by itself.
func (s *Socket) CloseTransport() {
	s.conn.sess.Close(ReasonForcedClose)
}

// Emitter sends to one socket with per-call options. It is a value: its
// methods return modified copies.
type Emitter struct {
	s        *Socket
	volatile bool
	compress bool
	timeout  time.Duration
}

// Volatile returns a copy whose packets are dropped when the transport is
// not ready to send them at once.
func (e Emitter) Volatile() Emitter {
	e.volatile = true
	return e
}

// Compress returns a copy that asks the transport to compress (the
// default) or not.
func (e Emitter) Compress(compress bool) Emitter {
	e.compress = compress
	return e
}

// Timeout returns a copy whose EmitWithAck gives up after d with
// ErrAckTimeout.
func (e Emitter) Timeout(d time.Duration) Emitter {
	e.timeout = d
	return e
}

// Emit sends event with args (any []byte travels as a binary attachment).
// It returns ErrDisconnected when the socket is gone and ErrSlowClient when
// the connection's send queue overflowed (the connection is then closing).
// A volatile packet that is dropped is not an error.
func (e Emitter) Emit(event string, args ...any) error {
	if e.s == nil {
		return ErrNoNamespace
	}
	return e.s.emit(event, args, -1, e.volatile, e.compress)
}

// EmitWithAck sends event with args, asking for an acknowledgement, and
// returns the client's reply arguments. It fails with ErrAckTimeout after
// the Timeout, ctx.Err() when ctx ends first, and ErrDisconnected when the
// socket disconnects before the reply.
func (e Emitter) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	s := e.s
	if s == nil {
		return Args{}, ErrNoNamespace
	}
	ch := make(chan ackReply, 1)
	id := s.nsp.ackIDs.Add(1) - 1
	if !s.expectAck(id, ch) {
		return Args{}, ErrDisconnected
	}
	defer s.dropAck(id)
	if err := s.emit(event, args, id, e.volatile, e.compress); err != nil {
		return Args{}, err
	}
	var timeout <-chan time.Time
	if e.timeout > 0 {
		t := time.NewTimer(e.timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-timeout:
		return Args{}, ErrAckTimeout
	case <-ctx.Done():
		return Args{}, ctx.Err()
	}
}

func (s *Socket) emit(event string, args []any, id int64, volatile, compress bool) error {
	if parserReserved(event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	data, att, err := parser.MarshalArgs(append([]any{event}, args...)...)
	if err != nil {
		return fmt.Errorf("sio: emit %q: %w", event, err)
	}
	if s.hasOutgoingListeners() {
		a, _ := newArgs(data, att)
		s.notifyOutgoing(a)
	}
	p := &parser.Packet{Type: parser.Event, ID: id, Data: data, Attachments: att}
	if rec := s.nsp.srv.opts.Recovery; rec != nil && id < 0 && !volatile {
		return s.emitRecorded(rec.Store, p, compress)
	}
	return s.sendPacket(p, "", volatile, compress)
}

// emitRecorded sends p, an event without ack, after appending it to the
// recovery store as a packet for the socket's own room.
func (s *Socket) emitRecorded(store SessionStore, p *parser.Packet, compress bool) error {
	srv := s.nsp.srv
	srv.recMu.Lock()
	defer srv.recMu.Unlock()
	if !s.Connected() {
		return ErrDisconnected
	}
	off, err := store.Append(context.Background(), &StoredPacket{
		Namespace:   s.nsp.name,
		Rooms:       []string{s.id},
		Data:        p.Data,
		Attachments: p.Attachments,
	})
	if err != nil {
		return fmt.Errorf("sio: emit: recovery store: %w", err)
	}
	return s.sendPacket(p, off, false, compress)
}

// sendPacket sends p on the socket's namespace, with the recovery offset
// off, when not empty, appended to its arguments.
func (s *Socket) sendPacket(p *parser.Packet, off string, volatile, compress bool) error {
	if !s.Connected() {
		return ErrDisconnected
	}
	p.Namespace = s.nsp.name
	return s.conn.send(encodePackets(p, off), volatile, compress)
}

func (s *Socket) hasOutgoingListeners() bool { return s.hasOut.Load() }

// notifyOutgoing calls the OnAnyOutgoing handlers; data holds the event
// name followed by its arguments.
func (s *Socket) notifyOutgoing(data Args) {
	s.mu.Lock()
	hs := s.anyOut
	s.mu.Unlock()
	if len(data.raw) == 0 {
		return
	}
	name := eventName(data.raw[0])
	args := Args{raw: data.raw[1:], att: data.att}
	for _, h := range hs {
		h(name, args)
	}
}

// eventName returns the name of an event from the first payload element: a
// string, or a number given as its text.
func eventName(raw json.RawMessage) string {
	if name, err := parser.String(raw); err == nil {
		return name
	}
	return string(raw)
}

func (s *Socket) expectAck(id int64, ch chan ackReply) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateConnected {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[int64]chan ackReply)
	}
	s.acks[id] = ch
	return true
}

func (s *Socket) dropAck(id int64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// onAck delivers an ACK packet from the client; unknown ids are ignored.
func (s *Socket) onAck(p *parser.Packet) {
	s.mu.Lock()
	ch := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if ch == nil {
		return
	}
	args, err := newArgs(p.Data, p.Attachments)
	select {
	case ch <- ackReply{args: args, err: err}:
	default: // the waiter's slot is taken: it is gone or already answered
	}
}

// onEvent runs the middleware and handlers for an EVENT packet.
func (s *Socket) onEvent(p *parser.Packet) {
	all, err := newArgs(p.Data, p.Attachments)
	if err != nil || all.Len() == 0 {
		return // the decoder already refused such packets
	}
	ev := &Event{
		Name:   eventName(all.raw[0]),
		Args:   Args{raw: all.raw[1:], att: all.att},
		socket: s,
		ackID:  p.ID,
	}
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	// A copy of the slice headers is a snapshot: the slices are only
	// appended to, which never changes the elements it sees.
	mws, anyIn, hs, onErr := s.mws, s.anyIn, s.handlers, s.onErr
	s.mu.Unlock()
	for _, mw := range mws {
		if err := mw(ev); err != nil {
			for _, h := range onErr {
				h(err)
			}
			return
		}
	}
	for _, h := range anyIn {
		h(ev)
	}
	for _, h := range hs {
		if h.name == ev.Name {
			h.h(ev)
		}
	}
}

// onclose disconnects the socket for reason: it runs the OnDisconnecting
// handlers, leaves every room, fails the pending acks and runs the
// OnDisconnect handlers. It does nothing after the first call.
func (s *Socket) onclose(reason Reason) {
	s.detach(reason, true)
}

func (s *Socket) detach(reason Reason, notify bool) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	wasConnected := s.state == stateConnected
	s.state = stateClosed
	s.reason = reason
	acks := s.acks
	s.acks = nil
	discing, disc := s.onDiscing, s.onDisc
	s.mu.Unlock()
	notify = notify && wasConnected
	if notify {
		for _, h := range discing {
			h(reason)
		}
	}
	keep := wasConnected && s.pid != "" && recoverable(reason)
	var rooms []string
	var data any
	if keep {
		// After OnDisconnecting, which may still change them.
		rooms = s.nsp.adapter.Rooms(s.id)
		data = s.Data()
	}
	s.nsp.remove(s)
	s.conn.removeSocket(s)
	if keep {
		// Saved only once the socket is gone from the namespace: a client
		// restoring it at once must not find its old self in the rooms.
		s.saveSession(reason, rooms, data)
	}
	if s.pid != "" {
		s.nsp.srv.pids.CompareAndDelete(s.pid, s)
	}
	close(s.gone)
	for _, ch := range acks {
		select {
		case ch <- ackReply{err: ErrDisconnected}:
		default:
		}
	}
	if notify {
		for _, h := range disc {
			h(reason)
		}
	}
}

// saveSession keeps the socket's state in the recovery store.
func (s *Socket) saveSession(reason Reason, rooms []string, data any) {
	srv := s.nsp.srv
	sess := &Session{
		PID:            s.pid,
		SID:            s.id,
		Namespace:      s.nsp.name,
		Rooms:          rooms,
		Data:           data,
		DisconnectedAt: srv.now(),
	}
	slices.Sort(sess.Rooms)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.opts.Recovery.Store.SaveSession(ctx, sess); err != nil {
		srv.log.Error("sio: saving session for recovery", "sid", s.id, "reason", reason, "err", err)
	}
}
