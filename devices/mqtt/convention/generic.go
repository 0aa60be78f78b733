package convention

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// GenericOptions configures the gateway's own convention (docs/devices.md).
type GenericOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Prefix is the first topic level; default "devices".
	Prefix string
}

// Generic is gatewayd's own documented convention:
//
//	<prefix>/<id>/telemetry              JSON object of metrics (device → gateway)
//	<prefix>/<id>/status                 online/offline, retained, offline as will
//	<prefix>/<id>/meta                   JSON metadata, retained (optional)
//	<prefix>/<id>/commands/<name>        command (gateway → device)
//	<prefix>/<id>/commands/<name>/reply  reply (device → gateway)
//
// Device ids are the bare <id> (letters, digits, '_', '-', '.'), without a
// convention prefix.
type Generic struct {
	prefix  string
	filters []string

	mu   sync.Mutex
	devs map[string]*genericDev
}

type genericDev struct {
	units    map[string]string
	commands []string
}

// NewGeneric returns the generic convention.
func NewGeneric(o GenericOptions) *Generic {
	if o.Prefix == "" {
		o.Prefix = "devices"
	}
	p := o.Prefix
	return &Generic{
		prefix:  p,
		filters: []string{p + "/+/telemetry", p + "/+/status", p + "/+/meta", p + "/+/commands/+/reply"},
		devs:    map[string]*genericDev{},
	}
}

// Name implements Convention.
func (g *Generic) Name() string { return "generic" }

// Filters implements Convention.
func (g *Generic) Filters() []string { return g.filters }

// ValidGenericID reports whether id is usable as a generic device id.
func ValidGenericID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

func (g *Generic) dev(id string) *genericDev {
	d := g.devs[id]
	if d == nil {
		d = &genericDev{units: map[string]string{}}
		g.devs[id] = d
	}
	return d
}

// Handle implements Convention.
func (g *Generic) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	rest, ok := strings.CutPrefix(topic, g.prefix+"/")
	if !ok {
		return nil, ErrNotMine
	}
	id, sub, _ := strings.Cut(rest, "/")
	if !ValidGenericID(id) {
		return nil, bad("", ReasonBadTopic, "invalid device id in %q", topic)
	}
	switch {
	case sub == "status":
		on, ok := onlineWord(payload)
		if !ok {
			return nil, bad(id, ReasonBadValue, "status %q is not online/offline", clip(payload))
		}
		g.mu.Lock()
		g.dev(id)
		g.mu.Unlock()
		return []devices.Update{presence(id, on, "lwt", now)}, nil
	case sub == "meta":
		return g.meta(id, payload)
	case sub == "telemetry":
		return g.telemetry(id, payload, now)
	case strings.HasPrefix(sub, "commands/") && strings.HasSuffix(sub, "/reply"):
		name := strings.TrimSuffix(strings.TrimPrefix(sub, "commands/"), "/reply")
		s := strings.TrimSpace(string(payload))
		if len(s) > maxStateLen {
			s = s[:maxStateLen]
		}
		return []devices.Update{stateReading(id, "reply."+name, now, s)}, nil
	}
	return nil, ErrNotMine
}

type genericMeta struct {
	Name     string            `json:"name"`
	Model    string            `json:"model"`
	Firmware string            `json:"firmware"`
	Units    map[string]string `json:"units"`
	Commands []string          `json:"commands"`
}

func (g *Generic) meta(id string, payload []byte) ([]devices.Update, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	var m genericMeta
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, bad(id, ReasonNotJSON, "meta: %v", err)
	}
	g.mu.Lock()
	d := g.dev(id)
	// Copy on write: telemetry reads the map without the lock.
	units := make(map[string]string, len(d.units)+len(m.Units))
	for k, u := range d.units {
		units[k] = u
	}
	for k, u := range m.Units {
		units[k] = u
	}
	d.units = units
	d.commands = slices.Clone(m.Commands)
	g.mu.Unlock()
	return []devices.Update{{Meta: &devices.Meta{
		Device: id, Name: m.Name, Model: m.Model, Firmware: m.Firmware,
		Source: "generic", Units: m.Units, Commands: m.Commands,
	}}}, nil
}

func (g *Generic) telemetry(id string, payload []byte, now time.Time) ([]devices.Update, error) {
	obj, ok := decodeObject(payload)
	if !ok {
		return nil, bad(id, ReasonNotJSON, "telemetry is not a JSON object: %q", clip(payload))
	}
	t := now
	if ts, has := obj["ts"]; has {
		pt, ok := parseTime(ts, time.UTC)
		if !ok || !saneTime(pt, now) {
			return nil, bad(id, ReasonBadTime, "ts %v", ts)
		}
		t = pt
	}
	g.mu.Lock()
	units := g.dev(id).units
	g.mu.Unlock()
	var errs []error
	out := make([]devices.Update, 0, len(obj))
	for k, v := range obj {
		if k == "ts" {
			continue
		}
		unit := ""
		if m, isObj := v.(map[string]any); isObj {
			if val, has := m["value"]; has {
				unit, _ = m["unit"].(string)
				v = val
			} else {
				flatten(k, m, 1, func(key string, x any) {
					if u, ok := valueUpdate(id, key, t, x, units[key]); ok {
						out = append(out, u)
					}
				})
				continue
			}
		}
		if unit == "" {
			unit = units[k]
		}
		u, ok := valueUpdate(id, k, t, v, unit)
		if !ok {
			if v != nil {
				errs = append(errs, bad(id, ReasonBadValue, "metric %q: unusable value", k))
			}
			continue
		}
		out = append(out, u)
	}
	return out, errors.Join(errs...)
}

// Command implements Convention: the argument is published as JSON on
// <prefix>/<id>/commands/<name>.
func (g *Generic) Command(cmd devices.Command) (Message, error) {
	g.mu.Lock()
	d, known := g.devs[cmd.Device]
	var cmds []string
	if known {
		cmds = d.commands
	}
	g.mu.Unlock()
	if !known {
		return Message{}, devices.ErrUnknownDevice
	}
	if !validName(cmd.Name) || (len(cmds) > 0 && !slices.Contains(cmds, cmd.Name)) {
		return Message{}, devices.ErrUnknownCommand
	}
	payload := []byte(cmd.Args)
	if len(payload) == 0 {
		payload = []byte("null")
	}
	return Message{Topic: g.prefix + "/" + cmd.Device + "/commands/" + cmd.Name, Payload: payload, QoS: 1}, nil
}

// validName reports whether s can be used as one topic level.
func validName(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "/+#\x00")
}

// clip shortens a payload for error messages.
func clip(p []byte) string {
	if len(p) > 64 {
		return string(p[:64]) + "…"
	}
	return string(p)
}
