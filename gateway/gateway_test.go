package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"gatewayd/devices"
	"gatewayd/gateway"
	"gatewayd/sio/sioclient"
	"gatewayd/store"
)

// fakeSource is a device source the test drives by hand. As a Commander it
// owns the devices in confirm: a command to one of them is recorded and,
// when confirm says so, answered with a state reading.
type fakeSource struct {
	mu      sync.Mutex
	down    error // returned by Health
	emit    func(devices.Update)
	ready   chan struct{}
	cmds    []devices.Command
	confirm map[string]bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{ready: make(chan struct{}), confirm: map[string]bool{}}
}

func (f *fakeSource) Run(ctx context.Context, emit func(devices.Update)) error {
	f.mu.Lock()
	f.emit = emit
	f.mu.Unlock()
	close(f.ready)
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeSource) Health() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *fakeSource) SendCommand(_ context.Context, cmd devices.Command) error {
	f.mu.Lock()
	confirm, ok := f.confirm[cmd.Device]
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	if !ok {
		return devices.ErrUnknownDevice
	}
	if confirm {
		go f.send(devices.Update{Reading: &devices.Reading{Device: cmd.Device, Key: "power", IsState: true,
			Text: strings.Trim(string(cmd.Args), `"`), Time: time.Now()}})
	}
	return nil
}

func (f *fakeSource) send(u devices.Update) {
	<-f.ready
	f.mu.Lock()
	emit := f.emit
	f.mu.Unlock()
	emit(u)
}

func (f *fakeSource) reading(dev, key string, t time.Time, v float64) {
	f.send(devices.Update{Reading: &devices.Reading{Device: dev, Key: key, Time: t, Value: v, Unit: "°C"}})
}

type harness struct {
	t     *testing.T
	gw    *gateway.Gateway
	st    *store.Store
	src   *fakeSource
	url   string
	close func()
}

func newHarness(t *testing.T, mod func(*gateway.Config)) *harness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "gw.db"), &store.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	cfg := gateway.Config{
		Store:          st,
		Sources:        []devices.Source{src},
		Auth:           gateway.AuthConfig{Disabled: true},
		CommandTimeout: 300 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw.Handler())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	h := &harness{t: t, gw: gw, st: st, src: src, url: hs.URL}
	h.close = func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		gw.Shutdown(sctx)
		scancel()
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	}
	t.Cleanup(h.close)
	return h
}

// dial connects a dashboard; auth may be nil.
func (h *harness) dial(auth map[string]any, header http.Header) (*sioclient.Client, error) {
	return dialURL(h.url, auth, header)
}

// dialURL connects a dashboard to the gateway serving base; auth may be nil.
func dialURL(base string, auth map[string]any, header http.Header) (*sioclient.Client, error) {
	opts := &sioclient.Options{Header: header, NoReconnect: true}
	if auth != nil {
		opts.Auth = func() map[string]any { return auth }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return sioclient.Dial(ctx, base, opts)
}

// call sends a protocol request and decodes its single result into out,
// failing the test on a protocol error.
func call(t *testing.T, c *sioclient.Client, event string, req, out any) {
	t.Helper()
	if err := callErr(t, c, event, req, out); err != nil {
		t.Fatalf("%s: %v", event, err)
	}
}

// callErr is call returning the protocol error object as an error.
func callErr(t *testing.T, c *sioclient.Client, event string, req, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args, err := c.EmitWithAck(ctx, event, req)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	var raw json.RawMessage
	if err := args.Decode(&raw); err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	var e struct {
		Error *struct{ Code, Message string }
	}
	json.Unmarshal(raw, &e)
	if e.Error != nil {
		return errors.New(e.Error.Code + ": " + e.Error.Message)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", event, raw, err)
		}
	}
	return nil
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type readingMsg struct {
	D string
	K string
	T int64
	V *float64
	S *string
	U string
	O int64
}

// inbox collects one event's payloads.
type inbox struct {
	mu  sync.Mutex
	got []json.RawMessage
}

func listen(c *sioclient.Client, event string) *inbox {
	in := &inbox{}
	c.On(event, func(ev *sioclient.Event) {
		var raw json.RawMessage
		ev.Args.Decode(&raw)
		in.mu.Lock()
		in.got = append(in.got, raw)
		in.mu.Unlock()
	})
	return in
}

func (in *inbox) len() int { in.mu.Lock(); defer in.mu.Unlock(); return len(in.got) }

func (in *inbox) readings(t *testing.T) []readingMsg {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]readingMsg, len(in.got))
	for i, raw := range in.got {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (h *harness) known(id string) {
	h.t.Helper()
	waitKnown(h.t, h.url, id)
}

// waitKnown waits until the gateway serving base has device id in its fleet.
func waitKnown(t testing.TB, base, id string) {
	t.Helper()
	waitFor(t, "device "+id+" in the fleet", func() bool {
		resp, err := http.Get(base + "/api/devices/" + id)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func TestLiveReadingsGoToSubscribedDashboardsInOrder(t *testing.T) {
	h := newHarness(t, nil)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	h.src.reading("dev1", "temperature", t0, 20)
	h.src.reading("dev2", "temperature", t0, 30)
	h.known("dev1")
	h.known("dev2")

	c, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := listen(c, "reading")
	var sub struct{ Devices []string }
	call(t, c, "subscribe", map[string]any{"devices": []string{"dev1"}}, &sub)
	if len(sub.Devices) != 1 || sub.Devices[0] != "dev1" {
		t.Fatalf("subscribe answered %+v", sub)
	}
	if err := callErr(t, c, "subscribe", map[string]any{"devices": []string{"nope"}}, nil); err == nil || !strings.HasPrefix(err.Error(), "unknown_device") {
		t.Fatalf("subscribe to an unknown device: %v", err)
	}
	if err := callErr(t, c, "subscribe", "not an object", nil); err == nil || !strings.HasPrefix(err.Error(), "bad_request") {
		t.Fatalf("malformed subscribe: %v", err)
	}

	const n = 200
	for i := range n {
		h.src.reading("dev1", "temperature", t0.Add(time.Duration(i+1)*time.Millisecond), float64(i))
		h.src.reading("dev2", "temperature", t0.Add(time.Duration(i+1)*time.Millisecond), float64(i))
	}
	waitFor(t, "200 readings", func() bool { return in.len() >= n })
	time.Sleep(50 * time.Millisecond) // anything of dev2 would have arrived by now
	got := in.readings(t)
	if len(got) != n {
		t.Fatalf("got %d readings, want %d (dev2 leaked?)", len(got), n)
	}
	var last int64
	for i, r := range got {
		if r.D != "dev1" || r.K != "temperature" || r.V == nil || *r.V != float64(i) || r.U != "°C" {
			t.Fatalf("reading %d: %+v", i, r)
		}
		if r.O <= last {
			t.Fatalf("reading %d: offset %d after %d", i, r.O, last)
		}
		last = r.O
	}
}

func TestHistoryFleetEventsAndREST(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now().Truncate(time.Millisecond)
	for i := range 120 {
		h.src.reading("dev1", "temperature", now.Add(time.Duration(i-120)*time.Second), float64(i%10))
	}
	h.src.send(devices.Update{Meta: &devices.Meta{Device: "dev1", Name: "Kitchen", Source: "tasmota", Commands: []string{"power"}}})
	h.src.send(devices.Update{Presence: &devices.Presence{Device: "dev1", Online: true, Reason: "lwt", Time: now}})
	h.known("dev1")
	waitFor(t, "commit", func() bool { return h.st.Committed() >= 120 })

	c, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fleet struct {
		Devices []struct {
			ID, Name, Source string
			Online           bool
			Commands         []string
			Latest           map[string]struct{ V float64 }
		}
	}
	waitFor(t, "metadata and presence", func() bool {
		call(t, c, "fleet", map[string]any{}, &fleet)
		return len(fleet.Devices) == 1 && fleet.Devices[0].Name == "Kitchen" && fleet.Devices[0].Online
	})
	d := fleet.Devices[0]
	if d.Source != "tasmota" || len(d.Commands) != 1 || d.Latest["temperature"].V != 9 {
		t.Fatalf("fleet entry %+v", d)
	}

	var hist struct {
		Series map[string]struct {
			T             []int64
			Avg, Min, Max []float64
		}
	}
	call(t, c, "history", map[string]any{"device": "dev1", "metrics": []string{"temperature"},
		"from": now.Add(-3 * time.Minute).UnixMilli(), "to": now.UnixMilli(), "points": 12}, &hist)
	s := hist.Series["temperature"]
	if len(s.T) == 0 || len(s.T) > 12 || len(s.Avg) != len(s.T) {
		t.Fatalf("history: %d buckets (%d avg)", len(s.T), len(s.Avg))
	}
	// Every bucket inside the range spans whole 0..9 cycles; the first and
	// last may be cut by the range.
	for i := 1; i < len(s.T)-1; i++ {
		if s.Min[i] != 0 || s.Max[i] != 9 {
			t.Fatalf("bucket %d lost its spikes: min %v max %v", i, s.Min[i], s.Max[i])
		}
	}
	if err := callErr(t, c, "history", map[string]any{"device": "ghost"}, nil); err == nil || !strings.HasPrefix(err.Error(), "unknown_device") {
		t.Fatalf("history of an unknown device: %v", err)
	}

	var evs struct {
		Events []struct{ Device, Kind, Text string }
	}
	waitFor(t, "the online event", func() bool {
		call(t, c, "events", map[string]any{}, &evs)
		return len(evs.Events) > 0
	})
	if evs.Events[0].Kind != store.EventOnline || evs.Events[0].Device != "dev1" {
		t.Fatalf("events %+v", evs.Events)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/devices"); code != 200 || !strings.Contains(body, `"Kitchen"`) {
		t.Fatalf("/api/devices: %d %s", code, body)
	}
	if code, _ := get("/api/devices/ghost"); code != 404 {
		t.Fatalf("/api/devices/ghost: %d", code)
	}
	if code, body := get("/api/devices/dev1/history?metric=temperature&points=5"); code != 200 || !strings.Contains(body, `"avg"`) {
		t.Fatalf("history: %d %s", code, body)
	}
	if code, body := get("/api/devices/dev1/history?from=yesterday"); code != 400 || !strings.Contains(body, "bad_request") {
		t.Fatalf("bad from: %d %s", code, body)
	}
	code, csv := get("/api/devices/dev1/export.csv?from=" + itoa(now.Add(-time.Hour).UnixMilli()))
	if lines := strings.Count(csv, "\n"); code != 200 || lines != 121 || !strings.HasPrefix(csv, "time,device,key,value,unit,offset") {
		t.Fatalf("export: %d, %d lines", code, lines)
	}
	if code, body := get("/api/events"); code != 200 || !strings.Contains(body, "online") {
		t.Fatalf("/api/events: %d %s", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	h.src.mu.Lock()
	h.src.down = errors.New("broker gone")
	h.src.mu.Unlock()
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "broker gone") {
		t.Fatalf("/healthz with the source down: %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "gatewayd_source_up 0") {
		t.Fatalf("metrics do not show the source down")
	}
	h.src.mu.Lock()
	h.src.down = nil
	h.src.mu.Unlock()
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "gatewayd_readings_total 120") ||
		!strings.Contains(body, "gatewayd_dashboards_connected 1") ||
		!strings.Contains(body, "gatewayd_store_queue_readings 0") || !strings.Contains(body, "gatewayd_store_last_commit_seconds") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
}

func TestServesTheDashboard(t *testing.T) {
	h := newHarness(t, func(c *gateway.Config) {
		c.Web = fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>gatewayd</title>")}}
	})
	resp, err := http.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<title>gatewayd</title>") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, b)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("no CSP on the dashboard: %q", csp)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestCommandsAreConfirmedOrTimeOut(t *testing.T) {
	h := newHarness(t, nil)
	h.src.confirm["plug"] = true
	h.src.confirm["deaf"] = false
	for _, d := range []string{"plug", "deaf"} {
		h.src.send(devices.Update{Meta: &devices.Meta{Device: d, Commands: []string{"power"}}})
		h.known(d)
	}
	c, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res struct{ OK bool }
	call(t, c, "command", map[string]any{"device": "plug", "name": "power", "args": "ON"}, &res)
	if !res.OK {
		t.Fatalf("command answered %+v", res)
	}
	err = callErr(t, c, "command", map[string]any{"device": "deaf", "name": "power", "args": "ON"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "timeout") {
		t.Fatalf("unconfirmed command: %v", err)
	}
	err = callErr(t, c, "command", map[string]any{"device": "plug", "name": "self-destruct"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "unknown_command") {
		t.Fatalf("unknown command: %v", err)
	}
	type event struct{ Kind, Text string }
	var cmdEvents []event
	waitFor(t, "command events", func() bool {
		var evs struct{ Events []event }
		call(t, c, "events", map[string]any{"device": "plug"}, &evs)
		cmdEvents = nil
		for _, e := range evs.Events {
			if strings.HasPrefix(e.Kind, "command.") {
				cmdEvents = append(cmdEvents, e)
			}
		}
		return len(cmdEvents) >= 2
	})
	if cmdEvents[0].Kind != store.EventCommandResult || !strings.Contains(cmdEvents[0].Text, "confirmed") ||
		cmdEvents[1].Kind != store.EventCommandSent || !strings.Contains(cmdEvents[1].Text, "anonymous") {
		t.Fatalf("events %+v", cmdEvents)
	}
}

func TestAuthentication(t *testing.T) {
	hash, err := gateway.HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *gateway.Config) {
		c.Auth = gateway.AuthConfig{PasswordHash: hash, Key: []byte(strings.Repeat("k", 32)),
			APITokens: []gateway.APIToken{{Name: "grafana", SHA256: sha256hex("viewer-token"), Role: gateway.RoleViewer}}}
	})
	h.src.confirm["plug"] = true
	h.src.send(devices.Update{Meta: &devices.Meta{Device: "plug", Commands: []string{"power"}}})

	_, err = h.dial(nil, nil)
	var ce *sioclient.ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" || !strings.Contains(string(ce.Data), "unauthorized") {
		t.Fatalf("dial without a token: %v", err)
	}
	if _, err := h.dial(map[string]any{"token": "forged.token"}, nil); !errors.As(err, &ce) {
		t.Fatalf("dial with a forged token: %v", err)
	}

	login := func(pw string) *http.Response {
		resp, err := http.Post(h.url+"/api/login", "application/json", strings.NewReader(`{"password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := login("wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := login("s3cret")
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatewayd_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != tok.Token {
		t.Fatalf("session cookie %+v", cookie)
	}

	session := func(hdr http.Header) map[string]any {
		req, _ := http.NewRequest("GET", h.url+"/api/session", nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	if m := session(nil); m["auth"] != true || m["role"] != nil {
		t.Fatalf("/api/session without login: %v", m)
	}
	if m := session(http.Header{"Cookie": {cookie.String()}}); m["role"] != "operator" {
		t.Fatalf("/api/session logged in: %v", m)
	}

	// The dashboard's way: the cookie travels with the websocket handshake.
	c, err := h.dial(nil, http.Header{"Cookie": {cookie.String()}})
	if err != nil {
		t.Fatalf("dial with the session cookie: %v", err)
	}
	defer c.Close()
	h.known2(tok.Token, "plug")
	var res struct{ OK bool }
	call(t, c, "command", map[string]any{"device": "plug", "name": "power", "args": "ON"}, &res)

	// A script's way: a bearer token; the viewer role may read, not command.
	v, err := h.dial(map[string]any{"token": "viewer-token"}, nil)
	if err != nil {
		t.Fatalf("dial with an API token: %v", err)
	}
	defer v.Close()
	call(t, v, "fleet", map[string]any{}, nil)
	if err := callErr(t, v, "command", map[string]any{"device": "plug", "name": "power", "args": "ON"}, nil); err == nil || !strings.HasPrefix(err.Error(), "forbidden") {
		t.Fatalf("viewer command: %v", err)
	}
	req, _ := http.NewRequest("GET", h.url+"/api/devices", nil)
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 401 {
		t.Fatalf("REST without a token: %d", r.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer viewer-token")
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 200 {
		t.Fatalf("REST with an API token: %d", r.StatusCode)
	}
}

// known2 waits for a device through the authenticated REST API.
func (h *harness) known2(token, id string) {
	h.t.Helper()
	waitFor(h.t, "device "+id, func() bool {
		req, _ := http.NewRequest("GET", h.url+"/api/devices/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func TestPresenceAndAlertsReachTheFleetRoom(t *testing.T) {
	h := newHarness(t, func(c *gateway.Config) {
		c.Alerts = []gateway.AlertRule{{Name: "hot", Metric: "temperature", Kind: gateway.AlertAbove, Threshold: 30}}
	})
	h.src.reading("dev1", "temperature", time.Now(), 20)
	h.known("dev1")
	c, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	presence := listen(c, "presence")
	events := listen(c, "event")
	devs := listen(c, "device")
	call(t, c, "subscribe", map[string]any{"devices": []string{"*"}}, nil)

	a, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	alerts := listen(a, "event")
	call(t, a, "subscribe", map[string]any{"alerts": true}, nil)

	h.src.send(devices.Update{Presence: &devices.Presence{Device: "dev1", Online: false, Reason: "lwt", Time: time.Now()}})
	h.src.reading("dev1", "temperature", time.Now(), 35)
	waitFor(t, "the alert in the alerts room", func() bool { return alerts.len() >= 1 })
	time.Sleep(50 * time.Millisecond)
	if n := alerts.len(); n != 1 {
		t.Fatalf("the alerts room got %d events, want only the alert", n)
	}
	waitFor(t, "presence, alert and device pushes", func() bool {
		return presence.len() >= 1 && events.len() >= 2 && devs.len() >= 1
	})
	var p struct {
		Device string
		Online bool
		Reason string
	}
	json.Unmarshal(presence.got[0], &p)
	if p.Device != "dev1" || p.Online || p.Reason != "lwt" {
		t.Fatalf("presence %+v", p)
	}
	var kinds []string
	events.mu.Lock()
	for _, raw := range events.got {
		var e struct{ Kind string }
		json.Unmarshal(raw, &e)
		kinds = append(kinds, e.Kind)
	}
	events.mu.Unlock()
	if strings.Join(kinds, ",") != store.EventOffline+","+store.EventAlertRaised {
		t.Fatalf("event kinds %v", kinds)
	}
	var act struct {
		Active []struct {
			Rule, Device, Text, AckedBy string
			Since                       int64
		}
	}
	call(t, c, "alerts", map[string]any{}, &act)
	if len(act.Active) != 1 || act.Active[0].Rule != "hot" || act.Active[0].Device != "dev1" || act.Active[0].AckedBy != "" {
		t.Fatalf("active alerts %+v", act.Active)
	}
	call(t, c, "ack_alert", map[string]any{"rule": "hot", "device": "dev1"}, nil)
	call(t, c, "alerts", map[string]any{}, &act)
	if len(act.Active) != 1 || act.Active[0].AckedBy != "anonymous" {
		t.Fatalf("after the ack %+v", act.Active)
	}
	if err := callErr(t, c, "ack_alert", map[string]any{"rule": "hot", "device": "nope"}, nil); err == nil {
		t.Fatal("acknowledged an alert that is not active")
	}
	waitFor(t, "the ack event", func() bool { return alerts.len() >= 2 })
	var d struct{ Alerts int }
	devs.mu.Lock()
	json.Unmarshal(devs.got[len(devs.got)-1], &d)
	devs.mu.Unlock()
	if d.Alerts != 1 {
		t.Fatalf("device push after the alert: %+v", d)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestFleetRoomGetsNewestValuesAtALowRate: a dashboard in the fleet room
// alone gets the newest values of the devices that sent readings, once per
// FleetInterval, instead of every reading.
func TestFleetRoomGetsNewestValuesAtALowRate(t *testing.T) {
	h := newHarness(t, func(c *gateway.Config) { c.FleetInterval = 200 * time.Millisecond })
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, d := range []string{"dev1", "dev2", "quiet"} {
		h.src.reading(d, "temperature", t0, 1)
		h.known(d)
	}
	c, err := h.dial(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readings := listen(c, "reading")
	updates := listen(c, "fleet_update")
	// Left and joined again without waiting in between: the room changes
	// run in the order sent, so the dashboard ends in the fleet room.
	if err := c.Emit("unsubscribe", map[string]any{"fleet": true}); err != nil {
		t.Fatal(err)
	}
	call(t, c, "subscribe", map[string]any{"fleet": true}, nil)
	// The warm-up readings' round may still be due: start counting after it.
	time.Sleep(300 * time.Millisecond)
	before := updates.len()

	start := time.Now()
	for i := range 100 {
		h.src.reading("dev1", "temperature", t0.Add(time.Duration(i+1)*time.Millisecond), float64(i))
		h.src.reading("dev2", "humidity", t0.Add(time.Duration(i+1)*time.Millisecond), float64(100+i))
	}
	type entry struct {
		ID       string
		LastSeen int64
		Latest   map[string]struct {
			T int64
			V float64
		}
	}
	var last map[string]entry
	waitFor(t, "a fleet_update with the last values", func() bool {
		updates.mu.Lock()
		defer updates.mu.Unlock()
		last = map[string]entry{}
		for _, raw := range updates.got[before:] {
			var u struct{ Devices []entry }
			if err := json.Unmarshal(raw, &u); err != nil {
				t.Fatal(err)
			}
			for _, e := range u.Devices {
				last[e.ID] = e
			}
		}
		return last["dev1"].Latest["temperature"].V == 99 && last["dev2"].Latest["humidity"].V == 199
	})
	elapsed := time.Since(start)
	if _, ok := last["quiet"]; ok {
		t.Errorf("a device without new readings is in the fleet updates: %+v", last["quiet"])
	}
	if e := last["dev2"]; e.LastSeen != t0.Add(100*time.Millisecond).UnixMilli() || e.Latest["temperature"].V != 1 {
		t.Errorf("dev2 entry %+v: want lastSeen of its last reading and every metric's newest value", e)
	}
	// One update per interval at most, not one per reading (200 here).
	if n, most := updates.len()-before, int(elapsed/(200*time.Millisecond))+2; n > most {
		t.Errorf("%d fleet updates in %v, want at most %d", n, elapsed, most)
	}
	if n := readings.len(); n != 0 {
		t.Errorf("the fleet room alone got %d readings, want none", n)
	}
}
