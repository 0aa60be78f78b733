// Package sioclient is a Go Socket.IO v5 client over Engine.IO v4
// websockets, a peer of the official JavaScript socket.io-client: events
// with acknowledgements and binary arguments, automatic reconnection with
// the same backoff, a bounded buffer of emits made while disconnected, and
// connection state recovery.
//
// Start with Dial; register handlers with On and the On* hooks before
// anything can arrive (pass them in Options or call them right after Dial:
// events that arrive before a handler exists are dropped, as in JS).
package sioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/internal/parser"
)

// Options configures a Client. A nil *Options, or a zero field, means the
// default of the JavaScript client, given on each field.
type Options struct {
	// Path is the server's Socket.IO path. Zero means "/socket.io/".
	Path string
	// Auth returns the CONNECT payload (an object), called on every
	// connection attempt so it can carry a fresh token. Nil sends none.
	Auth func() map[string]any
	// Header is sent with the websocket handshake (cookies, authorization).
	Header http.Header
	// NoReconnect turns automatic reconnection off.
	NoReconnect bool
	// ReconnectionAttempts bounds reconnection attempts. Zero means no bound.
	ReconnectionAttempts int
	// ReconnectionDelay is the first reconnection delay. Zero means 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the reconnection delay. Zero means 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor spreads the delays, 0 to 1. Zero means 0.5;
	// negative means none.
	RandomizationFactor float64
	// MaxBuffered caps the packets buffered while disconnected; an Emit
	// beyond it fails with ErrBufferFull. Zero means 1000.
	MaxBuffered int
	// Logger receives connection state changes. Nil discards them.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if c.ReconnectionDelay <= 0 {
		c.ReconnectionDelay = time.Second
	}
	if c.ReconnectionDelayMax <= 0 {
		c.ReconnectionDelayMax = 5 * time.Second
	}
	if c.RandomizationFactor == 0 {
		c.RandomizationFactor = 0.5
	} else if c.RandomizationFactor < 0 {
		c.RandomizationFactor = 0
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Errors of the client.
var (
	// ErrClosed means Close was called.
	ErrClosed = errors.New("sioclient: closed")
	// ErrBufferFull means too many emits wait for a connection.
	ErrBufferFull = errors.New("sioclient: send buffer full while disconnected")
	// ErrDisconnected means the connection ended before an ack arrived and
	// the emit cannot be retried (it had already been sent).
	ErrDisconnected = errors.New("sioclient: disconnected before the acknowledgement")
)

// ConnectError is the server's refusal of the namespace connection, as
// sent by its middleware: the JS client's connect_error.
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

// Error returns the server's message with the package prefix.
func (e *ConnectError) Error() string { return "sioclient: connect refused: " + e.Message }

// Disconnect reasons, as the JavaScript client names them.
const (
	ReasonServerDisconnect = "io server disconnect"
	ReasonClientDisconnect = "io client disconnect"
	ReasonTransportClose   = "transport close"
	ReasonTransportError   = "transport error"
	ReasonPingTimeout      = "ping timeout"
	ReasonParseError       = "parse error"
)

// Args are the arguments of an event or an acknowledgement.
type Args struct {
	raw []json.RawMessage
	att [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Decode decodes the first len(dst) arguments into dst, like
// json.Unmarshal; binary attachments decode into []byte.
func (a Args) Decode(dst ...any) error {
	if len(dst) > len(a.raw) {
		return fmt.Errorf("sioclient: %d arguments, want %d", len(a.raw), len(dst))
	}
	for i, d := range dst {
		if d == nil {
			continue
		}
		if err := parser.Unmarshal(a.raw[i], a.att, d); err != nil {
			return fmt.Errorf("sioclient: argument %d: %w", i, err)
		}
	}
	return nil
}

// Raw returns argument i as JSON (binary attachments stay placeholders).
func (a Args) Raw(i int) json.RawMessage { return a.raw[i] }

func newArgs(data json.RawMessage, att [][]byte) (Args, error) {
	if len(data) == 0 {
		return Args{}, nil
	}
	raw, err := parser.SplitArray(data)
	if err != nil {
		return Args{}, err
	}
	return Args{raw: raw, att: att}, nil
}

// Event is an event from the server.
type Event struct {
	Name string
	Args Args
	c    *Client
	gen  uint64
	id   int64
	once sync.Once
}

// HasAck reports whether the server asked for an acknowledgement.
func (e *Event) HasAck() bool { return e.id >= 0 }

// Ack answers the server's acknowledgement request; later calls do nothing.
func (e *Event) Ack(args ...any) error {
	if e.id < 0 {
		return errors.New("sioclient: the server asked for no acknowledgement")
	}
	var err error
	e.once.Do(func() {
		var data json.RawMessage
		var att [][]byte
		data, att, err = parser.MarshalArgs(args...)
		if err == nil {
			err = e.c.sendNow(e.gen, &parser.Packet{Type: parser.Ack, Namespace: e.c.nsp, ID: e.id, Data: data, Attachments: att})
		}
	})
	return err
}

// Client is a connection to one namespace of a Socket.IO server that
// reconnects on its own. All methods are safe for concurrent use. Handlers
// run one at a time on the client's read goroutine: they must not block
// (start a goroutine to call EmitWithAck from a handler).
type Client struct {
	opts Options
	base *url.URL // ws(s) URL with path and query, without sid
	nsp  string

	mu        sync.Mutex
	handlers  map[string]func(*Event)
	onConnect []func()
	onDisc    []func(reason string)
	onErr     []func(err error)
	onAttempt []func(n int)
	ws        *websocket.Conn // nil while disconnected
	gen       uint64          // counts connections; acks of old ones are void
	connected bool
	closed    bool
	id        string
	pid       string
	offset    string
	recovered bool
	buffer    []*pending // emits waiting for a connection
	acks      map[int64]*pending
	nextAck   int64
	started   bool

	stop   chan struct{}
	wg     sync.WaitGroup
	wakeup chan struct{} // Connect after a refusal
}

// pending is an emit on its way: buffered, or sent and awaiting its ack.
type pending struct {
	pkt *parser.Packet
	ack chan ackResult // nil without ack
}

type ackResult struct {
	args Args
	err  error
}

// Dial connects to the namespace in rawURL ("http://host:8080/" for the
// main namespace, "http://host:8080/admin" for /admin) and returns once the
// namespace is joined, or with the error of the first attempt. Unless
// NoReconnect is set the client keeps reconnecting after a lost
// connection until Close.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Client, error) {
	c, err := New(rawURL, opts)
	if err != nil {
		return nil, err
	}
	report := make(chan error, 1)
	c.started = true
	c.wg.Add(1)
	go c.run(report)
	select {
	case err := <-report:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

// New returns a client that has not connected yet; register handlers, then
// call Connect. Dial is New and Connect in one.
func New(rawURL string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sioclient: %w", err)
	}
	nsp := u.Path
	if nsp == "" {
		nsp = "/"
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("sioclient: unsupported scheme %q", u.Scheme)
	}
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	u.Path = o.Path
	return &Client{
		opts: o, base: u, nsp: nsp,
		handlers: map[string]func(*Event){},
		acks:     map[int64]*pending{},
		stop:     make(chan struct{}),
		wakeup:   make(chan struct{}, 1),
	}, nil
}

// Connect starts connecting in the background, and connects again after a
// refusal by the server's middleware or a server-side disconnect, which stop
// automatic reconnection as in JS.
func (c *Client) Connect() {
	c.mu.Lock()
	start := !c.started && !c.closed
	c.started = true
	c.mu.Unlock()
	if start {
		c.wg.Add(1)
		go c.run(nil)
		return
	}
	select {
	case c.wakeup <- struct{}{}:
	default:
	}
}

// On registers the handler of event, replacing any earlier one.
func (c *Client) On(event string, h func(ev *Event)) {
	c.mu.Lock()
	c.handlers[event] = h
	c.mu.Unlock()
}

// OnConnect registers fn to run after each successful (re)connection.
func (c *Client) OnConnect(fn func()) {
	c.mu.Lock()
	c.onConnect = append(c.onConnect, fn)
	c.mu.Unlock()
}

// OnDisconnect registers fn to run when a connection ends, with the reason.
func (c *Client) OnDisconnect(fn func(reason string)) {
	c.mu.Lock()
	c.onDisc = append(c.onDisc, fn)
	c.mu.Unlock()
}

// OnConnectError registers fn to run when a connection attempt fails.
func (c *Client) OnConnectError(fn func(err error)) {
	c.mu.Lock()
	c.onErr = append(c.onErr, fn)
	c.mu.Unlock()
}

// OnReconnectAttempt registers fn to run before each reconnection attempt.
func (c *Client) OnReconnectAttempt(fn func(attempt int)) {
	c.mu.Lock()
	c.onAttempt = append(c.onAttempt, fn)
	c.mu.Unlock()
}

// Connected reports whether the namespace is joined now.
func (c *Client) Connected() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.connected }

// ID returns the socket id of the current connection ("" when none).
func (c *Client) ID() string { c.mu.Lock(); defer c.mu.Unlock(); return c.id }

// Recovered reports whether the current connection recovered the previous
// session (the server replayed what was missed).
func (c *Client) Recovered() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.recovered }

// Emit sends an event; while disconnected it is buffered (up to
// MaxBuffered) and sent on reconnection.
func (c *Client) Emit(event string, args ...any) error {
	p, err := c.packet(event, args, false)
	if err != nil {
		return err
	}
	return c.send(&pending{pkt: p}, false)
}

// EmitVolatile sends an event only if connected now; it reports whether
// it was sent.
func (c *Client) EmitVolatile(event string, args ...any) bool {
	p, err := c.packet(event, args, false)
	if err != nil {
		return false
	}
	return c.send(&pending{pkt: p}, true) == nil
}

// EmitWithAck sends an event and waits for the server's acknowledgement
// until ctx ends. While disconnected it is buffered like Emit.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	p, err := c.packet(event, args, true)
	if err != nil {
		return Args{}, err
	}
	pd := &pending{pkt: p, ack: make(chan ackResult, 1)}
	if err := c.send(pd, false); err != nil {
		return Args{}, err
	}
	select {
	case r := <-pd.ack:
		return r.args, r.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.acks, p.ID)
		c.mu.Unlock()
		return Args{}, ctx.Err()
	}
}

func (c *Client) packet(event string, args []any, withAck bool) (*parser.Packet, error) {
	data, att, err := parser.MarshalArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sioclient: %w", err)
	}
	p := &parser.Packet{Type: parser.Event, Namespace: c.nsp, ID: -1, Data: data, Attachments: att}
	if withAck {
		c.mu.Lock()
		p.ID = c.nextAck
		c.nextAck++
		c.mu.Unlock()
	}
	return p, nil
}

func (c *Client) send(pd *pending, volatile bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.connected {
		if volatile {
			c.mu.Unlock()
			return ErrDisconnected
		}
		if len(c.buffer) >= c.opts.MaxBuffered {
			c.mu.Unlock()
			return ErrBufferFull
		}
		c.buffer = append(c.buffer, pd)
		c.mu.Unlock()
		return nil
	}
	if pd.ack != nil {
		c.acks[pd.pkt.ID] = pd
	}
	ws, gen := c.ws, c.gen
	c.mu.Unlock()
	if err := c.write(ws, pd.pkt); err != nil {
		c.dropConn(gen, ws, ReasonTransportError)
		// The packet may or may not have left: an ack waiter learns it on
		// disconnect; a plain emit is lost like in JS.
		return nil
	}
	return nil
}

// sendNow writes p on connection gen, if that connection still stands.
func (c *Client) sendNow(gen uint64, p *parser.Packet) error {
	c.mu.Lock()
	ws, cur := c.ws, c.gen
	c.mu.Unlock()
	if ws == nil || cur != gen {
		return ErrDisconnected
	}
	return c.write(ws, p)
}

func (c *Client) write(ws *websocket.Conn, p *parser.Packet) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := append([]byte{'4'}, parser.Encode(p)...)
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return err
	}
	for _, a := range p.Attachments {
		if err := ws.Write(ctx, websocket.MessageBinary, a); err != nil {
			return err
		}
	}
	return nil
}

// Close disconnects (sending DISCONNECT when connected), stops reconnecting
// and waits for the client's goroutines. Pending acks fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ws, connected := c.ws, c.connected
	close(c.stop)
	c.mu.Unlock()
	if ws != nil {
		if connected {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			ws.Write(ctx, websocket.MessageText, append([]byte{'4'}, parser.Encode(&parser.Packet{Type: parser.Disconnect, Namespace: c.nsp, ID: -1})...))
			cancel()
		}
		ws.Close(websocket.StatusNormalClosure, "")
	}
	c.wg.Wait()
	c.mu.Lock()
	for id, pd := range c.acks {
		pd.ack <- ackResult{err: ErrClosed}
		delete(c.acks, id)
	}
	for _, pd := range c.buffer {
		if pd.ack != nil {
			pd.ack <- ackResult{err: ErrClosed}
		}
	}
	c.buffer = nil
	c.mu.Unlock()
	return nil
}

// backoff is the JS client's reconnection delay for attempt n (0-based).
func (c *Client) backoff(n int) time.Duration {
	d := float64(c.opts.ReconnectionDelay)
	for i := 0; i < n && d < float64(c.opts.ReconnectionDelayMax); i++ {
		d *= 2
	}
	if j := c.opts.RandomizationFactor; j > 0 {
		r := rand.Float64()
		dev := r * j * d
		if int(r*10)&1 == 0 {
			d -= dev
		} else {
			d += dev
		}
	}
	return min(time.Duration(d), c.opts.ReconnectionDelayMax)
}

// run connects, serves the connection, and reconnects until Close. When
// report is set, the first attempt's outcome goes there, and a failed first
// attempt ends run (Dial returns the error).
func (c *Client) run(report chan<- error) {
	defer c.wg.Done()
	attempt := 0
	for {
		reason, err := c.connectOnce(func() {
			if report != nil {
				report <- nil
				report = nil
			}
		})
		if report != nil {
			report <- err
			return
		}
		var ce *ConnectError
		manual := errors.As(err, &ce) || reason == ReasonServerDisconnect || reason == ReasonClientDisconnect
		if err == nil {
			attempt = 0
		}
		if c.isClosed() {
			return
		}
		if manual || c.opts.NoReconnect {
			// Wait for Connect, as the JS client does after a refusal or a
			// server-side disconnect.
			select {
			case <-c.stop:
				return
			case <-c.wakeup:
				continue
			}
		}
		if c.opts.ReconnectionAttempts > 0 && attempt >= c.opts.ReconnectionAttempts {
			c.opts.Logger.Warn("socket.io reconnection attempts exhausted", "attempts", attempt)
			select {
			case <-c.stop:
				return
			case <-c.wakeup:
				attempt = 0
				continue
			}
		}
		d := c.backoff(attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		case <-c.wakeup:
			t.Stop()
		}
		c.mu.Lock()
		hs := append([]func(int){}, c.onAttempt...)
		c.mu.Unlock()
		for _, h := range hs {
			h(attempt)
		}
	}
}

// readMessage reads the next message through buf, which is kept between
// reads, and returns a copy of its exact size that the decoded packet may
// keep.
func readMessage(ws *websocket.Conn, buf *bytes.Buffer) (websocket.MessageType, []byte, error) {
	typ, r, err := ws.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, bytes.Clone(buf.Bytes()), nil
}

func (c *Client) isClosed() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.closed }

// connectOnce makes one connection and serves it until it ends. It returns
// the disconnect reason after a successful connection, or the error of the
// failed attempt.
func (c *Client) connectOnce(joinedFn func()) (reason string, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	defer cancel()

	dialCtx, dialCancel := context.WithTimeout(ctx, 20*time.Second)
	ws, _, err := websocket.Dial(dialCtx, c.base.String(), &websocket.DialOptions{HTTPHeader: c.opts.Header})
	dialCancel()
	if err != nil {
		c.fireErr(err)
		return "", fmt.Errorf("sioclient: dial: %w", err)
	}
	ws.SetReadLimit(-1)
	defer ws.CloseNow()
	// The read loop reads without a context (coder/websocket arms a
	// watcher per read for a cancellable one); a stop closes the socket.
	defer context.AfterFunc(ctx, func() { ws.CloseNow() })()

	// Engine.IO handshake.
	_, msg, err := ws.Read(ctx)
	if err != nil || len(msg) < 2 || msg[0] != '0' {
		err = fmt.Errorf("sioclient: bad engine.io handshake %q: %v", msg, err)
		c.fireErr(err)
		return "", err
	}
	var hs struct {
		Sid          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
	}
	if err := json.Unmarshal(msg[1:], &hs); err != nil {
		c.fireErr(err)
		return "", fmt.Errorf("sioclient: engine.io handshake: %w", err)
	}
	// Socket.IO CONNECT, with the recovery state of the last session.
	auth := map[string]any{}
	if c.opts.Auth != nil {
		for k, v := range c.opts.Auth() {
			auth[k] = v
		}
	}
	c.mu.Lock()
	if c.pid != "" {
		auth["pid"] = c.pid
		auth["offset"] = c.offset
	}
	c.mu.Unlock()
	authJSON, _ := json.Marshal(auth)
	if len(auth) == 0 {
		authJSON = nil
	}
	connectPkt := &parser.Packet{Type: parser.Connect, Namespace: c.nsp, ID: -1, Data: authJSON}
	if err := ws.Write(ctx, websocket.MessageText, append([]byte{'4'}, parser.Encode(connectPkt)...)); err != nil {
		c.fireErr(err)
		return "", err
	}

	pingEvery := time.Duration(hs.PingInterval+hs.PingTimeout) * time.Millisecond
	if pingEvery <= 0 {
		pingEvery = 45 * time.Second
	}
	var dec parser.Decoder
	var early []*parser.Packet
	joined := false
	var gen uint64
	deadline := time.AfterFunc(pingEvery, func() { ws.CloseNow() })
	defer deadline.Stop()
	timedOut := func() bool { return !deadline.Stop() }
	var rbuf bytes.Buffer
	for {
		typ, msg, err := readMessage(ws, &rbuf)
		if err != nil {
			reason := ReasonTransportClose
			switch {
			case c.isClosed():
				reason = ReasonClientDisconnect
			case timedOut():
				reason = ReasonPingTimeout
			case websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled):
				reason = ReasonTransportError
			}
			if !joined {
				c.fireErr(err)
				return "", fmt.Errorf("sioclient: connection lost before the namespace was joined: %w", err)
			}
			c.dropConn(gen, ws, reason)
			return reason, nil
		}
		deadline.Reset(pingEvery)
		var pkt *parser.Packet
		if typ == websocket.MessageBinary {
			pkt, err = dec.Add(msg, true)
		} else {
			if len(msg) == 0 {
				err = errors.New("empty engine.io packet")
			} else {
				switch msg[0] {
				case '2': // ping
					ws.Write(ctx, websocket.MessageText, []byte("3"))
					continue
				case '1': // close
					if joined {
						c.dropConn(gen, ws, ReasonTransportClose)
						return ReasonTransportClose, nil
					}
					return "", errors.New("sioclient: server closed the connection")
				case '6':
					continue
				case '4':
					pkt, err = dec.Add(msg[1:], false)
				default:
					err = fmt.Errorf("unexpected engine.io packet %q", msg[:1])
				}
			}
		}
		if err != nil {
			if joined {
				c.dropConn(gen, ws, ReasonParseError)
				return ReasonParseError, nil
			}
			c.fireErr(err)
			return "", fmt.Errorf("sioclient: %w", err)
		}
		if pkt == nil || pkt.Namespace != c.nsp {
			continue
		}
		switch pkt.Type {
		case parser.Connect:
			var r struct {
				Sid string `json:"sid"`
				Pid string `json:"pid"`
			}
			json.Unmarshal(pkt.Data, &r)
			gen = c.established(ws, r.Sid, r.Pid)
			joined = true
			joinedFn()
			for _, p := range early {
				c.dispatch(gen, p)
			}
			early = nil
		case parser.ConnectError:
			var r struct {
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}
			json.Unmarshal(pkt.Data, &r)
			ce := &ConnectError{Message: r.Message, Data: r.Data}
			c.fireErr(ce)
			return "", ce
		case parser.Disconnect:
			c.dropConn(gen, ws, ReasonServerDisconnect)
			return ReasonServerDisconnect, nil
		case parser.Event, parser.BinaryEvent:
			if !joined {
				// A recovering server may replay missed events before its
				// CONNECT reply; like the JS client, deliver them after it.
				early = append(early, pkt)
				continue
			}
			c.dispatch(gen, pkt)
		case parser.Ack, parser.BinaryAck:
			args, err := newArgs(pkt.Data, pkt.Attachments)
			c.mu.Lock()
			pd := c.acks[pkt.ID]
			delete(c.acks, pkt.ID)
			c.mu.Unlock()
			if pd != nil {
				pd.ack <- ackResult{args: args, err: err}
			}
		}
	}
}

// established records a joined namespace and flushes the buffer.
func (c *Client) established(ws *websocket.Conn, sid, pid string) uint64 {
	c.mu.Lock()
	c.recovered = pid != "" && pid == c.pid && sid == c.id
	c.id, c.pid = sid, pid
	c.ws = ws
	c.gen++
	gen := c.gen
	c.connected = true
	buf := c.buffer
	c.buffer = nil
	for _, pd := range buf {
		if pd.ack != nil {
			c.acks[pd.pkt.ID] = pd
		}
	}
	hs := append([]func(){}, c.onConnect...)
	c.mu.Unlock()
	c.opts.Logger.Info("socket.io connected", "sid", sid, "recovered", c.recovered)
	for _, pd := range buf {
		if err := c.write(ws, pd.pkt); err != nil {
			break
		}
	}
	for _, h := range hs {
		h()
	}
	return gen
}

// dropConn ends connection gen, failing the acks that were sent on it.
func (c *Client) dropConn(gen uint64, ws *websocket.Conn, reason string) {
	c.mu.Lock()
	if c.gen != gen || c.ws != ws || !c.connected {
		c.mu.Unlock()
		return
	}
	c.connected = false
	c.ws = nil
	acks := c.acks
	c.acks = map[int64]*pending{}
	hs := append([]func(string){}, c.onDisc...)
	c.mu.Unlock()
	ws.CloseNow()
	for _, pd := range acks {
		pd.ack <- ackResult{err: ErrDisconnected}
	}
	c.opts.Logger.Info("socket.io disconnected", "reason", reason)
	for _, h := range hs {
		h(reason)
	}
}

func (c *Client) fireErr(err error) {
	c.mu.Lock()
	hs := append([]func(error){}, c.onErr...)
	c.mu.Unlock()
	for _, h := range hs {
		h(err)
	}
}

func (c *Client) dispatch(gen uint64, pkt *parser.Packet) {
	args, err := newArgs(pkt.Data, pkt.Attachments)
	if err != nil || args.Len() == 0 {
		return
	}
	name, err := parser.String(args.raw[0])
	if err != nil {
		name = strings.TrimSpace(string(args.raw[0]))
	}
	rest := Args{raw: args.raw[1:], att: args.att}
	c.mu.Lock()
	// With recovery on, the server appends the packet's offset as a last
	// string argument; remember it to resume from there.
	if c.pid != "" && rest.Len() > 0 {
		if off, err := parser.String(rest.raw[rest.Len()-1]); err == nil {
			c.offset = off
		}
	}
	h := c.handlers[name]
	c.mu.Unlock()
	if h == nil {
		return
	}
	h(&Event{Name: name, Args: rest, c: c, gen: gen, id: pkt.ID})
}
