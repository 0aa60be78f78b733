package sio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/parser"
)

// connectRec joins nsp with auth and returns sid and pid of the CONNECT
// reply, which must hold exactly these two.
func (c *client) connectRec(nsp, auth string) (sid, pid string) {
	c.t.Helper()
	reply, data := c.connectReply(nsp, auth)
	if len(reply) != 2 || reply["sid"] == "" || reply["pid"] == "" {
		c.t.Fatalf("CONNECT reply payload %s, want sid and pid", data)
	}
	return reply["sid"], reply["pid"]
}

// event reads the next packet, which must be an EVENT, and returns its
// arguments decoded loosely, and the trailing offset when withOffset.
func (c *client) event(withOffset bool) (name string, args []any, offset string) {
	c.t.Helper()
	p := c.next()
	if p.Type != parser.Event && p.Type != parser.BinaryEvent {
		c.t.Fatalf("want an event, got %s", parser.Encode(p))
	}
	var all []any
	if err := json.Unmarshal(p.Data, &all); err != nil || len(all) == 0 {
		c.t.Fatalf("event payload %s: %v", p.Data, err)
	}
	name, _ = all[0].(string)
	args = all[1:]
	if withOffset {
		if len(args) == 0 {
			c.t.Fatalf("event %s has no offset", p.Data)
		}
		off, ok := args[len(args)-1].(string)
		if !ok || off == "" {
			c.t.Fatalf("event %s: last argument is no offset", p.Data)
		}
		return name, args[:len(args)-1], off
	}
	return name, args, ""
}

// recServer returns a server with recovery on, whose main namespace hands
// each connected socket to the returned channel. New (not recovered)
// sockets join room "r1" and get Data "user-1" before that.
func recServer(t *testing.T, rec *sio.RecoveryOptions) (*sio.Server, chan *sio.Socket) {
	t.Helper()
	srv := newTestServer(t, &sio.Options{Recovery: rec})
	socks := make(chan *sio.Socket, 8)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		if !s.Recovered() {
			s.Join("r1")
			s.SetData("user-1")
		}
		socks <- s
	})
	return srv, socks
}

func recv(t *testing.T, ch chan *sio.Socket) *sio.Socket {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(3 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

func TestRecoveryOffByDefault(t *testing.T) {
	srv := newTestServer(t, nil)
	c := dial(t, srv)
	c.connect("/", "") // exactly {"sid"}
	eventually(t, "socket", func() bool { return len(srv.Of("/").FetchSockets()) == 1 })
	if err := srv.Of("/").Emit("ev", 1); err != nil {
		t.Fatal(err)
	}
	c.expectText(`2["ev",1]`)
	if err := srv.Of("/").Broadcast().Offset("7").Emit("ev", 2); err != nil {
		t.Fatal(err)
	}
	c.expectText(`2["ev",2]`)
}

func TestRecoveryOffsetsOnlyOnRecordedEvents(t *testing.T) {
	srv, socks := recServer(t, &sio.RecoveryOptions{})
	c := dial(t, srv)
	c.connectRec("/", "")
	s := recv(t, socks)
	s.On("q", func(ev *sio.Event) { _ = ev.Ack("answer") })

	seen := map[string]bool{}
	check := func(wantName string) {
		t.Helper()
		name, _, off := c.event(true)
		if name != wantName || seen[off] {
			t.Fatalf("event %q offset %q (seen before: %v)", name, off, seen[off])
		}
		seen[off] = true
	}
	if err := s.Emit("direct", 1); err != nil {
		t.Fatal(err)
	}
	check("direct")
	if err := srv.Of("/").To("r1").Emit("room", 2); err != nil {
		t.Fatal(err)
	}
	check("room")
	if err := srv.Of("/").Emit("all", 3); err != nil {
		t.Fatal(err)
	}
	check("all")
	if err := s.Emit("bin", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	p := c.next()
	if p.Type != parser.BinaryEvent || len(p.Attachments) != 1 || !jsonHasStringLast(p.Data) {
		t.Fatalf("binary event %s", parser.Encode(p))
	}
	if err := srv.Of("/").Broadcast().Offset("app-42").Emit("chosen", 4); err != nil {
		t.Fatal(err)
	}
	c.expectText(`2["chosen",4,"app-42"]`)

	// Volatile, acks and events asking for an ack carry no offset.
	if err := s.Volatile().Emit("vol", 5); err != nil {
		t.Fatal(err)
	}
	c.expectText(`2["vol",5]`)
	if err := srv.Of("/").Volatile().Emit("bvol", 6); err != nil {
		t.Fatal(err)
	}
	c.expectText(`2["bvol",6]`)
	c.text(`27["q"]`)
	c.expectText(`37["answer"]`)
	done := make(chan error, 1)
	go func() {
		_, err := s.Timeout(2*time.Second).EmitWithAck(context.Background(), "withack", 7)
		done <- err
	}()
	p = c.next()
	if got := string(parser.Encode(p)); got != fmt.Sprintf(`2%d["withack",7]`, p.ID) {
		t.Fatalf("event with ack %s", got)
	}
	c.text(fmt.Sprintf(`3%d["ok"]`, p.ID))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := srv.Of("/").Timeout(2*time.Second).EmitWithAck(context.Background(), "bwithack", 8)
		done <- err
	}()
	p = c.next()
	if got := string(parser.Encode(p)); got != fmt.Sprintf(`2%d["bwithack",8]`, p.ID) {
		t.Fatalf("broadcast with ack %s", got)
	}
	c.text(fmt.Sprintf(`3%d["ok"]`, p.ID))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func jsonHasStringLast(data json.RawMessage) bool {
	var all []any
	if json.Unmarshal(data, &all) != nil || len(all) < 2 {
		return false
	}
	_, ok := all[len(all)-1].(string)
	return ok
}

// dropAfterOffset connects a client, receives one recorded event (so the
// client has an offset), cuts the transport and waits for the server to
// see it. It returns sid, pid, the offset and the old socket.
func dropAfterOffset(t *testing.T, srv *sio.Server, socks chan *sio.Socket) (sid, pid, offset string) {
	t.Helper()
	c := dial(t, srv)
	sid, pid = c.connectRec("/", "")
	s := recv(t, socks)
	if err := s.Emit("hello"); err != nil {
		t.Fatal(err)
	}
	_, _, offset = c.event(true)
	var r reasons
	s.OnDisconnect(r.add)
	s.CloseTransport()
	if got := r.wait(t, 1); got[0] != sio.ReasonForcedClose {
		t.Fatalf("reason %q", got[0])
	}
	c.waitClosed()
	return sid, pid, offset
}

func TestRecoveryRestoresSocketAndMissedPackets(t *testing.T) {
	srv, socks := recServer(t, &sio.RecoveryOptions{})
	sid, pid, offset := dropAfterOffset(t, srv, socks)

	// Another client stays connected in r1 and sees everything live.
	other := dial(t, srv)
	other.connectRec("/", "")
	recv(t, socks)

	nsp := srv.Of("/")
	for i := range 5 {
		if err := nsp.To("r1").Emit("burst", i); err != nil {
			t.Fatal(err)
		}
	}
	_ = nsp.To("r2").Emit("elsewhere")     // not for the dropped socket
	_ = nsp.Except("r1").Emit("excluded")  // neither
	_ = nsp.To(sid).Emit("personal", "p")  // its own room
	_ = nsp.Volatile().Emit("volatile", 1) // never replayed
	for range 5 {
		other.event(true)
	}
	other.expectText(`2["volatile",1]`)

	c := dial(t, srv)
	gotSID, gotPID := c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if gotSID != sid || gotPID != pid {
		t.Fatalf("recovered as %s/%s, want %s/%s", gotSID, gotPID, sid, pid)
	}
	for i := range 5 {
		name, args, _ := c.event(true)
		if name != "burst" || len(args) != 1 || args[0] != float64(i) {
			t.Fatalf("missed packet %d: %s %v", i, name, args)
		}
	}
	if name, args, _ := c.event(true); name != "personal" || args[0] != "p" {
		t.Fatalf("missed personal packet: %s %v", name, args)
	}
	c.expectNone()
	s := recv(t, socks)
	if !s.Recovered() || s.RecoveryFailure() != nil || s.ID() != sid || s.Data() != "user-1" ||
		!slices.Equal(s.Rooms(), sortedStrings("r1", sid)) {
		t.Fatalf("recovered socket: recovered=%v err=%v id=%s data=%v rooms=%v",
			s.Recovered(), s.RecoveryFailure(), s.ID(), s.Data(), s.Rooms())
	}
	// Live traffic continues after the replay.
	if err := nsp.To("r1").Emit("live"); err != nil {
		t.Fatal(err)
	}
	if name, _, _ := c.event(true); name != "live" {
		t.Fatalf("live event %q", name)
	}
	// The session was used up: the same pid and offset again find nothing
	// to restore once the socket is gone voluntarily.
	c.text("1")
	eventually(t, "socket gone", func() bool { return srv.Of("/").Socket(sid) == nil })
	c2 := dial(t, srv)
	c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if s2 := recv(t, socks); s2.Recovered() || !errors.Is(s2.RecoveryFailure(), sio.ErrRecoveryUnknownSession) {
		t.Fatalf("second restore: recovered=%v err=%v", s2.Recovered(), s2.RecoveryFailure())
	}
}

func sortedStrings(s ...string) []string {
	slices.Sort(s)
	return s
}

func TestRecoveryRefused(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }

	cases := []struct {
		name string
		auth func(pid, offset string) string
		wait time.Duration
		want error
	}{
		{"unknown pid", func(_, off string) string { return fmt.Sprintf(`{"pid":"nope","offset":%q}`, off) }, 0, sio.ErrRecoveryUnknownSession},
		{"expired", func(pid, off string) string { return fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, off) }, 2*time.Minute + time.Second, sio.ErrRecoveryExpired},
		{"unknown offset", func(pid, _ string) string { return fmt.Sprintf(`{"pid":%q,"offset":"zzz"}`, pid) }, 0, sio.ErrRecoveryOffsetGone},
		{"no offset", func(pid, _ string) string { return fmt.Sprintf(`{"pid":%q}`, pid) }, 0, sio.ErrRecoveryOffsetGone},
		{"not asked", func(_, _ string) string { return `{"token":"x"}` }, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, socks := recServer(t, &sio.RecoveryOptions{})
			srv.SetClockForTest(clock)
			sid, pid, offset := dropAfterOffset(t, srv, socks)
			now.Add(int64(tc.wait))
			c := dial(t, srv)
			gotSID, gotPID := c.connectRec("/", tc.auth(pid, offset))
			if gotSID == sid || gotPID == pid {
				t.Fatal("a refused recovery reused the old ids")
			}
			s := recv(t, socks)
			if s.Recovered() {
				t.Fatal("Recovered() after a refusal")
			}
			err := s.RecoveryFailure()
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("RecoveryFailure() = %v, want %v", err, tc.want)
			}
			if !slices.Equal(s.Rooms(), sortedStrings("r1", gotSID)) {
				t.Fatalf("fresh socket rooms %v", s.Rooms())
			}
		})
	}
}

func TestRecoveryExpiryInStore(t *testing.T) {
	// The store prunes by its own MaxAge even when the server would allow
	// longer.
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	store := sio.NewMemorySessionStore(&sio.MemoryStoreOptions{MaxAge: time.Minute})
	srv, socks := recServer(t, &sio.RecoveryOptions{Store: store, MaxDisconnectionDuration: time.Hour})
	srv.SetClockForTest(func() time.Time { return time.Unix(0, now.Load()) })
	_, pid, offset := dropAfterOffset(t, srv, socks)
	now.Add(int64(2 * time.Minute))
	c := dial(t, srv)
	c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if err := recv(t, socks).RecoveryFailure(); !errors.Is(err, sio.ErrRecoveryExpired) {
		t.Fatalf("RecoveryFailure() = %v", err)
	}
}

func TestRecoveryOffsetPruned(t *testing.T) {
	store := sio.NewMemorySessionStore(&sio.MemoryStoreOptions{MaxPackets: 10})
	srv, socks := recServer(t, &sio.RecoveryOptions{Store: store})
	_, pid, offset := dropAfterOffset(t, srv, socks)
	for i := range 20 {
		_ = srv.Of("/").To("r1").Emit("burst", i)
	}
	if n, _ := store.Len(); n > 10 {
		t.Fatalf("store keeps %d packets, over MaxPackets", n)
	}
	c := dial(t, srv)
	c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if err := recv(t, socks).RecoveryFailure(); !errors.Is(err, sio.ErrRecoveryOffsetGone) {
		t.Fatalf("RecoveryFailure() = %v", err)
	}
}

func TestRecoveryOnlyAfterInvoluntaryDisconnect(t *testing.T) {
	cases := []struct {
		name string
		drop func(c *client, s *sio.Socket)
		keep bool
	}{
		{"client namespace disconnect", func(c *client, _ *sio.Socket) { c.text("1") }, false},
		{"server namespace disconnect", func(_ *client, s *sio.Socket) { s.Disconnect(false) }, false},
		{"server disconnect and close", func(_ *client, s *sio.Socket) { s.Disconnect(true) }, false},
		{"parse error", func(c *client, _ *sio.Socket) { c.text("9") }, false},
		{"transport close", func(c *client, _ *sio.Socket) { c.sess.Close(sio.ReasonTransportClose) }, true},
		{"transport error", func(c *client, _ *sio.Socket) { c.sess.Close(sio.ReasonTransportError) }, true},
		{"ping timeout", func(c *client, _ *sio.Socket) { c.sess.Close(sio.ReasonPingTimeout) }, true},
		{"forced close", func(_ *client, s *sio.Socket) { s.CloseTransport() }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, socks := recServer(t, &sio.RecoveryOptions{})
			c := dial(t, srv)
			sid, pid := c.connectRec("/", "")
			s := recv(t, socks)
			_ = s.Emit("hello")
			_, _, offset := c.event(true)
			var r reasons
			s.OnDisconnect(r.add)
			tc.drop(c, s)
			r.wait(t, 1)
			c2 := dial(t, srv)
			gotSID, _ := c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
			s2 := recv(t, socks)
			if s2.Recovered() != tc.keep || (gotSID == sid) != tc.keep {
				t.Fatalf("recovered=%v sid reused=%v, want %v (failure %v)", s2.Recovered(), gotSID == sid, tc.keep, s2.RecoveryFailure())
			}
			if !tc.keep && !errors.Is(s2.RecoveryFailure(), sio.ErrRecoveryUnknownSession) {
				t.Fatalf("RecoveryFailure() = %v", s2.RecoveryFailure())
			}
		})
	}
}

func TestRecoveryMiddlewares(t *testing.T) {
	for _, run := range []bool{false, true} {
		t.Run(fmt.Sprintf("RunMiddlewares=%v", run), func(t *testing.T) {
			srv, socks := recServer(t, &sio.RecoveryOptions{RunMiddlewares: run})
			var mu sync.Mutex
			var calls []bool // Recovered() as the middleware saw it
			srv.Of("/").Use(func(s *sio.Socket) error {
				mu.Lock()
				calls = append(calls, s.Recovered())
				mu.Unlock()
				if s.Recovered() && s.Data() != "user-1" {
					return errors.New("data not restored before middleware")
				}
				return nil
			})
			sid, pid, offset := dropAfterOffset(t, srv, socks)
			c := dial(t, srv)
			gotSID, _ := c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
			if !recv(t, socks).Recovered() || gotSID != sid {
				t.Fatal("not recovered")
			}
			mu.Lock()
			defer mu.Unlock()
			want := []bool{false}
			if run {
				want = []bool{false, true}
			}
			if !slices.Equal(calls, want) {
				t.Fatalf("middleware calls (recovered flag) %v, want %v", calls, want)
			}
		})
	}
}

func TestRecoveryAcrossServers(t *testing.T) {
	// A store shared by two Server values stands for a durable store
	// surviving a restart.
	store := sio.NewMemorySessionStore(nil)
	srv1, socks1 := recServer(t, &sio.RecoveryOptions{Store: store})
	c := dial(t, srv1)
	sid, pid := c.connectRec("/", "")
	s := recv(t, socks1)
	_ = s.Emit("hello")
	_, _, offset := c.event(true)
	srv1.Close()
	c.waitClosed()

	srv2, socks2 := recServer(t, &sio.RecoveryOptions{Store: store})
	for i := range 3 {
		if err := srv2.Of("/").To("r1").Emit("burst", i); err != nil {
			t.Fatal(err)
		}
	}
	c2 := dial(t, srv2)
	gotSID, gotPID := c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if gotSID != sid || gotPID != pid {
		t.Fatal("not recovered across servers")
	}
	for i := range 3 {
		if _, args, _ := c2.event(true); args[0] != float64(i) {
			t.Fatalf("missed packet %d: %v", i, args)
		}
	}
	if s2 := recv(t, socks2); !s2.Recovered() || s2.Data() != "user-1" {
		t.Fatal("socket not recovered")
	}
}

// failingStore fails on demand, to check that store errors reach the
// caller and refuse recovery instead of breaking the connection.
type failingStore struct {
	*sio.MemorySessionStore
	fail atomic.Bool
}

var errStore = errors.New("store down")

func (f *failingStore) Append(ctx context.Context, p *sio.StoredPacket) (string, error) {
	if f.fail.Load() {
		return "", errStore
	}
	return f.MemorySessionStore.Append(ctx, p)
}

func TestRecoveryStoreErrors(t *testing.T) {
	store := &failingStore{MemorySessionStore: sio.NewMemorySessionStore(nil)}
	srv, socks := recServer(t, &sio.RecoveryOptions{Store: store})
	c := dial(t, srv)
	c.connectRec("/", "")
	s := recv(t, socks)
	store.fail.Store(true)
	if err := srv.Of("/").Emit("x"); !errors.Is(err, errStore) {
		t.Fatalf("broadcast error %v", err)
	}
	if err := s.Emit("x"); !errors.Is(err, errStore) {
		t.Fatalf("emit error %v", err)
	}
	c.expectNone()
	store.fail.Store(false)
	if err := s.Emit("y"); err != nil {
		t.Fatal(err)
	}
	if name, _, _ := c.event(true); name != "y" {
		t.Fatalf("event %q", name)
	}
}

func TestMemoryStoreNotPersistedPacket(t *testing.T) {
	// A store returning "" sends the packet without offset.
	srv := newTestServer(t, &sio.Options{Recovery: &sio.RecoveryOptions{Store: skipStore{sio.NewMemorySessionStore(nil)}}})
	c := dial(t, srv)
	c.connectRec("/", "")
	eventually(t, "socket", func() bool { return len(srv.Of("/").FetchSockets()) == 1 })
	_ = srv.Of("/").Emit("skip", 1)
	c.expectText(`2["skip",1]`)
	_ = srv.Of("/").Emit("keep", 1)
	if _, _, off := c.event(true); off == "" {
		t.Fatal("no offset")
	}
}

type skipStore struct{ *sio.MemorySessionStore }

func (s skipStore) Append(ctx context.Context, p *sio.StoredPacket) (string, error) {
	if string(p.Data) == `["skip",1]` {
		return "", nil
	}
	return s.MemorySessionStore.Append(ctx, p)
}

func TestSessionWants(t *testing.T) {
	s := &sio.Session{Namespace: "/", Rooms: []string{"a", "sid"}}
	for _, tc := range []struct {
		p    sio.StoredPacket
		want bool
	}{
		{sio.StoredPacket{Namespace: "/"}, true},
		{sio.StoredPacket{Namespace: "/x"}, false},
		{sio.StoredPacket{Namespace: "/", Rooms: []string{"b", "a"}}, true},
		{sio.StoredPacket{Namespace: "/", Rooms: []string{"b"}}, false},
		{sio.StoredPacket{Namespace: "/", Except: []string{"sid"}}, false},
		{sio.StoredPacket{Namespace: "/", Rooms: []string{"a"}, Except: []string{"c"}}, true},
	} {
		if got := s.Wants(&tc.p); got != tc.want {
			t.Errorf("Wants(%+v) = %v", tc.p, got)
		}
	}
}

// hookStore calls onSave after each saved session.
type hookStore struct {
	*sio.MemorySessionStore
	onSave func(*sio.Session)
}

func (h *hookStore) SaveSession(ctx context.Context, s *sio.Session) error {
	err := h.MemorySessionStore.SaveSession(ctx, s)
	if h.onSave != nil {
		h.onSave(s)
	}
	return err
}

func TestRecoveryImmediateRestore(t *testing.T) {
	// The client comes back while the server is still finishing the old
	// socket's disconnect: the old socket must not take the new one's
	// rooms away.
	store := &hookStore{MemorySessionStore: sio.NewMemorySessionStore(nil)}
	srv, socks := recServer(t, &sio.RecoveryOptions{Store: store})
	c := dial(t, srv)
	sid, pid := c.connectRec("/", "")
	s := recv(t, socks)
	_ = s.Emit("hello")
	_, _, offset := c.event(true)
	c2 := dial(t, srv)
	restored := make(chan struct{})
	store.onSave = func(*sio.Session) {
		store.onSave = nil
		// The restore waits for the old socket to be fully gone, so it
		// cannot complete inside SaveSession.
		go func() {
			defer close(restored)
			if got, _ := c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)); got != sid {
				t.Errorf("not recovered: %s", got)
			}
		}()
	}
	var r reasons
	s.OnDisconnect(r.add)
	s.CloseTransport()
	<-restored
	r.wait(t, 1)
	if s2 := recv(t, socks); !s2.Recovered() || srv.Of("/").Socket(sid) != s2 ||
		!slices.Equal(s2.Rooms(), sortedStrings("r1", sid)) {
		t.Fatalf("recovered socket lost its place: rooms %v", s2.Rooms())
	}
	_ = srv.Of("/").To("r1").Emit("live")
	if name, _, _ := c2.event(true); name != "live" {
		t.Fatalf("event %q", name)
	}
}

func TestRecoveryTooLargeGivesNewSession(t *testing.T) {
	srv := newTestServer(t, &sio.Options{MaxQueuedBytes: 4096, Recovery: &sio.RecoveryOptions{}})
	socks := make(chan *sio.Socket, 4)
	var mws atomic.Int64
	srv.Of("/").Use(func(*sio.Socket) error { mws.Add(1); return nil })
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		if !s.Recovered() {
			s.Join("r1")
			s.SetData("user-1")
		}
		socks <- s
	})
	sid, pid, offset := dropAfterOffset(t, srv, socks)
	for i := range 100 { // about 3 KiB, over half of MaxQueuedBytes
		_ = srv.Of("/").To("r1").Emit("burst", i)
	}
	c := dial(t, srv)
	gotSID, _ := c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	s := recv(t, socks)
	if gotSID == sid || s.Recovered() || !errors.Is(s.RecoveryFailure(), sio.ErrRecoveryTooLarge) || s.Data() != "user-1" {
		t.Fatalf("sid reused %v, recovered %v, failure %v, data %v", gotSID == sid, s.Recovered(), s.RecoveryFailure(), s.Data())
	}
	if mws.Load() != 2 {
		t.Fatalf("middleware ran %d times, want 2 (first session, fresh one)", mws.Load())
	}
	c.expectNone()
}

// brokenReplayStore fails while reading the missed packets.
type brokenReplayStore struct{ *sio.MemorySessionStore }

func (b brokenReplayStore) RestoreSession(ctx context.Context, pid, offset string) (*sio.Session, iter.Seq2[*sio.StoredPacket, error], error) {
	s, _, err := b.MemorySessionStore.RestoreSession(ctx, pid, offset)
	return s, func(yield func(*sio.StoredPacket, error) bool) { yield(nil, errStore) }, err
}

func TestRecoveryReplayErrorGivesNewSession(t *testing.T) {
	srv, socks := recServer(t, &sio.RecoveryOptions{Store: brokenReplayStore{sio.NewMemorySessionStore(nil)}})
	sid, pid, offset := dropAfterOffset(t, srv, socks)
	c := dial(t, srv)
	gotSID, _ := c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	s := recv(t, socks)
	if gotSID == sid || s.Recovered() || !errors.Is(s.RecoveryFailure(), errStore) {
		t.Fatalf("sid reused %v, recovered %v, failure %v", gotSID == sid, s.Recovered(), s.RecoveryFailure())
	}
}

func TestMemoryStoreRefusesOtherEpoch(t *testing.T) {
	ctx := context.Background()
	a, b := sio.NewMemorySessionStore(nil), sio.NewMemorySessionStore(nil)
	offA, err := a.Append(ctx, &sio.StoredPacket{Namespace: "/", Data: []byte(`["x"]`)})
	if err != nil {
		t.Fatal(err)
	}
	offB, _ := b.Append(ctx, &sio.StoredPacket{Namespace: "/", Data: []byte(`["x"]`)})
	if offA == offB {
		t.Fatalf("two stores gave the same first offset %q", offA)
	}
	_ = b.SaveSession(ctx, &sio.Session{PID: "p", SID: "s", Namespace: "/", DisconnectedAt: time.Now()})
	if _, _, err := b.RestoreSession(ctx, "p", offA); !errors.Is(err, sio.ErrRecoveryOffsetGone) {
		t.Fatalf("offset of another store: %v", err)
	}
	// A session is restored once.
	_ = b.SaveSession(ctx, &sio.Session{PID: "q", SID: "s", Namespace: "/", DisconnectedAt: time.Now()})
	if _, _, err := b.RestoreSession(ctx, "q", offB); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.RestoreSession(ctx, "q", offB); !errors.Is(err, sio.ErrRecoveryUnknownSession) {
		t.Fatalf("second restore: %v", err)
	}
	// A preset offset is kept as given.
	if off, err := b.Append(ctx, &sio.StoredPacket{Offset: "row-7", Namespace: "/", Data: []byte(`["y"]`)}); err != nil || off != "row-7" {
		t.Fatalf("preset offset: %q %v", off, err)
	}
}

func TestRecoveryWithApplicationOffsets(t *testing.T) {
	// As the gateway does: the database row id is the offset.
	srv, socks := recServer(t, &sio.RecoveryOptions{})
	c := dial(t, srv)
	_, pid := c.connectRec("/", "")
	s := recv(t, socks)
	room := srv.Of("/").To("r1")
	_ = room.Offset("row-1").Emit("reading", 1)
	c.expectText(`2["reading",1,"row-1"]`)
	s.CloseTransport()
	c.waitClosed()
	eventually(t, "socket gone", func() bool { return srv.Of("/").Socket(s.ID()) == nil })
	_ = room.Offset("row-2").Emit("reading", 2)
	_ = room.Offset("row-3").Emit("reading", 3)
	c2 := dial(t, srv)
	c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":"row-1"}`, pid))
	c2.expectText(`2["reading",2,"row-2"]`)
	c2.expectText(`2["reading",3,"row-3"]`)
	c2.expectNone()
	if !recv(t, socks).Recovered() {
		t.Fatal("not recovered")
	}
}

func TestRecoverySupersedesDeadConnection(t *testing.T) {
	// The server has not noticed that the client's connection died (its
	// ping timeout is still running) when the client comes back with its
	// pid: the old connection is closed and the session restored.
	srv, socks := recServer(t, &sio.RecoveryOptions{})
	c := dial(t, srv)
	sid, pid := c.connectRec("/", "")
	s := recv(t, socks)
	_ = s.Emit("hello")
	_, _, offset := c.event(true)
	_ = srv.Of("/").To("r1").Emit("unseen", 1) // lost with the dead connection
	var r reasons
	s.OnDisconnect(r.add)

	c2 := dial(t, srv)
	gotSID, _ := c2.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if gotSID != sid {
		t.Fatalf("not recovered: %s", gotSID)
	}
	if got := r.wait(t, 1); got[0] != sio.ReasonForcedClose {
		t.Fatalf("old socket closed with %q", got[0])
	}
	if reason := c.waitClosed(); reason != sio.ReasonForcedClose {
		t.Fatalf("old connection closed with %q", reason)
	}
	if name, args, _ := c2.event(true); name != "unseen" || args[0] != float64(1) {
		t.Fatalf("replayed %s %v", name, args)
	}
	if s2 := recv(t, socks); !s2.Recovered() || srv.Of("/").Socket(sid) != s2 {
		t.Fatal("recovered socket not in place")
	}
	// A pid that is not this namespace's is not a reason to close anything.
	c3 := dial(t, srv)
	c3.connectRec("/", fmt.Sprintf(`{"pid":"unknown","offset":%q}`, offset))
	if c2.isClosed() {
		t.Fatal("an unknown pid closed a connection")
	}
}
