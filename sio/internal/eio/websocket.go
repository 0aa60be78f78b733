package eio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes of a websocket connection. They stay allocated for the whole
// life of the connection, so they are kept small: frames larger than the
// buffers are read and written directly. The write buffer holds the largest
// control frame (2-byte header, 125-byte payload), so that a pong or a close
// written outside the session's writer goes out in one write; the writer's
// frames are gathered by the coalescer below it.
const (
	wsReadBufSize  = 256
	wsWriteBufSize = 128
	// wsCompressionThreshold is the smallest message permessage-deflate
	// compresses, the Node.js engine.io default.
	wsCompressionThreshold = 1024
)

// serveWebSocket accepts a websocket: a new session when ss is nil, else a
// candidate for upgrading the polling session ss.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, ss *Session) {
	if ss != nil && s.opts.DisallowUpgrades {
		s.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	opts := &websocket.AcceptOptions{
		// Origins are checked by AllowRequest, as in the reference server.
		InsecureSkipVerify: true,
	}
	if s.opts.PerMessageDeflate {
		// No context takeover: a sliding window per connection would cost
		// 32 KiB of memory each.
		opts.CompressionMode = websocket.CompressionNoContextTakeover
		opts.CompressionThreshold = wsCompressionThreshold
	}
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, opts)
	if err != nil {
		s.log.Debug("eio: websocket accept failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(s.opts.MaxPayload)

	if ss == nil {
		ss = s.newSession(r, transportWebSocket, conn, hc.out)
		ss.mu.Lock()
		ss.flushLocked()
		ss.mu.Unlock()
		// Read on a new goroutine so that this request's goroutine, and the
		// buffers net/http holds for it, go away.
		raw, br := hc.out.conn, hc.br
		s.goTracked(func() { ss.readLoop(conn, raw, br, false) })
		return
	}

	ss.mu.Lock()
	if ss.state != stateOpen || ss.transport != transportPolling || ss.probe != nil {
		ss.mu.Unlock()
		// Only one websocket per session.
		raw := hc.out.conn
		t := time.AfterFunc(maxFlushWait, func() { _ = raw.Close() })
		_ = conn.Close(websocket.StatusPolicyViolation, "session already upgraded")
		t.Stop()
		return
	}
	ss.probe = conn
	ss.probeOut = hc.out
	ss.upgradeTimer = time.AfterFunc(s.opts.UpgradeTimeout, func() {
		if ss.abortUpgrade(conn) {
			s.log.Debug("eio: upgrade timed out", "sid", ss.id)
		}
	})
	ss.mu.Unlock()
	raw, br := hc.out.conn, hc.br
	s.goTracked(func() { ss.readLoop(conn, raw, br, false) })
}

// abortUpgrade drops the candidate websocket c, keeping polling. It reports
// whether c was still the candidate.
func (s *Session) abortUpgrade(c *websocket.Conn) bool {
	s.mu.Lock()
	mine := s.probe == c
	if mine {
		s.probe = nil
		s.probeOut = nil
		s.probed = false
		s.upgradeTimer.Stop()
	}
	s.mu.Unlock()
	_ = c.CloseNow()
	return mine
}

// readLoop reads frames from c until it fails or the session ends; c is the
// session's websocket or a candidate for an upgrade. raw and br are the
// connection and read buffer under c; the closure that starts readLoop must
// not hold the ResponseWriter, which pins net/http's per-connection buffers.
// readable says that raw is known to have data, so the first read need not
// wait for it.
//
// An idle session's websocket is parked on the server's reactor, and this
// goroutine ends: the reactor starts a new one when data arrives. Where it
// cannot be parked (a probe, a TLS connection, not Linux), an idle reader
// waits on a goroutine that has handled no frame: handling one (and the
// handler's work) can grow the stack to 4 KiB or more, which the garbage
// collector never shrinks back to the 2 KiB minimum while the goroutine
// waits. So after handling frames, the loop goes on in a new goroutine when
// no data is buffered, and this one ends.
func (s *Session) readLoop(c *websocket.Conn, raw net.Conn, br *bufio.Reader, readable bool) {
	ctx := context.Background()
	fresh := true
	for {
		s.brMu.Lock()
		idle := br.Buffered() == 0 && !readable
		s.brMu.Unlock()
		if idle {
			if s.park(c, raw, br) {
				return
			}
			if !fresh {
				s.srv.goTracked(func() { s.readLoop(c, raw, br, false) })
				return
			}
			waitReadable(raw)
		}
		fresh, readable = false, false
		typ, data, err := c.Read(ctx)
		if err != nil {
			s.onReadError(c, err)
			return
		}
		s.mu.Lock()
		probe, active := s.probe == c, s.conn == c
		s.mu.Unlock()
		if probe {
			if !s.onProbeFrame(c, typ, data) {
				return
			}
			continue
		}
		if !active {
			_ = c.CloseNow()
			return
		}
		if typ == websocket.MessageBinary {
			s.onPacket(packet{typ: typeMessage, bin: true, data: data})
			continue
		}
		p, err := decodeText(data)
		if err != nil {
			s.close(ReasonParseError, closeGraceful)
			return
		}
		if !s.onPacket(p) {
			return
		}
	}
}

// park hands the idle websocket c to the server's reactor, which calls
// resumeReader when raw becomes readable. It reports false when c stays
// with the calling goroutine: c is not the session's open websocket, or raw
// cannot be watched.
func (s *Session) park(c *websocket.Conn, raw net.Conn, br *bufio.Reader) bool {
	r := s.srv.idleReactor()
	if r == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen || s.conn != c || s.out == nil || s.out.conn != raw {
		return false
	}
	s.br = br
	// The read buffer is dropped while parked: nothing reads it until the
	// reactor starts a reader, or a close handshake (which comes after a
	// close, so not while mu is held here); both refill it first. Only a
	// buffer made in Hijack, which reads straight from raw, is dropped.
	s.brMu.Lock()
	saved := *br
	drop := br.Size() == wsReadBufSize && br.Buffered() == 0
	if drop {
		*br = bufio.Reader{}
	}
	s.brMu.Unlock()
	if r.park(s, raw) {
		return true
	}
	if drop {
		s.brMu.Lock()
		*br = saved
		s.brMu.Unlock()
	}
	return false
}

// refillReadBuf gives br, emptied while its session was parked, a new
// buffer reading from raw. The caller holds the session's brMu.
func refillReadBuf(br *bufio.Reader, raw net.Conn) {
	if br.Size() == 0 {
		*br = *bufio.NewReaderSize(raw, wsReadBufSize)
	}
}

// resumeReader reads the parked websocket, which has become readable.
func (s *Session) resumeReader() {
	s.mu.Lock()
	c, raw, br := s.conn, s.out.conn, s.br
	s.mu.Unlock()
	// Parking dropped the buffer, and only a resumption ends a park, so
	// the refill is here rather than in readLoop's per-frame look at it.
	s.brMu.Lock()
	refillReadBuf(br, raw)
	s.brMu.Unlock()
	s.readLoop(c, raw, br, true)
}

func (s *Session) onReadError(c *websocket.Conn, err error) {
	s.mu.Lock()
	if s.probe == c {
		s.mu.Unlock()
		s.abortUpgrade(c)
		return
	}
	active := s.conn == c && s.state == stateOpen
	s.mu.Unlock()
	if !active {
		return
	}
	reason := ReasonTransportClose
	if errors.Is(err, websocket.ErrMessageTooBig) {
		reason = ReasonTransportError
	}
	s.close(reason, closeAbrupt)
}

// onProbeFrame handles a frame on a candidate websocket: "2probe" is
// answered with "3probe", "5" completes the upgrade, anything else aborts it.
// It reports whether to keep reading.
func (s *Session) onProbeFrame(c *websocket.Conn, typ websocket.MessageType, data []byte) bool {
	if typ == websocket.MessageText && string(data) == "2probe" {
		// Mark the upgrade before answering: a GET the client sends after
		// seeing "3probe" must find it.
		s.mu.Lock()
		if s.probe != c {
			s.mu.Unlock()
			return false
		}
		s.probed = true
		if s.poll != nil && !s.poll.duringUpgrade {
			// Release the pending GET so the client can pause polling.
			s.answerPollLocked(pollResult{status: http.StatusOK, body: []byte{typeNoop}})
		}
		s.mu.Unlock()
		if err := c.Write(context.Background(), websocket.MessageText, []byte("3probe")); err != nil {
			s.abortUpgrade(c)
			return false
		}
		return true
	}
	if typ == websocket.MessageText && string(data) == "5" {
		s.mu.Lock()
		if s.probe != c || s.state != stateOpen {
			s.mu.Unlock()
			_ = c.CloseNow()
			return false
		}
		s.probe = nil
		s.probed = false
		s.upgradeTimer.Stop()
		s.transport = transportWebSocket
		s.conn = c
		s.out = s.probeOut
		s.probeOut = nil
		if s.poll != nil {
			if s.poll.duringUpgrade {
				s.answerPollLocked(pollResult{status: http.StatusBadRequest})
			} else {
				s.answerPollLocked(pollResult{status: http.StatusOK, body: []byte{typeNoop}})
			}
		}
		s.flushLocked()
		s.mu.Unlock()
		s.srv.log.Debug("eio: upgraded", "sid", s.id)
		return true
	}
	s.abortUpgrade(c)
	return false
}

// writeLoop writes the queue to the websocket until it is empty, then exits;
// Send starts it again. When the session is closing it closes the socket
// and finishes the session.
func (s *Session) writeLoop() {
	ctx := context.Background()
	var scratch []byte
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.state == stateClosed {
			if s.state == stateOpen {
				s.writing = false
				s.mu.Unlock()
				return
			}
			conn, abrupt, br := s.conn, s.mode == closeAbrupt, s.br
			var raw net.Conn
			if s.out != nil {
				raw = s.out.conn
			}
			s.mu.Unlock()
			// writing stays true: no writer starts after this one.
			if abrupt {
				_ = conn.CloseNow()
			} else {
				// The close handshake reads from the read buffer too.
				s.brMu.Lock()
				if br != nil && raw != nil {
					refillReadBuf(br, raw)
				}
				_ = conn.Close(websocket.StatusNormalClosure, "")
				s.brMu.Unlock()
			}
			s.finish()
			return
		}
		batch := s.queue
		s.queue = nil
		conn, out := s.conn, s.out
		s.mu.Unlock()

		if out != nil {
			out.start()
		}
		failed := false
		for i := range batch {
			p := &batch[i]
			if !failed {
				var err error
				if p.bin {
					err = conn.Write(ctx, websocket.MessageBinary, p.data)
				} else {
					scratch = append(append(scratch[:0], p.typ), p.data...)
					err = conn.Write(ctx, websocket.MessageText, scratch)
				}
				if err != nil {
					failed = true
					s.close(ReasonTransportError, closeAbrupt)
				}
			}
			s.mu.Lock()
			if s.state != stateClosed {
				s.queued -= p.size()
			}
			s.mu.Unlock()
		}
		if out != nil {
			if err := out.stop(); err != nil && !failed {
				s.close(ReasonTransportError, closeAbrupt)
			}
		}
		clear(batch)
	}
}

// hijackCapture hands coder/websocket smaller connection buffers than the
// 4 KiB ones net/http gives a hijacked connection, which an idle websocket
// would otherwise hold for its whole life.
// It also keeps the raw connection, so that a close can be bounded in time.
type hijackCapture struct {
	http.ResponseWriter
	out *coalescer    // under the writer coder/websocket writes frames to
	br  *bufio.Reader // the reader coder/websocket reads frames from
}

func (w *hijackCapture) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.out = &coalescer{conn: conn}
	w.br = brw.Reader
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			return conn, brw, nil
		}
	}
	n := brw.Reader.Buffered()
	if n > wsReadBufSize {
		return conn, brw, nil
	}
	var br *bufio.Reader
	if n == 0 {
		br = bufio.NewReaderSize(conn, wsReadBufSize)
	} else {
		// Bytes the client sent right after its handshake are already
		// buffered: carry them over.
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(&prefixReader{b: bytes.Clone(b), r: conn}, wsReadBufSize)
		if _, err := br.Peek(n); err != nil {
			return conn, brw, nil
		}
	}
	w.br = br
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, wsWriteBufSize)), nil
}

// prefixReader reads b, then r. Unlike io.MultiReader it lets go of b as
// soon as b is read, and costs one small struct for the life of the
// connection.
type prefixReader struct {
	b []byte
	r io.Reader
}

func (p *prefixReader) Read(q []byte) (int, error) {
	if len(p.b) == 0 {
		return p.r.Read(q)
	}
	n := copy(q, p.b)
	p.b = p.b[n:]
	if len(p.b) == 0 {
		p.b = nil
	}
	return n, nil
}

// maxCoalesce bounds the bytes gathered before a write to the socket.
const maxCoalesce = 64 << 10

// coalesceBufs holds the buffers of coalescers between batches, so that an
// idle session holds none and a busy one does not allocate one per batch.
var coalesceBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// coalescer is the writer under coder/websocket's buffered writer. coder
// flushes every frame to the socket; while the session's writer drains a
// batch of packets, the coalescer gathers those frames instead and writes
// them with one system call at the end of the batch. Frames written outside
// a batch (control frames) go straight to the socket.
type coalescer struct {
	conn net.Conn

	mu  sync.Mutex // held across socket writes, to keep frames in order
	on  bool
	buf *[]byte // from coalesceBufs, only while a batch is written
	err error
}

func (w *coalescer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.on {
		if w.buf == nil {
			w.buf = coalesceBufs.Get().(*[]byte)
		}
		if len(*w.buf)+len(p) <= maxCoalesce {
			*w.buf = append(*w.buf, p...)
			return len(p), nil
		}
	}
	if err := w.flushLocked(); err != nil {
		return 0, err
	}
	n, err := w.conn.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func (w *coalescer) flushLocked() error {
	if w.buf == nil || len(*w.buf) == 0 {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// start begins gathering frames.
func (w *coalescer) start() {
	w.mu.Lock()
	w.on = true
	w.mu.Unlock()
}

// stop writes what was gathered and goes back to writing through.
func (w *coalescer) stop() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on = false
	err := w.flushLocked()
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		coalesceBufs.Put(w.buf)
		w.buf = nil
	}
	return err
}
