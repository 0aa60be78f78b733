package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// errProtocol marks a frame the load generator cannot make sense of.
var errProtocol = errors.New("load: protocol error")

// frameKind is what parseFrame recognised in an Engine.IO text frame.
type frameKind int

const (
	frameOther      frameKind = iota // anything the load generator ignores
	framePing                        // Engine.IO ping "2": answer "3"
	frameClose                       // Engine.IO close "1" or Socket.IO disconnect "41"
	frameConnect                     // Socket.IO CONNECT "40{...}" on "/"
	frameEvent                       // Socket.IO EVENT "42[...]" on "/"
	frameAck                         // Socket.IO ACK "43N[...]" on "/"
	frameConnectErr                  // Socket.IO CONNECT_ERROR "44{...}"
)

// frame is one parsed Engine.IO text frame; data is the JSON array of an
// event or ack, and event its first element.
type frame struct {
	kind  frameKind
	ackID uint64
	event string
	data  []byte
}

// parseFrame parses the few Engine.IO/Socket.IO text frames the load
// generator needs (main namespace only, no binary attachments).
func parseFrame(b []byte) (frame, error) {
	if len(b) == 0 {
		return frame{}, fmt.Errorf("%w: empty frame", errProtocol)
	}
	switch b[0] {
	case '2':
		return frame{kind: framePing}, nil
	case '1':
		return frame{kind: frameClose}, nil
	case '4':
	default:
		return frame{kind: frameOther}, nil
	}
	if len(b) < 2 {
		return frame{}, fmt.Errorf("%w: bare message frame", errProtocol)
	}
	rest := b[2:]
	// Fast path for the fan-out's hot frame: 42["reading",{...}]. The
	// payload is checked by whoever decodes it (fanoutSink.onEvent).
	if bytes.HasPrefix(b, readingPrefix) && b[len(b)-1] == ']' {
		return frame{kind: frameEvent, event: "reading", data: b[len(readingPrefix) : len(b)-1]}, nil
	}
	if len(rest) > 0 && rest[0] == '/' {
		// Namespaced packets ("42/nsp,...") are not used by the bench app.
		return frame{kind: frameOther}, nil
	}
	switch b[1] {
	case '0':
		return frame{kind: frameConnect, data: rest}, nil
	case '1':
		return frame{kind: frameClose}, nil
	case '4':
		return frame{kind: frameConnectErr, data: rest}, nil
	case '2':
		// An event may carry an ack id the server wants answered; the
		// bench app never asks, so it is skipped.
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
		var args []json.RawMessage
		if err := json.Unmarshal(rest, &args); err != nil || len(args) == 0 {
			return frame{}, fmt.Errorf("%w: bad event %.60q", errProtocol, b)
		}
		var name string
		if err := json.Unmarshal(args[0], &name); err != nil {
			return frame{}, fmt.Errorf("%w: event name in %.60q", errProtocol, b)
		}
		f := frame{kind: frameEvent, event: name}
		if len(args) > 1 {
			f.data = args[1]
		}
		return f, nil
	case '3':
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 19 {
			return frame{}, fmt.Errorf("%w: ack without id %.60q", errProtocol, b)
		}
		id, err := strconv.ParseUint(string(rest[:i]), 10, 64)
		if err != nil {
			return frame{}, fmt.Errorf("%w: ack id in %.60q", errProtocol, b)
		}
		if len(rest) == i || rest[i] != '[' || !json.Valid(rest[i:]) {
			return frame{}, fmt.Errorf("%w: ack payload in %.60q", errProtocol, b)
		}
		return frame{kind: frameAck, ackID: id, data: rest[i:]}, nil
	default:
		// Binary packets are not used by the bench app.
		return frame{kind: frameOther}, nil
	}
}

var readingPrefix = []byte(`42["reading",`)

// wsURL turns the server's http(s) base URL into the Engine.IO WebSocket URL.
func wsURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("load: unsupported URL scheme %q", u.Scheme)
	}
	u.Path = path
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// client is one Socket.IO connection on the main namespace over a raw
// WebSocket.
type client struct {
	conn *websocket.Conn

	nextAck atomic.Uint64
	mu      sync.Mutex
	acks    map[uint64]chan []byte

	// onEvent is called from the read loop for every event; it must not
	// block.
	onEvent func(name string, data []byte)

	done    chan struct{}
	readErr error

	// stall is held by pause to stop the read loop between frames, so
	// the server's writes back up as behind a slow client.
	stall sync.Mutex

	// readings counts the "reading" events received.
	readings atomic.Int64
}

// pause stops reading from the connection (after at most one more frame)
// until resume.
func (c *client) pause() { c.stall.Lock() }

// resume undoes pause.
func (c *client) resume() { c.stall.Unlock() }

// dial opens the WebSocket, waits for the Engine.IO open packet, connects to
// "/" and starts the read loop.
func dial(ctx context.Context, endpoint string, onEvent func(string, []byte)) (*client, error) {
	conn, _, err := websocket.Dial(ctx, endpoint, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(4 << 20)
	c := &client{conn: conn, acks: make(map[uint64]chan []byte), onEvent: onEvent, done: make(chan struct{})}
	fail := func(err error) (*client, error) {
		conn.Close(websocket.StatusProtocolError, "")
		return nil, err
	}
	_, msg, err := conn.Read(ctx)
	if err != nil {
		return fail(err)
	}
	if len(msg) == 0 || msg[0] != '0' {
		return fail(fmt.Errorf("%w: want open packet, got %.60q", errProtocol, msg))
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		return fail(err)
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return fail(err)
		}
		f, err := parseFrame(msg)
		if err != nil {
			return fail(err)
		}
		switch f.kind {
		case framePing:
			if err := conn.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
				return fail(err)
			}
			continue
		case frameConnect:
		case frameConnectErr:
			return fail(fmt.Errorf("load: connect refused: %s", f.data))
		case frameClose:
			return fail(fmt.Errorf("load: closed during connect"))
		default:
			continue
		}
		break
	}
	go c.readLoop()
	return c, nil
}

func (c *client) readLoop() {
	defer close(c.done)
	// The connection's lifetime is bounded by Close, not by a context.
	ctx := context.Background()
	for {
		c.stall.Lock()
		//lint:ignore SA2001 an empty critical section: waiting out a pause
		c.stall.Unlock()
		_, msg, err := c.conn.Read(ctx)
		if err != nil {
			c.readErr = err
			return
		}
		f, err := parseFrame(msg)
		if err != nil {
			c.readErr = err
			c.conn.Close(websocket.StatusProtocolError, "bad frame")
			return
		}
		switch f.kind {
		case framePing:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.conn.Write(wctx, websocket.MessageText, []byte("3"))
			cancel()
			if err != nil {
				c.readErr = err
				return
			}
		case frameEvent:
			if f.event == "reading" {
				c.readings.Add(1)
			}
			if c.onEvent != nil {
				c.onEvent(f.event, f.data)
			}
		case frameAck:
			c.mu.Lock()
			ch := c.acks[f.ackID]
			delete(c.acks, f.ackID)
			c.mu.Unlock()
			if ch != nil {
				ch <- f.data
			}
		case frameClose:
			c.readErr = errors.New("load: closed by server")
			return
		}
	}
}

// emit sends an event without ack.
func (c *client) emit(ctx context.Context, event string, arg any) error {
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		return err
	}
	return c.conn.Write(ctx, websocket.MessageText, append([]byte("42"), b...))
}

// call sends an event with an ack id and waits for the ack's JSON array.
func (c *client) call(ctx context.Context, event string, arg any) ([]byte, error) {
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		return nil, err
	}
	id := c.nextAck.Add(1)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.acks[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
	}
	msg := append(strconv.AppendUint([]byte("42"), id, 10), b...)
	if err := c.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		forget()
		return nil, err
	}
	select {
	case data := <-ch:
		return data, nil
	case <-c.done:
		forget()
		return nil, fmt.Errorf("load: connection lost: %v", c.readErr)
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// close ends the connection and waits (bounded) for the read loop to stop.
func (c *client) close() {
	c.conn.Close(websocket.StatusNormalClosure, "")
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
}
