package sio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

// Namespace is a communication channel that multiplexes sockets over the
// clients' connections. It owns the connection middleware, the connection
// handlers and the adapter holding its rooms.
//
// A Namespace returned by OfRegexp or OfFunc is a parent: its Use and
// OnConnection apply to every child created on demand, and its broadcasts
// reach every child; it has no sockets of its own.
//
// All methods are safe for concurrent use.
type Namespace struct {
	srv     *Server
	name    string
	adapter Adapter // nil for a parent
	h       *nspHandlers
	match   func(name string, h *Handshake) bool // parents only
	ackIDs  atomic.Int64

	mu       sync.RWMutex
	sockets  map[string]*Socket
	children []*Namespace
}

// nspHandlers are the middleware and connection handlers, shared by a
// parent namespace and its children.
type nspHandlers struct {
	mu     sync.RWMutex
	mws    []func(*Socket) error
	onConn []func(*Socket)
}

func newNamespace(s *Server, name string, parent *Namespace) *Namespace {
	n := &Namespace{srv: s, name: name, sockets: make(map[string]*Socket)}
	if parent != nil {
		n.h = parent.h
	} else {
		n.h = &nspHandlers{}
	}
	if name != "" {
		n.adapter = s.opts.Adapter(name, n.deliverRemote)
	}
	return n
}

func (n *Namespace) addChild(c *Namespace) {
	n.mu.Lock()
	n.children = append(n.children, c)
	n.mu.Unlock()
}

// Name returns the namespace name, such as "/" or "/dyn-1"; "" for a parent
// namespace.
func (n *Namespace) Name() string { return n.name }

// Adapter returns the namespace's adapter; nil for a parent namespace.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a middleware run, in order of registration, for every client
// connecting to the namespace, before its connection handlers. The first
// error refuses the connection: the client gets CONNECT_ERROR with the
// error's message, and with Data when the error is a *ConnectError.
// Middleware runs on the connection's goroutine: while it runs, that
// client's later packets wait.
func (n *Namespace) Use(mw func(*Socket) error) {
	n.h.mu.Lock()
	n.h.mws = append(n.h.mws, mw)
	n.h.mu.Unlock()
}

// OnConnection adds a handler called for every socket that joined the
// namespace, after the CONNECT reply was sent. Register the socket's event
// handlers there.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.h.mu.Lock()
	n.h.onConn = append(n.h.onConn, fn)
	n.h.mu.Unlock()
}

func (n *Namespace) runMiddleware(s *Socket) error {
	n.h.mu.RLock()
	mws := n.h.mws
	n.h.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *Namespace) runOnConnection(s *Socket) {
	n.h.mu.RLock()
	fns := n.h.onConn
	n.h.mu.RUnlock()
	for _, fn := range fns {
		fn(s)
	}
}

// Socket returns the local socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

func (n *Namespace) add(s *Socket) {
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
	n.adapter.AddAll(s.id, s.id)
}

func (n *Namespace) remove(s *Socket) {
	n.adapter.DelAll(s.id)
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// targets returns the namespaces a broadcast on n reaches.
func (n *Namespace) targets() []*Namespace {
	if n.match == nil {
		return []*Namespace{n}
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append([]*Namespace(nil), n.children...)
}

// localSockets returns the local sockets matching rooms and except.
func (n *Namespace) localSockets(rooms, except []string) []*Socket {
	var out []*Socket
	for _, t := range n.targets() {
		out = append(out, t.matching(rooms, except)...)
	}
	return out
}

// deliverRemote fans a message published by another node out locally.
func (n *Namespace) deliverRemote(m *Message) {
	n.fanOut(n.matching(m.Rooms, m.Except), m, -1, nil, false)
}

// matching returns the sockets of n (not a parent) in rooms and not in except.
func (n *Namespace) matching(rooms, except []string) []*Socket {
	ids := n.adapter.SocketIDs(rooms, except)
	if len(ids) == 0 {
		return nil
	}
	socks := make([]*Socket, 0, len(ids))
	n.mu.RLock()
	for _, id := range ids {
		if s := n.sockets[id]; s != nil {
			socks = append(socks, s)
		}
	}
	n.mu.RUnlock()
	return socks
}

// fanOut encodes m once and queues the same packets on every socket of
// socks. With ackCh, each socket expects ack ackID and its reply goes to
// ackCh. It never blocks on a socket: a full send queue closes that socket's
// connection instead. It returns the sockets reached. With quiet, the
// OnAnyOutgoing handlers are left to the caller (see notifyAll).
func (n *Namespace) fanOut(socks []*Socket, m *Message, ackID int64, ackCh chan ackReply, quiet bool) []*Socket {
	if len(socks) == 0 {
		return nil
	}
	p := parser.Packet{Type: parser.Event, Namespace: n.name, ID: ackID, Data: m.Data, Attachments: m.Attachments}
	pkts := encodePackets(&p, m.Offset)
	reached := socks[:0] // socks is ours: filter in place
	out := outgoing{m: m}
	for _, s := range socks {
		if ackCh != nil && !s.expectAck(ackID, ackCh) {
			continue
		}
		if !quiet {
			out.notify(s)
		}
		if err := s.conn.send(pkts, m.Volatile, m.Compress); err != nil {
			if ackCh != nil {
				s.dropAck(ackID)
			}
			continue
		}
		reached = append(reached, s)
	}
	return reached
}

// notifyAll calls the OnAnyOutgoing handlers of socks for m, after a quiet
// fanOut.
func notifyAll(socks []*Socket, m *Message) {
	out := outgoing{m: m}
	for _, s := range socks {
		out.notify(s)
	}
}

// outgoing calls the OnAnyOutgoing handlers of the sockets m is sent to,
// decoding m's arguments once, and only if some socket has handlers.
type outgoing struct {
	m    *Message
	args *Args
}

func (o *outgoing) notify(s *Socket) {
	if !s.hasOutgoingListeners() {
		return
	}
	if o.args == nil {
		a, _ := newArgs(o.m.Data, o.m.Attachments)
		o.args = &a
	}
	s.notifyOutgoing(*o.args)
}

// encodePackets turns p into the Engine.IO messages that carry it, with the
// recovery offset off, when not empty, appended to p's array payload in the
// same buffer: every recorded event goes this way.
func encodePackets(p *parser.Packet, off string) []eio.Packet {
	pkts := make([]eio.Packet, 1+len(p.Attachments))
	if off == "" {
		pkts[0] = eio.Packet{Data: parser.Encode(p)}
	} else {
		head := *p
		head.Data = nil
		buf := make([]byte, 0, parser.EncodedLen(&head)+len(p.Data)+len(off)+4)
		buf = parser.AppendEncode(buf, &head)
		pkts[0] = eio.Packet{Data: appendWithOffset(buf, p.Data, off)}
	}
	for i, a := range p.Attachments {
		pkts[i+1] = eio.Packet{Data: a, Binary: true}
	}
	return pkts
}

// Broadcast returns an operator reaching every socket of the namespace.
func (n *Namespace) Broadcast() Broadcast { return Broadcast{nsp: n, compress: true} }

// To returns an operator reaching the sockets in any of rooms.
func (n *Namespace) To(rooms ...string) Broadcast { return n.Broadcast().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) Broadcast { return n.Broadcast().In(rooms...) }

// Except returns an operator reaching every socket in none of rooms.
func (n *Namespace) Except(rooms ...string) Broadcast { return n.Broadcast().Except(rooms...) }

// Emit sends an event to every socket of the namespace; see Broadcast.Emit.
func (n *Namespace) Emit(event string, args ...any) error {
	return n.Broadcast().Emit(event, args...)
}

// FetchSockets returns the namespace's local sockets.
func (n *Namespace) FetchSockets() []*Socket { return n.Broadcast().FetchSockets() }

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) { n.Broadcast().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) { n.Broadcast().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace; see
// Socket.Disconnect for close.
func (n *Namespace) DisconnectSockets(close bool) { n.Broadcast().DisconnectSockets(close) }

// Volatile returns an operator whose packets may be dropped for sockets not
// ready to receive them.
func (n *Namespace) Volatile() Broadcast { return n.Broadcast().Volatile() }

// Local returns an operator reaching only this node's sockets.
func (n *Namespace) Local() Broadcast { return n.Broadcast().Local() }

// Timeout returns an operator whose EmitWithAck waits at most d.
func (n *Namespace) Timeout(d time.Duration) Broadcast { return n.Broadcast().Timeout(d) }

// EmitWithAck sends event to every socket and collects their acks; see
// Broadcast.EmitWithAck.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return n.Broadcast().EmitWithAck(ctx, event, args...)
}
