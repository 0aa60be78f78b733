package sio_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

// joined connects n clients to "/" and returns them with their sockets.
func joined(t testing.TB, srv *sio.Server, n int) ([]*client, []*sio.Socket) {
	t.Helper()
	cs := make([]*client, n)
	ss := make([]*sio.Socket, n)
	for i := range cs {
		cs[i] = dial(t, srv)
		id := cs[i].connect("/", "")
		eventually(t, "socket registered", func() bool { return srv.Of("/").Socket(id) != nil })
		ss[i] = srv.Of("/").Socket(id)
	}
	return cs, ss
}

func TestRoomsAndBroadcast(t *testing.T) {
	srv := newTestServer(t, nil)
	cs, ss := joined(t, srv, 4)
	nsp := srv.Of("/")
	ss[0].Join("a")
	ss[1].Join("a", "b")
	ss[2].Join("b")
	if got := ss[1].Rooms(); !slices.Equal(got, sorted(ss[1].ID(), "a", "b")) {
		t.Fatalf("rooms %v", got)
	}

	// To(a, b) reaches each member once.
	if err := nsp.To("a", "b").Emit("ab", 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		cs[i].expectText(`2["ab",1]`)
		cs[i].expectNone()
	}
	cs[3].expectNone()

	// Socket.To excludes the sender; Except removes a room's members.
	_ = ss[1].To("a").Emit("from1")
	cs[0].expectText(`2["from1"]`)
	cs[1].expectNone()
	_ = nsp.Except("b").Emit("notb")
	cs[0].expectText(`2["notb"]`)
	cs[3].expectText(`2["notb"]`)
	cs[1].expectNone()
	cs[2].expectNone()
	_ = ss[3].Broadcast().Emit("others")
	for i := 0; i < 3; i++ {
		cs[i].expectText(`2["others"]`)
	}
	cs[3].expectNone()

	// A socket's own id is a room.
	_ = nsp.To(ss[2].ID()).Emit("private")
	cs[2].expectText(`2["private"]`)
	cs[0].expectNone()

	// Operators are values: deriving one never changes another.
	base := nsp.To("a")
	_ = base.To("b")
	_ = base.Except("a")
	if n := len(base.FetchSockets()); n != 2 {
		t.Fatalf("base operator changed: %d sockets", n)
	}

	ss[1].Leave("a")
	if got := len(nsp.To("a").FetchSockets()); got != 1 {
		t.Fatalf("%d sockets in a after leave", got)
	}

	nsp.To("b").SocketsJoin("c")
	if got := ids(nsp.To("c").FetchSockets()); !slices.Equal(got, sorted(ss[1].ID(), ss[2].ID())) {
		t.Fatalf("SocketsJoin: %v", got)
	}
	nsp.SocketsLeave("c")
	if got := len(nsp.To("c").FetchSockets()); got != 0 {
		t.Fatalf("SocketsLeave: %d", got)
	}

	// Disconnected sockets leave every room.
	var r reasons
	ss[2].OnDisconnecting(func(reason string) {
		if !slices.Contains(ss[2].Rooms(), "b") {
			t.Error("rooms gone before disconnecting handlers")
		}
		r.add("ing:" + reason)
	})
	ss[2].OnDisconnect(func(reason string) { r.add(reason) })
	nsp.To("b").DisconnectSockets(false)
	cs[1].expectText(`1`)
	cs[2].expectText(`1`)
	if got := r.wait(t, 2); got[0] != "ing:server namespace disconnect" || got[1] != "server namespace disconnect" {
		t.Fatalf("reasons %v", got)
	}
	if got := len(nsp.To("b").FetchSockets()); got != 0 || ss[2].Rooms() != nil {
		t.Fatalf("%d sockets still in b, rooms %v", got, ss[2].Rooms())
	}
	ss[2].Join("z") // no effect once disconnected
	if ss[2].Rooms() != nil {
		t.Fatal("a disconnected socket joined a room")
	}
	if cs[1].isClosed() {
		t.Fatal("DisconnectSockets(false) closed the connection")
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func ids(ss []*sio.Socket) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID()
	}
	slices.Sort(out)
	return out
}

func TestBroadcastEmitWithAck(t *testing.T) {
	srv := newTestServer(t, nil)
	cs, ss := joined(t, srv, 3)
	for _, s := range ss {
		s.Join("r")
	}
	nsp := srv.Of("/")
	type result struct {
		replies []sio.Args
		err     error
	}
	res := make(chan result, 1)
	go func() {
		r, err := nsp.To("r").Timeout(2*time.Second).EmitWithAck(context.Background(), "q", 1)
		res <- result{r, err}
	}()
	var id int64 = -1
	for i, c := range cs {
		p := c.next()
		if p.ID < 0 || (id >= 0 && p.ID != id) {
			t.Fatalf("ack ids: %d then %d", id, p.ID)
		}
		id = p.ID
		c.text(fmt.Sprintf(`3%d["a%d"]`, p.ID, i))
	}
	r := <-res
	if r.err != nil || len(r.replies) != 3 {
		t.Fatalf("%+v", r)
	}
	var got []string
	for _, a := range r.replies {
		var s string
		_ = a.Decode(&s)
		got = append(got, s)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "a0,a1,a2" {
		t.Fatalf("replies %v", got)
	}

	// Timeout: one client never answers; the others' replies come back
	// with ErrAckTimeout.
	go func() {
		r, err := nsp.Timeout(50*time.Millisecond).EmitWithAck(context.Background(), "q")
		res <- result{r, err}
	}()
	for _, c := range cs[:2] {
		p := c.next()
		c.text(fmt.Sprintf(`3%d["ok"]`, p.ID))
	}
	cs[2].next()
	r = <-res
	if !errors.Is(r.err, sio.ErrAckTimeout) || len(r.replies) != 2 {
		t.Fatalf("timeout: %+v", r)
	}

	// A recipient that disconnects is left out without waiting.
	go func() {
		r, err := nsp.EmitWithAck(context.Background(), "q")
		res <- result{r, err}
	}()
	p := cs[0].next()
	cs[0].text(fmt.Sprintf(`3%d["ok"]`, p.ID))
	cs[1].next()
	cs[1].sess.Close(eio.ReasonTransportClose)
	p = cs[2].next()
	cs[2].text(fmt.Sprintf(`3%d["ok"]`, p.ID))
	r = <-res
	if r.err != nil || len(r.replies) != 2 {
		t.Fatalf("disconnect: %+v", r)
	}
	// No recipients: no wait.
	if r, err := nsp.To("nobody").EmitWithAck(context.Background(), "q"); err != nil || len(r) != 0 {
		t.Fatal(r, err)
	}
}

func TestVolatileAndCompress(t *testing.T) {
	srv := newTestServer(t, nil)
	cs, ss := joined(t, srv, 2)
	cs[1].sess.mu.Lock()
	cs[1].sess.notReady = true
	cs[1].sess.mu.Unlock()
	if err := srv.Of("/").Broadcast().Volatile().Emit("v", 1); err != nil {
		t.Fatal(err)
	}
	cs[0].expectText(`2["v",1]`)
	cs[1].expectNone()
	if err := ss[1].Volatile().Emit("v", 2); err != nil {
		t.Fatalf("a dropped volatile packet is not an error: %v", err)
	}
	cs[1].expectNone()
	cs[1].sess.mu.Lock()
	dropped := cs[1].sess.dropped
	cs[1].sess.mu.Unlock()
	if dropped != 2 || srv.Stats().VolatileDropped != 2 {
		t.Fatalf("%d dropped, stats %+v", dropped, srv.Stats())
	}
	if err := ss[1].Compress(false).Emit("plain"); err != nil {
		t.Fatal(err)
	}
	cs[1].expectText(`2["plain"]`)
}

func TestSlowClientIsClosedAndBroadcastContinues(t *testing.T) {
	srv := newTestServer(t, nil)
	cs, ss := joined(t, srv, 3)
	slow := cs[1]
	slow.sess.mu.Lock()
	slow.sess.limit = slow.sess.queued + 100
	slow.sess.mu.Unlock()
	var r reasons
	ss[1].OnDisconnect(r.add)
	big := strings.Repeat("x", 60)
	for i := 0; i < 3; i++ {
		if err := srv.Of("/").Emit("big", big); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.wait(t, 1); got[0] != sio.ReasonSlowClient {
		t.Fatalf("reason %v", got)
	}
	for _, c := range []*client{cs[0], cs[2]} {
		for i := 0; i < 3; i++ {
			c.expectText(`2["big","` + big + `"]`)
		}
	}
	if err := ss[1].Emit("more"); !errors.Is(err, sio.ErrDisconnected) {
		t.Fatalf("emit to a closed slow client: %v", err)
	}
	// A direct emit over the cap reports ErrSlowClient.
	cs[0].sess.mu.Lock()
	cs[0].sess.limit = cs[0].sess.queued + 10
	cs[0].sess.mu.Unlock()
	if err := ss[0].Emit("big", big); !errors.Is(err, sio.ErrSlowClient) {
		t.Fatalf("emit over the cap: %v", err)
	}
	if reason := cs[0].waitClosed(); reason != sio.ReasonSlowClient {
		t.Fatal(reason)
	}
	if st := srv.Stats(); st.SlowClients != 2 {
		t.Fatalf("stats %+v", st)
	}
	eventually(t, "connections forgotten", func() bool { return srv.Stats().Connections == 1 })
}

func TestDisconnectVariants(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.Of("/custom")

	t.Run("close", func(t *testing.T) {
		c := dial(t, srv)
		id1 := c.connect("/", "")
		id2 := c.connect("/custom", "")
		var r reasons
		srv.Of("/").Socket(id1).OnDisconnect(r.add)
		srv.Of("/custom").Socket(id2).OnDisconnect(r.add)
		srv.Of("/").Socket(id1).Disconnect(true)
		got := []string{string(parser.Encode(c.next())), string(parser.Encode(c.next()))}
		slices.Sort(got)
		if got[0] != "1" || got[1] != "1/custom," {
			t.Fatalf("packets %v", got)
		}
		if reason := c.waitClosed(); reason != sio.ReasonForcedServerClose {
			t.Fatal(reason)
		}
		if got := r.wait(t, 2); got[0] != sio.ReasonServerNamespaceDisconnect || got[1] != sio.ReasonServerNamespaceDisconnect {
			t.Fatal(got)
		}
	})
	t.Run("transport", func(t *testing.T) {
		c := dial(t, srv)
		id := c.connect("/", "")
		var r reasons
		srv.Of("/").Socket(id).OnDisconnect(r.add)
		srv.Of("/").Socket(id).CloseTransport()
		if reason := c.waitClosed(); reason != sio.ReasonForcedClose {
			t.Fatal(reason)
		}
		c.expectNone() // no DISCONNECT packet
		if got := r.wait(t, 1); got[0] != sio.ReasonForcedClose {
			t.Fatal(got)
		}
	})
	t.Run("engine reasons", func(t *testing.T) {
		for _, reason := range []string{eio.ReasonTransportClose, eio.ReasonTransportError, eio.ReasonPingTimeout} {
			c := dial(t, srv)
			id := c.connect("/", "")
			var r reasons
			srv.Of("/").Socket(id).OnDisconnect(r.add)
			c.sess.Close(reason)
			if got := r.wait(t, 1); got[0] != reason {
				t.Fatalf("%q became %q", reason, got[0])
			}
			if srv.Of("/").Socket(id) != nil {
				t.Fatal("socket still registered")
			}
		}
	})
}

func TestServerClose(t *testing.T) {
	srv := sio.NewServer(nil)
	cs, ss := joined(t, srv, 3)
	var r reasons
	for _, s := range ss {
		s.OnDisconnect(r.add)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, got := range r.wait(t, 3) {
		if got != sio.ReasonServerShutdown {
			t.Fatal(got)
		}
	}
	for _, c := range cs {
		if reason := c.waitClosed(); reason != sio.ReasonServerShutdown {
			t.Fatal(reason)
		}
	}
	// A session opened after close is closed at once.
	late := dial(t, srv)
	if reason := late.waitClosed(); reason != sio.ReasonServerShutdown {
		t.Fatal(reason)
	}
	srv.Close() // idempotent
}

func TestSocketMiddlewareOnAnyAndData(t *testing.T) {
	srv := newTestServer(t, nil)
	var mu sync.Mutex
	var log []string
	add := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.Use(func(ev *sio.Event) error {
			if ev.Name == "forbidden" {
				return errors.New("not allowed")
			}
			return nil
		})
		s.OnError(func(err error) { add("error:" + err.Error()); _ = s.Emit("done") })
		s.OnAny(func(ev *sio.Event) { add("any:" + ev.Name) })
		s.On("hello", func(ev *sio.Event) { add("hello"); _ = s.Emit("done") })
		s.On("forbidden", func(ev *sio.Event) { add("forbidden ran") })
		s.OnAnyOutgoing(func(event string, args sio.Args) { add(fmt.Sprintf("out:%s/%d", event, args.Len())) })
	})
	c := dial(t, srv)
	c.connect("/", "")
	c.text(`2["hello"]`)
	c.expectText(`2["done"]`)
	c.text(`2["forbidden"]`)
	c.expectText(`2["done"]`)
	_ = srv.Of("/").Emit("bcast", 1, 2)
	c.expectText(`2["bcast",1,2]`)
	mu.Lock()
	got := strings.Join(log, ",")
	mu.Unlock()
	if got != "any:hello,hello,out:done/0,error:not allowed,out:done/0,out:bcast/2" {
		t.Fatalf("log %s", got)
	}

	// Data is safe to use from several goroutines.
	s := srv.Of("/").FetchSockets()[0]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.SetData(i)
			_ = s.Data()
		}()
	}
	wg.Wait()
	if _, ok := s.Data().(int); !ok {
		t.Fatal("data lost")
	}
}

func TestZeroValues(t *testing.T) {
	var b sio.Broadcast
	if err := b.To("x").Emit("e"); !errors.Is(err, sio.ErrNoNamespace) {
		t.Fatal(err)
	}
	if _, err := b.EmitWithAck(context.Background(), "e"); !errors.Is(err, sio.ErrNoNamespace) {
		t.Fatal(err)
	}
	if b.FetchSockets() != nil {
		t.Fatal("sockets from a zero Broadcast")
	}
	var e sio.Emitter
	if err := e.Emit("e"); !errors.Is(err, sio.ErrNoNamespace) {
		t.Fatal(err)
	}
	if _, err := e.EmitWithAck(context.Background(), "e"); !errors.Is(err, sio.ErrNoNamespace) {
		t.Fatal(err)
	}
}

func TestEmitErrors(t *testing.T) {
	srv := newTestServer(t, nil)
	_, ss := joined(t, srv, 1)
	for _, name := range []string{"connect", "disconnect", "disconnecting", "connect_error", "newListener", "removeListener"} {
		if err := ss[0].Emit(name); !errors.Is(err, sio.ErrReservedEvent) {
			t.Fatalf("%s: %v", name, err)
		}
		if err := srv.Of("/").Emit(name); !errors.Is(err, sio.ErrReservedEvent) {
			t.Fatalf("broadcast %s: %v", name, err)
		}
	}
	if err := ss[0].Emit("x", func() {}); err == nil {
		t.Fatal("unmarshalable argument accepted")
	}
}

// TestConcurrentClients runs 200 fake clients that join, leave, broadcast
// and disconnect at the same time; run with -race.
func TestConcurrentClients(t *testing.T) {
	srv := newTestServer(t, nil)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *sio.Socket) {
		s.On("join", func(ev *sio.Event) {
			var room string
			_ = ev.Args.Decode(&room)
			s.Join(room)
			_ = ev.Ack("joined")
		})
		s.On("shout", func(ev *sio.Event) {
			var room string
			_ = ev.Args.Decode(&room)
			_ = s.To(room).Emit("shout", s.ID())
		})
		s.On("leave", func(ev *sio.Event) {
			var room string
			_ = ev.Args.Decode(&room)
			s.Leave(room)
		})
	})
	const n = 200
	var wg sync.WaitGroup
	clients := make([]*client, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, srv)
			clients[i] = c
			c.connect("/", "")
			room := fmt.Sprintf("room-%d", i%10)
			c.text(`21["join","` + room + `"]`)
			for {
				p := c.next()
				if p.Type == parser.Ack {
					break
				}
			}
			for range 3 {
				c.text(`2["shout","` + room + `"]`)
				_ = nsp.To(room).Volatile().Emit("tick")
			}
			c.text(`2["leave","` + room + `"]`)
			if i%2 == 0 {
				c.text("1")
			} else {
				c.sess.Close(eio.ReasonTransportClose)
			}
		}()
	}
	wg.Wait()
	eventually(t, "every socket gone", func() bool { return len(nsp.FetchSockets()) == 0 })
	if rooms := nsp.Adapter().SocketIDs(nil, nil); len(rooms) != 0 {
		t.Fatalf("adapter still holds %d sockets", len(rooms))
	}
}

func BenchmarkBroadcastFanOut(b *testing.B) {
	srv := sio.NewServer(nil)
	defer srv.Close()
	cs, _ := joined(b, srv, 1000)
	benchFanOut(b, srv.Of("/"), cs)
}

// benchFanOut measures broadcasts on nsp to the clients cs, emptying their
// fake sessions now and then so the send queues never fill.
func benchFanOut(b *testing.B, nsp *sio.Namespace, cs []*client) {
	payload := map[string]any{"device": "t-1", "value": 21.5, "unit": "C"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := nsp.Emit("reading", payload); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			b.StopTimer()
			for _, c := range cs {
				c.sess.mu.Lock()
				c.sess.sent = c.sess.sent[:0]
				c.read = 0
				c.sess.queued = 0
				c.sess.mu.Unlock()
			}
			b.StartTimer()
		}
	}
}

func BenchmarkSocketEmit(b *testing.B) {
	srv := sio.NewServer(nil)
	defer srv.Close()
	cs, ss := joined(b, srv, 1)
	payload := map[string]any{"device": "t-1", "value": 21.5, "unit": "C"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := ss[0].Emit("reading", payload); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			cs[0].sess.mu.Lock()
			cs[0].sess.sent = cs[0].sess.sent[:0]
			cs[0].sess.queued = 0
			cs[0].sess.mu.Unlock()
		}
	}
}

// BenchmarkEventAck measures one client event through decoding, dispatch
// to its handler and the ack back.
func BenchmarkEventAck(b *testing.B) {
	srv := sio.NewServer(nil)
	defer srv.Close()
	acked := make(chan struct{}, 1)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("reading", func(ev *sio.Event) {
			var r struct {
				Device string  `json:"device"`
				Value  float64 `json:"value"`
			}
			_ = ev.Args.Decode(&r)
			_ = ev.Ack(true)
			acked <- struct{}{}
		})
	})
	cs, _ := joined(b, srv, 1)
	msg := eio.Packet{Data: []byte(`21["reading",{"device":"t-1","value":21.5}]`)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cs[0].h.OnMessage(msg)
		<-acked
		if i%1024 == 0 {
			cs[0].sess.mu.Lock()
			cs[0].sess.sent = cs[0].sess.sent[:0]
			cs[0].sess.queued = 0
			cs[0].sess.mu.Unlock()
		}
	}
}

// TestBroadcastEncodesOnce checks that every recipient gets the very same
// bytes, not a copy encoded for it.
func TestBroadcastEncodesOnce(t *testing.T) {
	srv := newTestServer(t, nil)
	cs, _ := joined(t, srv, 5)
	if err := srv.Of("/").Emit("blob", []byte{1, 2, 3}, "x"); err != nil {
		t.Fatal(err)
	}
	var first []eio.Packet
	for _, c := range cs {
		c.next() // decodes and checks the packet
		c.sess.mu.Lock()
		sent := c.sess.sent[len(c.sess.sent)-2:]
		c.sess.mu.Unlock()
		if first == nil {
			first = sent
			continue
		}
		for i := range sent {
			if &sent[i].Data[0] != &first[i].Data[0] {
				t.Fatalf("message %d was encoded again for a recipient", i)
			}
		}
	}
}
