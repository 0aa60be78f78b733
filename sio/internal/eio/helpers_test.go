package eio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/internal/eio"
)

// TestMain fails the run when goroutines of the package outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks waits until no goroutine runs code of package eio (outside
// the tests) and returns the stacks of those that remain.
func waitNoLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		leaked := eioGoroutines()
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eioGoroutines returns the stacks of the goroutines running package eio's
// code, outside the tests.
func eioGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "gatewayd/sio/internal/eio.") && !strings.Contains(g, "eio_test.") {
			out = append(out, g)
		}
	}
	return out
}

// recorder is a test Handler: it records messages and the close reason and
// optionally echoes every message back, keeping its type.
type recorder struct {
	t       *testing.T
	s       *eio.Session
	req     *http.Request // s.Request() during the open callback
	echo    bool
	msgs    chan eio.Packet
	closed  chan string
	nClosed atomic.Int32
}

func (r *recorder) OnMessage(p eio.Packet) {
	if r.nClosed.Load() > 0 {
		r.t.Errorf("OnMessage after OnClose")
	}
	select {
	case r.msgs <- p:
	default:
		r.t.Errorf("message buffer full")
	}
	if r.echo {
		_ = r.s.Send(false, p)
	}
}

func (r *recorder) OnClose(reason string) {
	if r.nClosed.Add(1) > 1 {
		r.t.Errorf("OnClose called twice (second: %q)", reason)
		return
	}
	r.closed <- reason
}

// waitClosed returns the close reason, failing after a timeout.
func (r *recorder) waitClosed(t *testing.T) string {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called")
		return ""
	}
}

func (r *recorder) waitMsg(t *testing.T) eio.Packet {
	t.Helper()
	select {
	case p := <-r.msgs:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return eio.Packet{}
	}
}

// env is one test server with its sessions' recorders.
type env struct {
	t      *testing.T
	srv    *eio.Server
	ts     *httptest.Server
	url    string // http://host/engine.io/
	wsURL  string
	opened chan *recorder
}

func newEnv(t *testing.T, opts *eio.Options, echo bool) *env {
	t.Helper()
	e := &env{t: t, opened: make(chan *recorder, 16)}
	e.srv = eio.NewServer(opts, func(s *eio.Session) eio.Handler {
		r := &recorder{t: t, s: s, req: s.Request(), echo: echo, msgs: make(chan eio.Packet, 64), closed: make(chan string, 1)}
		e.opened <- r
		return r
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.srv)
	e.ts = httptest.NewServer(mux)
	e.url = e.ts.URL + "/engine.io/"
	e.wsURL = "ws" + strings.TrimPrefix(e.url, "http")
	t.Cleanup(func() {
		e.srv.Close()
		e.ts.Close()
	})
	return e
}

// longOpts keeps heartbeats out of the way of tests that do not test them.
func longOpts() *eio.Options {
	return &eio.Options{PingInterval: 10 * time.Second, PingTimeout: 10 * time.Second}
}

func (e *env) session() *recorder {
	e.t.Helper()
	select {
	case r := <-e.opened:
		return r
	case <-time.After(5 * time.Second):
		e.t.Fatal("no session opened")
		return nil
	}
}

type response struct {
	status int
	body   string
	header http.Header
}

var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func (e *env) do(method, query string, body io.Reader, hdr map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+"?"+query, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := plainClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, body: string(b), header: res.Header}
}

func (e *env) get(sid string) response {
	e.t.Helper()
	return e.do("GET", "EIO=4&transport=polling&sid="+sid, nil, nil)
}

func (e *env) post(sid, body string) response {
	e.t.Helper()
	return e.do("POST", "EIO=4&transport=polling&sid="+sid, strings.NewReader(body), map[string]string{"Content-Type": "text/plain;charset=UTF-8"})
}

// asyncGet starts a GET and returns a channel with its response.
func (e *env) asyncGet(sid string) chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.url+"?EIO=4&transport=polling&sid="+sid, nil)
		res, err := plainClient.Do(req)
		if err != nil {
			ch <- response{status: -1, body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ch <- response{status: res.StatusCode, body: string(b), header: res.Header}
	}()
	return ch
}

func waitResponse(t *testing.T, ch chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("GET not answered")
		return response{}
	}
}

// handshakeData is the JSON of an open packet.
type handshakeData struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t *testing.T, body string) (handshakeData, map[string]any) {
	t.Helper()
	if !strings.HasPrefix(body, "0{") {
		t.Fatalf("open packet = %q", body)
	}
	var hs handshakeData
	var raw map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatalf("handshake JSON %q: %v", body, err)
	}
	_ = json.Unmarshal([]byte(body[1:]), &raw)
	return hs, raw
}

// handshake opens a polling session and returns its sid and recorder.
func (e *env) handshake() (string, *recorder) {
	e.t.Helper()
	res := e.do("GET", "EIO=4&transport=polling", nil, nil)
	if res.status != 200 {
		e.t.Fatalf("handshake: %d %s", res.status, res.body)
	}
	hs, _ := parseOpen(e.t, res.body)
	return hs.SID, e.session()
}

// dial opens a websocket with the given extra query.
func (e *env) dial(query string) *websocket.Conn {
	e.t.Helper()
	return dialWS(e.t, e.url, query)
}

// dialWS opens an Engine.IO websocket to the server at the http URL base,
// with the given extra query, and closes it when the test ends.
func dialWS(t *testing.T, base, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"?EIO=4&transport=websocket"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func readFrame(t *testing.T, c *websocket.Conn) (websocket.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

func writeText(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// waitWSClosed reads until the connection fails and returns the error.
func waitWSClosed(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("websocket not closed by the server")
			}
			return err
		}
	}
}

// eventually polls cond until it holds or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}
