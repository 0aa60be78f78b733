package sioclient_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"gatewayd/sio/sioclient"
)

// startNode runs a Node.js Socket.IO server script and returns its base
// URL. It skips when Node.js or the interop test's npm packages are
// missing, unless GATEWAYD_STRICT is set.
func startNode(t *testing.T, script string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	modules := filepath.Join("..", "testdata", "interop", "node_modules", "socket.io")
	if _, statErr := os.Stat(modules); err != nil || statErr != nil {
		msg := "needs node and sio/testdata/interop/node_modules: run `make test`, which runs npm ci there"
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, script)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the script exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v\n%s", script, err, stderr.String())
	}
	var hello struct{ Port int }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Port == 0 {
		t.Fatalf("%s printed %q", script, line)
	}
	return "http://127.0.0.1:" + strconv.Itoa(hello.Port)
}

func interopServer(t *testing.T) string {
	return startNode(t, filepath.Join("..", "testdata", "interop", "server.js"))
}

func fast() *sioclient.Options {
	return &sioclient.Options{ReconnectionDelay: 50 * time.Millisecond, ReconnectionDelayMax: 200 * time.Millisecond}
}

// events collects the arguments of one event name.
type events struct {
	mu  sync.Mutex
	got []sioclient.Args
	ch  chan struct{}
}

func collect(c *sioclient.Client, name string) *events {
	e := &events{ch: make(chan struct{}, 1000)}
	c.On(name, func(ev *sioclient.Event) {
		e.mu.Lock()
		e.got = append(e.got, ev.Args)
		e.mu.Unlock()
		e.ch <- struct{}{}
	})
	return e
}

func (e *events) wait(t *testing.T, n int) []sioclient.Args {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		if len(e.got) >= n {
			out := append([]sioclient.Args(nil), e.got...)
			e.mu.Unlock()
			return out
		}
		e.mu.Unlock()
		select {
		case <-e.ch:
		case <-deadline:
			t.Fatalf("waited 10s for %d events, have %d", n, len(e.got))
		}
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeServerEventsAcksBinary(t *testing.T) {
	url := interopServer(t)
	opts := fast()
	opts.Auth = func() map[string]any { return map[string]any{"token": "abc"} }
	c, err := sioclient.New(url+"/", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	welcome := collect(c, "welcome")
	c.On("ask", func(ev *sioclient.Event) {
		var q string
		ev.Args.Decode(&q)
		ev.Ack("answer to " + q)
	})
	bin := collect(c, "bin")
	c.Connect()

	var w struct {
		ID   string
		Auth map[string]string
		Nsp  string
	}
	if err := welcome.wait(t, 1)[0].Decode(&w); err != nil {
		t.Fatal(err)
	}
	if w.Auth["token"] != "abc" || w.Nsp != "/" || w.ID == "" || w.ID != c.ID() {
		t.Fatalf("welcome %+v, client id %q", w, c.ID())
	}

	args, err := c.EmitWithAck(ctx10(t), "echo", 1, "two", map[string]any{"three": []any{true, nil}}, []byte{1, 2, 3},
		map[string]any{"nested": []byte{4, 5}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		one    int
		two    string
		three  map[string][]any
		blob   []byte
		nested struct{ Nested []byte }
	)
	if err := args.Decode(&one, &two, &three, &blob, &nested); err != nil {
		t.Fatal(err)
	}
	if one != 1 || two != "two" || len(three["three"]) != 2 || !bytes.Equal(blob, []byte{1, 2, 3}) || !bytes.Equal(nested.Nested, []byte{4, 5}) {
		t.Fatalf("echo: %v %q %v %v %v", one, two, three, blob, nested)
	}

	args, err = c.EmitWithAck(ctx10(t), "server-ask")
	if err != nil {
		t.Fatal(err)
	}
	var answer string
	if err := args.Decode(&answer); err != nil || answer != "answer to question" {
		t.Fatalf("server-ask: %q %v (raw %s)", answer, err, args.Raw(0))
	}

	if _, err := c.EmitWithAck(ctx10(t), "get-binary"); err != nil {
		t.Fatal(err)
	}
	var payload struct {
		Data []byte
		List []any
	}
	if err := bin.wait(t, 1)[0].Decode(&payload); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload.Data, []byte{1, 2, 3}) || len(payload.List) != 2 {
		t.Fatalf("bin: %+v", payload)
	}
	if b, ok := payload.List[0].([]byte); !ok || !bytes.Equal(b, []byte{4, 5}) {
		t.Fatalf("bin list[0] = %#v", payload.List[0])
	}
}

func TestNodeServerRefusalAndNamespaces(t *testing.T) {
	url := interopServer(t)
	opts := fast()
	opts.Auth = func() map[string]any { return map[string]any{"token": "bad"} }
	_, err := sioclient.Dial(ctx10(t), url, opts)
	var ce *sioclient.ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" {
		t.Fatalf("Dial with a bad token: %v", err)
	}
	var data struct{ Code int }
	if json.Unmarshal(ce.Data, &data); data.Code != 401 {
		t.Fatalf("connect_error data %s", ce.Data)
	}

	_, err = sioclient.Dial(ctx10(t), url+"/nope", fast())
	if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("Dial /nope: %v", err)
	}

	for _, nsp := range []string{"/custom", "/dyn-42"} {
		c, err := sioclient.New(url+nsp, fast())
		if err != nil {
			t.Fatal(err)
		}
		welcome := collect(c, "welcome")
		c.Connect()
		var w struct{ Nsp string }
		welcome.wait(t, 1)[0].Decode(&w)
		if w.Nsp != nsp {
			t.Errorf("welcome on %s says nsp %q", nsp, w.Nsp)
		}
		c.Close()
	}
}

func TestNodeServerDisconnects(t *testing.T) {
	url := interopServer(t)
	c, err := sioclient.New(url, fast())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reasons := make(chan string, 10)
	connects := make(chan struct{}, 10)
	c.OnDisconnect(func(r string) { reasons <- r })
	c.OnConnect(func() { connects <- struct{}{} })
	c.Connect()
	<-connects

	// The server drops the transport: the client reconnects on its own, and
	// what is emitted meanwhile is buffered and delivered.
	if err := c.Emit("drop-me"); err != nil {
		t.Fatal(err)
	}
	if r := <-reasons; r != sioclient.ReasonTransportClose {
		t.Fatalf("drop-me: reason %q", r)
	}
	if c.EmitVolatile("echo", "lost") {
		t.Fatal("a volatile emit went out while disconnected")
	}
	args, err := c.EmitWithAck(ctx10(t), "echo", "buffered")
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if args.Decode(&s); s != "buffered" {
		t.Fatalf("buffered echo: %q", s)
	}
	select {
	case <-connects:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}

	// A server-side disconnect ends it for good, as in JS.
	c.Emit("disconnect-me")
	if r := <-reasons; r != sioclient.ReasonServerDisconnect {
		t.Fatalf("disconnect-me: reason %q", r)
	}
	select {
	case <-connects:
		t.Fatal("reconnected after a server-side disconnect")
	case <-time.After(700 * time.Millisecond):
	}
	if c.Connected() {
		t.Fatal("Connected after a server-side disconnect")
	}
	// Connect brings it back.
	c.Connect()
	select {
	case <-connects:
	case <-time.After(5 * time.Second):
		t.Fatal("Connect did not reconnect")
	}
}

func TestNodeServerRecovery(t *testing.T) {
	url := startNode(t, filepath.Join("testdata", "recovery-server.js"))
	c, err := sioclient.New(url, fast())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello := collect(c, "hello")
	burst := collect(c, "burst")
	c.Connect()
	hello.wait(t, 1)
	id := c.ID()
	if _, err := c.EmitWithAck(ctx10(t), "join", "r"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	c.Emit("drop-and-burst", "r", n)
	got := burst.wait(t, n)
	for i, a := range got[:n] {
		var v int
		var off string
		if err := a.Decode(&v, &off); err != nil || v != i || off == "" {
			t.Fatalf("burst %d: %d %q %v", i, v, off, err)
		}
	}
	if !c.Recovered() || c.ID() != id {
		t.Fatalf("Recovered %v, id %q then %q", c.Recovered(), id, c.ID())
	}
	// The server's hello after recovery says so too.
	var h struct{ Recovered bool }
	hello.wait(t, 2)[1].Decode(&h)
	if !h.Recovered {
		t.Fatal("the server did not see a recovered socket")
	}
}

func TestDialFailsFastWhenNothingListens(t *testing.T) {
	_, err := sioclient.Dial(ctx10(t), "http://127.0.0.1:1", nil)
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if _, err := sioclient.New("ftp://x", nil); err == nil {
		t.Fatal("an ftp URL was accepted")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	url := interopServer(t)
	before := runtime.NumGoroutine()
	for range 5 {
		c, err := sioclient.Dial(ctx10(t), url, fast())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.EmitWithAck(ctx10(t), "echo", 1); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := c.EmitWithAck(ctx10(t), "echo", 1); !errors.Is(err, sioclient.ErrClosed) {
			t.Fatalf("emit after Close: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
