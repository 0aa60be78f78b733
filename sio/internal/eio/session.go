package eio

import (
	"bufio"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

type sessionState uint8

const (
	stateOpen    sessionState = iota
	stateClosing              // no more sends; flushing, then finish
	stateClosed               // OnClose scheduled
)

// closeMode says how a session ends.
type closeMode uint8

const (
	// closeFlush writes what is queued (bounded), then closes: Session.Close.
	closeFlush closeMode = iota
	// closeShutdown is closeFlush without waiting for a next polling GET.
	closeShutdown
	// closeGraceful drops the queue and sends a close: protocol errors, ping timeout.
	closeGraceful
	// closeAbrupt drops the queue and the connection at once: transport
	// errors, slow clients.
	closeAbrupt
	// closeClient is a close requested by the client with a "1" packet.
	closeClient
)

// pollResult is the answer handed to a waiting polling GET.
type pollResult struct {
	status   int
	body     []byte
	compress bool
}

// pollWaiter is one polling GET waiting for packets.
type pollWaiter struct {
	ch chan pollResult // buffered: the waker never blocks
	// duringUpgrade marks a GET that arrived after the probe: it is answered
	// with a noop after upgradeGetWait, or 400 if the upgrade completes.
	duringUpgrade bool
	timer         *time.Timer
}

// Session is one Engine.IO connection. All methods are safe for concurrent use.
type Session struct {
	srv *Server
	id  string
	req atomic.Pointer[http.Request] // during the open callback only
	h   Handler

	// hmu serialises the handler's OnMessage and OnClose calls.
	hmu sync.Mutex

	mu        sync.Mutex
	state     sessionState
	reason    string
	mode      closeMode
	transport string
	queue     []packet
	queued    int // bytes in queue plus bytes being written

	// polling
	poll      *pollWaiter
	posting   bool
	postRC    *http.ResponseController // of the POST being read, to abort it on close
	linger    bool                     // closing: the next GET gets the queue and a close packet
	tombstone bool                     // closed by the client: one late GET gets a noop

	// websocket
	conn    *websocket.Conn
	out     *coalescer    // under conn: gathers a batch's frames; its conn bounds a close in time
	writing bool          // a writer goroutine is running
	br      *bufio.Reader // under conn: set when conn is parked, for the reader the reactor starts
	// rkey is the reactor's key for conn while it is parked there, else 0.
	// It is guarded by the reactor's mutex.
	rkey       uint64
	epollAdded bool // conn is in the reactor's epoll set (maybe disarmed)
	// brMu orders the reader's look at its read buffer with a close
	// handshake, which reads from that buffer too, and with parking, which
	// drops the buffer until a reader or a close handshake refills it.
	brMu sync.Mutex

	// upgrade
	probe        *websocket.Conn // websocket being upgraded to
	probeOut     *coalescer
	probed       bool // "2probe" answered, waiting for "5"
	upgradeTimer *time.Timer

	// heartbeat
	hbTimer   *time.Timer
	hbDue     time.Time
	awaitPong bool
	extended  bool // the pong deadline was extended once by incoming traffic

	closeTimer *time.Timer
}

// ID returns the session id (the Engine.IO "sid").
func (s *Session) ID() string { return s.id }

// Request returns the handshake request (headers, query, RemoteAddr) while
// the server's open callback runs, and nil afterwards, so that a session
// does not keep the request alive: copy what you need in the callback. Its
// body must not be read.
func (s *Session) Request() *http.Request { return s.req.Load() }

// Transport returns the current transport: "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Send queues packets to be written together and in order (a Socket.IO packet
// and its binary attachments). It never blocks on the network. When the
// queued bytes would exceed MaxQueuedBytes the session is closed with reason
// "slow client" and ErrSlowClient is returned; after close it returns
// ErrClosed. The packets' Data must not be modified afterwards.
func (s *Session) Send(compress bool, pkts ...Packet) error {
	_, err := s.send(compress, false, pkts)
	return err
}

// SendVolatile is Send, except that the packets are dropped (and false
// returned) when the transport cannot write right now: queue not empty, no
// pending polling GET, or an upgrade in progress.
func (s *Session) SendVolatile(compress bool, pkts ...Packet) bool {
	ok, err := s.send(compress, true, pkts)
	return ok && err == nil
}

func (s *Session) send(compress, volatile bool, pkts []Packet) (bool, error) {
	n := 0
	for i := range pkts {
		n += len(pkts[i].Data) + 1
	}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return false, ErrClosed
	}
	if volatile && !s.writableLocked() {
		s.mu.Unlock()
		return false, nil
	}
	if s.queued+n > s.srv.opts.MaxQueuedBytes {
		s.mu.Unlock()
		s.srv.log.Debug("eio: slow client", "sid", s.id, "queued", s.queued)
		s.close(ReasonSlowClient, closeAbrupt)
		return false, ErrSlowClient
	}
	for i := range pkts {
		s.queue = append(s.queue, packet{typ: typeMessage, bin: pkts[i].Binary, compress: compress, data: pkts[i].Data})
	}
	s.queued += n
	s.flushLocked()
	s.mu.Unlock()
	return true, nil
}

// writableLocked reports whether a packet queued now would be written at once.
func (s *Session) writableLocked() bool {
	if len(s.queue) > 0 || s.probed {
		return false
	}
	if s.transport == transportWebSocket {
		return !s.writing
	}
	return s.poll != nil && !s.poll.duringUpgrade
}

// enqueueLocked queues a control packet, which is exempt from MaxQueuedBytes.
func (s *Session) enqueueLocked(p packet) {
	s.queue = append(s.queue, p)
	s.queued += p.size()
	s.flushLocked()
}

// flushLocked hands the queue to the transport if it can take it now.
func (s *Session) flushLocked() {
	if len(s.queue) == 0 {
		return
	}
	if s.transport == transportWebSocket {
		s.startWriterLocked()
		return
	}
	if s.poll != nil && !s.poll.duringUpgrade && !s.probed {
		body, compress := s.takePollBodyLocked(false)
		s.answerPollLocked(pollResult{status: http.StatusOK, body: body, compress: compress})
	}
}

// startWriterLocked starts the websocket writer goroutine unless it runs.
func (s *Session) startWriterLocked() {
	if s.writing || s.conn == nil {
		return
	}
	s.writing = true
	s.srv.goTracked(s.writeLoop)
}

// Close closes the session from the server side: what is queued is flushed
// (bounded wait), the transport is closed, then the handler's OnClose is
// called with reason, from another goroutine. Close does not block and is
// idempotent.
func (s *Session) Close(reason string) {
	s.close(reason, closeFlush)
}

// close starts closing the session; the first call wins.
func (s *Session) close(reason string, mode closeMode) {
	s.mu.Lock()
	if s.state != stateOpen {
		if s.state == stateClosing && mode == closeShutdown && s.linger {
			// A lingering polling close must not hold up a shutdown.
			s.linger = false
			s.mu.Unlock()
			s.finish()
			return
		}
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.reason = reason
	s.mode = mode
	if s.hbTimer != nil {
		s.hbTimer.Stop()
	}
	probe := s.probe
	s.probe = nil
	s.probeOut = nil
	s.probed = false
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
	}
	if mode != closeFlush && mode != closeShutdown {
		s.dropQueueLocked()
	}
	if r := s.srv.reactor.Load(); r != nil {
		// Under mu, before the writer that finishes the session starts:
		// the reactor never starts a reader for a closing session, and
		// Server.Close cannot stop waiting while it does.
		r.forget(s)
	}
	if rc := s.postRC; rc != nil {
		// A POST body still arriving must not hold up the close (nor
		// Server.Close, which waits for every request).
		_ = rc.SetReadDeadline(time.Now())
	}

	if s.transport == transportWebSocket {
		conn := s.conn
		if mode == closeAbrupt {
			// Unblock a writer stuck on a client that does not read.
			s.startWriterLocked()
			s.mu.Unlock()
			_ = conn.CloseNow()
		} else {
			// coder/websocket's close handshake waits up to 10s for a
			// client that does not answer; closing the raw connection
			// bounds both the flush and the handshake.
			out := s.out
			s.closeTimer = time.AfterFunc(maxFlushWait, func() {
				// Raw first: CloseNow waits for a close handshake in
				// progress.
				if out != nil {
					_ = out.conn.Close()
				}
				_ = conn.CloseNow()
			})
			s.startWriterLocked()
			s.mu.Unlock()
		}
		if probe != nil {
			_ = probe.CloseNow()
		}
		return
	}

	// Polling.
	finishNow := true
	if s.poll != nil {
		var res pollResult
		switch mode {
		case closeClient:
			res = pollResult{status: http.StatusOK, body: []byte{typeNoop}}
		default:
			res.status = http.StatusOK
			res.body, res.compress = s.takePollBodyLocked(true)
		}
		s.answerPollLocked(res)
	} else if mode == closeClient {
		s.tombstone = true
	} else if mode == closeFlush {
		s.linger = true
		finishNow = false
		s.closeTimer = time.AfterFunc(maxFlushWait, s.finish)
	}
	s.mu.Unlock()
	if probe != nil {
		_ = probe.CloseNow()
	}
	if finishNow {
		s.finish()
	}
}

func (s *Session) dropQueueLocked() {
	clear(s.queue)
	s.queue = s.queue[:0]
	s.queued = 0
}

// finish ends a closing session: forget it and call OnClose.
func (s *Session) finish() {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	s.linger = false
	if s.closeTimer != nil {
		s.closeTimer.Stop()
	}
	if s.hbTimer != nil {
		s.hbTimer.Stop()
	}
	s.queue = nil
	s.queued = 0
	reason := s.reason
	tomb := s.tombstone
	s.mu.Unlock()

	if tomb {
		time.AfterFunc(tombstoneTTL, func() { s.srv.remove(s) })
	} else {
		s.srv.remove(s)
	}
	s.srv.log.Debug("eio: session closed", "sid", s.id, "reason", reason)
	// OnClose runs on its own goroutine: finish may be reached from Send or
	// Close, called with the caller's locks held.
	s.srv.goTracked(func() {
		s.hmu.Lock()
		defer s.hmu.Unlock()
		s.h.OnClose(reason)
	})
}

func (s *Session) isTombstone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// deliver hands one message to the handler unless the session is closing.
func (s *Session) deliver(p Packet) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.mu.Lock()
	open := s.state == stateOpen
	s.mu.Unlock()
	if open {
		s.h.OnMessage(p)
	}
}

// onPacket handles one decoded packet from the client on the active
// transport. It reports false when the session was closed because of it.
func (s *Session) onPacket(p packet) bool {
	s.mu.Lock()
	if s.awaitPong && !s.extended && p.typ != typePong {
		// Incoming traffic shows the client is alive: extend the pong
		// deadline once.
		s.extended = true
		s.resetHeartbeatLocked(time.Until(s.hbDue) + s.srv.opts.PingTimeout)
	}
	s.mu.Unlock()
	switch p.typ {
	case typeMessage:
		s.deliver(Packet{Data: p.data, Binary: p.bin})
	case typePong:
		s.onPong()
	case typePing:
		// v4 clients never ping; the reference server treats it as an error.
		s.close(ReasonTransportError, closeGraceful)
		return false
	case typeClose:
		s.close(ReasonTransportClose, closeClient)
		return false
	}
	// open, upgrade and noop from the client are ignored, as the reference
	// server does.
	return true
}

// startHeartbeat arms the ping timer; it runs before the handshake is written
// so that pings and timeouts are on time.
func (s *Session) startHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return
	}
	d := s.srv.opts.PingInterval
	s.hbDue = time.Now().Add(d)
	s.hbTimer = time.AfterFunc(d, s.onHeartbeat)
}

func (s *Session) resetHeartbeatLocked(d time.Duration) {
	s.hbDue = time.Now().Add(d)
	s.hbTimer.Reset(d)
}

// onHeartbeat sends a ping, or closes the session when the previous ping
// got no pong in time.
func (s *Session) onHeartbeat() {
	s.mu.Lock()
	if s.state != stateOpen || time.Now().Before(s.hbDue) {
		// Closed, or a stale firing after the timer was reset.
		s.mu.Unlock()
		return
	}
	if s.awaitPong {
		s.mu.Unlock()
		s.close(ReasonPingTimeout, closeGraceful)
		return
	}
	s.awaitPong = true
	s.extended = false
	s.resetHeartbeatLocked(s.srv.opts.PingTimeout)
	s.enqueueLocked(packet{typ: typePing})
	s.mu.Unlock()
}

func (s *Session) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen || !s.awaitPong {
		return
	}
	s.awaitPong = false
	s.resetHeartbeatLocked(s.srv.opts.PingInterval)
}
