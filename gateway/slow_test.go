package gateway_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/sioclient"
)

// A dashboard that stops reading is cut off by its send queue's cap; the
// other dashboards keep receiving every reading meanwhile.
func TestStalledDashboardIsDroppedWithoutSlowingOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes megabytes")
	}
	h := newHarness(t, nil)
	h.src.reading("dev1", "temperature", time.Now(), 0)
	h.known("dev1")

	// The stalled dashboard speaks the protocol by hand, subscribes, then
	// never reads again.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(h.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() string {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	read() // the Engine.IO open packet
	ws.Write(ctx, websocket.MessageText, []byte("40"))
	for !strings.HasPrefix(read(), "40") {
	}
	ws.Write(ctx, websocket.MessageText, []byte(`421["subscribe",{"devices":["*"]}]`))
	for !strings.HasPrefix(read(), "431") {
	}

	live, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var got atomic.Int64
	live.On("reading", func(*sioclient.Event) { got.Add(1) })
	call(t, live, "subscribe", map[string]any{"devices": []string{"dev1"}}, nil)

	// About 20 MB of readings: far over the 4 MiB queue plus what the
	// kernel's socket buffers hold.
	const n = 150_000
	t0 := time.Now().Add(-time.Hour)
	for i := range n {
		h.src.reading("dev1", "temperature", t0.Add(time.Duration(i)*time.Millisecond), float64(i))
	}
	waitFor(t, "every reading at the live dashboard", func() bool { return got.Load() >= n })
	// The stalled one was closed by the server: reading now drains what the
	// kernel buffered and then ends.
	drainCtx, drainCancel := context.WithTimeout(ctx, 20*time.Second)
	defer drainCancel()
	for {
		if _, _, err := ws.Read(drainCtx); err != nil {
			if drainCtx.Err() != nil {
				t.Fatal("the stalled dashboard is still connected after 20s")
			}
			break // closed by the server
		}
	}
}
