package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatewayd/gateway"
	"gatewayd/sio/sioclient"
)

// ruleJSON is an item of the `alert_rules` result.
type ruleJSON struct {
	Name, Device, Metric, Kind string
	Threshold, Hysteresis      float64
	For, Source, UpdatedBy     string
	Updated                    int64
}

func listRules(t *testing.T, c *sioclient.Client) []ruleJSON {
	t.Helper()
	var res struct{ Rules []ruleJSON }
	call(t, c, "alert_rules", map[string]any{}, &res)
	return res.Rules
}

func ruleNamed(rules []ruleJSON, name string) (ruleJSON, bool) {
	for _, r := range rules {
		if r.Name == name {
			return r, true
		}
	}
	return ruleJSON{}, false
}

type eventJSON struct{ Device, Kind, Text string }

// hasEvent reports whether the inbox got an event of kind whose text
// starts with text.
func (in *inbox) hasEvent(kind, text string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, raw := range in.got {
		var e eventJSON
		json.Unmarshal(raw, &e)
		if e.Kind == kind && strings.HasPrefix(e.Text, text) {
			return true
		}
	}
	return false
}

func (in *inbox) last() json.RawMessage {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.got) == 0 {
		return nil
	}
	return in.got[len(in.got)-1]
}

// mustDial connects a dashboard with an API token ("" for none), closed
// when the test ends.
func mustDial(t *testing.T, base, token string) *sioclient.Client {
	t.Helper()
	var auth map[string]any
	if token != "" {
		auth = map[string]any{"token": token}
	}
	c, err := dialURL(base, auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// activeAlerts returns "rule/device" of each active alert.
func activeAlerts(t *testing.T, c *sioclient.Client) []string {
	t.Helper()
	var res struct {
		Active []struct{ Rule, Device string }
	}
	call(t, c, "alerts", map[string]any{}, &res)
	var out []string
	for _, a := range res.Active {
		out = append(out, a.Rule+"/"+a.Device)
	}
	return out
}

// withRoles turns authentication on with an operator token
// ("operator-token", subject token:ops) and a viewer token ("viewer-token").
func withRoles(c *gateway.Config) {
	c.Auth = gateway.AuthConfig{Key: []byte(strings.Repeat("k", 32)), APITokens: []gateway.APIToken{
		{Name: "ops", SHA256: sha256hex("operator-token"), Role: gateway.RoleOperator},
		{Name: "wall", SHA256: sha256hex("viewer-token"), Role: gateway.RoleViewer},
	}}
}

var configHot = gateway.AlertRule{Name: "hot", Metric: "temperature", Kind: gateway.AlertAbove, Threshold: 30}

// An operator adds a rule over Socket.IO; it raises its alert on the alerts
// room, survives a restart on the same database, and stays apart from the
// configuration's rules, which nobody may change through the API.
func TestOperatorsEditAlertRulesOverSocketIO(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "gw.db")
	mod := func(c *gateway.Config) {
		withRoles(c)
		c.Alerts = []gateway.AlertRule{configHot}
	}
	a := startInstance(t, dbPath, "127.0.0.1:0", mod)
	op := mustDial(t, a.hs.URL, "operator-token")
	viewer := mustDial(t, a.hs.URL, "viewer-token")
	pushed := listen(viewer, "alert_rules")
	events := listen(viewer, "event")
	call(t, viewer, "subscribe", map[string]any{"alerts": true}, nil)

	humid := map[string]any{"name": "humid", "metric": "humidity", "kind": "above", "threshold": 80, "hysteresis": 5, "for": "0s"}
	for _, req := range []struct {
		event string
		body  any
	}{{"put_alert_rule", map[string]any{"rule": humid}}, {"delete_alert_rule", map[string]any{"name": "hot"}}} {
		if err := callErr(t, viewer, req.event, req.body, nil); err == nil || !strings.HasPrefix(err.Error(), "forbidden:") {
			t.Fatalf("viewer's %s: %v, want forbidden", req.event, err)
		}
	}
	if rules := listRules(t, viewer); len(rules) != 1 || rules[0] != (ruleJSON{Name: "hot", Metric: "temperature",
		Kind: "above", Threshold: 30, For: "0s", Source: "config"}) {
		t.Fatalf("rules before any change: %+v", rules)
	}

	call(t, op, "put_alert_rule", map[string]any{"rule": humid}, nil)
	waitFor(t, "the alert_rules push", func() bool { return pushed.len() >= 1 })
	var push struct{ Rules []ruleJSON }
	if err := json.Unmarshal(pushed.last(), &push); err != nil {
		t.Fatal(err)
	}
	r, ok := ruleNamed(push.Rules, "humid")
	if len(push.Rules) != 2 || !ok || r.Source != "runtime" || r.UpdatedBy != "token:ops" || r.Updated == 0 || r.Hysteresis != 5 {
		t.Fatalf("pushed rules %+v", push.Rules)
	}
	waitFor(t, "the alert.rule_set event naming the operator", func() bool {
		return events.hasEvent("alert.rule_set", "humid: set by token:ops")
	})

	// The new rule runs: a humid reading raises its alert on the alerts room.
	a.src.reading("dev1", "humidity", time.Now(), 90)
	waitFor(t, "the humid alert", func() bool { return events.hasEvent("alert.raised", "humid: humidity 90 above 80") })

	for _, c := range []struct {
		event         string
		req           any
		code, mention string
	}{
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "hot", "metric": "temperature", "kind": "above", "threshold": 50}},
			"conflict", "configuration file"},
		{"delete_alert_rule", map[string]any{"name": "hot"}, "read_only", "configuration file"},
		{"delete_alert_rule", map[string]any{"name": "nope"}, "unknown_rule", `"nope"`},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "metric": "m", "kind": "above", "for": "5 minutes"}},
			"bad_request", "rule.for"},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "metric": "m", "kind": "above", "for": 5}},
			"bad_request", "rule.for"},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "kind": "above"}}, "bad_request", "needs a metric"},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "kind": "sideways"}}, "bad_request", "kind"},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "metric": "m", "kind": "above", "treshold": 3}},
			"bad_request", "treshold"},
		{"put_alert_rule", map[string]any{"rule": map[string]any{"name": "x", "metric": "m", "kind": "above", "threshold": "high"}},
			"bad_request", "rule.threshold"},
		{"put_alert_rule", map[string]any{"rule": []int{1}}, "bad_request", "rule: expected a JSON object"},
		{"put_alert_rule", map[string]any{}, "bad_request", "rule: missing"},
	} {
		err := callErr(t, op, c.event, c.req, nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.code+":") || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s %v: %v, want %s mentioning %s", c.event, c.req, err, c.code, c.mention)
		}
	}
	if rules := listRules(t, op); len(rules) != 2 || rules[0].Threshold != 30 || rules[1].Name != "humid" {
		t.Fatalf("refused requests changed the rules: %+v", rules)
	}
	a.shutdown(t)

	// A restart on the same database brings the rule back, and it runs.
	b := startInstance(t, dbPath, "127.0.0.1:0", mod)
	defer b.shutdown(t)
	op = mustDial(t, b.hs.URL, "operator-token")
	events = listen(op, "event")
	call(t, op, "subscribe", map[string]any{"alerts": true}, nil)
	rules := listRules(t, op)
	if r, ok := ruleNamed(rules, "humid"); len(rules) != 2 || !ok || r.Source != "runtime" || r.UpdatedBy != "token:ops" ||
		r.Threshold != 80 || r.Hysteresis != 5 || r.Metric != "humidity" {
		t.Fatalf("rules after a restart: %+v", rules)
	}
	b.src.reading("dev2", "humidity", time.Now(), 95)
	waitFor(t, "the humid alert after the restart", func() bool { return events.hasEvent("alert.raised", "humid: humidity 95") })
}

// Editing or deleting a rule clears the alert it had raised, so no
// dashboard keeps showing an alert nothing would ever clear.
func TestChangingARuleClearsItsActiveAlert(t *testing.T) {
	h := newHarness(t, nil)
	h.src.reading("dev1", "t", time.Now(), 20)
	h.known("dev1")
	c := mustDial(t, h.url, "")
	events := listen(c, "event")
	devs := listen(c, "device")
	call(t, c, "subscribe", map[string]any{"devices": []string{"*"}, "alerts": true}, nil)
	hot := map[string]any{"name": "hot", "metric": "t", "kind": "above", "threshold": 30}
	call(t, c, "put_alert_rule", map[string]any{"rule": hot}, nil)
	h.src.reading("dev1", "t", time.Now(), 35)
	if got := activeAlerts(t, c); len(got) != 1 || got[0] != "hot/dev1" {
		t.Fatalf("active alerts: %v", got)
	}

	hot["threshold"] = 50
	call(t, c, "put_alert_rule", map[string]any{"rule": hot}, nil)
	waitFor(t, "the clear of the edited rule's alert", func() bool { return events.hasEvent("alert.cleared", "hot: rule changed") })
	if got := activeAlerts(t, c); len(got) != 0 {
		t.Fatalf("active alerts after the edit: %v", got)
	}
	waitFor(t, "the device's alert count back to 0", func() bool {
		var d struct{ Alerts int }
		json.Unmarshal(devs.last(), &d)
		return d.Alerts == 0
	})

	// The edited rule raises at its new threshold; deleting it clears that.
	h.src.reading("dev1", "t", time.Now(), 40)
	if got := activeAlerts(t, c); len(got) != 0 {
		t.Fatalf("raised under the old threshold: %v", got)
	}
	h.src.reading("dev1", "t", time.Now(), 60)
	if got := activeAlerts(t, c); len(got) != 1 {
		t.Fatalf("not raised at the new threshold: %v", got)
	}
	call(t, c, "delete_alert_rule", map[string]any{"name": "hot"}, nil)
	waitFor(t, "the clear and the deletion", func() bool {
		return events.hasEvent("alert.cleared", "hot: rule removed") && events.hasEvent("alert.rule_deleted", "hot: deleted by anonymous")
	})
	if got := activeAlerts(t, c); len(got) != 0 {
		t.Fatalf("active alerts after the delete: %v", got)
	}
	if rules := listRules(t, c); len(rules) != 0 {
		t.Fatalf("rules after the delete: %+v", rules)
	}
	if err := callErr(t, c, "delete_alert_rule", map[string]any{"name": "hot"}, nil); err == nil || !strings.HasPrefix(err.Error(), "unknown_rule:") {
		t.Fatalf("second delete: %v", err)
	}
}

// A reload replaces the configuration's rules and keeps the operators';
// a configuration rule of the same name hides a runtime rule without
// deleting it.
func TestReloadKeepsRuntimeRules(t *testing.T) {
	// An *os.File takes the gateway's concurrent log writes as they come.
	logs, err := os.Create(filepath.Join(t.TempDir(), "gw.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cold := gateway.AlertRule{Name: "cold", Metric: "t", Kind: gateway.AlertBelow, Threshold: 5}
	h := newHarness(t, func(c *gateway.Config) {
		c.Alerts = []gateway.AlertRule{cold}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	c := mustDial(t, h.url, "")
	pushed := listen(c, "alert_rules")
	call(t, c, "subscribe", map[string]any{"alerts": true}, nil)
	call(t, c, "put_alert_rule", map[string]any{"rule": map[string]any{"name": "wet", "metric": "h", "kind": "above", "threshold": 80}}, nil)

	ctx := context.Background()
	wetInFile := gateway.AlertRule{Name: "wet", Metric: "h", Kind: gateway.AlertAbove, Threshold: 95}
	if err := h.gw.SetAlertRules(ctx, []gateway.AlertRule{wetInFile}); err != nil {
		t.Fatal(err)
	}
	rules := listRules(t, c)
	if len(rules) != 1 || rules[0].Name != "wet" || rules[0].Source != "config" || rules[0].Threshold != 95 {
		t.Fatalf("rules after the reload: %+v", rules)
	}
	if b, _ := os.ReadFile(logs.Name()); !strings.Contains(string(b), "level=WARN") || !strings.Contains(string(b), "rule=wet") {
		t.Fatalf("no warning about the hidden runtime rule:\n%s", b)
	}
	if kept, err := h.st.AlertRules(ctx); err != nil || len(kept) != 1 || kept[0].Name != "wet" {
		t.Fatalf("the hidden runtime rule left the database: %+v, %v", kept, err)
	}
	waitFor(t, "the reloaded list pushed", func() bool {
		var p struct{ Rules []ruleJSON }
		json.Unmarshal(pushed.last(), &p)
		return len(p.Rules) == 1 && p.Rules[0].Source == "config"
	})
	h.src.reading("dev1", "h", time.Now(), 90)
	if got := activeAlerts(t, c); len(got) != 0 {
		t.Fatalf("the hidden runtime rule raised: %v", got)
	}

	// A bad configuration changes nothing.
	if err := h.gw.SetAlertRules(ctx, []gateway.AlertRule{wetInFile, wetInFile}); err == nil {
		t.Fatal("a configuration naming a rule twice was accepted")
	}
	if rules := listRules(t, c); len(rules) != 1 || rules[0].Source != "config" {
		t.Fatalf("rules after a refused reload: %+v", rules)
	}

	// Once the file drops its rule, the runtime one runs again.
	if err := h.gw.SetAlertRules(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rules = listRules(t, c)
	if len(rules) != 1 || rules[0].Source != "runtime" || rules[0].Threshold != 80 {
		t.Fatalf("rules after the file dropped wet: %+v", rules)
	}
	h.src.reading("dev1", "h", time.Now(), 91)
	if got := activeAlerts(t, c); len(got) != 1 || got[0] != "wet/dev1" {
		t.Fatalf("the runtime rule did not raise: %v", got)
	}
}

func TestAlertRulesREST(t *testing.T) {
	h := newHarness(t, func(c *gateway.Config) {
		withRoles(c)
		c.Alerts = []gateway.AlertRule{configHot}
	})
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const op, viewer = "operator-token", "viewer-token"
	const humid = `{"metric":"humidity","kind":"above","threshold":80,"for":"1m"}`
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		mention                   string
	}{
		{"GET", "/api/alerts/rules", "", "", 401, "unauthorized"},
		{"GET", "/api/alerts/rules", viewer, "", 200, `"source":"config"`},
		{"PUT", "/api/alerts/rules/humid", viewer, humid, 403, "forbidden"},
		{"PUT", "/api/alerts/rules/humid", op, humid, 200, `"ok":true`},
		{"GET", "/api/alerts/rules", viewer, "", 200, `"name":"humid","device":"","metric":"humidity","kind":"above","threshold":80,"hysteresis":0,"for":"1m0s","source":"runtime","updatedBy":"token:ops"`},
		{"PUT", "/api/alerts/rules/humid", op, `{"name":"other","metric":"m","kind":"above"}`, 400, "body.name"},
		{"PUT", "/api/alerts/rules/humid", op, `{"metric":"m","kind":"above","for":"soon"}`, 400, "body.for"},
		{"PUT", "/api/alerts/rules/humid", op, `not json`, 400, "bad_request"},
		{"PUT", "/api/alerts/rules/hot", op, humid, 409, "conflict"},
		{"DELETE", "/api/alerts/rules/hot", op, "", 409, "read_only"},
		{"DELETE", "/api/alerts/rules/humid", viewer, "", 403, "forbidden"},
		{"DELETE", "/api/alerts/rules/humid", op, "", 200, `"ok":true`},
		{"DELETE", "/api/alerts/rules/humid", op, "", 404, "unknown_rule"},
	} {
		status, body := do(c.method, c.path, c.token, c.body)
		if status != c.status || !strings.Contains(body, c.mention) {
			t.Errorf("%s %s as %q: %d %s, want %d mentioning %s", c.method, c.path, c.token, status, body, c.status, c.mention)
		}
	}
	if kept, err := h.st.AlertRules(context.Background()); err != nil || len(kept) != 0 {
		t.Fatalf("rules in the database after the delete: %+v, %v", kept, err)
	}
}
