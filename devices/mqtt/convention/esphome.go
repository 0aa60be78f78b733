package convention

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// ESPHomeOptions configures the ESPHome convention.
type ESPHomeOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Prefixes lists topic_prefix values to accept without waiting for their
	// <prefix>/status birth message; needed for prefixes containing '/'.
	// One-level prefixes are learned from their status message.
	Prefixes []string
	// DiscoveryPrefix is where ESPHome publishes its Home Assistant discovery
	// configs (default "homeassistant"); they give names, units and the
	// device's model and firmware. "-" ignores them.
	DiscoveryPrefix string
}

// ESPHome understands <prefix>/status (online/offline) and
// <prefix>/<component>/<object>/state, and sends commands to
// <prefix>/<component>/<object>/command. Device ids are "esphome:<prefix>";
// reading keys are the object ids.
type ESPHome struct {
	o       ESPHomeOptions
	filters []string

	mu    sync.Mutex
	known map[string]map[string]string // prefix → object → component type
	units map[string]map[string]string // prefix → object → unit
	meta  map[string]*devices.Meta     // prefix → metadata from discovery
}

// esphomeTypes lists ESPHome component types that publish state topics.
var esphomeTypes = map[string]bool{
	"sensor": true, "binary_sensor": true, "text_sensor": true, "switch": true, "light": true,
	"fan": true, "cover": true, "climate": true, "number": true, "select": true, "lock": true,
	"valve": true, "text": true, "button": true, "alarm_control_panel": true, "datetime": true,
	"date": true, "time": true, "event": true, "update": true,
}

// NewESPHome returns the ESPHome convention.
func NewESPHome(o ESPHomeOptions) *ESPHome {
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = "homeassistant"
	}
	e := &ESPHome{o: o, known: map[string]map[string]string{}, units: map[string]map[string]string{}, meta: map[string]*devices.Meta{},
		filters: []string{"+/status", "+/+/+/state"}}
	if o.DiscoveryPrefix != "-" {
		e.filters = append(e.filters, o.DiscoveryPrefix+"/+/+/+/config")
	}
	for _, p := range o.Prefixes {
		e.known[p] = map[string]string{}
		e.filters = append(e.filters, p+"/status", p+"/+/+/state")
	}
	return e
}

// Name implements Convention.
func (e *ESPHome) Name() string { return "esphome" }

// Filters implements Convention.
func (e *ESPHome) Filters() []string { return e.filters }

// Handle implements Convention.
func (e *ESPHome) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	if e.o.DiscoveryPrefix != "-" && strings.HasPrefix(topic, e.o.DiscoveryPrefix+"/") && strings.HasSuffix(topic, "/config") {
		return e.discovery(payload)
	}
	if p, ok := strings.CutSuffix(topic, "/status"); ok && p != "" {
		on, valid := onlineWord(payload)
		s := strings.TrimSpace(string(payload))
		if !valid || (s != "online" && s != "offline") {
			return nil, ErrNotMine
		}
		e.mu.Lock()
		if e.known[p] == nil {
			e.known[p] = map[string]string{}
		}
		e.mu.Unlock()
		return []devices.Update{presence("esphome:"+p, on, "lwt", now)}, nil
	}
	p, typ, obj, ok := splitState(topic)
	if !ok || !esphomeTypes[typ] || obj == "" {
		return nil, ErrNotMine
	}
	e.mu.Lock()
	ents := e.known[p]
	if ents != nil {
		ents[obj] = typ
	}
	e.mu.Unlock()
	if ents == nil {
		return nil, ErrNotMine
	}
	dev := "esphome:" + p
	text := strings.TrimSpace(string(payload))
	switch typ {
	case "sensor", "number":
		if strings.EqualFold(text, "nan") || text == "" {
			return nil, nil // ESPHome's "no value yet"
		}
		f, ok := parseNumber(text)
		if !ok {
			return nil, bad(dev, ReasonNotNumeric, "%s/%s=%q", typ, obj, clip(payload))
		}
		e.mu.Lock()
		unit := e.units[p][obj]
		e.mu.Unlock()
		return []devices.Update{numReading(dev, obj, now, f, unit)}, nil
	}
	if strings.HasPrefix(text, "{") {
		m, ok := decodeObject(payload)
		if !ok {
			return nil, bad(dev, ReasonNotJSON, "%s/%s %q", typ, obj, clip(payload))
		}
		var out []devices.Update
		flatten(obj, m, 1, func(k string, v any) {
			if k == obj+".state" {
				k = obj
			}
			if u, ok := valueUpdate(dev, k, now, v, ""); ok {
				out = append(out, u)
			}
		})
		return out, nil
	}
	if len(text) > maxStateLen {
		return nil, bad(dev, ReasonBadValue, "%s/%s: state too long", typ, obj)
	}
	return []devices.Update{stateReading(dev, obj, now, text)}, nil
}

// Command implements Convention: the name is an object id seen on a state
// topic (or "<component>/<object>"); strings go as plain text (ON, OFF,
// TOGGLE, a number), objects as JSON (lights).
func (e *ESPHome) Command(cmd devices.Command) (Message, error) {
	p, ok := splitID(cmd.Device, "esphome")
	if !ok {
		return Message{}, devices.ErrUnknownDevice
	}
	e.mu.Lock()
	ents, known := e.known[p]
	typ, obj := "", cmd.Name
	if t, o, has := strings.Cut(cmd.Name, "/"); has {
		typ, obj = t, o
	} else if known {
		typ = ents[obj]
	}
	e.mu.Unlock()
	if !known {
		return Message{}, devices.ErrUnknownDevice
	}
	if typ == "" || !esphomeTypes[typ] || !validName(obj) || slices.Contains([]string{"sensor", "binary_sensor", "text_sensor", "event", "update"}, typ) {
		return Message{}, devices.ErrUnknownCommand
	}
	if len(cmd.Args) > 0 && !json.Valid(cmd.Args) {
		return Message{}, devices.ErrUnknownCommand
	}
	return Message{Topic: p + "/" + typ + "/" + obj + "/command", Payload: []byte(argText(cmd.Args)), QoS: 1}, nil
}

// Claims reports whether a state topic belongs to a known ESPHome node; the
// router uses it so Home Assistant discovery does not duplicate ESPHome
// entities.
func (e *ESPHome) Claims(topic string) bool {
	p, _, _, ok := splitState(topic)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.known[p] != nil
}

// splitState splits "<prefix>/<type>/<object>/state"; the prefix may
// itself contain '/' but not be empty.
func splitState(topic string) (p, typ, obj string, ok bool) {
	rest, ok := strings.CutSuffix(topic, "/state")
	if !ok {
		return "", "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", "", false
	}
	obj, rest = rest[i+1:], rest[:i]
	i = strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", "", false
	}
	return rest[:i], rest[i+1:], obj, true
}

// discovery takes the Home Assistant discovery configs that ESPHome nodes
// publish (their device block names "esphome" as firmware or origin): the
// node becomes known, and its units, name, model and firmware are learned.
// Configs from anything else are left to the Home Assistant convention.
func (e *ESPHome) discovery(payload []byte) ([]devices.Update, error) {
	raw, ok := decodeObject(payload)
	if !ok {
		return nil, ErrNotMine
	}
	cfg := expand(raw, "", 0)
	dev, _ := cfg["device"].(map[string]any)
	origin, _ := cfg["origin"].(map[string]any)
	sw := str(dev, "sw_version")
	if !strings.Contains(strings.ToLower(sw), "esphome") && !strings.EqualFold(str(origin, "name"), "esphome") {
		return nil, ErrNotMine
	}
	p, typ, obj, ok := splitState(str(cfg, "state_topic"))
	if !ok || !esphomeTypes[typ] {
		return nil, ErrNotMine
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.known[p] == nil {
		e.known[p] = map[string]string{}
	}
	e.known[p][obj] = typ
	if e.units[p] == nil {
		e.units[p] = map[string]string{}
	}
	if u := str(cfg, "unit_of_measurement"); u != "" {
		e.units[p][obj] = u
	}
	m := e.meta[p]
	if m == nil {
		m = &devices.Meta{Device: "esphome:" + p, Source: "esphome"}
		e.meta[p] = m
	}
	if n := str(dev, "name"); n != "" {
		m.Name = n
	}
	if mdl := strings.TrimSpace(str(dev, "manufacturer") + " " + str(dev, "model")); mdl != "" {
		m.Model = mdl
	}
	if sw != "" {
		m.Firmware = sw
	}
	out := &devices.Meta{Device: m.Device, Name: m.Name, Model: m.Model, Firmware: m.Firmware, Source: "esphome", Units: map[string]string{}}
	for k, u := range e.units[p] {
		out.Units[k] = u
	}
	for o, t := range e.known[p] {
		if !slices.Contains([]string{"sensor", "binary_sensor", "text_sensor", "event", "update"}, t) {
			out.Commands = append(out.Commands, o)
		}
	}
	sort.Strings(out.Commands)
	return []devices.Update{{Meta: out}}, nil
}
