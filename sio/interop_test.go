package sio_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The interop harness runs the Node.js scenario scripts in testdata/interop
// (official socket.io-client) against a server. TestInteropReferenceServer
// runs them against the official Node.js socket.io server (testdata/interop/
// server.js) so the scripts themselves stay honest; TestInteropNodeClient
// (interop_node_test.go) runs the same scenarios against our server.

// interopDir holds the Node.js side of the harness, relative to this package.
const interopDir = "testdata/interop"

// Transport modes a scenario script accepts as its second argument.
const (
	interopWebSocket = "websocket"
	interopPolling   = "polling"
	interopUpgrade   = "upgrade" // polling first, then upgrade to WebSocket
)

var interopAllModes = []string{interopWebSocket, interopPolling, interopUpgrade}

// interopScenarios lists every script in testdata/interop/scenarios with the
// transport modes it is run in.
var interopScenarios = []struct {
	name  string
	modes []string
}{
	{"connect-auth", interopAllModes},
	{"middleware-reject", interopAllModes},
	{"echo-ack", interopAllModes},
	{"server-ack", interopAllModes},
	{"binary", interopAllModes},
	{"rooms", interopAllModes},
	{"volatile", interopAllModes},
	{"namespaces", interopAllModes},
	{"server-disconnect", interopAllModes},
	{"reconnect", interopAllModes},
	{"max-buffer", interopAllModes},
	{"heartbeat", interopAllModes},
	{"connect-timeout", interopAllModes},
}

// interopScenarioTimeout bounds one script run; the scripts stop themselves after
// 15 s, so this only catches a wedged node process.
const interopScenarioTimeout = 45 * time.Second

// requireInterop returns the path of the node binary, or skips the test (fails
// it when GATEWAYD_STRICT=1) when node or the npm dependencies are missing.
func requireInterop(t testing.TB) string {
	t.Helper()
	return requireNode(t, interopDir, "socket.io-client", "socket.io")
}

// requireNode returns the path of the node binary, or skips the test (fails
// it when GATEWAYD_STRICT=1) when node or one of the npm packages pkgs of
// the harness in dir is missing.
func requireNode(t testing.TB, dir string, pkgs ...string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; run `make test` (it runs `npm ci` in sio/" + dir + ")"
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("interop: node not found in PATH")
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing("interop: %s/node_modules/%s is missing", dir, pkg)
		}
	}
	return node
}

// runInteropScenarios runs every scenario in every mode against baseURL, one
// subtest each, in parallel up to -parallel.
func runInteropScenarios(t *testing.T, node, baseURL string) {
	t.Helper()
	for _, sc := range interopScenarios {
		for _, mode := range sc.modes {
			t.Run(sc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				runInteropScenario(t, node, baseURL, sc.name, mode)
			})
		}
	}
}

// interopPingRetries is how many times a run that failed after a missed
// heartbeat is repeated: even with the app's 1 s pingTimeout a busy machine
// can delay a pong that long, while a server whose heartbeat is broken fails
// every try.
const interopPingRetries = 2

// runInteropScenario runs one scenario script and fails the test, with the
// script's output attached, unless it exits 0. A run that failed with a
// "ping timeout" disconnect in its output is retried (interopPingRetries).
func runInteropScenario(t *testing.T, node, baseURL, scenario, mode string) {
	t.Helper()
	script := filepath.Join("scenarios", scenario+".js")
	out, err := runInteropScript(t, node, script, baseURL, mode)
	for try := 1; try <= interopPingRetries && err != nil && bytes.Contains(out, []byte("disconnected: ping timeout")); try++ {
		t.Logf("run %d failed after a ping timeout (machine busy?), retrying; its output:\n%s", try, out)
		out, err = runInteropScript(t, node, script, baseURL, mode)
	}
	if err != nil {
		t.Fatalf("node %s %s %s: %v\n--- output ---\n%s", script, baseURL, mode, err, out)
	}
	if !bytes.Contains(out, []byte("\nPASS ")) {
		t.Fatalf("node %s exited 0 without a PASS line\n--- output ---\n%s", script, out)
	}
	t.Log(interopLastLine(out))
}

// runInteropScript runs node with args in interopDir, bounded by
// interopScenarioTimeout, and returns its combined output.
func runInteropScript(t *testing.T, node string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), interopScenarioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = interopDir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %v)", err, interopScenarioTimeout)
	}
	return out, err
}

func interopLastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// startReferenceServer starts testdata/interop/server.js on a random
// loopback port and returns its base URL. The server exits when its stdin
// closes, which the test's cleanup does (and kills it if it lingers).
func startReferenceServer(t *testing.T, node string) string {
	t.Helper()
	cmd := exec.Command(node, "server.js", "0")
	cmd.Dir = interopDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server.js: %v", err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		// Drain the rest so the server never blocks on a full pipe; Wait
		// must only be called after reading has finished.
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("server.js did not exit within 5 s of its stdin closing")
		}
	})

	var line string
	select {
	case line = <-lines:
	case err := <-exited:
		exited <- err // let the cleanup see it too
		t.Fatalf("server.js exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("server.js printed no port within 20 s\n%s", stderr.String())
	}
	var ready struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Port <= 0 {
		t.Fatalf("server.js printed %q, want {\"port\":N} (%v)", line, err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ready.Port)
}

// TestInteropReferenceServer runs every scenario against the official
// Node.js socket.io server running the same test app. It validates the
// scenario scripts and the harness: a scenario that fails here is a bug in
// the script, not in our server.
func TestInteropReferenceServer(t *testing.T) {
	if testing.Short() {
		t.Skip("interop scenarios take about a minute; skipped with -short")
	}
	node := requireInterop(t)
	url := startReferenceServer(t, node)
	runInteropScenarios(t, node, url)
}

// TestInteropHarnessDetectsFailure checks that a scenario run against a
// server that does not speak Socket.IO fails with a FAIL line, so a green
// interop run means the scenarios really passed.
func TestInteropHarnessDetectsFailure(t *testing.T) {
	node := requireInterop(t)
	ts := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	for _, mode := range []string{interopWebSocket, interopPolling} {
		out, err := runInteropScript(t, node, filepath.Join("scenarios", "connect-auth.js"), ts.URL, mode)
		if err == nil {
			t.Fatalf("connect-auth [%s] passed against a 404 server:\n%s", mode, out)
		}
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Fatalf("connect-auth [%s]: err = %v, want exit status 1\n%s", mode, err, out)
		}
		if !strings.HasPrefix(interopLastLine(out), "FAIL connect-auth") {
			t.Fatalf("connect-auth [%s]: last line %q, want a FAIL line\n%s", mode, interopLastLine(out), out)
		}
	}
	// A bad invocation is a usage error, not a pass.
	out, err := runInteropScript(t, node, filepath.Join("scenarios", "rooms.js"), "not-a-url")
	if err == nil {
		t.Fatalf("rooms.js without a URL exited 0:\n%s", out)
	}
}
