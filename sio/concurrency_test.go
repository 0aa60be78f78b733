package sio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/sioclient"
)

// 200 real websocket clients join, broadcast and leave at the same time;
// under -race this proves the server's rooms and fan-out are race-free, and
// the counts prove every broadcast reached exactly the room's members.
func TestConcurrentClientsJoinLeaveBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("200 clients")
	}
	const clients, rooms, msgs = 200, 10, 5
	srv := sio.NewServer(nil)
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("join", func(ev *sio.Event) {
			var room string
			ev.Args.Decode(&room)
			s.Join(room)
			ev.Ack("ok")
		})
		s.On("leave", func(ev *sio.Event) {
			var room string
			ev.Args.Decode(&room)
			s.Leave(room)
			ev.Ack("ok")
		})
		s.On("publish", func(ev *sio.Event) {
			var room string
			var n int
			ev.Args.Decode(&room, &n)
			srv.Of("/").To(room).Emit("msg", room, n)
			ev.Ack("ok")
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type client struct {
		c    *sioclient.Client
		room string
		got  atomic.Int64
	}
	cs := make([]*client, clients)
	var misrouted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range cs {
		cs[i] = &client{room: fmt.Sprintf("r%d", i%rooms)}
		wg.Go(func() {
			cl := cs[i]
			c, err := sioclient.New(hs.URL, &sioclient.Options{NoReconnect: true})
			if err != nil {
				errs <- err
				return
			}
			c.On("msg", func(ev *sioclient.Event) {
				var room string
				ev.Args.Decode(&room)
				if room == cl.room {
					cl.got.Add(1)
				} else {
					misrouted.Add(1)
				}
			})
			connected := make(chan struct{}, 1)
			c.OnConnect(func() { connected <- struct{}{} })
			c.Connect()
			select {
			case <-connected:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			cl.c = c
			if _, err := c.EmitWithAck(ctx, "join", cl.room); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, cl := range cs {
			if cl.c != nil {
				cl.c.Close()
			}
		}
	}()

	// Everyone publishes at once: each room has clients/rooms members, each
	// of whom publishes msgs messages to it.
	errs2 := make(chan error, clients)
	for _, cl := range cs {
		wg.Go(func() {
			for n := range msgs {
				if _, err := cl.c.EmitWithAck(ctx, "publish", cl.room, n); err != nil {
					errs2 <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs2)
	for err := range errs2 {
		t.Fatal(err)
	}
	want := int64(clients / rooms * msgs)
	deadline := time.Now().Add(20 * time.Second)
	for _, cl := range cs {
		for cl.got.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i, cl := range cs {
		if got := cl.got.Load(); got != want {
			t.Fatalf("client %d in %s got %d messages, want %d", i, cl.room, got, want)
		}
	}

	// Half leave while the other half keep publishing; the leavers then
	// get nothing more.
	// Half of each room leaves: rooms are i%rooms, so split on i/rooms.
	leaver := func(i int) bool { return (i/rooms)%2 == 0 }
	for i, cl := range cs {
		wg.Go(func() {
			if leaver(i) {
				cl.c.EmitWithAck(ctx, "leave", cl.room)
			} else {
				cl.c.EmitWithAck(ctx, "publish", cl.room, 99)
			}
		})
	}
	wg.Wait()
	for i, cl := range cs {
		if leaver(i) {
			continue
		}
		cl.c.EmitWithAck(ctx, "publish", cl.room, 100)
	}
	time.Sleep(200 * time.Millisecond)
	base := want
	for i, cl := range cs {
		got := cl.got.Load() - base
		// Every staying client sent 2 more to its room; the stayers of a
		// room number clients/rooms/2.
		odd := int64(clients / rooms / 2)
		if !leaver(i) && got != 2*odd {
			t.Fatalf("staying client %d got %d more, want %d", i, got, 2*odd)
		}
		// A leaver may still see some of the publishes racing its leave,
		// never the ones sent after every leave was acknowledged.
		if leaver(i) && got > odd {
			t.Fatalf("leaving client %d got %d more, over %d", i, got, odd)
		}
	}
	if n := misrouted.Load(); n != 0 {
		t.Fatalf("%d messages reached a client outside their room", n)
	}
}
