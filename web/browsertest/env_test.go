package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
	"gatewayd/gateway"
	"gatewayd/store"
	"gatewayd/web"
)

const chromiumPath = "/usr/bin/chromium"

// skipOrFail skips with msg, or fails under GATEWAYD_STRICT where every
// prerequisite must be present.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("GATEWAYD_STRICT") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func requirePrereqs(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		skipOrFail(t, "browser tests need Chromium at "+chromiumPath+" (Debian package `chromium`)")
	}
	if !web.Built() {
		skipOrFail(t, "dashboard not built: run `make web` (npm ci and the esbuild build in web/)")
	}
}

// cutProxy forwards TCP to the gateway and can drop every connection and
// refuse new ones, as a network outage does, while the gateway keeps running.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until resume.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) resume() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

// env is a real gateway (store, embedded MQTT broker, HTTP server) behind a
// cuttable proxy, an MQTT client acting as devices, and a browser tab.
type env struct {
	t     *testing.T
	gw    *gateway.Gateway
	proxy *cutProxy
	mq    paho.Client
	tab   context.Context
}

type envOptions struct {
	password string // non-empty turns authentication on
	alerts   []gateway.AlertRule
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	requirePrereqs(t)
	quiet := slog.New(slog.DiscardHandler)

	st, err := store.Open(filepath.Join(t.TempDir(), "gatewayd.db"), &store.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: freeAddr(t), GatewayID: "browsertest",
		Logger: quiet, BrokerLogger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{Store: st, Sources: []devices.Source{src}, Web: web.FS(), Logger: quiet,
		Alerts: o.alerts, CommandTimeout: 5 * time.Second}
	if o.password == "" {
		cfg.Auth.Disabled = true
	} else {
		hash, err := gateway.HashPassword(o.password)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth.PasswordHash = hash
		cfg.Auth.Key = []byte("browsertest-session-key-of-32-bytes-or-more")
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { gw.Run(ctx); close(runDone) }()
	srv := httptest.NewServer(gw.Handler())
	e := &env{t: t, gw: gw, proxy: newCutProxy(t, srv.Listener.Addr().String())}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		gw.Shutdown(sctx)
		scancel()
		srv.Close()
		cancel()
		<-runDone
		st.Close()
	})

	select {
	case <-src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the embedded MQTT broker did not start")
	}
	opts := paho.NewClientOptions().AddBroker("tcp://" + src.BrokerAddr()).SetClientID("browsertest-devices").
		SetConnectTimeout(5 * time.Second)
	e.mq = paho.NewClient(opts)
	if tok := e.mq.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	t.Cleanup(func() { e.mq.Disconnect(100) })

	e.tab = newTab(t)
	return e
}

// with returns a copy of e that reports to t (a subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func newTab(t *testing.T) context.Context {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900))
	tab, tcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { tcancel(); acancel() })
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// publish sends one MQTT message as a device would.
func (e *env) publish(topic string, retained bool, payload any) {
	e.t.Helper()
	var b []byte
	switch p := payload.(type) {
	case string:
		b = []byte(p)
	default:
		var err error
		if b, err = json.Marshal(p); err != nil {
			e.t.Fatal(err)
		}
	}
	tok := e.mq.Publish(topic, 1, retained, b)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		e.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// telemetry publishes one temperature reading of device id at time ts.
func (e *env) telemetry(id string, ts time.Time, temp float64) {
	e.t.Helper()
	// RFC 3339 keeps the millisecond exact; a float epoch can lose one.
	e.publish("devices/"+id+"/telemetry", false, map[string]any{"temp": temp, "ts": ts.UTC().Format(time.RFC3339Nano)})
}

func (e *env) do(actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	if err := chromedp.Do(e.tab, actions...); err != nil {
		e.t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page and decodes its result.
func eval[T any](e *env, expr string) T {
	e.t.Helper()
	v, err := chromedp.Run(e.tab, chromedp.Evaluate[T](expr))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// eventually polls a JavaScript condition until it holds, failing with what
// the page shows when it does not within the timeout.
func (e *env) eventually(what, cond string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(e.tab, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	page, _ := chromedp.Run(e.tab, chromedp.Evaluate[string](`document.body.innerText.slice(0, 1500)`))
	e.t.Fatalf("%s: not seen within %v (last error %v); the page shows:\n%s", what, timeout, lastErr, page)
}

// screenshot saves the page into docs/screenshots when GATEWAYD_SCREENSHOTS
// is set; the README shows them.
func (e *env) screenshot(name string) {
	e.t.Helper()
	if os.Getenv("GATEWAYD_SCREENSHOTS") == "" {
		return
	}
	// Let uPlot and the sparklines finish their frame.
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(e.tab, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		e.t.Fatalf("screenshot %s: not a PNG (%d bytes)", name, len(png))
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("wrote docs/screenshots/%s", name)
}

// setScheme makes the page see the system's colour scheme as v ("light" or
// "dark").
func (e *env) setScheme(v string) {
	e.t.Helper()
	if _, err := chromedp.Call(e.tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}}); err != nil {
		e.t.Fatal(err)
	}
}

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// chartTimes returns the x values (Unix seconds) of a device chart.
func chartTimes(e *env, metric string) []float64 {
	e.t.Helper()
	return eval[[]float64](e, fmt.Sprintf(`(document.querySelector('[data-metric=%s]')?.uplot?.data[0]) || []`, jsString(metric)))
}

// hasTime reports whether xs holds t, to the millisecond.
func hasTime(xs []float64, t time.Time) int {
	n := 0
	want := float64(t.UnixMilli()) / 1000
	for _, x := range xs {
		if d := x - want; d > -0.0005 && d < 0.0005 {
			n++
		}
	}
	return n
}

var errNoCommand = errors.New("no command received")

// answerCommands subscribes to the generic convention's command topic of
// device id and replies to each command with its argument, as a relay does;
// the payloads it received come out of the channel.
func (e *env) answerCommands(id, name string) <-chan string {
	e.t.Helper()
	got := make(chan string, 8)
	topic := "devices/" + id + "/commands/" + name
	tok := e.mq.Subscribe(topic, 1, func(c paho.Client, m paho.Message) {
		arg := string(m.Payload())
		got <- arg
		c.Publish(topic+"/reply", 1, false, strings.Trim(arg, `"`))
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		e.t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return got
}
