package gateway

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// AlertKind is the condition an alert rule watches.
type AlertKind string

// The alert kinds.
const (
	// AlertAbove fires when a metric stays above Threshold for For.
	AlertAbove AlertKind = "above"
	// AlertBelow fires when a metric stays below Threshold for For.
	AlertBelow AlertKind = "below"
	// AlertOffline fires when a device has been offline for For.
	AlertOffline AlertKind = "offline"
	// AlertNoData fires when a device has sent no reading for For.
	AlertNoData AlertKind = "nodata"
)

// AlertRule is one alert rule, from the configuration file or added by an
// operator while running.
type AlertRule struct {
	// Name identifies the rule in alerts and logs; it must be unique.
	Name string `yaml:"name"`
	// Device is the device the rule watches; "" or "*" means every device.
	Device string `yaml:"device"`
	// Metric is the watched metric, for AlertAbove and AlertBelow.
	Metric string `yaml:"metric"`
	// Kind is the condition.
	Kind AlertKind `yaml:"kind"`
	// Threshold is the limit of AlertAbove and AlertBelow.
	Threshold float64 `yaml:"threshold"`
	// Hysteresis is how far back past Threshold a value must go before a
	// raised alert clears, so a value hovering at the limit does not flap.
	Hysteresis float64 `yaml:"hysteresis"`
	// For is how long the condition must hold before the alert is raised;
	// zero raises at once (AlertOffline and AlertNoData need it positive).
	For time.Duration `yaml:"for"`
}

// Validate reports the first problem with r, naming the field.
func (r AlertRule) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("alert rule: name is empty")
	}
	switch r.Kind {
	case AlertAbove, AlertBelow:
		if r.Metric == "" {
			return fmt.Errorf("alert rule %q: kind %s needs a metric", r.Name, r.Kind)
		}
	case AlertOffline, AlertNoData:
		if r.For <= 0 {
			return fmt.Errorf("alert rule %q: kind %s needs a positive for duration", r.Name, r.Kind)
		}
	default:
		return fmt.Errorf("alert rule %q: kind %q is not one of above, below, offline, nodata", r.Name, r.Kind)
	}
	if r.Hysteresis < 0 || r.For < 0 {
		return fmt.Errorf("alert rule %q: hysteresis and for must not be negative", r.Name)
	}
	return nil
}

func (r AlertRule) matches(device string) bool {
	return r.Device == "" || r.Device == "*" || r.Device == device
}

// Alert is an alert being raised or cleared.
type Alert struct {
	Rule   string
	Device string
	Metric string
	// Raised is true when the alert starts and false when it clears.
	Raised bool
	Time   time.Time
	// Value is the metric value that raised or cleared a threshold alert.
	Value float64
	// Text describes the alert for people.
	Text string
}

type alertKey struct{ rule, device string }

type alertState struct {
	pendingSince time.Time // when the condition started to hold; zero if it does not
	active       bool
	value        float64
	raised       Alert  // the alert as raised, while active
	ackedBy      string // who acknowledged the active alert; "" if nobody
}

// Alerts evaluates alert rules against readings, presence and the passing of
// time, and reports each alert once when raised and once when cleared. It is
// safe for concurrent use.
type Alerts struct {
	mu       sync.Mutex
	rules    []AlertRule
	state    map[alertKey]*alertState
	lastSeen map[string]time.Time // device → last reading
	offline  map[string]time.Time // device → offline since
}

// NewAlerts returns an evaluator for rules, which must be valid.
func NewAlerts(rules []AlertRule) (*Alerts, error) {
	a := &Alerts{state: map[alertKey]*alertState{}, lastSeen: map[string]time.Time{}, offline: map[string]time.Time{}}
	_, err := a.SetRules(rules, time.Time{})
	return a, err
}

// SetRules replaces the rules, as on a configuration reload or an edit by
// an operator. The state of rules that are gone or changed is forgotten;
// for each alert such a rule had raised, SetRules returns a clear at time
// t, so that no dashboard keeps showing an alert nothing will ever clear.
// Invalid rules change nothing.
func (a *Alerts) SetRules(rules []AlertRule, t time.Time) ([]Alert, error) {
	names := map[string]bool{}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, fmt.Errorf("alert rule %q: name used twice", r.Name)
		}
		names[r.Name] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := map[string]AlertRule{}
	for _, r := range a.rules {
		old[r.Name] = r
	}
	var out []Alert
	for k, s := range a.state {
		if prev, ok := old[k.rule]; ok && slices.Contains(rules, prev) {
			continue
		}
		if s.active {
			text := "rule changed"
			if !names[k.rule] {
				text = "rule removed"
			}
			out = append(out, Alert{Rule: k.rule, Device: k.device, Metric: s.raised.Metric, Time: t, Text: text})
		}
		delete(a.state, k)
	}
	a.rules = slices.Clone(rules)
	sortAlerts(out)
	return out, nil
}

// sortAlerts orders alerts by rule, then device, so that alerts found by
// walking a map come out in a stable order.
func sortAlerts(as []Alert) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].Rule != as[j].Rule {
			return as[i].Rule < as[j].Rule
		}
		return as[i].Device < as[j].Device
	})
}

func (a *Alerts) get(k alertKey) *alertState {
	s := a.state[k]
	if s == nil {
		s = &alertState{}
		a.state[k] = s
	}
	return s
}

// Reading feeds one numeric reading and returns the alerts it raises or
// clears.
func (a *Alerts) Reading(device, metric string, t time.Time, v float64) []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastSeen[device] = t
	var out []Alert
	for _, r := range a.rules {
		if !r.matches(device) {
			continue
		}
		k := alertKey{r.Name, device}
		switch r.Kind {
		case AlertNoData:
			if s := a.state[k]; s != nil && s.active {
				s.active = false
				out = append(out, Alert{Rule: r.Name, Device: device, Time: t, Text: "data again"})
			}
		case AlertAbove, AlertBelow:
			if r.Metric != metric {
				continue
			}
			s := a.get(k)
			s.value = v
			if s.active {
				clear := v < r.Threshold-r.Hysteresis
				if r.Kind == AlertBelow {
					clear = v > r.Threshold+r.Hysteresis
				}
				if clear {
					s.active, s.pendingSince = false, time.Time{}
					out = append(out, Alert{Rule: r.Name, Device: device, Metric: metric, Time: t, Value: v,
						Text: fmt.Sprintf("%s back to %g", metric, v)})
				}
				continue
			}
			hold := v > r.Threshold
			if r.Kind == AlertBelow {
				hold = v < r.Threshold
			}
			if !hold {
				s.pendingSince = time.Time{}
				continue
			}
			if s.pendingSince.IsZero() {
				s.pendingSince = t
			}
			if t.Sub(s.pendingSince) >= r.For {
				out = append(out, a.raise(r, device, s, t))
			}
		}
	}
	return out
}

func (a *Alerts) raise(r AlertRule, device string, s *alertState, t time.Time) Alert {
	s.active = true
	al := Alert{Rule: r.Name, Device: device, Metric: r.Metric, Raised: true, Time: t, Value: s.value}
	switch r.Kind {
	case AlertAbove:
		al.Text = fmt.Sprintf("%s %g above %g", r.Metric, s.value, r.Threshold)
	case AlertBelow:
		al.Text = fmt.Sprintf("%s %g below %g", r.Metric, s.value, r.Threshold)
	case AlertOffline:
		al.Text = fmt.Sprintf("offline for %s", r.For)
	case AlertNoData:
		al.Text = fmt.Sprintf("no data for %s", r.For)
	}
	s.raised, s.ackedBy = al, ""
	return al
}

// ActiveAlert is a raised alert not yet cleared, with who acknowledged it.
type ActiveAlert struct {
	Alert
	// AckedBy names who acknowledged it; empty while nobody has.
	AckedBy string
}

// Active lists the raised alerts, oldest first.
func (a *Alerts) Active() []ActiveAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ActiveAlert
	for _, s := range a.state {
		if s.active {
			out = append(out, ActiveAlert{Alert: s.raised, AckedBy: s.ackedBy})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Rule+out[i].Device < out[j].Rule+out[j].Device
	})
	return out
}

// Ack records that who has seen the active alert of rule on device; it
// reports false when no such alert is active. An acknowledged alert stays
// active until its condition clears.
func (a *Alerts) Ack(rule, device, who string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state[alertKey{rule, device}]
	if s == nil || !s.active {
		return false
	}
	s.ackedBy = who
	return true
}

// Presence feeds a device going online or offline.
func (a *Alerts) Presence(device string, online bool, t time.Time) []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !online {
		if _, ok := a.offline[device]; !ok {
			a.offline[device] = t
		}
		return nil
	}
	delete(a.offline, device)
	var out []Alert
	for _, r := range a.rules {
		if r.Kind != AlertOffline || !r.matches(device) {
			continue
		}
		if s := a.state[alertKey{r.Name, device}]; s != nil && s.active {
			s.active = false
			out = append(out, Alert{Rule: r.Name, Device: device, Time: t, Text: "online again"})
		}
	}
	return out
}

// Tick raises the alerts whose duration has passed by now: offline and
// no-data durations, and thresholds held for their For while no new
// reading arrived.
func (a *Alerts) Tick(now time.Time) []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Alert
	for _, r := range a.rules {
		switch r.Kind {
		case AlertOffline:
			for dev, since := range a.offline {
				s := a.get(alertKey{r.Name, dev})
				if r.matches(dev) && !s.active && now.Sub(since) >= r.For {
					out = append(out, a.raise(r, dev, s, now))
				}
			}
		case AlertNoData:
			for dev, seen := range a.lastSeen {
				s := a.get(alertKey{r.Name, dev})
				if r.matches(dev) && !s.active && now.Sub(seen) >= r.For {
					out = append(out, a.raise(r, dev, s, now))
				}
			}
		case AlertAbove, AlertBelow:
			for k, s := range a.state {
				if k.rule == r.Name && !s.active && !s.pendingSince.IsZero() && now.Sub(s.pendingSince) >= r.For {
					out = append(out, a.raise(r, k.device, s, now))
				}
			}
		}
	}
	sortAlerts(out)
	return out
}

// ActiveCount returns the number of raised alerts per device.
func (a *Alerts) ActiveCount() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := map[string]int{}
	for k, s := range a.state {
		if s.active {
			n[k.device]++
		}
	}
	return n
}
