package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in    string
		kind  frameKind
		event string
		ackID uint64
		data  string
	}{
		{in: "2", kind: framePing},
		{in: "1", kind: frameClose},
		{in: "41", kind: frameClose},
		{in: "6", kind: frameOther},
		{in: `0{"sid":"x"}`, kind: frameOther},
		{in: `40{"sid":"abc"}`, kind: frameConnect, data: `{"sid":"abc"}`},
		{in: `44{"message":"no"}`, kind: frameConnectErr, data: `{"message":"no"}`},
		{in: `42["reading",{"t":1,"seq":2}]`, kind: frameEvent, event: "reading", data: `{"t":1,"seq":2}`},
		{in: `42["ping-me"]`, kind: frameEvent, event: "ping-me"},
		{in: `4217["ask",1]`, kind: frameEvent, event: "ask", data: `1`},
		{in: `4312["sync"]`, kind: frameAck, ackID: 12, data: `["sync"]`},
		{in: `43/custom,1["x"]`, kind: frameOther},
	}
	for _, tt := range tests {
		f, err := parseFrame([]byte(tt.in))
		if err != nil {
			t.Errorf("parseFrame(%q): %v", tt.in, err)
			continue
		}
		if f.kind != tt.kind || f.event != tt.event || f.ackID != tt.ackID || string(f.data) != tt.data {
			t.Errorf("parseFrame(%q) = %+v (data %q), want kind %d event %q ack %d data %q",
				tt.in, f, f.data, tt.kind, tt.event, tt.ackID, tt.data)
		}
	}
}

func TestParseFrameErrors(t *testing.T) {
	for _, in := range []string{"", "4", `42`, `42[]`, `42[1]`, `42{"a":1}`, `43["x"]`, `43x["x"]`, `4312{"a":1}`, `4312[`, `4399999999999999999999["x"]`} {
		if f, err := parseFrame([]byte(in)); !errors.Is(err, errProtocol) {
			t.Errorf("parseFrame(%q) = %+v, %v; want errProtocol", in, f, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{"2", "1", "40", `40{"sid":"a"}`, `42["reading",{"t":1}]`, `4312["x"]`, `44{"message":"m"}`, "43", "42[", "4"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("error %v does not wrap errProtocol", err)
			}
			return
		}
		switch fr.kind {
		case frameAck:
			if !json.Valid(fr.data) || fr.data[0] != '[' {
				t.Fatalf("ack data %q is not a JSON array", fr.data)
			}
		case frameEvent:
			if fr.data != nil && !json.Valid(fr.data) {
				t.Fatalf("event data %q is not JSON", fr.data)
			}
		}
	})
}

func TestParseRSS(t *testing.T) {
	status := "Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   64356 kB\nThreads:\t7\n"
	if got := parseRSS([]byte(status)); got != 64356 {
		t.Fatalf("parseRSS = %d, want 64356", got)
	}
	if got := parseRSS([]byte("Name:\tx\n")); got != 0 {
		t.Fatalf("parseRSS without VmRSS = %d, want 0", got)
	}
	if got := readRSS(0); got != 0 {
		t.Fatalf("readRSS(0) = %d, want 0", got)
	}
}

func TestQuantile(t *testing.T) {
	var s samples
	if s.quantile(0.5) != 0 {
		t.Fatal("quantile of no samples must be 0")
	}
	for i := 100; i >= 1; i-- {
		s.add(time.Duration(i) * time.Millisecond)
	}
	if got := s.quantile(0.5); got != 50*time.Millisecond {
		t.Fatalf("p50 = %v, want 50ms", got)
	}
	if got := s.quantile(0.99); got != 99*time.Millisecond {
		t.Fatalf("p99 = %v, want 99ms", got)
	}
	if got := s.quantile(1); got != 100*time.Millisecond {
		t.Fatalf("p100 = %v, want 100ms", got)
	}
}

func TestWSURL(t *testing.T) {
	got, err := wsURL("http://127.0.0.1:3000", "/socket.io/")
	if err != nil || got != "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket" {
		t.Fatalf("wsURL = %q, %v", got, err)
	}
	if _, err := wsURL("ftp://127.0.0.1", "/socket.io/"); err == nil {
		t.Fatal("wsURL accepted an ftp URL")
	}
}

func TestValidateRejectsNonLoopback(t *testing.T) {
	base := config{url: "http://127.0.0.1:1", clients: 10, concurrency: 1, rooms: 2, subs: 8, rate: 10, duration: time.Second, echoDur: time.Second, echo: 5}
	if err := base.validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for name, mutate := range map[string]func(*config){
		"remote host":      func(c *config) { c.url = "http://192.0.2.1:80" },
		"too few clients":  func(c *config) { c.subs = 9 },
		"echo > clients":   func(c *config) { c.echo = 11 },
		"zero rate":        func(c *config) { c.rate = 0 },
		"huge duration":    func(c *config) { c.duration = time.Hour },
		"negative payload": func(c *config) { c.payload = -1 },
	} {
		c := base
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", name, c)
		}
	}
}

// TestRunAgainstNodeBenchServer runs every phase at small scale against the
// Node.js bench app, checking the generator end to end.
func TestRunAgainstNodeBenchServer(t *testing.T) {
	node, err := exec.LookPath("node")
	missing := err != nil
	if _, err := os.Stat("../../../sio/testdata/interop/node_modules/socket.io/package.json"); err != nil {
		missing = true
	}
	if missing {
		msg := "node or sio/testdata/interop/node_modules missing; run `make test` (it runs npm ci there)"
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, "../node-server.js", "0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	var ready struct{ Port, Pid int }
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Port == 0 {
			t.Fatalf("node-server.js printed %q", line)
		}
	case <-done:
		t.Fatal("node-server.js exited before listening")
	case <-time.After(20 * time.Second):
		t.Fatal("node-server.js printed no port within 20 s")
	}

	cfg := config{
		url: "http://127.0.0.1:" + strconv.Itoa(ready.Port), path: "/socket.io/", pid: ready.Pid,
		clients: 24, concurrency: 8, rooms: 3, subs: 18, rate: 60, duration: time.Second,
		payload: 16, echo: 6, echoDur: 500 * time.Millisecond, timeout: 30 * time.Second,
	}
	res, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.RSSAfterKB <= 0 {
		t.Errorf("server RSS not read: %+v", res)
	}
	if res.Published == 0 || res.Expected != res.Published*6 {
		t.Errorf("published %d, expected deliveries %d; want 6 subscribers per publish", res.Published, res.Expected)
	}
	if res.Delivered != res.Expected {
		t.Errorf("delivered %d of %d readings on loopback", res.Delivered, res.Expected)
	}
	if res.FanoutP50ms <= 0 || res.FanoutP99ms < res.FanoutP50ms {
		t.Errorf("fan-out latency p50 %v p99 %v", res.FanoutP50ms, res.FanoutP99ms)
	}
	if res.EchoCount == 0 || res.EchoErrors != 0 || res.EchoP50ms <= 0 {
		t.Errorf("echo: %d round trips, %d errors, p50 %v", res.EchoCount, res.EchoErrors, res.EchoP50ms)
	}
}

func TestParseCPU(t *testing.T) {
	stat := "1234 (node server) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 500 1000 2000\n"
	if got := parseCPU([]byte(stat)); got != 325 {
		t.Errorf("parseCPU = %d, want 250+75", got)
	}
	for _, bad := range []string{"", "1234 (x S 1", "1234 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0"} {
		if got := parseCPU([]byte(bad)); got != -1 {
			t.Errorf("parseCPU(%q) = %d, want -1", bad, got)
		}
	}
}

func TestParseStamp(t *testing.T) {
	r, ok := parseStamp([]byte(`{"t":1700000000000000000,"e":-1,"seq":3,"pad":"xx"}`))
	if !ok || r.T != 1700000000000000000 || r.E != -1 {
		t.Errorf("parseStamp = %+v, %v", r, ok)
	}
	for _, bad := range []string{`{"e":1,"t":2}`, `{"t":1}`, `{"t":x,"e":1}`, `{"t":1,"e":2`, `[1]`, ``} {
		if _, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("parseStamp(%q) accepted", bad)
		}
	}
	f, err := parseFrame([]byte(`42["reading",{"t":5,"e":1}]`))
	if err != nil || f.kind != frameEvent || f.event != "reading" || string(f.data) != `{"t":5,"e":1}` {
		t.Errorf("parseFrame fast path = %+v, %v", f, err)
	}
}
