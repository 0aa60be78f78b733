package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// gate forwards TCP to a backend and can go down (every connection cut,
// new ones refused) and come back on the same port: a dashboard's network
// going away and returning.
type gate struct {
	addr, backend string
	mu            sync.Mutex
	ln            net.Listener
	conns         []net.Conn
}

func (g *gate) up(t *testing.T) {
	t.Helper()
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			g.mu.Lock()
			g.ln = ln
			g.addr = ln.Addr().String()
			g.mu.Unlock()
			go g.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
}

func (g *gate) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", g.backend)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, b)
		g.mu.Unlock()
		go func() { io.Copy(b, c); b.Close() }()
		go func() { io.Copy(c, b); c.Close() }()
	}
}

func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// dashboard is the Node.js catch-up dashboard, read line by line.
type dashboard struct {
	lines chan string
	stdin io.WriteCloser
}

func (d *dashboard) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("the dashboard exited while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q from the dashboard in 30s", prefix)
		}
	}
}

// The proof of catch-up, with the official socket.io-client and
// real MQTT: the dashboard is cut off, 500 readings are published, the
// gateway restarts, the dashboard reconnects on its own and receives all
// 500, once each, in order, on its recovered session.
func TestDashboardCatchesUpAcrossRestartWithSocketIOClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	node, err := exec.LookPath("node")
	modules := filepath.Join("..", "..", "sio", "testdata", "interop", "node_modules", "socket.io-client")
	if _, statErr := os.Stat(modules); err != nil || statErr != nil {
		msg := "needs node and sio/testdata/interop/node_modules: run `make test`"
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin := buildGatewayd(t)
	data := t.TempDir()
	mqttPort, httpPort := freePort(t), freePort(t)
	args := []string{"-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "-data-dir", data,
		"-mqtt.mode", "embedded", "-mqtt.listen", fmt.Sprintf("127.0.0.1:%d", mqttPort),
		"-auth.enabled=false", "-system.enabled=false", "-mqtt.rate-limit", "-1"}
	gw, log := startGatewayd(t, bin, args...)

	publish := func(from, n int) {
		t.Helper()
		c := paho.NewClient(paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)).
			SetClientID(fmt.Sprintf("catchup-%d", from)))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("mqtt connect: %v", tok.Error())
		}
		defer c.Disconnect(100)
		for i := from; i < from+n; i++ {
			tok := c.Publish("devices/sensor1/telemetry", 1, false, fmt.Sprintf(`{"n":%d}`, i))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}
	publish(0, 1) // the device exists before the dashboard subscribes

	g := &gate{addr: "127.0.0.1:0", backend: fmt.Sprintf("127.0.0.1:%d", httpPort)}
	g.up(t)
	defer g.down()
	cmd := exec.Command(node, filepath.Join("testdata", "catchup.js"), "http://"+g.addr, "sensor1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &dashboard{lines: make(chan string, 10000), stdin: stdin}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	defer func() { stdin.Close(); cmd.Wait() }()

	d.expect(t, "connected false")
	d.expect(t, "subscribed")
	publish(1, 1)
	first := d.expect(t, "reading ")

	g.down()
	d.expect(t, "disconnected")
	const missed = 500
	publish(2, missed)

	gw.Process.Signal(syscall.SIGTERM)
	if err := gw.Wait(); err != nil {
		t.Fatalf("gatewayd exit: %v\n%s", err, log.String())
	}
	gw2, log2 := startGatewayd(t, bin, args...)
	defer func() { gw2.Process.Signal(syscall.SIGTERM); gw2.Wait() }()
	g.up(t)

	if l := d.expect(t, "connected "); l != "connected true" {
		t.Fatalf("the dashboard reconnected with %q: not recovered\n%s", l, log2.String())
	}
	last, _ := strconv.ParseInt(strings.Fields(first)[1], 10, 64)
	seen := map[int]bool{}
	for i := range missed {
		l := d.expect(t, "reading ")
		f := strings.Fields(l)
		off, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.Atoi(f[2])
		if off <= last {
			t.Fatalf("reading %d: offset %d after %d: out of order or repeated", i, off, last)
		}
		last = off
		if seen[n] || n != 2+i {
			t.Fatalf("reading %d carries n=%d (seen before: %v)", i, n, seen[n])
		}
		seen[n] = true
	}
	// Nothing more: a duplicate would show up now.
	select {
	case l := <-d.lines:
		if strings.HasPrefix(l, "reading ") {
			t.Fatalf("an extra reading after the 500: %q", l)
		}
	case <-time.After(300 * time.Millisecond):
	}
}
