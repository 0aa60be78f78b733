package eio_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gatewayd/sio/internal/eio"
)

func TestHandshakePolling(t *testing.T) {
	e := newEnv(t, &eio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, false)
	res := e.do("GET", "EIO=4&transport=polling&t=abc", nil, nil)
	if res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("content-type %q", ct)
	}
	hs, raw := parseOpen(t, res.body)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}; !slices.Equal(keys, want) {
		t.Errorf("handshake keys %v, want exactly %v", keys, want)
	}
	if !slices.Equal(hs.Upgrades, []string{"websocket"}) || hs.PingInterval != 300 || hs.PingTimeout != 200 || hs.MaxPayload != 1000000 {
		t.Errorf("handshake %+v", hs)
	}
	b, err := base64.RawURLEncoding.DecodeString(hs.SID)
	if err != nil || len(b) != 20 {
		t.Errorf("sid %q is not 20 bytes of base64url: %v", hs.SID, err)
	}
	r := e.session()
	if r.s.ID() != hs.SID || r.s.Transport() != "polling" || r.req == nil || r.req.URL.Query().Get("t") != "abc" {
		t.Errorf("session id %q transport %q request %v", r.s.ID(), r.s.Transport(), r.req)
	}
	if r.s.Request() != nil {
		t.Error("the session keeps its handshake request after the open callback")
	}
	sid2, _ := e.handshake()
	if sid2 == hs.SID {
		t.Error("two sessions share a sid")
	}
	if n := e.srv.SessionCount(); n != 2 {
		t.Errorf("SessionCount = %d, want 2", n)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, _ := e.handshake()
	cases := []struct {
		name, method, query string
		status, code        int
		message             string
	}{
		{"no EIO", "GET", "transport=polling", 400, 5, "Unsupported protocol version"},
		{"EIO=3", "GET", "EIO=3&transport=polling", 400, 5, "Unsupported protocol version"},
		{"EIO=abc", "GET", "EIO=abc&transport=polling", 400, 5, "Unsupported protocol version"},
		{"no transport", "GET", "EIO=4", 400, 0, "Transport unknown"},
		{"bad transport", "GET", "EIO=4&transport=abc", 400, 0, "Transport unknown"},
		{"constructor transport", "GET", "EIO=4&transport=constructor", 400, 0, "Transport unknown"},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, 2, "Bad handshake method"},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", 400, 2, "Bad handshake method"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, 1, "Session ID unknown"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, 3, "Bad request"},
		{"PUT with sid", "PUT", "EIO=4&transport=polling&sid=" + sid, 400, 3, "Bad request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.method, c.query, nil, nil)
			if res.status != c.status {
				t.Fatalf("status %d, want %d (%s)", res.status, c.status, res.body)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("body %q: %v", res.body, err)
			}
			if body.Code != c.code || body.Message != c.message {
				t.Errorf("body %+v, want code %d %q", body, c.code, c.message)
			}
		})
	}
}

func TestPollingEcho(t *testing.T) {
	e := newEnv(t, longOpts(), true)
	sid, r := e.handshake()
	for _, body := range []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "4\x1e4é€"} {
		res := e.post(sid, body)
		if res.status != 200 || res.body != "ok" {
			t.Fatalf("POST %q: %d %q", body, res.status, res.body)
		}
		if got := e.get(sid); got.status != 200 || got.body != body {
			t.Errorf("GET after POST %q: %d %q", body, got.status, got.body)
		}
	}
	// The handler saw text as text and binary as binary.
	var got []eio.Packet
	for len(r.msgs) > 0 {
		got = append(got, <-r.msgs)
	}
	if len(got) != 8 {
		t.Fatalf("handler got %d messages", len(got))
	}
	if p := got[4]; p.Binary || string(p.Data) != "hello" {
		t.Errorf("message 4 = %+v", p)
	}
	if p := got[5]; !p.Binary || !bytes.Equal(p.Data, []byte{1, 2, 3, 4}) {
		t.Errorf("binary message = %+v", p)
	}
}

func TestPollingBatchesAndSplitsByMaxPayload(t *testing.T) {
	opts := longOpts()
	opts.MaxPayload = 20
	e := newEnv(t, opts, false)
	sid, r := e.handshake()
	for _, m := range []string{"aaaaaaaa", "bbbbbbbb", "cccccccc"} {
		if err := r.s.Send(false, eio.Packet{Data: []byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.get(sid).body; got != "4aaaaaaaa\x1e4bbbbbbbb" {
		t.Errorf("first GET %q", got)
	}
	if got := e.get(sid).body; got != "4cccccccc" {
		t.Errorf("second GET %q", got)
	}
}

func TestPollingDuplicateGet(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	first := e.asyncGet(sid)
	eventually(t, "GET pending", func() bool { return r.s.SendVolatile(false) })
	second := e.get(sid)
	if second.status != 400 {
		t.Errorf("second GET status %d", second.status)
	}
	if res := waitResponse(t, first); res.status != 200 || res.body != "1" {
		t.Errorf("first GET %d %q, want close packet", res.status, res.body)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("later GET status %d", res.status)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonTransportError {
		t.Errorf("reason %q", reason)
	}
}

func TestPollingDuplicatePost(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	pr, pw := io.Pipe()
	firstDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.url+"?EIO=4&transport=polling&sid="+sid, pr)
		req.ContentLength = -1
		res, err := plainClient.Do(req)
		if err != nil {
			firstDone <- -1
			return
		}
		res.Body.Close()
		firstDone <- res.StatusCode
	}()
	_, _ = pw.Write([]byte("4par"))
	// The first POST is now being read; a second one is an overlap.
	eventually(t, "first POST in progress", func() bool {
		res := e.post(sid, "4x")
		return res.status == 400
	})
	_ = pw.Close()
	<-firstDone
	if reason := r.waitClosed(t); reason != eio.ReasonTransportError {
		t.Errorf("reason %q", reason)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("GET after overlap: %d", res.status)
	}
}

func TestPollingPostTooLarge(t *testing.T) {
	opts := longOpts()
	opts.MaxPayload = 100
	e := newEnv(t, opts, true)
	sid, _ := e.handshake()
	if res := e.post(sid, "4"+strings.Repeat("x", 200)); res.status != 413 {
		t.Errorf("status %d, want 413", res.status)
	}
	// The session survives, as in the reference server.
	if res := e.post(sid, "4ok"); res.status != 200 {
		t.Errorf("POST after 413: %d", res.status)
	}
	if res := e.get(sid); res.body != "4ok" {
		t.Errorf("GET %q", res.body)
	}
}

func TestPollingBinaryContentTypeRefused(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	res := e.do("POST", "EIO=4&transport=polling&sid="+sid, strings.NewReader("\x01\x02"), map[string]string{"Content-Type": "application/octet-stream"})
	if res.status != 400 {
		t.Errorf("status %d", res.status)
	}
	r.waitClosed(t)
}

func TestPollingParseError(t *testing.T) {
	for _, body := range []string{"abc", "4a\x1e", "bAQ!!", "7x", ""} {
		t.Run(body, func(t *testing.T) {
			e := newEnv(t, longOpts(), false)
			sid, r := e.handshake()
			if res := e.post(sid, body); res.status != 400 {
				t.Errorf("POST status %d", res.status)
			}
			if res := e.get(sid); res.status != 400 {
				t.Errorf("GET after parse error: %d", res.status)
			}
			if reason := r.waitClosed(t); reason != eio.ReasonParseError {
				t.Errorf("reason %q", reason)
			}
			if len(r.msgs) != 0 {
				t.Error("a packet of a malformed payload was delivered")
			}
		})
	}
}

func TestPollingHeartbeat(t *testing.T) {
	e := newEnv(t, &eio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond}, false)
	sid, r := e.handshake()
	for i := range 3 {
		if res := e.get(sid); res.status != 200 || res.body != "2" {
			t.Fatalf("round %d: GET %d %q, want ping", i, res.status, res.body)
		}
		if res := e.post(sid, "3"); res.status != 200 {
			t.Fatalf("round %d: pong POST %d", i, res.status)
		}
	}
	select {
	case reason := <-r.closed:
		t.Fatalf("closed: %s", reason)
	default:
	}
}

func TestPollingPingTimeout(t *testing.T) {
	const pi, pt = 100 * time.Millisecond, 100 * time.Millisecond
	e := newEnv(t, &eio.Options{PingInterval: pi, PingTimeout: pt}, false)
	sid, r := e.handshake()
	// No request at all: the timeout must still fire, on time.
	time.Sleep(pi + pt + 100*time.Millisecond)
	if res := e.post(sid, "3"); res.status != 400 {
		t.Errorf("POST after ping timeout: %d", res.status)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonPingTimeout {
		t.Errorf("reason %q", reason)
	}
}

func TestPollingClientClose(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	pending := e.asyncGet(sid)
	eventually(t, "GET pending", func() bool { return r.s.SendVolatile(false) })
	// SendVolatile with no packets changes nothing but proves a GET waits.
	if res := e.post(sid, "1"); res.status != 200 || res.body != "ok" {
		t.Errorf("POST close: %d %q", res.status, res.body)
	}
	if res := waitResponse(t, pending); res.status != 200 || res.body != "6" {
		t.Errorf("pending GET %d %q, want noop", res.status, res.body)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("later GET %d", res.status)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonTransportClose {
		t.Errorf("reason %q", reason)
	}
}

func TestPollingClientCloseLateGet(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	if res := e.post(sid, "1"); res.status != 200 {
		t.Fatalf("POST close: %d", res.status)
	}
	// A GET that raced the close packet ends cleanly, once.
	if res := e.get(sid); res.status != 200 || res.body != "6" {
		t.Errorf("late GET %d %q, want noop", res.status, res.body)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("second late GET %d", res.status)
	}
	r.waitClosed(t)
	if n := e.srv.SessionCount(); n != 0 {
		t.Errorf("SessionCount %d", n)
	}
}

func TestPollingServerClose(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	if err := r.s.Send(false, eio.Packet{Data: []byte("bye")}); err != nil {
		t.Fatal(err)
	}
	r.s.Close(eio.ReasonForcedClose)
	if err := r.s.Send(false, eio.Packet{Data: []byte("late")}); !errors.Is(err, eio.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	// The next GET flushes the queue and carries the close packet.
	if res := e.get(sid); res.status != 200 || res.body != "4bye\x1e1" {
		t.Errorf("GET %d %q", res.status, res.body)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonForcedClose {
		t.Errorf("reason %q", reason)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("GET after close %d", res.status)
	}
}

func TestPollingSendVolatile(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	if r.s.SendVolatile(false, eio.Packet{Data: []byte("dropped")}) {
		t.Error("volatile packet accepted with no GET waiting")
	}
	pending := e.asyncGet(sid)
	eventually(t, "volatile accepted", func() bool { return r.s.SendVolatile(false, eio.Packet{Data: []byte("v")}) })
	if res := waitResponse(t, pending); res.body != "4v" {
		t.Errorf("GET %q", res.body)
	}
}

func TestCORS(t *testing.T) {
	opts := longOpts()
	opts.CORS = &eio.CORS{Origins: []string{"https://app.example"}, Credentials: true, ExposedHeaders: []string{"X-A"}, MaxAge: time.Hour}
	e := newEnv(t, opts, false)
	res := e.do("GET", "EIO=4&transport=polling", nil, map[string]string{"Origin": "https://app.example"})
	if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		res.header.Get("Access-Control-Allow-Credentials") != "true" || res.header.Get("Access-Control-Expose-Headers") != "X-A" {
		t.Errorf("allowed origin: %d %v", res.status, res.header)
	}
	res = e.do("GET", "EIO=4&transport=polling", nil, map[string]string{"Origin": "https://evil.example"})
	if res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %v", res.header)
	}
	res = e.do("OPTIONS", "EIO=4&transport=polling", nil, map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	if res.status != 204 || !strings.Contains(res.header.Get("Access-Control-Allow-Methods"), "POST") ||
		res.header.Get("Access-Control-Allow-Headers") != "content-type" || res.header.Get("Access-Control-Max-Age") != "3600" {
		t.Errorf("preflight: %d %v", res.status, res.header)
	}
	// Errors carry the headers too, so browsers can read them.
	res = e.do("GET", "EIO=4&transport=abc", nil, map[string]string{"Origin": "https://app.example"})
	if res.status != 400 || res.header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("error response: %d %v", res.status, res.header)
	}

	star := newEnv(t, &eio.Options{CORS: &eio.CORS{Origins: []string{"*"}}}, false)
	res = star.do("GET", "EIO=4&transport=polling", nil, map[string]string{"Origin": "https://any.example"})
	if res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("wildcard: %v", res.header)
	}
}

func TestAllowRequest(t *testing.T) {
	opts := longOpts()
	opts.AllowRequest = func(r *http.Request) error {
		if r.URL.Query().Get("token") != "ok" {
			return errors.New("no token")
		}
		return nil
	}
	e := newEnv(t, opts, false)
	res := e.do("GET", "EIO=4&transport=polling", nil, nil)
	if res.status != 403 || res.body != `{"code":4,"message":"Forbidden"}` {
		t.Errorf("refused: %d %q", res.status, res.body)
	}
	if res := e.do("GET", "EIO=4&transport=polling&token=ok", nil, nil); res.status != 200 {
		t.Errorf("allowed: %d", res.status)
	}
}

func TestHTTPCompression(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	big := strings.Repeat("sensor-reading ", 200)
	for _, enc := range []string{"gzip", "deflate"} {
		if err := r.s.Send(true, eio.Packet{Data: []byte(big)}); err != nil {
			t.Fatal(err)
		}
		res := e.do("GET", "EIO=4&transport=polling&sid="+sid, nil, map[string]string{"Accept-Encoding": enc})
		if res.header.Get("Content-Encoding") != enc {
			t.Fatalf("%s: Content-Encoding %q", enc, res.header.Get("Content-Encoding"))
		}
		if len(res.body) >= len(big) {
			t.Errorf("%s: not smaller: %d", enc, len(res.body))
		}
		var zr io.Reader
		if enc == "gzip" {
			g, err := gzip.NewReader(strings.NewReader(res.body))
			if err != nil {
				t.Fatal(err)
			}
			zr = g
		} else {
			zr = flate.NewReader(strings.NewReader(res.body))
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != "4"+big {
			t.Errorf("%s: decoded %d bytes, err %v", enc, len(plain), err)
		}
	}
	// Below the threshold, without the compress flag, or not accepted: plain.
	for _, c := range []struct {
		compress bool
		data     string
		accept   string
	}{{true, "small", "gzip"}, {false, big, "gzip"}, {true, big, "br"}} {
		_ = r.s.Send(c.compress, eio.Packet{Data: []byte(c.data)})
		res := e.do("GET", "EIO=4&transport=polling&sid="+sid, nil, map[string]string{"Accept-Encoding": c.accept})
		if res.header.Get("Content-Encoding") != "" || res.body != "4"+c.data {
			t.Errorf("%+v: encoding %q", c, res.header.Get("Content-Encoding"))
		}
	}
}

func TestTransportsOption(t *testing.T) {
	pollOnly := newEnv(t, &eio.Options{Transports: []string{"polling"}}, false)
	res := pollOnly.do("GET", "EIO=4&transport=polling", nil, nil)
	if hs, _ := parseOpen(t, res.body); len(hs.Upgrades) != 0 {
		t.Errorf("polling-only offers upgrades %v", hs.Upgrades)
	}
	if res := pollOnly.do("GET", "EIO=4&transport=websocket", nil, map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}); res.status != 400 || !strings.Contains(res.body, `"code":0`) {
		t.Errorf("websocket on polling-only: %d %s", res.status, res.body)
	}

	wsOnly := newEnv(t, &eio.Options{Transports: []string{"websocket"}}, false)
	if res := wsOnly.do("GET", "EIO=4&transport=polling", nil, nil); res.status != 400 || !strings.Contains(res.body, `"code":0`) {
		t.Errorf("polling on websocket-only: %d %s", res.status, res.body)
	}
	c := wsOnly.dial("")
	if _, msg := readFrame(t, c); !strings.HasPrefix(msg, "0{") {
		t.Errorf("websocket-only handshake %q", msg)
	}

	noUp := newEnv(t, &eio.Options{DisallowUpgrades: true}, false)
	res = noUp.do("GET", "EIO=4&transport=polling", nil, nil)
	if hs, _ := parseOpen(t, res.body); len(hs.Upgrades) != 0 {
		t.Errorf("DisallowUpgrades offers %v", hs.Upgrades)
	}
}

func TestPollingSlowClient(t *testing.T) {
	opts := longOpts()
	opts.MaxQueuedBytes = 1000
	e := newEnv(t, opts, false)
	sid, r := e.handshake()
	msg := eio.Packet{Data: make([]byte, 99)}
	for i := range 10 {
		if err := r.s.Send(false, msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := r.s.Send(false, msg); !errors.Is(err, eio.ErrSlowClient) {
		t.Fatalf("send over the cap: %v", err)
	}
	if reason := r.waitClosed(t); reason != eio.ReasonSlowClient {
		t.Errorf("reason %q", reason)
	}
	if res := e.get(sid); res.status != 400 {
		t.Errorf("GET after slow-client close: %d", res.status)
	}
}

func TestPayloadDataIsCapped(t *testing.T) {
	pkts, err := eio.DecodePayload([]byte("4ab\x1e4cd"))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(pkts[0].Data, 'X')
	if string(pkts[1].Data) != "cd" {
		t.Errorf("appending to one packet changed the next: %q", pkts[1].Data)
	}
}

func TestServerCloseAbortsSlowPost(t *testing.T) {
	e := newEnv(t, longOpts(), false)
	sid, r := e.handshake()
	pr, pw := io.Pipe()
	defer pw.Close()
	postDone := make(chan struct{})
	go func() {
		defer close(postDone)
		req, _ := http.NewRequest("POST", e.url+"?EIO=4&transport=polling&sid="+sid, pr)
		req.ContentLength = -1
		if res, err := plainClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	_, _ = pw.Write([]byte("4never-ending"))
	// Nothing observable says the server is reading the body (a second POST
	// would close the session), so give it a moment.
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		e.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close waits for a POST body that never ends")
	}
	if reason := r.waitClosed(t); reason != eio.ReasonServerShutdown {
		t.Errorf("reason %q", reason)
	}
	_ = pw.Close()
	<-postDone
}
