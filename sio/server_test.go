package sio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

func TestOptionsDefaults(t *testing.T) {
	srv := newTestServer(t, nil)
	o := srv.OptionsForTest()
	if o.Path != "/socket.io/" || o.PingInterval != 25*time.Second || o.PingTimeout != 20*time.Second ||
		o.ConnectTimeout != 45*time.Second || o.MaxHTTPBufferSize != 1e6 || o.MaxQueuedBytes != 1<<20 ||
		!slices.Equal(o.Transports, []string{"polling", "websocket"}) || o.Adapter == nil || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	in := &sio.Options{PingInterval: time.Second, CORS: &sio.CORS{Origins: []string{"*"}}, DisallowUpgrades: true, MaxQueuedBytes: 10}
	srv2 := newTestServer(t, in)
	e := srv2.EngineOptionsForTest()
	if e.PingInterval != time.Second || e.PingTimeout != 20*time.Second || e.MaxPayload != 1e6 || !e.DisallowUpgrades ||
		e.CORS == nil || e.CORS.Origins[0] != "*" || e.MaxQueuedBytes != 10 {
		t.Fatalf("engine options: %+v", e)
	}
	if in.Path != "" {
		t.Fatal("NewServer modified the caller's options")
	}
}

func TestConnectMainNamespace(t *testing.T) {
	srv := newTestServer(t, nil)
	hs := make(chan *sio.Handshake, 1)
	srv.Of("/").OnConnection(func(s *sio.Socket) { hs <- s.Handshake() })
	c := dial(t, srv)
	sid := c.connect("/", "")
	if sid == c.sess.ID() || len(sid) != 20 {
		t.Fatalf("socket id %q must be new and differ from the engine id %q", sid, c.sess.ID())
	}
	eventually(t, "connection handler", func() bool { return srv.Of("/").Socket(sid) != nil })
	c.expectNone()
	got := <-hs
	if string(got.Auth) != "{}" || got.Address != "192.0.2.7" || got.Query().Get("room") != "a" || !got.XDomain ||
		got.Secure || got.URL != "/socket.io/?EIO=4&transport=polling&room=a" || got.Issued != got.Time.UnixMilli() {
		t.Fatalf("handshake %+v", got)
	}
}

func TestConnectAuthAndMultiplex(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, name := range []string{"/", "/custom"} {
		srv.Of(name).OnConnection(func(s *sio.Socket) {
			_ = s.Emit("auth", s.Handshake().Auth)
		})
	}
	c := dial(t, srv)
	sid1 := c.connect("/", `{"token":"123"}`)
	c.expectText(`2["auth",{"token":"123"}]`)
	sid2 := c.connect("/custom", "")
	c.expectText(`2/custom,["auth",{}]`)
	if sid1 == sid2 {
		t.Fatal("one id for two namespaces")
	}
	// Leaving /custom keeps the connection and the main namespace.
	var r reasons
	srv.Of("/custom").Socket(sid2).OnDisconnect(r.add)
	c.text("1/custom,")
	if got := r.wait(t, 1); got[0] != sio.ReasonClientNamespaceDisconnect {
		t.Fatalf("reason %q", got[0])
	}
	srv.Of("/").Socket(sid1).On("ping", func(ev *sio.Event) { _ = ev.Ack("pong") })
	c.text(`21["ping"]`)
	c.expectText(`31["pong"]`)
	if c.isClosed() {
		t.Fatal("connection closed after leaving one namespace")
	}
}

func TestInvalidNamespaceKeepsConnection(t *testing.T) {
	srv := newTestServer(t, nil)
	c := dial(t, srv)
	c.text("0/random")
	c.expectText(`4/random,{"message":"Invalid namespace"}`)
	c.connect("/", "")
	if c.isClosed() {
		t.Fatal("connection closed")
	}
}

func TestMiddlewareRefusal(t *testing.T) {
	srv := newTestServer(t, nil)
	nsp := srv.Of("/")
	var order []string
	nsp.Use(func(s *sio.Socket) error {
		order = append(order, "first")
		var a struct{ Token string }
		_ = s.Handshake().AuthInto(&a)
		if a.Token == "bad" {
			return &sio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		if a.Token == "plain" {
			return errors.New("plain refusal")
		}
		s.SetData(a.Token)
		return nil
	})
	nsp.Use(func(s *sio.Socket) error { order = append(order, "second"); return nil })
	connected := make(chan string, 1)
	nsp.OnConnection(func(s *sio.Socket) { connected <- s.Data().(string) })

	c := dial(t, srv)
	c.text(`0{"token":"bad"}`)
	c.expectText(`4{"message":"unauthorized","data":{"code":401}}`)
	c.text(`0{"token":"plain"}`)
	c.expectText(`4{"message":"plain refusal"}`)
	c.connect("/", `{"token":"good"}`)
	if tok := <-connected; tok != "good" {
		t.Fatalf("data %q", tok)
	}
	if strings.Join(order, ",") != "first,first,first,second" {
		t.Fatalf("middleware order %v", order)
	}
}

func TestEventAckRoundTrip(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("message-with-ack", func(ev *sio.Event) {
			if !ev.HasAck() {
				t.Error("no ack requested")
			}
			if err := ev.Ack(ev.Args.Forward()...); err != nil {
				t.Error(err)
			}
			if err := ev.Ack(); !errors.Is(err, sio.ErrAckSent) {
				t.Errorf("second ack: %v", err)
			}
		})
		s.On("no-ack", func(ev *sio.Event) {
			if err := ev.Ack(1); !errors.Is(err, sio.ErrNoAck) {
				t.Errorf("ack without request: %v", err)
			}
			var a int
			var b string
			var c map[string][]bool
			if err := ev.Args.Decode(&a, &b, &c); err != nil || a != 1 || b != "2" || !c["3"][0] {
				t.Errorf("decode: %v %v %v %v", a, b, c, err)
			}
			if err := ev.Args.Decode(nil, nil, nil, &a); err == nil {
				t.Error("decoding more args than sent must fail")
			}
			_ = s.Emit("done")
		})
	})
	c := dial(t, srv)
	c.connect("/", "")
	c.text(`2456["message-with-ack",1,"2",{"3":[false]}]`)
	c.expectText(`3456[1,"2",{"3":[false]}]`)
	c.text(`2["no-ack",1,"2",{"3":[true]}]`)
	c.expectText(`2["done"]`)
	// A numeric event name is delivered as its text.
	srv.Of("/").FetchSockets()[0].On("42", func(ev *sio.Event) { _ = ev.Ack("num") })
	c.text(`27[42]`)
	c.expectText(`37["num"]`)
}

func TestBinaryBothWays(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("message", func(ev *sio.Event) {
			var a, b []byte
			if err := ev.Args.Decode(&a, &b); err != nil {
				t.Error(err)
			}
			_ = s.Emit("message-back", a, b)
		})
		s.On("echo", func(ev *sio.Event) { _ = ev.Ack(ev.Args.Forward()...) })
		s.On("get-binary", func(ev *sio.Event) {
			_ = s.Emit("bin", map[string]any{"data": []byte{1, 2, 3}, "list": []any{[]byte{4, 5}, "x"}})
			_ = ev.Ack("sent")
		})
	})
	c := dial(t, srv)
	c.connect("/", "")
	ph := func(n int) string { return `{"_placeholder":true,"num":` + string(rune('0'+n)) + `}` }
	c.text(`52-["message",` + ph(0) + `,` + ph(1) + `]`)
	c.binary([]byte{1, 2, 3})
	c.binary([]byte{4, 5, 6})
	p := c.expectText(`52-["message-back",` + ph(0) + `,` + ph(1) + `]`)
	if !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) || !bytes.Equal(p.Attachments[1], []byte{4, 5, 6}) {
		t.Fatalf("attachments %v", p.Attachments)
	}
	// Binary ack: the reply carries the same bytes back as BINARY_ACK.
	c.text(`51-9["echo","t",{"b":` + ph(0) + `},7]`)
	c.binary([]byte{9, 9})
	p = c.expectText(`61-9["t",{"b":` + ph(0) + `},7]`)
	if !bytes.Equal(p.Attachments[0], []byte{9, 9}) {
		t.Fatalf("ack attachments %v", p.Attachments)
	}
	c.text(`23["get-binary"]`)
	p = c.expectText(`52-["bin",{"data":` + ph(0) + `,"list":[` + ph(1) + `,"x"]}]`)
	if !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) || !bytes.Equal(p.Attachments[1], []byte{4, 5}) {
		t.Fatalf("attachments %v", p.Attachments)
	}
	c.expectText(`33["sent"]`)
}

func TestServerEmitWithAck(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *sio.Socket, 1)
	srv.Of("/").OnConnection(func(s *sio.Socket) { sockets <- s })
	c := dial(t, srv)
	c.connect("/", "")
	s := <-sockets

	type result struct {
		args sio.Args
		err  error
	}
	res := make(chan result, 1)
	go func() {
		a, err := s.EmitWithAck(context.Background(), "ask", "question")
		res <- result{a, err}
	}()
	p := c.next()
	if p.Type != parser.Event || p.ID < 0 || compact(p.Data) != `["ask","question"]` {
		t.Fatalf("got %s", parser.Encode(p))
	}
	c.text("3" + itoa(p.ID+1000) + `["wrong id"]`) // unknown ids are ignored
	c.text("6" + "1-" + itoa(p.ID) + `["answer",{"_placeholder":true,"num":0}]`)
	c.binary([]byte{7})
	r := <-res
	var answer string
	var blob []byte
	if r.err != nil || r.args.Decode(&answer, &blob) != nil || answer != "answer" || !bytes.Equal(blob, []byte{7}) {
		t.Fatalf("reply %+v", r)
	}

	// Timeout variant.
	start := time.Now()
	_, err := s.Timeout(30*time.Millisecond).EmitWithAck(context.Background(), "ask")
	if !errors.Is(err, sio.ErrAckTimeout) || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("timeout: %v", err)
	}
	p1 := c.next()
	// Ack ids grow: a fresh id for every request.
	if p1.ID <= p.ID {
		t.Fatalf("ack id %d after %d", p1.ID, p.ID)
	}
	// Context cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.EmitWithAck(ctx, "ask"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx: %v", err)
	}
	c.next()
	// Disconnection while waiting.
	go func() {
		_, err := s.EmitWithAck(context.Background(), "ask")
		res <- result{err: err}
	}()
	c.next()
	c.sess.Close(eio.ReasonTransportClose)
	if r := <-res; !errors.Is(r.err, sio.ErrDisconnected) {
		t.Fatalf("after close: %v", r.err)
	}
	if err := s.Emit("x"); !errors.Is(err, sio.ErrDisconnected) {
		t.Fatalf("emit after close: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestHandlerMayWaitForAck(t *testing.T) {
	// A handler blocked in EmitWithAck must not stop the ack from arriving.
	srv := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("server-ask", func(ev *sio.Event) {
			a, err := s.Timeout(2*time.Second).EmitWithAck(context.Background(), "ask", "question")
			if err != nil {
				_ = ev.Ack(map[string]string{"error": "timeout"})
				return
			}
			_ = ev.Ack(a.Forward()...)
		})
	})
	c := dial(t, srv)
	c.connect("/", "")
	c.text(`25["server-ask"]`)
	p := c.next()
	c.text("3" + itoa(p.ID) + `["42"]`)
	c.expectText(`35["42"]`)
}

func TestMalformedInputClosesWithParseError(t *testing.T) {
	cases := []struct {
		name string
		join bool
		msgs []eio.Packet
	}{
		{"garbage before connect", false, []eio.Packet{{Data: []byte("abc")}}},
		{"garbage after connect", true, []eio.Packet{{Data: []byte("abc")}}},
		{"event object", true, []eio.Packet{{Data: []byte("2{}")}}},
		{"garbage ack id", true, []eio.Packet{{Data: []byte(`2abc["message-with-ack",1]`)}}},
		{"event before connect", false, []eio.Packet{{Data: []byte(`2["x"]`)}}},
		{"event for namespace not joined", true, []eio.Packet{{Data: []byte(`2/other,["x"]`)}}},
		{"ack for namespace not joined", true, []eio.Packet{{Data: []byte(`3/other,1[]`)}}},
		{"duplicate connect", true, []eio.Packet{{Data: []byte(`0`)}}},
		{"client connect error", true, []eio.Packet{{Data: []byte(`4{"message":"x"}`)}}},
		{"stray binary", true, []eio.Packet{{Data: []byte{1}, Binary: true}}},
		{"reserved name", true, []eio.Packet{{Data: []byte(`2["disconnect"]`)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, nil)
			var r reasons
			srv.Of("/").OnConnection(func(s *sio.Socket) { s.OnDisconnect(r.add) })
			c := dial(t, srv)
			if tc.join {
				c.connect("/", "")
			}
			for _, m := range tc.msgs {
				c.mu.Lock()
				c.h.OnMessage(m)
				c.mu.Unlock()
			}
			if reason := c.waitClosed(); reason != sio.ReasonParseError {
				t.Fatalf("closed with %q", reason)
			}
			if st := srv.Stats(); st.ParseErrors != 1 {
				t.Fatalf("stats %+v", st)
			}
			if tc.join {
				if got := r.wait(t, 1); got[0] != sio.ReasonParseError {
					t.Fatalf("socket reason %q", got[0])
				}
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	srv := newTestServer(t, &sio.Options{ConnectTimeout: 50 * time.Millisecond})
	idle := dial(t, srv)
	joined := dial(t, srv)
	joined.connect("/", "")
	if reason := idle.waitClosed(); reason != sio.ReasonForcedServerClose {
		t.Fatalf("reason %q", reason)
	}
	time.Sleep(100 * time.Millisecond)
	if joined.isClosed() {
		t.Fatal("a client that joined was closed")
	}
}

func TestDynamicNamespaces(t *testing.T) {
	srv := newTestServer(t, nil)
	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-[0-9]+$`))
	var mwCount int
	dyn.Use(func(s *sio.Socket) error { mwCount++; return nil })
	dyn.OnConnection(func(s *sio.Socket) { _ = s.Emit("welcome", s.Namespace().Name()) })
	byFunc := srv.OfFunc(func(name string, h *sio.Handshake) bool {
		var a struct{ Admin bool }
		_ = h.AuthInto(&a)
		return strings.HasPrefix(name, "/admin-") && a.Admin
	})
	byFunc.OnConnection(func(s *sio.Socket) { _ = s.Emit("hi") })

	c := dial(t, srv)
	c.connect("/dyn-1", "")
	c.expectText(`2/dyn-1,["welcome","/dyn-1"]`)
	c.connect("/dyn-22", "")
	c.expectText(`2/dyn-22,["welcome","/dyn-22"]`)
	c.text("0/dyn-x")
	c.expectText(`4/dyn-x,{"message":"Invalid namespace"}`)
	c.text(`0/admin-1,{"admin":false}`)
	c.expectText(`4/admin-1,{"message":"Invalid namespace"}`)
	c.connect("/admin-1", `{"admin":true}`)
	c.expectText(`2/admin-1,["hi"]`)
	if mwCount != 2 {
		t.Fatalf("parent middleware ran %d times", mwCount)
	}
	// A second client joins the existing child; a parent broadcast reaches
	// every child.
	c2 := dial(t, srv)
	c2.connect("/dyn-1", "")
	c2.expectText(`2/dyn-1,["welcome","/dyn-1"]`)
	if n := len(dyn.FetchSockets()); n != 3 {
		t.Fatalf("parent sees %d sockets", n)
	}
	if err := dyn.Emit("all"); err != nil {
		t.Fatal(err)
	}
	got := []string{string(parser.Encode(c.next())), string(parser.Encode(c.next()))}
	slices.Sort(got)
	if got[0] != `2/dyn-1,["all"]` || got[1] != `2/dyn-22,["all"]` {
		t.Fatalf("parent broadcast %v", got)
	}
	c2.expectText(`2/dyn-1,["all"]`)
	if srv.Of("/dyn-1").Name() != "/dyn-1" || len(srv.Of("/dyn-1").FetchSockets()) != 2 {
		t.Fatal("child namespace not registered")
	}
}

func TestServeHTTPPath(t *testing.T) {
	srv := newTestServer(t, &sio.Options{Path: "/rt/"})
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/other/?EIO=4&transport=polling", 404},
		{"/socket.io/?EIO=4&transport=polling", 404},
	} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.code)
		}
	}
	// Under the path, the request reaches the engine.
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/rt/?EIO=4&transport=polling", nil))
	if w.Code == 404 {
		t.Fatal("request under Path not handed to the engine")
	}
}

func TestOnDisconnectAfterTheFact(t *testing.T) {
	srv := newTestServer(t, nil)
	_, ss := joined(t, srv, 1)
	ss[0].Disconnect(false)
	got := make(chan string, 1)
	ss[0].OnDisconnect(func(r string) { got <- r })
	select {
	case r := <-got:
		if r != sio.ReasonServerNamespaceDisconnect {
			t.Fatal(r)
		}
	default:
		t.Fatal("handler added after the disconnect was not called")
	}
	ss[0].Disconnect(false) // idempotent
	if ss[0].Connected() {
		t.Fatal("still connected")
	}
}

func TestConnectErrorWithBadData(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.Of("/").Use(func(*sio.Socket) error {
		return &sio.ConnectError{Message: "no", Data: func() {}}
	})
	c := dial(t, srv)
	c.text("0")
	c.expectText(`4{"message":"no"}`)
}
