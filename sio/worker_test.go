package sio_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/sio"
)

// blockingApp records the numbers of "n" events in the order the handler
// sees them; the handler signals entered, then waits on gate for each event
// until gate is closed.
type blockingApp struct {
	mu      sync.Mutex
	got     []int
	gate    chan struct{}
	entered chan struct{}
}

func newBlockingApp(srv *sio.Server) *blockingApp {
	a := &blockingApp{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		s.On("n", func(ev *sio.Event) {
			select {
			case a.entered <- struct{}{}:
			default:
			}
			<-a.gate
			var i int
			if err := ev.Args.Decode(&i); err != nil {
				i = -1
			}
			a.mu.Lock()
			a.got = append(a.got, i)
			a.mu.Unlock()
		})
	})
	return a
}

func (a *blockingApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

// sendEvents sends n "n" events from a goroutine and counts those the
// server accepted.
func sendEvents(c *client, n int) (sent *atomic.Int64, done chan struct{}) {
	sent = new(atomic.Int64)
	done = make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			c.text(`2["n",` + strconv.Itoa(i) + `]`)
			sent.Add(1)
		}
	}()
	return sent, done
}

func TestWorkerOrderBackpressureAndExit(t *testing.T) {
	srv := newTestServer(t, nil)
	app := newBlockingApp(srv)
	c := dial(t, srv)
	c.connect("/", "")
	eventually(t, "worker gone after CONNECT", func() bool { return srv.WorkersRunningForTest() == 0 })

	const n = 2*sio.QueueSizeForTest + 50
	sent, done := sendEvents(c, n)
	eventually(t, "queue full", func() bool { return sent.Load() >= sio.QueueSizeForTest-1 })
	time.Sleep(50 * time.Millisecond) // the reader must stay blocked, however long
	// One event is in the handler, queueSize wait; the reader blocks on the last.
	if got := sent.Load(); got > sio.QueueSizeForTest+1 {
		t.Fatalf("%d events accepted while the handler is blocked, want at most %d", got, sio.QueueSizeForTest+1)
	}
	if srv.WorkersRunningForTest() != 1 {
		t.Fatal("no worker running for queued packets")
	}
	close(app.gate)
	<-done
	eventually(t, "all events handled", func() bool { return app.count() == n })
	app.mu.Lock()
	for i, v := range app.got {
		if v != i {
			app.mu.Unlock()
			t.Fatalf("event %d handled at position %d", v, i)
		}
	}
	app.mu.Unlock()
	eventually(t, "worker gone when idle", func() bool { return srv.WorkersRunningForTest() == 0 })

	// An idle connection starts a worker again for its next packet.
	c.text(`2["n",` + strconv.Itoa(n) + `]`)
	eventually(t, "event after idle handled", func() bool { return app.count() == n+1 })
}

func TestCloseUnblocksFullQueue(t *testing.T) {
	srv := newTestServer(t, nil)
	app := newBlockingApp(srv)
	defer close(app.gate)
	c := dial(t, srv)
	id := c.connect("/", "")
	var r reasons
	srv.Of("/").Socket(id).OnDisconnect(r.add)

	_, done := sendEvents(c, 2*sio.QueueSizeForTest)
	eventually(t, "queue full", func() bool { return srv.WorkersRunningForTest() == 1 })
	c.sess.Close(sio.ReasonTransportClose)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("reader still blocked on a closed connection's queue")
	}
	if got := r.wait(t, 1); got[0] != sio.ReasonTransportClose {
		t.Fatalf("disconnect reason %q", got[0])
	}
}

func TestShutdownWaitsForRunningHandler(t *testing.T) {
	srv := sio.NewServer(nil)
	app := newBlockingApp(srv)
	idle := dial(t, srv)
	idle.connect("/", "")
	c := dial(t, srv)
	c.connect("/", "")
	c.text(`2["n",0]`)
	c.text(`2["n",1]`) // queued: dropped at close
	select {
	case <-app.entered:
	case <-time.After(3 * time.Second):
		t.Fatal("handler not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a handler blocked: %v, want deadline exceeded", err)
	}
	close(app.gate)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := srv.Shutdown(ctx2); err != nil {
		t.Fatalf("Shutdown after the handler returned: %v", err)
	}
	if got := app.count(); got != 1 {
		t.Fatalf("%d events handled after close, want 1 (the queued one is dropped)", got)
	}
}
