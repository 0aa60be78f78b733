package sio_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/sio"
)

// BenchmarkIdleWebSocketMemory opens idle Socket.IO connections (raw TCP
// clients that did the Engine.IO websocket handshake and joined "/") and
// reports the server's heap, stack and RSS growth per connection, measured
// after forced GCs. SIO_IDLE_CONNS sets the count (default 2000). The RSS
// figure includes the raw clients' sockets, which live in the same process.
// SIO_HEAP_PROFILE names a file for a heap profile of the idle connections.
func BenchmarkIdleWebSocketMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("SIO_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	if os.Getenv("SIO_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	for range b.N {
		srv := sio.NewServer(&sio.Options{PingInterval: time.Hour})
		joined := make(chan struct{}, n)
		srv.Of("/").OnConnection(func(*sio.Socket) { joined <- struct{}{} })
		hs := &http.Server{Handler: srv}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = hs.Serve(ln) }()

		beforeHeap, beforeStack, beforeRSS := memUse()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := rawSocketIO(ln.Addr().String())
			if err != nil {
				b.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		for range n {
			<-joined
		}
		time.Sleep(100 * time.Millisecond) // let writers and request goroutines end
		afterHeap, afterStack, afterRSS := memUse()
		if path := os.Getenv("SIO_HEAP_PROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		b.ReportMetric(float64(afterHeap-beforeHeap)/float64(n), "heap-bytes/conn")
		b.ReportMetric(float64(afterStack-beforeStack)/float64(n), "stack-bytes/conn")
		b.ReportMetric(float64(afterRSS-beforeRSS)/float64(n), "rss-bytes/conn")
		b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/conn")

		for _, c := range conns {
			_ = c.Close()
		}
		srv.Close()
		_ = hs.Close()
	}
}

// memUse returns heap and stack in use after forced GCs, and the process's
// resident set (0 where /proc is missing) after returning free memory.
func memUse() (heap, stack, rss int64) {
	for range 6 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse), int64(m.StackInuse), vmRSS()
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rawSocketIO opens a websocket over plain TCP, reads the Engine.IO open
// packet, sends a Socket.IO CONNECT to "/" and reads the reply, then leaves
// the connection idle.
func rawSocketIO(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", addr)
	if err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(c, 512)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if f, err := readTextFrame(br); err != nil || !bytes.HasPrefix(f, []byte("0{")) {
		return fail(fmt.Errorf("open packet %q: %v", f, err))
	}
	// A masked text frame "40" with an all-zero mask key.
	if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}); err != nil {
		return fail(err)
	}
	if f, err := readTextFrame(br); err != nil || !bytes.HasPrefix(f, []byte("40{")) {
		return fail(fmt.Errorf("CONNECT reply %q: %v", f, err))
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// readTextFrame reads one unmasked, unfragmented text frame from a server.
func readTextFrame(br *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != 0x81 || hdr[1]&0x80 != 0 {
		return nil, fmt.Errorf("unexpected frame header %x", hdr)
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		return nil, fmt.Errorf("frame too long")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}
