package eio_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatewayd/sio/internal/eio"
)

// BenchmarkWebSocketSend measures Session.Send to one websocket client that
// reads as fast as it can.
func BenchmarkWebSocketSend(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			sessions := make(chan *eio.Session, 1)
			srv := eio.NewServer(&eio.Options{PingInterval: time.Minute, MaxQueuedBytes: 64 << 20}, func(s *eio.Session) eio.Handler {
				sessions <- s
				return nil
			})
			ts := httptest.NewServer(srv)
			defer ts.Close()
			defer srv.Close()
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/?EIO=4&transport=websocket", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(-1)
			if _, _, err := c.Read(ctx); err != nil { // open packet
				b.Fatal(err)
			}
			s := <-sessions
			msg := eio.Packet{Data: make([]byte, size)}
			done := make(chan error, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			window := make(chan struct{}, 1024)
			go func() {
				for range b.N {
					if _, _, err := c.Read(ctx); err != nil {
						done <- err
						return
					}
					<-window
				}
				done <- nil
			}()
			for range b.N {
				// Stay within a window so the queue measures throughput,
				// not how much memory a backlog can take.
				window <- struct{}{}
				if err := s.Send(false, msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkIdleWebSocketMemory opens idle websocket sessions (from raw TCP
// clients, which cost next to nothing) and reports the server's heap and
// stack memory per session. EIO_IDLE_SESSIONS sets the count (default 2000).
func BenchmarkIdleWebSocketMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("EIO_IDLE_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	if os.Getenv("EIO_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	for range b.N {
		srv := eio.NewServer(&eio.Options{PingInterval: time.Hour}, nil)
		hs := &http.Server{Handler: srv}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = hs.Serve(ln) }()

		beforeHeap, beforeStack := memSplit()
		before := beforeHeap + beforeStack
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := rawWebSocket(ln.Addr().String())
			if err != nil {
				b.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		for srv.SessionCount() < n {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // let writers and request goroutines end
		afterHeap, afterStack := memSplit()
		if path := os.Getenv("EIO_HEAP_PROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		after := afterHeap + afterStack
		// Signed: the stacks in use can shrink below the starting point
		// once idle sessions hold no goroutine.
		b.ReportMetric((float64(after)-float64(before))/float64(n), "bytes/session")
		b.ReportMetric((float64(afterHeap)-float64(beforeHeap))/float64(n), "heap-bytes/session")
		b.ReportMetric((float64(afterStack)-float64(beforeStack))/float64(n), "stack-bytes/session")
		b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/session")

		for _, c := range conns {
			_ = c.Close()
		}
		srv.Close()
		_ = hs.Close()
	}
}

func memSplit() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}

// rawWebSocket opens an Engine.IO websocket session over a plain TCP
// connection and reads the handshake, then leaves the connection idle.
func rawWebSocket(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(c, "GET /?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	// The open packet: a short unmasked text frame.
	hdr := make([]byte, 2)
	if _, err := br.Read(hdr); err != nil || hdr[0] != 0x81 {
		c.Close()
		return nil, fmt.Errorf("open frame header %x: %v", hdr, err)
	}
	return c, nil
}

// echoHandler sends every message back on its session.
type echoHandler struct{ s *eio.Session }

func (h echoHandler) OnMessage(p eio.Packet) { _ = h.s.Send(false, p) }
func (echoHandler) OnClose(string)           {}

// BenchmarkWebSocketRoundTrip measures one message from a websocket client
// echoed back by the server, one at a time: the server's reader goes idle
// between messages, the worst case for starting goroutines.
func BenchmarkWebSocketRoundTrip(b *testing.B) {
	srv := eio.NewServer(&eio.Options{PingInterval: time.Minute}, func(s *eio.Session) eio.Handler {
		return echoHandler{s}
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/?EIO=4&transport=websocket", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // open packet
		b.Fatal(err)
	}
	msg := []byte("4hello")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != "4hello" {
			b.Fatalf("echo %q: %v", got, err)
		}
	}
}
