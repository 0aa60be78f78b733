package sio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

// queueSize bounds the packets a client may have waiting for its handlers;
// at it, reading from that client pauses (backpressure).
const queueSize = 256

// conn is one Engine.IO connection, carrying one Socket per namespace the
// client joined. It is the session's eio.Handler.
//
// OnMessage decodes packets on the engine's goroutine. ACKs are delivered
// there directly; CONNECT, DISCONNECT and EVENT packets are queued, in
// order, for the connection's worker goroutine, which runs middleware and
// handlers one packet at a time. The worker runs only while packets are
// queued, so an idle connection costs no goroutine of its own. OnClose
// disconnects the sockets at once, so handlers waiting for acks wake up.
type conn struct {
	srv  *Server
	sess session
	dec  parser.Decoder // used by OnMessage only
	base Handshake      // Auth filled per namespace

	closing   atomic.Bool
	closeOnce sync.Once

	mu sync.Mutex
	// A client joins few namespaces: slices cost less than maps.
	sockets    []*Socket // one per namespace joined
	connecting []string  // namespaces whose CONNECT is queued or running
	closed     bool
	timer      *time.Timer
	queue      []*parser.Packet // waiting for the worker, in arrival order
	working    bool             // a worker goroutine is running
	held       bool             // the connection holds one count of srv.workers
	space      chan struct{}    // closed when a full queue has room, or on close
}

var _ eio.Handler = (*conn)(nil)

func newConn(s *Server, sess session) *conn {
	c := &conn{
		srv:  s,
		sess: sess,
		dec:  parser.Decoder{Server: true},
	}
	c.base = baseHandshake(sess.Request())
	return c
}

func baseHandshake(r *http.Request) Handshake {
	now := time.Now()
	h := Handshake{Time: now, Issued: now.UnixMilli(), Headers: http.Header{}}
	if r == nil {
		return h
	}
	// The engine lets go of the request after this callback, so the
	// handshake may own its header map rather than a copy.
	h.Headers = r.Header
	if r.URL != nil {
		h.URL = r.URL.RequestURI()
	}
	h.Address = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Address = host
	}
	h.Secure = r.TLS != nil
	h.XDomain = r.Header.Get("Origin") != ""
	return h
}

// start arms the connect timeout. The caller added one to srv.workers for
// the connection; it is released once the connection is closed and its
// worker, if any, has returned.
func (c *conn) start() {
	c.mu.Lock()
	c.held = true
	c.timer = time.AfterFunc(c.srv.opts.ConnectTimeout, c.connectTimeout)
	c.mu.Unlock()
}

func (c *conn) connectTimeout() {
	c.mu.Lock()
	idle := !c.closed && len(c.sockets) == 0
	c.mu.Unlock()
	if idle {
		c.srv.log.Debug("sio: no namespace joined in time", "sid", c.sess.ID())
		c.sess.Close(ReasonForcedServerClose)
	}
}

// OnMessage receives one Engine.IO message.
func (c *conn) OnMessage(m eio.Packet) {
	if c.closing.Load() {
		return
	}
	p, err := c.dec.Add(m.Data, m.Binary)
	if err != nil {
		c.protocolError(err)
		return
	}
	if p == nil {
		return // attachments still to come
	}
	switch p.Type {
	case parser.Ack, parser.BinaryAck:
		s := c.socket(p.Namespace)
		if s == nil {
			c.protocolError(errors.New("ack for a namespace not joined"))
			return
		}
		s.onAck(p)
	case parser.Connect:
		c.mu.Lock()
		dup := c.socketLocked(p.Namespace) != nil || slices.Contains(c.connecting, p.Namespace)
		if !dup {
			c.connecting = append(c.connecting, p.Namespace)
		}
		c.mu.Unlock()
		if dup {
			c.protocolError(errors.New("second CONNECT for " + p.Namespace))
			return
		}
		c.enqueue(p)
	default: // DISCONNECT, EVENT, BINARY_EVENT (the decoder refuses CONNECT_ERROR)
		c.mu.Lock()
		joined := c.socketLocked(p.Namespace) != nil || slices.Contains(c.connecting, p.Namespace)
		c.mu.Unlock()
		if !joined {
			c.protocolError(errors.New(p.Type.String() + " for a namespace not joined"))
			return
		}
		c.enqueue(p)
	}
}

func (c *conn) protocolError(err error) {
	c.srv.log.Debug("sio: protocol error", "sid", c.sess.ID(), "err", err)
	c.closing.Store(true)
	c.srv.parseErrors.Add(1)
	c.sess.Close(ReasonParseError)
}

// enqueue queues p for the worker, starting it if it is not running. With
// queueSize packets waiting it blocks (and so does reading from the client)
// until the worker takes one or the connection closes.
func (c *conn) enqueue(p *parser.Packet) {
	c.mu.Lock()
	if c.closed || !c.held {
		// Closed, or opened on a server shutting down (never started):
		// no handler runs for it.
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, p)
	if !c.working {
		c.working = true
		go c.run()
	}
	var wait chan struct{}
	if len(c.queue) >= queueSize {
		if c.space == nil {
			c.space = make(chan struct{})
		}
		wait = c.space
	}
	c.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// run is the worker: it handles queued packets one at a time, in order,
// and returns when the queue is empty or the connection closed (what is
// still queued then is dropped, as no socket is left to take it).
func (c *conn) run() {
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			// Drop the backing array: an idle connection keeps none.
			c.queue = nil
			c.working = false
			release := c.closed && c.held
			c.held = c.held && !release
			c.mu.Unlock()
			if release {
				c.srv.workers.Done()
			}
			return
		}
		p := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if c.space != nil && len(c.queue) < queueSize {
			close(c.space)
			c.space = nil
		}
		c.mu.Unlock()
		c.handle(p)
	}
}

func (c *conn) handle(p *parser.Packet) {
	switch p.Type {
	case parser.Connect:
		c.connect(p)
	case parser.Disconnect:
		if s := c.socket(p.Namespace); s != nil {
			s.onclose(ReasonClientNamespaceDisconnect)
		}
	case parser.Event, parser.BinaryEvent:
		if s := c.socket(p.Namespace); s != nil {
			s.onEvent(p)
		}
	}
}

// connect handles a CONNECT: find the namespace, run its middleware, then
// reply and run the connection handlers.
func (c *conn) connect(p *parser.Packet) {
	name := p.Namespace
	auth := p.Data
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	hs := c.base
	hs.Auth = auth
	n := c.srv.lookup(name, &hs)
	if n == nil {
		c.refuse(name, json.RawMessage(`{"message":"Invalid namespace"}`))
		return
	}
	s := newSocket(n, c, &hs)
	if c.srv.opts.Recovery != nil && c.recoverSession(n, s, name, auth) {
		return
	}
	if err := n.runMiddleware(s); err != nil {
		c.refuse(name, connectErrorPayload(err))
		return
	}
	if c.attach(n, s, nil) {
		n.runOnConnection(s)
	}
}

// recoverSession gives s a pid and, when the client's auth names a session that
// can be restored, connects s as that session and reports true (also when
// the middleware refused it). Otherwise connect goes on with s as a new
// session; s.recoveryErr then says why the client's recovery failed.
func (c *conn) recoverSession(n *Namespace, s *Socket, name string, auth json.RawMessage) bool {
	s.pid = newID()
	restored, missed := c.restore(s, auth)
	if restored == nil {
		return false
	}
	if c.srv.opts.Recovery.RunMiddlewares {
		if err := n.runMiddleware(s); err != nil {
			c.refuse(name, connectErrorPayload(err))
			return true
		}
	}
	// Reading the missed packets, joining the rooms and the CONNECT
	// reply happen with no broadcast in between (see Server.recMu).
	c.srv.recMu.Lock()
	batch, err := c.missedPackets(name, missed)
	if err == nil {
		ok := c.attach(n, s, restored)
		if ok && len(batch) > 0 {
			_ = c.send(batch, false, true)
		}
		c.srv.recMu.Unlock()
		if ok {
			n.runOnConnection(s)
		}
		return true
	}
	c.srv.recMu.Unlock()
	// Too much to replay, or the store failed: a new session after all.
	c.srv.log.Debug("sio: recovery refused", "nsp", name, "err", err)
	s.id, s.pid, s.data, s.recovered, s.recoveryErr = newID(), newID(), nil, false, err
	return false
}

// missedPackets reads the packets a restored socket missed and encodes
// them, each with its offset. It fails with ErrRecoveryTooLarge past half
// of MaxQueuedBytes: the send queue could not take them (the connection
// would be closed as a slow client, and the client would retry forever).
func (c *conn) missedPackets(nsp string, missed iter.Seq2[*StoredPacket, error]) ([]eio.Packet, error) {
	if missed == nil {
		return nil, nil
	}
	budget := c.srv.opts.MaxQueuedBytes / 2
	var out []eio.Packet
	size := 0
	for p, err := range missed {
		if err != nil {
			return nil, fmt.Errorf("sio: recovery: reading missed packets: %w", err)
		}
		pkts := encodePackets(&parser.Packet{Type: parser.Event, Namespace: nsp, ID: -1, Data: p.Data, Attachments: p.Attachments}, p.Offset)
		for _, e := range pkts {
			size += len(e.Data) + 1
		}
		if size > budget {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrRecoveryTooLarge, budget)
		}
		out = append(out, pkts...)
	}
	return out, nil
}

// attach connects s to n (with the rooms of restored, when recovering) and
// sends the CONNECT reply; false when the connection is gone.
func (c *conn) attach(n *Namespace, s *Socket, restored *Session) bool {
	name := n.name
	if s.pid != "" {
		// Before any detach can run, which removes it.
		c.srv.pids.Store(s.pid, s)
	}
	s.mu.Lock()
	s.state = stateConnected
	s.mu.Unlock()
	n.add(s)
	if restored != nil {
		s.Join(restored.Rooms...)
	}
	c.mu.Lock()
	c.doneConnectingLocked(name)
	closed := c.closed
	if !closed {
		c.sockets = append(c.sockets, s)
		if c.timer != nil {
			c.timer.Stop()
			c.timer = nil
		}
	}
	c.mu.Unlock()
	if closed {
		// A recovered socket is saved again, as the client will retry.
		s.detach(ReasonTransportClose, false)
		return false
	}
	reply := map[string]string{"sid": s.id}
	if s.pid != "" {
		reply["pid"] = s.pid
	}
	b, _ := json.Marshal(reply)
	return s.sendPacket(&parser.Packet{Type: parser.Connect, ID: -1, Data: b}, "", false, true) == nil
}

// restore looks up the session the client's CONNECT auth names by pid and
// offset. On success s takes its id, pid and data and restore returns the
// session and its missed packets; otherwise s.recoveryErr says why (nil
// when the client did not ask).
func (c *conn) restore(s *Socket, auth json.RawMessage) (*Session, iter.Seq2[*StoredPacket, error]) {
	var a struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	_ = json.Unmarshal(auth, &a)
	pid, _ := a.PID.(string)
	if pid == "" {
		return nil, nil
	}
	offset, _ := a.Offset.(string)
	if offset == "" {
		// socket.io-client sends no offset before it received an event:
		// nothing tells which packets it missed.
		s.recoveryErr = fmt.Errorf("%w: the client sent none", ErrRecoveryOffsetGone)
		return nil, nil
	}
	rec := c.srv.opts.Recovery
	c.supersede(pid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, missed, err := rec.Store.RestoreSession(ctx, pid, offset)
	if err == nil && (sess == nil || sess.Namespace != s.nsp.name || s.nsp.Socket(sess.SID) != nil) {
		// No session, or its socket id is taken again (a store that
		// restored a pid twice): never replace a live socket.
		err = ErrRecoveryUnknownSession
	}
	if err == nil && c.srv.now().Sub(sess.DisconnectedAt) > rec.MaxDisconnectionDuration {
		err = ErrRecoveryExpired
	}
	if err != nil {
		s.recoveryErr = err
		c.srv.log.Debug("sio: recovery refused", "nsp", s.nsp.name, "err", err)
		return nil, nil
	}
	s.id = sess.SID
	s.pid = sess.PID
	s.data = sess.Data
	s.recovered = true
	return sess, missed
}

// supersedeWait bounds the wait for an old socket's session to be saved.
const supersedeWait = 5 * time.Second

// supersede handles a client back with the pid of a socket this server
// still has, because the server has not noticed the old connection die
// (ping timeout pending) or is still closing it (a storm of closes). Only
// the client holds its pid, so the old connection is dead: close it and
// wait until its session is saved, then restore it as usual.
func (c *conn) supersede(pid string) {
	v, ok := c.srv.pids.Load(pid)
	if !ok {
		return
	}
	old := v.(*Socket)
	if old.conn == c {
		return // the pid of another namespace of this client: not restorable
	}
	old.conn.sess.Close(ReasonForcedClose)
	t := time.NewTimer(supersedeWait)
	defer t.Stop()
	select {
	case <-old.gone:
	case <-t.C:
	}
}

// refuse answers a CONNECT with CONNECT_ERROR; the connection stays.
func (c *conn) refuse(name string, payload json.RawMessage) {
	c.mu.Lock()
	c.doneConnectingLocked(name)
	c.mu.Unlock()
	_ = c.send(encodePackets(&parser.Packet{Type: parser.ConnectError, Namespace: name, ID: -1, Data: payload}, ""), false, true)
}

func (c *conn) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socketLocked(nsp)
}

func (c *conn) socketLocked(nsp string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *conn) doneConnectingLocked(nsp string) {
	if i := slices.Index(c.connecting, nsp); i >= 0 {
		c.connecting = slices.Delete(c.connecting, i, i+1)
	}
	if len(c.connecting) == 0 {
		c.connecting = nil
	}
}

func (c *conn) removeSocket(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
	}
	if len(c.sockets) == 0 {
		c.sockets = nil
	}
	c.mu.Unlock()
}

// send queues Engine.IO packets on the session.
func (c *conn) send(pkts []eio.Packet, volatile, compress bool) error {
	if volatile {
		// A dropped volatile packet is what volatile means, not an error.
		if !c.sess.SendVolatile(compress, pkts...) {
			c.srv.volatileDropped.Add(1)
		}
		return nil
	}
	if err := c.sess.Send(compress, pkts...); err != nil {
		if errors.Is(err, eio.ErrSlowClient) {
			c.srv.slowClients.Add(1)
			return ErrSlowClient
		}
		return ErrDisconnected
	}
	return nil
}

// disconnectAll sends DISCONNECT to every socket of the client, then closes
// the Engine.IO connection.
func (c *conn) disconnectAll() {
	c.mu.Lock()
	socks := slices.Clone(c.sockets) // removeSocket edits c.sockets in place
	c.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(false)
	}
	c.sess.Close(ReasonForcedServerClose)
}

// OnClose ends the connection: every socket is disconnected with reason.
func (c *conn) OnClose(reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.mu.Lock()
		c.closed = true
		if c.timer != nil {
			c.timer.Stop()
			c.timer = nil
		}
		socks := slices.Clone(c.sockets) // removeSocket edits c.sockets in place
		if c.space != nil {
			close(c.space) // wake a reader blocked on a full queue
			c.space = nil
		}
		// A running worker releases the count when it sees closed.
		release := c.held && !c.working
		c.held = c.held && !release
		c.mu.Unlock()
		for _, s := range socks {
			s.onclose(reason)
		}
		if release {
			c.srv.workers.Done()
		}
		c.srv.forget(c)
	})
}
