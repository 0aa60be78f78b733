package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gatewayd/store"
)

// Event kinds of alert rule changes made through the API.
const (
	eventAlertRuleSet     = "alert.rule_set"
	eventAlertRuleDeleted = "alert.rule_deleted"
)

// Where a rule comes from, as the `alert_rules` result names it.
const (
	ruleFromConfig  = "config"
	ruleFromRuntime = "runtime"
)

// ruleMsg is an alert rule on the wire: an item of the `alert_rules` result
// and push, the rule of `put_alert_rule` and of PUT /api/alerts/rules/{name},
// and the spec the store keeps. Source, UpdatedBy and Updated are ignored on
// input, so a client may send back a rule it listed.
type ruleMsg struct {
	Name       string    `json:"name"`
	Device     string    `json:"device"`
	Metric     string    `json:"metric"`
	Kind       AlertKind `json:"kind"`
	Threshold  float64   `json:"threshold"`
	Hysteresis float64   `json:"hysteresis"`
	// For is a Go duration string ("30s", "5m"); empty means zero.
	For       string `json:"for"`
	Source    string `json:"source,omitempty"`
	UpdatedBy string `json:"updatedBy,omitempty"`
	Updated   int64  `json:"updated,omitempty"`
}

func ruleMsgOf(r AlertRule) ruleMsg {
	return ruleMsg{Name: r.Name, Device: r.Device, Metric: r.Metric, Kind: r.Kind, Threshold: r.Threshold,
		Hysteresis: r.Hysteresis, For: r.For.String()}
}

// ruleFieldWants says what each rule field takes, for error messages.
var ruleFieldWants = map[string]string{
	"threshold": "a number", "hysteresis": "a number", "for": `a duration string such as "30s" or "5m"`,
}

// parseRule reads one alert rule from JSON and validates it; where names
// the rule in error messages ("rule" in a socket request). A non-empty name
// (from a REST path) is the rule's name: the JSON may leave it out but not
// name another.
func parseRule(raw []byte, where, name string) (AlertRule, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return AlertRule{}, errBadRequest("%s: missing; expected an object with name, kind and what the kind needs", where)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	// A misspelt field ("treshold") would otherwise silently become zero.
	dec.DisallowUnknownFields()
	var m ruleMsg
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return AlertRule{}, errBadRequest("%s: expected a JSON object, got a JSON %s", where, te.Value)
		}
		if errors.As(err, &te) {
			want := ruleFieldWants[te.Field]
			if want == "" {
				want = "a string"
			}
			return AlertRule{}, errBadRequest("%s.%s: expected %s, got a JSON %s", where, te.Field, want, te.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if strings.Contains(msg, "unknown field") {
			return AlertRule{}, errBadRequest("%s: %s; the fields are name, device, metric, kind, threshold, hysteresis, for", where, msg)
		}
		return AlertRule{}, errBadRequest("%s: expected a JSON object: %s", where, msg)
	}
	if name != "" {
		if m.Name != "" && m.Name != name {
			return AlertRule{}, errBadRequest("%s.name: %q differs from the name in the path, %q", where, m.Name, name)
		}
		m.Name = name
	}
	r := AlertRule{Name: m.Name, Device: m.Device, Metric: m.Metric, Kind: m.Kind, Threshold: m.Threshold, Hysteresis: m.Hysteresis}
	if m.For != "" {
		d, err := time.ParseDuration(m.For)
		if err != nil {
			return AlertRule{}, errBadRequest("%s.for: expected %s, got %q", where, ruleFieldWants["for"], m.For)
		}
		r.For = d
	}
	if err := r.Validate(); err != nil {
		return AlertRule{}, errBadRequest("%s: %v", where, err)
	}
	return r, nil
}

// runtimeRule is a rule an operator added, as the store keeps it.
type runtimeRule struct {
	rule      AlertRule
	updatedBy string
	updated   time.Time
}

// alertRules are the gateway's two sets of alert rules: those of the
// configuration file, read-only through the API and replaced on a reload,
// and those operators add at run time, kept in the store. The evaluator
// runs their union; a configuration rule hides a runtime rule of its name.
type alertRules struct {
	// sem is held while a change is written to the store and applied, so
	// changes happen one at a time and in the same order in both places.
	sem chan struct{}
	// mu guards config and runtime, which are replaced, never modified.
	mu      sync.Mutex
	config  []AlertRule
	runtime map[string]runtimeRule
}

// effectiveRules is the union the evaluator runs: config in its order, then
// runtime by name, less the runtime rules that config hides (shadowed).
func effectiveRules(config []AlertRule, runtime map[string]runtimeRule) (rules []AlertRule, shadowed []string) {
	rules = slices.Clone(config)
	for _, name := range slices.Sorted(maps.Keys(runtime)) {
		if slices.ContainsFunc(config, func(c AlertRule) bool { return c.Name == name }) {
			shadowed = append(shadowed, name)
			continue
		}
		rules = append(rules, runtime[name].rule)
	}
	return rules, shadowed
}

// loadAlertRules reads the runtime rules kept in the store and builds the
// evaluator of them and the configuration's rules.
func (g *Gateway) loadAlertRules(ctx context.Context) error {
	kept, err := g.store.AlertRules(ctx)
	if err != nil {
		return fmt.Errorf("gateway: load alert rules: %w", err)
	}
	runtime := map[string]runtimeRule{}
	for _, k := range kept {
		r, err := parseRule(k.Spec, "spec", k.Name)
		if err != nil {
			// A rule this build cannot read stays in the database for a
			// build that can; the others still run.
			g.log.Warn("alert rule in the database unreadable; skipping it", "rule", k.Name, "err", err)
			continue
		}
		runtime[k.Name] = runtimeRule{rule: r, updatedBy: k.UpdatedBy, updated: k.Updated}
	}
	rules, shadowed := effectiveRules(g.cfg.Alerts, runtime)
	if g.alerts, err = NewAlerts(rules); err != nil {
		return err
	}
	g.warnShadowed(shadowed)
	g.rules = alertRules{sem: make(chan struct{}, 1), config: slices.Clone(g.cfg.Alerts), runtime: runtime}
	return nil
}

func (g *Gateway) warnShadowed(names []string) {
	for _, n := range names {
		g.log.Warn("the configuration has an alert rule of the same name as a runtime rule; the configuration's wins, the runtime rule stays in the database unused",
			"rule", n)
	}
}

// lockRules takes the right to change the rules, giving up when ctx ends.
func (g *Gateway) lockRules(ctx context.Context) error {
	select {
	case g.rules.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Gateway) unlockRules() { <-g.rules.sem }

// applyRules makes config and runtime the rule sets; g.rules.sem must be
// held. The alerts of changed or removed rules are cleared, and the alerts
// room gets the new list.
func (g *Gateway) applyRules(config []AlertRule, runtime map[string]runtimeRule) (shadowed []string, err error) {
	rules, shadowed := effectiveRules(config, runtime)
	cleared, err := g.alerts.SetRules(rules, g.now())
	if err != nil {
		return nil, err
	}
	g.rules.mu.Lock()
	g.rules.config, g.rules.runtime = config, runtime
	g.rules.mu.Unlock()
	g.emitAlerts(cleared)
	g.push.Push("alert_rules", map[string]any{"rules": g.alertRuleList()}, 0, roomAlerts)
	return shadowed, nil
}

// SetAlertRules replaces the configuration's alert rules while running, as
// on SIGHUP; the rules operators added are kept. A configuration rule
// hides a runtime rule of the same name (logged as a warning).
func (g *Gateway) SetAlertRules(ctx context.Context, rules []AlertRule) error {
	if err := g.lockRules(ctx); err != nil {
		return err
	}
	defer g.unlockRules()
	shadowed, err := g.applyRules(slices.Clone(rules), g.rules.runtime)
	if err != nil {
		return err
	}
	g.warnShadowed(shadowed)
	return nil
}

func (g *Gateway) isConfigRule(name string) bool {
	return slices.ContainsFunc(g.rules.config, func(c AlertRule) bool { return c.Name == name })
}

// putAlertRule creates or replaces the runtime rule r for who: in the
// store first, then in the evaluator.
func (g *Gateway) putAlertRule(ctx context.Context, who string, r AlertRule) error {
	if err := g.lockRules(ctx); err != nil {
		return err
	}
	defer g.unlockRules()
	if g.isConfigRule(r.Name) {
		return &apiError{Code: "conflict", Message: fmt.Sprintf(
			"%q is the name of a rule of the configuration file: pick another name, or edit the file and reload it", r.Name)}
	}
	spec, err := json.Marshal(ruleMsgOf(r))
	if err != nil {
		return err
	}
	now := g.now()
	if err := g.store.PutAlertRule(ctx, store.AlertRule{Name: r.Name, Spec: spec, UpdatedBy: who, Updated: now}); err != nil {
		return err
	}
	runtime := maps.Clone(g.rules.runtime)
	runtime[r.Name] = runtimeRule{rule: r, updatedBy: who, updated: now}
	if _, err := g.applyRules(g.rules.config, runtime); err != nil {
		return err
	}
	g.recordEvent(store.Event{Time: now, Kind: eventAlertRuleSet, Device: ruleDevice(r),
		Message: r.Name + ": set by " + who, Data: string(spec)})
	return nil
}

// deleteAlertRule removes the runtime rule called name for who.
func (g *Gateway) deleteAlertRule(ctx context.Context, who, name string) error {
	if err := g.lockRules(ctx); err != nil {
		return err
	}
	defer g.unlockRules()
	if g.isConfigRule(name) {
		return &apiError{Code: "read_only", Message: fmt.Sprintf(
			"%q is a rule of the configuration file: edit the file and reload it to change or remove it", name)}
	}
	old, ok := g.rules.runtime[name]
	if !ok {
		return &apiError{Code: "unknown_rule", Message: fmt.Sprintf("no alert rule %q", name)}
	}
	if _, err := g.store.DeleteAlertRule(ctx, name); err != nil {
		return err
	}
	runtime := maps.Clone(g.rules.runtime)
	delete(runtime, name)
	if _, err := g.applyRules(g.rules.config, runtime); err != nil {
		return err
	}
	g.recordEvent(store.Event{Time: g.now(), Kind: eventAlertRuleDeleted, Device: ruleDevice(old.rule),
		Message: name + ": deleted by " + who})
	return nil
}

// ruleDevice is the device an event about r concerns: none for a rule that
// watches every device.
func ruleDevice(r AlertRule) string {
	if r.Device == "*" {
		return ""
	}
	return r.Device
}

// alertRuleList is the `alert_rules` result: the rules the evaluator runs,
// the configuration's first.
func (g *Gateway) alertRuleList() []ruleMsg {
	g.rules.mu.Lock()
	config, runtime := g.rules.config, g.rules.runtime
	g.rules.mu.Unlock()
	rules, _ := effectiveRules(config, runtime)
	out := make([]ruleMsg, 0, len(rules))
	for i, r := range rules {
		m := ruleMsgOf(r)
		if i < len(config) {
			m.Source = ruleFromConfig
		} else {
			rt := runtime[r.Name]
			m.Source, m.UpdatedBy, m.Updated = ruleFromRuntime, rt.updatedBy, rt.updated.UnixMilli()
		}
		out = append(out, m)
	}
	return out
}
