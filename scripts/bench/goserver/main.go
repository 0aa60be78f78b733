// Command goserver is the benchmark app (see scripts/bench/README.md) on the
// gatewayd sio server, the counterpart of node-server.js:
//
//	join    (room)            put the socket in room (one room per socket;
//	                          a later join replaces it)
//	publish (payload)         broadcast "reading" with payload to the
//	                          socket's room, excluding the sender
//	echo    (payload, ack)    ack(payload)
//
// Usage: goserver [-port N] [-max-queued BYTES] [-pprof ADDR]. It listens on 127.0.0.1,
// prints {"port":N,"pid":N} on stdout once listening, and exits when stdin
// closes or on SIGTERM/SIGINT. GOMAXPROCS is left to the runtime, which
// follows the CPU affinity the process was started with (taskset).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // on the default mux, served only with -pprof
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gatewayd/sio"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	maxQueued := flag.Int("max-queued", 0, "sio MaxQueuedBytes per connection (0: the sio default)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (empty: off)")
	flag.Parse()
	if *pprofAddr != "" {
		host, _, err := net.SplitHostPort(*pprofAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(os.Stderr, "goserver: -pprof must be a loopback host:port, got %q\n", *pprofAddr)
			os.Exit(2)
		}
		// For finding where a connection's memory goes; off in the
		// measured runs.
		go func() {
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "goserver: pprof:", err)
			}
		}()
	}
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "goserver: bad port %d\n", *port)
		os.Exit(2)
	}
	if err := run(*port, *maxQueued); err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
}

// newApp returns the sio server with the bench app's handlers.
func newApp(maxQueued int) *sio.Server {
	// The defaults (25 s ping interval, 20 s timeout) are kept: the load
	// generator answers pings, so idle clients stay connected.
	srv := sio.NewServer(&sio.Options{MaxQueuedBytes: maxQueued})
	srv.Of("/").OnConnection(func(s *sio.Socket) {
		// The socket's handlers run one at a time, so room needs no lock.
		room := ""
		s.On("join", func(ev *sio.Event) {
			var name string
			if ev.Args.Len() < 1 || json.Unmarshal(ev.Args.Raw(0), &name) != nil {
				return // not a string: ignored, as node-server.js does
			}
			if room != "" {
				s.Leave(room)
			}
			room = name
			s.Join(room)
		})
		s.On("publish", func(ev *sio.Event) {
			if room == "" {
				return
			}
			_ = s.To(room).Emit("reading", first(ev.Args))
		})
		s.On("echo", func(ev *sio.Event) {
			if ev.HasAck() {
				_ = ev.Ack(first(ev.Args))
			}
		})
	})
	return srv
}

// first returns the first argument ready to be sent on unchanged, or nil
// (JSON null, what Node sends for undefined) when there is none.
func first(a sio.Args) any {
	if a.Len() == 0 {
		return nil
	}
	return a.Forward()[0]
}

func run(port, maxQueued int) error {
	srv := newApp(maxQueued)
	mux := http.NewServeMux()
	mux.Handle(sio.DefaultPath, srv)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	b, _ := json.Marshal(map[string]int{"port": ln.Addr().(*net.TCPAddr).Port, "pid": os.Getpid()})
	fmt.Println(string(b))

	stop := make(chan struct{})
	var once sync.Once
	quit := func() { once.Do(func() { close(stop) }) }
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		quit()
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; quit() }()

	select {
	case <-stop:
	case err := <-serveErr:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	return nil
}
