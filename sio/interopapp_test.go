package sio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/parser"
)

// newInteropApp returns a Server configured as the interop test app that
// the Node.js socket.io-client scripts run against (the same app exists in
// Node.js on the official server). The server is closed when the test ends.
func newInteropApp(t testing.TB) *sio.Server {
	t.Helper()
	srv := sio.NewServer(&sio.Options{
		Path:              "/socket.io/",
		PingInterval:      400 * time.Millisecond,
		PingTimeout:       1000 * time.Millisecond,
		MaxHTTPBufferSize: 1e6,
		ConnectTimeout:    2 * time.Second,
		CORS:              &sio.CORS{Origins: []string{"*"}},
		Transports:        []string{"polling", "websocket"},
	})
	t.Cleanup(srv.Close)

	welcome := func(s *sio.Socket) {
		_ = s.Emit("welcome", map[string]any{"id": s.ID(), "auth": s.Handshake().Auth, "nsp": s.Namespace().Name()})
	}
	echo := func(ev *sio.Event) {
		if ev.HasAck() {
			_ = ev.Ack(ev.Args.Forward()...)
		}
	}

	main := srv.Of("/")
	main.Use(func(s *sio.Socket) error {
		var auth struct {
			Token any `json:"token"`
		}
		_ = s.Handshake().AuthInto(&auth)
		if auth.Token == "bad" {
			return &sio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		return nil
	})
	main.OnConnection(func(s *sio.Socket) {
		welcome(s)
		s.On("echo", echo)
		s.On("join", func(ev *sio.Event) {
			var room string
			if ev.Args.Decode(&room) != nil {
				return
			}
			s.Join(room)
			_ = ev.Ack("joined")
		})
		s.On("leave", func(ev *sio.Event) {
			var room string
			if ev.Args.Decode(&room) != nil {
				return
			}
			s.Leave(room)
			_ = ev.Ack("left")
		})
		toRoom := func(b func(room string) sio.Broadcast) func(*sio.Event) {
			return func(ev *sio.Event) {
				var room, event string
				if ev.Args.Decode(&room, &event) != nil || ev.Args.Len() < 3 {
					return
				}
				_ = b(room).Emit(event, ev.Args.Forward()[2])
			}
		}
		s.On("to-room", toRoom(func(room string) sio.Broadcast { return main.To(room) }))
		s.On("to-others", toRoom(func(room string) sio.Broadcast { return s.To(room) }))
		s.On("volatile", func(ev *sio.Event) {
			var n int
			if ev.Args.Decode(&n) != nil {
				return
			}
			for i := range n {
				_ = s.Volatile().Emit("v", i)
			}
			_ = ev.Ack(n)
		})
		s.On("server-ask", func(ev *sio.Event) {
			// Wait apart, so the client's other events are not held up.
			go func() {
				reply, err := s.Timeout(2*time.Second).EmitWithAck(context.Background(), "ask", "question")
				if err != nil {
					_ = ev.Ack(map[string]string{"error": "timeout"})
					return
				}
				_ = ev.Ack(reply.Forward()...)
			}()
		})
		s.On("get-binary", func(ev *sio.Event) {
			_ = s.Emit("bin", map[string]any{"data": []byte{1, 2, 3}, "list": []any{[]byte{4, 5}, "x"}})
			_ = ev.Ack("sent")
		})
		s.On("disconnect-me", func(*sio.Event) { s.Disconnect(false) })
		s.On("drop-me", func(*sio.Event) { s.CloseTransport() })
		s.On("rooms", func(ev *sio.Event) { _ = ev.Ack(s.Rooms()) })
	})

	custom := srv.Of("/custom")
	custom.OnConnection(func(s *sio.Socket) {
		welcome(s)
		s.On("echo", echo)
	})

	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-[0-9]+$`))
	dyn.OnConnection(func(s *sio.Socket) {
		_ = s.Emit("welcome", map[string]string{"nsp": s.Namespace().Name()})
	})
	return srv
}

// welcomeOf decodes a welcome event.
func welcomeOf(t *testing.T, p *parser.Packet) map[string]any {
	t.Helper()
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) != 2 || string(args[0]) != `"welcome"` {
		t.Fatalf("not a welcome: %s", parser.Encode(p))
	}
	var w map[string]any
	_ = json.Unmarshal(args[1], &w)
	return w
}

func TestInteropAppConnect(t *testing.T) {
	srv := newInteropApp(t)
	c := dial(t, srv)
	c.text(`0{"token":"bad"}`)
	c.expectText(`4{"message":"unauthorized","data":{"code":401}}`)
	id := c.connect("/", `{"token":"ok"}`)
	w := welcomeOf(t, c.next())
	if w["id"] != id || w["nsp"] != "/" || w["auth"].(map[string]any)["token"] != "ok" {
		t.Fatalf("welcome %v", w)
	}
	id2 := c.connect("/custom", "")
	w = welcomeOf(t, c.next())
	if w["id"] != id2 || w["nsp"] != "/custom" || len(w["auth"].(map[string]any)) != 0 {
		t.Fatalf("custom welcome %v", w)
	}
	c.connect("/dyn-42", "")
	c.expectText(`2/dyn-42,["welcome",{"nsp":"/dyn-42"}]`)
	c.text("0/nope")
	c.expectText(`4/nope,{"message":"Invalid namespace"}`)
	c.text(`2/custom,7["echo",1,"a",{"b":[true,null]}]`)
	c.expectText(`3/custom,7[1,"a",{"b":[true,null]}]`)
}

func TestInteropAppRooms(t *testing.T) {
	srv := newInteropApp(t)
	a, b := dial(t, srv), dial(t, srv)
	ida := a.connect("/", "")
	a.next() // welcome
	b.connect("/", "")
	b.next()
	for _, c := range []*client{a, b} {
		c.text(`21["join","r1"]`)
		c.expectText(`31["joined"]`)
	}
	a.text(`22["rooms"]`)
	want, _ := json.Marshal(sorted(ida, "r1"))
	a.expectText(`32[` + string(want) + `]`)

	a.text(`2["to-room","r1","news",{"n":1}]`)
	a.expectText(`2["news",{"n":1}]`)
	b.expectText(`2["news",{"n":1}]`)
	a.text(`2["to-others","r1","news",2]`)
	b.expectText(`2["news",2]`)
	a.expectNone()

	b.text(`23["leave","r1"]`)
	b.expectText(`33["left"]`)
	a.text(`2["to-room","r1","news",3]`)
	a.expectText(`2["news",3]`)
	b.expectNone()
}

func TestInteropAppEventsAndBinary(t *testing.T) {
	srv := newInteropApp(t)
	c := dial(t, srv)
	c.connect("/", "")
	c.next()
	c.text(`24["volatile",3]`)
	for i := range 3 {
		c.expectText(fmt.Sprintf(`2["v",%d]`, i))
	}
	c.expectText(`34[3]`)

	c.text(`25["get-binary"]`)
	ph := `{"_placeholder":true,"num":`
	p := c.expectText(`52-["bin",{"data":` + ph + `0},"list":[` + ph + `1},"x"]}]`)
	if !slices.Equal(p.Attachments[0], []byte{1, 2, 3}) || !slices.Equal(p.Attachments[1], []byte{4, 5}) {
		t.Fatal(p.Attachments)
	}
	c.expectText(`35["sent"]`)

	c.text(`51-6["echo",` + ph + `0},"t"]`)
	c.binary([]byte{0xff, 0})
	p = c.expectText(`61-6[` + ph + `0},"t"]`)
	if !slices.Equal(p.Attachments[0], []byte{0xff, 0}) {
		t.Fatal(p.Attachments)
	}

	// server-ask: the answer goes back as the ack of the original event,
	// and other events are served meanwhile.
	c.text(`28["server-ask"]`)
	ask := c.next()
	if compact(ask.Data) != `["ask","question"]` || ask.ID < 0 {
		t.Fatalf("ask %s", parser.Encode(ask))
	}
	c.text(`29["echo","meanwhile"]`)
	c.expectText(`39["meanwhile"]`)
	c.text(fmt.Sprintf(`3%d["answer"]`, ask.ID))
	c.expectText(`38["answer"]`)
}

func TestInteropAppServerAskTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2s ack timeout")
	}
	srv := newInteropApp(t)
	c := dial(t, srv)
	c.connect("/", "")
	c.next()
	c.text(`21["server-ask"]`)
	c.next() // the ask, never answered
	p, ok := c.tryNext(3 * time.Second)
	if !ok || string(parser.Encode(p)) != `31[{"error":"timeout"}]` {
		t.Fatalf("got %v", p)
	}
}

func TestInteropAppDisconnects(t *testing.T) {
	srv := newInteropApp(t)
	var r reasons
	srv.Of("/").Use(func(s *sio.Socket) error { s.OnDisconnect(r.add); return nil })

	c := dial(t, srv)
	c.connect("/", "")
	c.next()
	c.text(`2["disconnect-me"]`)
	c.expectText(`1`)
	if got := r.wait(t, 1); got[0] != sio.ReasonServerNamespaceDisconnect {
		t.Fatal(got)
	}
	if c.isClosed() {
		t.Fatal("disconnect-me closed the connection")
	}

	d := dial(t, srv)
	d.connect("/", "")
	d.next()
	d.text(`2["drop-me"]`)
	if reason := d.waitClosed(); reason != sio.ReasonForcedClose {
		t.Fatal(reason)
	}
	d.expectNone()
	if got := r.wait(t, 2); got[1] != sio.ReasonForcedClose {
		t.Fatal(got)
	}

	// connectTimeout is 2s in the app: an idle connection is closed.
	if !testing.Short() {
		idle := dial(t, srv)
		start := time.Now()
		if reason := idle.waitClosed(); reason != sio.ReasonForcedServerClose || time.Since(start) > 3*time.Second {
			t.Fatal(reason)
		}
	}
}

// serveInteropApp serves the interop app on a loopback HTTP server and
// returns its base URL, for the Node.js client scripts once the Engine.IO
// layer is plugged in.
func serveInteropApp(t testing.TB) string {
	t.Helper()
	srv := newInteropApp(t)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}
