package sio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gatewayd/sio"
)

// BenchmarkBroadcastFanOutRecovery is BenchmarkBroadcastFanOut with
// recovery on: each broadcast is also appended to the in-memory store and
// carries its offset.
func BenchmarkBroadcastFanOutRecovery(b *testing.B) {
	srv := sio.NewServer(&sio.Options{Recovery: &sio.RecoveryOptions{}})
	defer srv.Close()
	cs := make([]*client, 1000)
	for i := range cs {
		cs[i] = dial(b, srv)
		cs[i].connectRec("/", "")
	}
	eventually(b, "sockets registered", func() bool { return len(srv.Of("/").FetchSockets()) == len(cs) })
	benchFanOut(b, srv.Of("/"), cs)
}

// BenchmarkRecoveryRestore measures one recovery: a client presents a
// kept session and receives the 100 packets it missed.
func BenchmarkRecoveryRestore(b *testing.B) {
	const missed = 100
	store := sio.NewMemorySessionStore(nil)
	srv := sio.NewServer(&sio.Options{Recovery: &sio.RecoveryOptions{Store: store}})
	defer srv.Close()
	ctx := context.Background()
	first, err := store.Append(ctx, &sio.StoredPacket{Namespace: "/", Rooms: []string{"r1"}, Data: []byte(`["start"]`)})
	if err != nil {
		b.Fatal(err)
	}
	nsp := srv.Of("/")
	for i := range missed {
		if err := nsp.To("r1").Emit("reading", map[string]any{"device": "t-1", "value": i}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		sid := fmt.Sprintf("sid-%d", i)
		pid := fmt.Sprintf("pid-%d", i)
		if err := store.SaveSession(ctx, &sio.Session{PID: pid, SID: sid, Namespace: "/", Rooms: []string{"r1", sid}, DisconnectedAt: timeNow()}); err != nil {
			b.Fatal(err)
		}
		c := dial(b, srv)
		b.StartTimer()
		if got, _ := c.connectRec("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, first)); got != sid {
			b.Fatal("not recovered")
		}
		for range missed {
			c.next()
		}
		b.StopTimer()
		c.sess.Close(sio.ReasonTransportClose)
		<-c.sess.done
		b.StartTimer()
	}
}

func timeNow() time.Time { return time.Now() }
