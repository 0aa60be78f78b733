package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/store"
)

func TestCheckConfigExplainsTheProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: \":9000\"\nstore:\n  flush_interval: often\n"), 0o600)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-config", bad, "-check-config"}, nil, nil, &stderr, nil)
	if code != 2 || !strings.Contains(stderr.String(), bad+":3: store.flush_interval: expected a duration") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("mqtt:\n  mode: external\nalerts:\n  - name: hot\n    metric: temperature\n    kind: above\n    threshold: 30\n"), 0o600)
	stderr.Reset()
	if code := run(context.Background(), []string{"-config=" + good, "-check-config"}, nil, nil, &stderr, nil); code != 0 {
		t.Fatalf("good config: exit %d: %s", code, stderr.String())
	}

	stderr.Reset()
	code = run(context.Background(), []string{"-config", good, "-check-config"}, []string{"GATEWAYD_MQTT_MODE=sideways"}, nil, &stderr, nil)
	if code != 2 || !strings.Contains(stderr.String(), "mqtt.mode") || !strings.Contains(stderr.String(), "auto, embedded or external") {
		t.Fatalf("bad mode: exit %d: %s", code, stderr.String())
	}

	stderr.Reset()
	code = run(context.Background(), []string{"-config", filepath.Join(dir, "missing.yaml")}, nil, nil, &stderr, nil)
	if code != 2 || !strings.Contains(stderr.String(), "missing.yaml") {
		t.Fatalf("missing explicit config: exit %d: %s", code, stderr.String())
	}
}

func TestHashPassword(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"hash-password"}, nil, strings.NewReader(""), &stderr, nil); code != 2 {
		t.Fatalf("empty password: exit %d", code)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildGatewayd builds the binary once per test run.
func buildGatewayd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatewayd-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gatewayd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// logBuffer collects a process's log while tests read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGatewayd runs the binary and waits until it logs that it is ready.
func startGatewayd(t *testing.T, bin string, args ...string) (*exec.Cmd, *logBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var log logBuffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "gatewayd ready") {
				once = true
				close(ready)
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); pw.Close() })
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("gatewayd not ready after 20s:\n%s", log.String())
	}
	return cmd, &log
}

// A SIGTERM in the middle of ingest loses nothing the broker acknowledged:
// every QoS 1 reading whose PUBACK the publisher got is in the database.
func TestSIGTERMKeepsEveryAcknowledgedReading(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildGatewayd(t)
	data := t.TempDir()
	mqttPort, httpPort := freePort(t), freePort(t)
	cmd, log := startGatewayd(t, bin, "-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "-data-dir", data,
		"-mqtt.mode", "embedded", "-mqtt.listen", fmt.Sprintf("127.0.0.1:%d", mqttPort),
		"-auth.enabled=false", "-system.enabled=false", "-store.flush-interval", "5s",
		// The per-device flood limit would drop a burst this fast, by design.
		"-mqtt.rate-limit", "-1")

	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)).
		SetClientID("sigterm-test").SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	acked := 0
	signalled := false
	for i := 0; i < 100000; i++ {
		if i == 300 {
			// A long flush interval keeps these in the store's queue: only
			// the shutdown flush can save them.
			cmd.Process.Signal(syscall.SIGTERM)
			signalled = true
		}
		tok := c.Publish("devices/sig1/telemetry", 1, false, fmt.Sprintf(`{"n":%d}`, i))
		if !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
			break
		}
		acked++
	}
	c.Disconnect(0)
	if !signalled {
		t.Fatal("the broker acknowledged 100000 messages without being signalled")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gatewayd exited with %v:\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("gatewayd did not stop within 20s of SIGTERM:\n%s", log.String())
	}

	st, err := store.Open(filepath.Join(data, "gatewayd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	samples, err := st.Range(context.Background(), "sig1", "n", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	have := map[int]bool{}
	for _, s := range samples {
		have[int(s.Value)] = true
	}
	for i := range acked {
		if !have[i] {
			t.Fatalf("reading %d was acknowledged (%d in all) but is not stored (%d stored)", i, acked, len(samples))
		}
	}
	t.Logf("%d readings acknowledged before the broker closed, %d stored", acked, len(samples))
}

// The dashboard, health and metrics answer on the configured port, and a
// login is required by default.
func TestServesDashboardAndRequiresLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildGatewayd(t)
	httpPort := freePort(t)
	cmd, log := startGatewayd(t, bin, "-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "-data-dir", t.TempDir(),
		"-mqtt.mode", "embedded", "-mqtt.listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if !strings.Contains(log.String(), "generated one") {
		t.Fatalf("no generated password announced:\n%s", log.String())
	}
	for path, want := range map[string]int{"/healthz": 200, "/api/devices": 401, "/metrics": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, log.String())
	}
}

// `gatewayd simulate` publishes devices the gateway then knows.
func TestSimulateSubcommandFeedsTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildGatewayd(t)
	mqttPort, httpPort := freePort(t), freePort(t)
	gw, log := startGatewayd(t, bin, "-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "-data-dir", t.TempDir(),
		"-mqtt.mode", "embedded", "-mqtt.listen", fmt.Sprintf("127.0.0.1:%d", mqttPort), "-auth.enabled=false")
	simCmd := exec.Command(bin, "simulate", "-broker", fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort), "-devices", "1", "-interval", "200ms")
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { simCmd.Process.Signal(syscall.SIGTERM); simCmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/devices", httpPort))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// one device of each convention, and the Tasmota one by its prefix
			if strings.Count(string(body), `"id"`) >= 5 && strings.Contains(string(body), `"tasmota:`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulated devices did not appear:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	gw.Process.Signal(syscall.SIGTERM)
	gw.Wait()
}

// An embedded broker whose port is taken stops start-up with an error that
// names the key to change.
func TestEmbeddedBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, []string{"-listen", "127.0.0.1:0", "-data-dir", t.TempDir(), "-mqtt.mode", "embedded",
		"-mqtt.listen", ln.Addr().String(), "-auth.enabled=false", "-system.enabled=false"}, nil, nil, &stderr, nil)
	if code != 1 || !strings.Contains(stderr.String(), "mqtt.mode") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatal("start-up did not fail by itself")
	}
}

// SIGHUP applies the new alert rules and log level and names the keys that
// need a restart.
func TestSIGHUPReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildGatewayd(t)
	cfgPath := filepath.Join(t.TempDir(), "gw.yaml")
	httpPort, mqttPort := freePort(t), freePort(t)
	write := func(extra string) {
		os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: \"127.0.0.1:%d\"\nmqtt:\n  mode: embedded\n  listen: \"127.0.0.1:%d\"\nauth:\n  enabled: false\n%s",
			httpPort, mqttPort, extra)), 0o600)
	}
	write("")
	gw, log := startGatewayd(t, bin, "-config", cfgPath, "-data-dir", t.TempDir())
	write("log_level: debug\nalerts:\n  - name: hot\n    metric: t\n    kind: above\n    threshold: 30\n")
	gw.Process.Signal(syscall.SIGHUP)
	waitLog := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", s, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("alert_rules=1")
	// A changed listen address is refused by name; the rest still applies.
	os.WriteFile(cfgPath, []byte("listen: \"127.0.0.1:1\"\n"), 0o600)
	gw.Process.Signal(syscall.SIGHUP)
	waitLog("key=listen")
	// A broken file keeps the running configuration.
	os.WriteFile(cfgPath, []byte("listen: [\n"), 0o600)
	gw.Process.Signal(syscall.SIGHUP)
	waitLog("reload refused")
	gw.Process.Signal(syscall.SIGTERM)
	if err := gw.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, log.String())
	}
}
