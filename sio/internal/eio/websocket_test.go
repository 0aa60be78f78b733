package eio_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/internal/eio"
)

func TestWebSocketHandshakeAndEcho(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	c := e.dial("")
	typ, msg := readFrame(t, c)
	if typ != websocket.MessageText {
		t.Fatalf("handshake frame type %v", typ)
	}
	hs, raw := parseOpen(t, msg)
	if len(raw) != 5 || hs.Upgrades == nil || len(hs.Upgrades) != 0 || hs.MaxPayload != 1000000 {
		t.Errorf("handshake %q", msg)
	}
	r := e.session()
	if r.s.Transport() != "websocket" || r.s.ID() != hs.SID {
		t.Errorf("transport %q id %q", r.s.Transport(), r.s.ID())
	}
	writeText(t, c, "4hello")
	if typ, msg := readFrame(t, c); typ != websocket.MessageText || msg != "4hello" {
		t.Errorf("echo %v %q", typ, msg)
	}
	if err := c.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if typ, msg := readFrame(t, c); typ != websocket.MessageBinary || msg != "\x01\x02\x03\x04" {
		t.Errorf("binary echo %v %q", typ, msg)
	}
	if p := r.waitMsg(t); p.Binary || string(p.Data) != "hello" {
		t.Errorf("handler got %+v", p)
	}
	if p := r.waitMsg(t); !p.Binary || !bytes.Equal(p.Data, []byte{1, 2, 3, 4}) {
		t.Errorf("handler got %+v", p)
	}
	// Polling requests for a websocket session are refused.
	if res := e.get(hs.SID); res.status != 400 {
		t.Errorf("polling GET on websocket session: %d", res.status)
	}
}

func TestWebSocketBadQuery(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	for _, q := range []string{"/engine.io/?transport=websocket", "/engine.io/?EIO=abc&transport=websocket", "/engine.io/?EIO=4", "/engine.io/?EIO=4&transport=abc", "/engine.io/?EIO=4&transport=websocket&sid=nope"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+q, nil)
		cancel()
		if err == nil {
			_ = c.CloseNow()
			t.Errorf("%s: websocket accepted", q)
			continue
		}
		if res == nil || res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: response %v", q, res)
		}
	}
}

func TestWebSocketReadLimit(t *testing.T) {
	opts := longOpts()
	opts.MaxPayload = 100
	e := newEnv(t, opts, false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	writeText(t, c, "4"+strings.Repeat("x", 200))
	err := waitWSClosed(t, c)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("close error %v, want status 1009", err)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonTransportError {
		t.Errorf("reason %q", reason)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	e := newEnv(t, &eio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond}, false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	for i := range 3 {
		if _, msg := readFrame(t, c); msg != "2" {
			t.Fatalf("round %d: %q, want ping", i, msg)
		}
		writeText(t, c, "3")
	}
	select {
	case reason := <-r.closed:
		t.Fatalf("closed: %s", reason)
	default:
	}
}

func TestWebSocketPingTimeout(t *testing.T) {
	e := newEnv(t, &eio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}, false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	if _, msg := readFrame(t, c); msg != "2" {
		t.Fatalf("%q, want ping", msg)
	}
	waitWSClosed(t, c)
	if reason := r.waitClosed(t); reason != eio.ReasonPingTimeout {
		t.Errorf("reason %q", reason)
	}
}

func TestWebSocketProtocolErrors(t *testing.T) {
	cases := []struct {
		send, reason string
	}{
		{"abc", eio.ReasonParseError},
		{"", eio.ReasonParseError},
		{"2", eio.ReasonTransportError}, // v4 clients never ping
		{"1", eio.ReasonTransportClose},
	}
	for _, c := range cases {
		t.Run(c.send, func(t *testing.T) {
			e := newEnv(t, longOpts(), false)
			conn := e.dial("")
			readFrame(t, conn)
			r := e.session()
			writeText(t, conn, c.send)
			waitWSClosed(t, conn)
			if reason := r.waitClosed(t); reason != c.reason {
				t.Errorf("reason %q, want %q", reason, c.reason)
			}
		})
	}
}

func TestWebSocketClientDisconnect(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	_ = c.Close(websocket.StatusNormalClosure, "")
	if reason := r.waitClosed(t); reason != eio.ReasonTransportClose {
		t.Errorf("reason %q", reason)
	}
	if err := r.s.Send(false, eio.Packet{Data: []byte("x")}); !errors.Is(err, eio.ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
}

func TestWebSocketServerClose(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	_ = r.s.Send(false, eio.Packet{Data: []byte("last")}, eio.Packet{Data: []byte{9}, Binary: true})
	r.s.Close(eio.ReasonForcedClose)
	r.s.Close(eio.ReasonForcedClose) // idempotent
	// Queued packets are flushed before the close.
	if typ, msg := readFrame(t, c); typ != websocket.MessageText || msg != "4last" {
		t.Errorf("got %v %q", typ, msg)
	}
	if typ, msg := readFrame(t, c); typ != websocket.MessageBinary || msg != "\x09" {
		t.Errorf("got %v %q", typ, msg)
	}
	if err := waitWSClosed(t, c); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("close %v", err)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonForcedClose {
		t.Errorf("reason %q", reason)
	}
}

func TestWebSocketSendVolatile(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	eventually(t, "writer idle", func() bool { return r.s.SendVolatile(false, eio.Packet{Data: []byte("v")}) })
	if _, msg := readFrame(t, c); msg != "4v" {
		t.Errorf("got %q", msg)
	}
}

func TestPerMessageDeflate(t *testing.T) {
	opts := longOpts()
	opts.PerMessageDeflate = true
	e := newEnv(t, opts, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, e.wsURL+"?EIO=4&transport=websocket", &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extension not negotiated: %q", ext)
	}
	readFrame(t, c)
	big := "4" + strings.Repeat("compressible ", 500)
	writeText(t, c, big)
	if _, msg := readFrame(t, c); msg != big {
		t.Errorf("echo of %d bytes came back as %d bytes", len(big), len(msg))
	}

	// Off by default.
	plain := newEnv(t, longOpts(), false)
	_, res, err = websocket.Dial(ctx, plain.wsURL+"?EIO=4&transport=websocket", &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("extension negotiated while off: %q", ext)
	}
}

func TestSlowClient(t *testing.T) {
	opts := longOpts()
	opts.MaxQueuedBytes = 256 << 10
	e := newEnv(t, opts, false)
	c := e.dial("") // never read
	r := e.session()
	chunk := eio.Packet{Data: make([]byte, 16<<10), Binary: true}
	var err error
	sent := 0
	for sent < 256<<20 {
		if err = r.s.Send(false, chunk); err != nil {
			break
		}
		sent += len(chunk.Data)
		// Pace the sends so the writer keeps the queue short while the
		// socket takes data: the queue only fills once the client's socket
		// buffers are full.
		time.Sleep(200 * time.Microsecond)
	}
	if !errors.Is(err, eio.ErrSlowClient) {
		t.Fatalf("after %d bytes: Send error %v, want ErrSlowClient", sent, err)
	}
	if sent < 1<<20 {
		t.Errorf("slow client declared after only %d KiB: the writer is not draining", sent>>10)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonSlowClient {
		t.Errorf("reason %q", reason)
	}
	if err := r.s.Send(false, chunk); !errors.Is(err, eio.ErrClosed) {
		t.Errorf("Send after slow-client close: %v", err)
	}
	_ = c.CloseNow()
	t.Logf("slow client detected after %d KiB", sent>>10)
}

// upgrade runs the probe handshake on a new websocket for polling session sid.
func upgradeProbe(t *testing.T, e *env, sid string) *websocket.Conn {
	t.Helper()
	c := e.dial("&sid=" + sid)
	writeText(t, c, "2probe")
	if _, msg := readFrame(t, c); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
	return c
}

func TestUpgrade(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	sid, r := e.handshake()
	pending := e.asyncGet(sid)
	eventually(t, "GET pending", func() bool { return r.s.SendVolatile(false) })
	c := upgradeProbe(t, e, sid)
	// The pending GET is released with a noop...
	if res := waitResponse(t, pending); res.status != 200 || res.body != "6" {
		t.Errorf("pending GET %d %q", res.status, res.body)
	}
	// ...and so is a GET that arrives during the upgrade.
	if res := e.get(sid); res.status != 200 || res.body != "6" {
		t.Errorf("GET during upgrade %d %q", res.status, res.body)
	}
	if r.s.SendVolatile(false, eio.Packet{Data: []byte("x")}) {
		t.Error("volatile send accepted during the upgrade")
	}
	// Packets sent during the upgrade wait for the websocket.
	if err := r.s.Send(false, eio.Packet{Data: []byte("queued")}); err != nil {
		t.Fatal(err)
	}
	writeText(t, c, "5")
	if _, msg := readFrame(t, c); msg != "4queued" {
		t.Errorf("first frame after upgrade %q", msg)
	}
	if r.s.Transport() != "websocket" {
		t.Errorf("transport %q", r.s.Transport())
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("GET after upgrade %d", res.status)
	}
	if res := e.post(sid, "4x"); res.status != 400 {
		t.Errorf("POST after upgrade %d", res.status)
	}
	writeText(t, c, "4hello")
	if _, msg := readFrame(t, c); msg != "4hello" {
		t.Errorf("echo %q", msg)
	}
}

func TestUpgradeGetRacingFive(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, _ := e.handshake()
	c := upgradeProbe(t, e, sid)
	// "5" and a GET sent back to back: the GET must see the upgrade done.
	writeText(t, c, "5")
	if res := e.get(sid); res.status != 400 {
		t.Errorf("GET right after 5: %d %q", res.status, res.body)
	}
}

func TestUpgradeSecondWebSocket(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	sid, _ := e.handshake()
	c := upgradeProbe(t, e, sid)
	writeText(t, c, "5")
	eventually(t, "upgraded", func() bool { return e.get(sid).status == 400 })
	c2 := e.dial("&sid=" + sid)
	waitWSClosed(t, c2)
	writeText(t, c, "4still")
	if _, msg := readFrame(t, c); msg != "4still" {
		t.Errorf("first websocket after second was refused: %q", msg)
	}
}

func TestUpgradeAbortKeepsPolling(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	sid, r := e.handshake()
	c := e.dial("&sid=" + sid)
	writeText(t, c, "4nope")
	waitWSClosed(t, c)
	if res := e.post(sid, "4poll"); res.status != 200 {
		t.Fatalf("POST after aborted upgrade %d", res.status)
	}
	if res := e.get(sid); res.body != "4poll" {
		t.Errorf("GET %q", res.body)
	}
	if r.s.Transport() != "polling" {
		t.Errorf("transport %q", r.s.Transport())
	}
}

func TestUpgradeTimeout(t *testing.T) {
	opts := longOpts()
	opts.UpgradeTimeout = 100 * time.Millisecond
	e := newEnv(t, opts, true)
	sid, _ := e.handshake()
	c := upgradeProbe(t, e, sid)
	waitWSClosed(t, c) // no "5" in time
	if res := e.post(sid, "4poll"); res.status != 200 {
		t.Fatalf("POST after upgrade timeout %d", res.status)
	}
	if res := e.get(sid); res.body != "4poll" {
		t.Errorf("GET %q", res.body)
	}
}

func TestServerCloseShutsDownEverything(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, pr := e.handshake()
	pending := e.asyncGet(sid)
	eventually(t, "GET pending", func() bool { return pr.s.SendVolatile(false) })
	c := e.dial("")
	readFrame(t, c)
	wr := e.session()
	if n := e.srv.SessionCount(); n != 2 {
		t.Fatalf("SessionCount %d", n)
	}
	var wg sync.WaitGroup
	wg.Go(func() { waitWSClosed(t, c) })
	e.srv.Close()
	if res := waitResponse(t, pending); res.body != "1" {
		t.Errorf("pending GET %q, want close", res.body)
	}
	wg.Wait()
	for _, r := range []*recorder{pr, wr} {
		if reason := r.waitClosed(t); reason != eio.ReasonServerShutdown {
			t.Errorf("reason %q", reason)
		}
	}
	if n := e.srv.SessionCount(); n != 0 {
		t.Errorf("SessionCount after Close %d", n)
	}
	if res := e.do("GET", "EIO=4&transport=polling", nil, nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("handshake after Close %d", res.status)
	}
}

func TestOpenCallbackSends(t *testing.T) {
	srv := eio.NewServer(longOpts(), func(s *eio.Session) eio.Handler {
		_ = s.Send(false, eio.Packet{Data: []byte("welcome")})
		return nil
	})
	defer srv.Close()
	e := &env{t: t}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	e.ts = newTestServer(t, mux)
	e.url = e.ts.URL + "/engine.io/"
	e.wsURL = "ws" + strings.TrimPrefix(e.url, "http")
	res := e.do("GET", "EIO=4&transport=polling", nil, nil)
	if i := strings.IndexByte(res.body, 0x1e); i < 0 || res.body[i+1:] != "4welcome" || !strings.HasPrefix(res.body, "0{") {
		t.Errorf("handshake body %q", res.body)
	}
	c := e.dial("")
	if _, msg := readFrame(t, c); !strings.HasPrefix(msg, "0{") {
		t.Errorf("first frame %q", msg)
	}
	if _, msg := readFrame(t, c); msg != "4welcome" {
		t.Errorf("second frame %q", msg)
	}
}

// closingHandler closes its own session from inside OnMessage.
type closingHandler struct {
	s      *eio.Session
	inMsg  atomic.Bool
	closed chan string
}

func (h *closingHandler) OnMessage(p eio.Packet) {
	h.inMsg.Store(true)
	_ = h.s.Send(false, eio.Packet{Data: []byte("goodbye")})
	h.s.Close(eio.ReasonForcedClose)
	time.Sleep(20 * time.Millisecond) // OnClose must wait for this to return
	h.inMsg.Store(false)
}

func (h *closingHandler) OnClose(reason string) {
	if h.inMsg.Load() {
		reason = "OnClose during OnMessage"
	}
	h.closed <- reason
}

func TestCloseFromHandler(t *testing.T) {
	closed := make(chan string, 1)
	srv := eio.NewServer(longOpts(), func(s *eio.Session) eio.Handler {
		return &closingHandler{s: s, closed: closed}
	})
	ts := newTestServer(t, srv)
	defer srv.Close()
	c := dialWS(t, ts.URL+"/", "")
	readFrame(t, c)
	writeText(t, c, "4bye")
	if _, msg := readFrame(t, c); msg != "4goodbye" {
		t.Errorf("got %q", msg)
	}
	waitWSClosed(t, c)
	select {
	case reason := <-closed:
		if reason != eio.ReasonForcedClose {
			t.Errorf("reason %q", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called")
	}
}

func TestWebSocketBatchKeepsOrder(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	c := e.dial("")
	c.SetReadLimit(-1)
	readFrame(t, c)
	r := e.session()
	const n = 2000
	go func() {
		for i := range n {
			p := eio.Packet{Data: []byte(strconv.Itoa(i))}
			if i%3 == 0 {
				p = eio.Packet{Data: []byte{byte(i), byte(i >> 8)}, Binary: true}
			}
			if err := r.s.Send(false, p); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}()
	for i := range n {
		typ, msg := readFrame(t, c)
		if i%3 == 0 {
			if typ != websocket.MessageBinary || msg != string([]byte{byte(i), byte(i >> 8)}) {
				t.Fatalf("message %d: %v %q", i, typ, msg)
			}
		} else if typ != websocket.MessageText || msg != "4"+strconv.Itoa(i) {
			t.Fatalf("message %d: %v %q", i, typ, msg)
		}
	}
}

func TestAllowRequestWebSocket(t *testing.T) {
	opts := longOpts()
	opts.AllowRequest = func(r *http.Request) error {
		if r.Header.Get("X-Token") != "ok" {
			return errors.New("no token")
		}
		return nil
	}
	e := newEnv(t, opts, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, e.wsURL+"?EIO=4&transport=websocket", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("refused websocket: %v %v", err, res)
	}
	c, _, err := websocket.Dial(ctx, e.wsURL+"?EIO=4&transport=websocket", &websocket.DialOptions{HTTPHeader: http.Header{"X-Token": {"ok"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, msg := readFrame(t, c); !strings.HasPrefix(msg, "0{") {
		t.Errorf("handshake %q", msg)
	}
}

func TestTrafficExtendsPongDeadlineOnce(t *testing.T) {
	const pi, pt = 50 * time.Millisecond, 300 * time.Millisecond
	e := newEnv(t, &eio.Options{PingInterval: pi, PingTimeout: pt}, false)
	c := e.dial("")
	readFrame(t, c)
	r := e.session()
	if _, msg := readFrame(t, c); msg != "2" {
		t.Fatalf("%q, want ping", msg)
	}
	start := time.Now()
	writeText(t, c, "4busy") // no pong, but the client is alive
	waitWSClosed(t, c)
	if reason := r.waitClosed(t); reason != eio.ReasonPingTimeout {
		t.Errorf("reason %q", reason)
	}
	// One extension: the close comes after about 2*pt, not pt.
	if d := time.Since(start); d < pt+pt/3 {
		t.Errorf("closed after %v: the message did not extend the pong deadline", d)
	}
}
