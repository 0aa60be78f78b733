package convention

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// HomieOptions configures the Homie convention (v4 and v5).
type HomieOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Root is the base topic; default "homie". Homie 5 devices live under
	// <root>/5/.
	Root string
}

// Homie understands Homie 4 (<root>/<dev>/$state, per-property $datatype,
// $unit, $settable) and Homie 5 (<root>/5/<dev>/$state and the $description
// JSON document). Device ids are "homie:<dev>"; reading keys and command
// names are "<node>.<property>".
type Homie struct {
	root string

	mu   sync.Mutex
	devs map[string]*homieDev
}

type homieDev struct {
	v5    bool
	name  string
	props map[string]*homieProp // "<node>.<prop>"
}

type homieProp struct {
	Datatype string `json:"datatype"`
	Unit     string `json:"unit"`
	Settable bool   `json:"settable"`
}

// NewHomie returns the Homie convention.
func NewHomie(o HomieOptions) *Homie {
	if o.Root == "" {
		o.Root = "homie"
	}
	return &Homie{root: o.Root, devs: map[string]*homieDev{}}
}

// Name implements Convention.
func (h *Homie) Name() string { return "homie" }

// Filters implements Convention.
func (h *Homie) Filters() []string { return []string{h.root + "/#"} }

// dev returns the device record, creating it; v5 is recorded from topics
// under <root>/5/ only, since v4 attribute topics say nothing about it.
func (h *Homie) dev(id string, v5 bool) *homieDev {
	d := h.devs[id]
	if d == nil {
		d = &homieDev{props: map[string]*homieProp{}}
		h.devs[id] = d
	}
	if v5 {
		d.v5 = true
	}
	return d
}

// Handle implements Convention.
func (h *Homie) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	rest, ok := strings.CutPrefix(topic, h.root+"/")
	if !ok {
		return nil, ErrNotMine
	}
	v5 := false
	if r, ok := strings.CutPrefix(rest, "5/"); ok {
		v5, rest = true, r
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[0] == "" {
		return nil, nil
	}
	devID := parts[0]
	id := "homie:" + devID
	text := string(payload)
	switch {
	case len(parts) == 2 && parts[1] == "$state":
		h.mu.Lock()
		h.dev(devID, v5)
		h.mu.Unlock()
		if text == "" {
			return []devices.Update{presence(id, false, "removed", now)}, nil
		}
		switch text {
		case "ready", "alert":
			return []devices.Update{presence(id, true, text, now)}, nil
		case "lost":
			return []devices.Update{presence(id, false, "lwt", now)}, nil
		case "init", "disconnected", "sleeping":
			return []devices.Update{presence(id, false, text, now)}, nil
		}
		return nil, bad(id, ReasonBadValue, "$state %q", clip(payload))
	case len(parts) == 2 && parts[1] == "$name":
		h.mu.Lock()
		d := h.dev(devID, v5)
		d.name = text
		m := h.metaLocked(devID, d)
		h.mu.Unlock()
		return []devices.Update{{Meta: m}}, nil
	case len(parts) == 2 && parts[1] == "$description" && v5:
		return h.description(devID, payload)
	case strings.HasPrefix(parts[1], "$"):
		return nil, nil // other device attributes
	case len(parts) == 3 && strings.HasPrefix(parts[2], "$"):
		return nil, nil // node attributes
	case len(parts) == 4 && strings.HasPrefix(parts[3], "$"):
		return h.propAttr(devID, parts[1]+"."+parts[2], parts[3], text, v5)
	case len(parts) == 3:
		return h.value(devID, id, parts[1]+"."+parts[2], text, v5, now)
	}
	return nil, nil // /set, $target and deeper topics
}

func (h *Homie) propAttr(devID, key, attr, text string, v5 bool) ([]devices.Update, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.dev(devID, v5)
	p := d.props[key]
	if p == nil {
		p = &homieProp{}
		d.props[key] = p
	}
	switch attr {
	case "$datatype":
		p.Datatype = text
		return nil, nil
	case "$unit":
		if p.Unit == text {
			return nil, nil
		}
		p.Unit = text
	case "$settable":
		if p.Settable == (text == "true") {
			return nil, nil
		}
		p.Settable = text == "true"
	default:
		return nil, nil
	}
	return []devices.Update{{Meta: h.metaLocked(devID, d)}}, nil
}

func (h *Homie) metaLocked(devID string, d *homieDev) *devices.Meta {
	m := &devices.Meta{Device: "homie:" + devID, Name: d.name, Source: "homie", Units: map[string]string{}}
	for k, p := range d.props {
		if p.Unit != "" {
			m.Units[k] = p.Unit
		}
		if p.Settable {
			m.Commands = append(m.Commands, k)
		}
	}
	sort.Strings(m.Commands)
	return m
}

func (h *Homie) description(devID string, payload []byte) ([]devices.Update, error) {
	id := "homie:" + devID
	var desc struct {
		Name  string `json:"name"`
		Nodes map[string]struct {
			Properties map[string]homieProp `json:"properties"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(payload, &desc); err != nil {
		return nil, bad(id, ReasonNotJSON, "$description: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.dev(devID, true)
	d.name = desc.Name
	d.props = map[string]*homieProp{}
	for n, node := range desc.Nodes {
		for pn, p := range node.Properties {
			p := p
			d.props[n+"."+pn] = &p
		}
	}
	return []devices.Update{{Meta: h.metaLocked(devID, d)}}, nil
}

func (h *Homie) value(devID, id, key, text string, v5 bool, now time.Time) ([]devices.Update, error) {
	h.mu.Lock()
	d := h.dev(devID, v5)
	var dt, unit string
	if p := d.props[key]; p != nil {
		dt, unit = p.Datatype, p.Unit
	}
	h.mu.Unlock()
	switch dt {
	case "integer", "float":
		f, ok := parseNumber(text)
		if !ok {
			return nil, bad(id, ReasonNotNumeric, "%s=%q", key, text)
		}
		return []devices.Update{numReading(id, key, now, f, unit)}, nil
	case "boolean":
		if text != "true" && text != "false" {
			return nil, bad(id, ReasonBadValue, "%s=%q is not a boolean", key, text)
		}
		return []devices.Update{stateReading(id, key, now, text)}, nil
	case "":
		if text == "" {
			return nil, nil
		}
		if f, ok := parseNumber(text); ok {
			return []devices.Update{numReading(id, key, now, f, unit)}, nil
		}
	}
	if len(text) > maxStateLen {
		return nil, bad(id, ReasonBadValue, "%s: value too long", key)
	}
	return []devices.Update{stateReading(id, key, now, text)}, nil
}

// Command implements Convention: "<node>.<property>" publishes the argument
// as text on the property's /set topic; properties known not to be settable
// are refused.
func (h *Homie) Command(cmd devices.Command) (Message, error) {
	devID, ok := splitID(cmd.Device, "homie")
	if !ok {
		return Message{}, devices.ErrUnknownDevice
	}
	h.mu.Lock()
	d := h.devs[devID]
	var p *homieProp
	v5 := false
	if d != nil {
		p = d.props[cmd.Name]
		v5 = d.v5
	}
	h.mu.Unlock()
	if d == nil {
		return Message{}, devices.ErrUnknownDevice
	}
	node, prop, ok := strings.Cut(cmd.Name, ".")
	if !ok || !validName(node) || !validName(prop) || (p != nil && !p.Settable) {
		return Message{}, devices.ErrUnknownCommand
	}
	if len(cmd.Args) > 0 && !json.Valid(cmd.Args) {
		return Message{}, devices.ErrUnknownCommand
	}
	base := h.root + "/"
	if v5 {
		base += "5/"
	}
	return Message{Topic: base + devID + "/" + node + "/" + prop + "/set", Payload: []byte(argText(cmd.Args)), QoS: 1}, nil
}
