package convention

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// ShellyOptions configures the Shelly convention (Gen1 and Gen2+).
type ShellyOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Gen1Prefix is the Gen1 root topic; default "shellies".
	Gen1Prefix string
	// Gen2Prefixes lists Gen2+ topic prefixes to accept in addition to the
	// default one-level prefixes (which must start with "shelly" or have
	// sent a Notify* event). Needed for prefixes containing '/'.
	Gen2Prefixes []string
	// RPCSource is the "src" of JSON-RPC requests (replies go to <src>/rpc);
	// default "gatewayd".
	RPCSource string
	// SimpleControl sends Gen2 switch commands as on/off/toggle on
	// <prefix>/command/switch:N (the device's enable_control setting)
	// instead of JSON-RPC on <prefix>/rpc.
	SimpleControl bool
}

// Shelly understands Gen1 devices (shellies/<id>/..., online true/false) and
// Gen2+ devices (<prefix>/events/rpc NotifyStatus deltas overlaid on the last
// known status, <prefix>/status/<component>, <prefix>/online). Device ids
// are "shelly:<id>" (Gen1) and "shelly:<prefix>" (Gen2+).
type Shelly struct {
	o       ShellyOptions
	filters []string

	mu     sync.Mutex
	gen    map[string]int                       // native id → generation
	status map[string]map[string]map[string]any // Gen2 prefix → component → status
	rpcID  int
}

// NewShelly returns the Shelly convention.
func NewShelly(o ShellyOptions) *Shelly {
	if o.Gen1Prefix == "" {
		o.Gen1Prefix = "shellies"
	}
	if o.RPCSource == "" {
		o.RPCSource = "gatewayd"
	}
	s := &Shelly{o: o, gen: map[string]int{}, status: map[string]map[string]map[string]any{}}
	s.filters = []string{o.Gen1Prefix + "/#", "+/events/rpc", "+/online", "+/status/+"}
	for _, p := range o.Gen2Prefixes {
		s.filters = append(s.filters, p+"/events/rpc", p+"/online", p+"/status/+")
	}
	return s
}

// Name implements Convention.
func (s *Shelly) Name() string { return "shelly" }

// Filters implements Convention.
func (s *Shelly) Filters() []string { return s.filters }

// Handle implements Convention.
func (s *Shelly) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	if rest, ok := strings.CutPrefix(topic, s.o.Gen1Prefix+"/"); ok {
		return s.gen1(rest, payload, now)
	}
	for _, suf := range []string{"/events/rpc", "/online"} {
		if p, ok := strings.CutSuffix(topic, suf); ok && p != "" {
			return s.gen2(p, suf, payload, now)
		}
	}
	if p, comp, ok := strings.Cut(topic, "/status/"); ok && p != "" && !strings.Contains(comp, "/") {
		return s.gen2(p, "/status/"+comp, payload, now)
	}
	return nil, ErrNotMine
}

// gen1Units maps the last level of a Gen1 topic to its unit.
var gen1Units = map[string]string{
	"power": "W", "reactive_power": "var", "voltage": "V", "current": "A", "pf": "",
	"energy": "Wmin", "returned_energy": "Wmin", "total": "Wh", "total_returned": "Wh",
	"temperature": "°C", "temperature_f": "°F", "humidity": "%", "lux": "lx",
	"battery": "%", "pos": "%", "tilt": "°", "concentration": "ppm",
}

func (s *Shelly) gen1(rest string, payload []byte, now time.Time) ([]devices.Update, error) {
	id, path, _ := strings.Cut(rest, "/")
	switch {
	case id == "":
		return nil, ErrNotMine
	case id == "command":
		return nil, nil
	case id == "announce":
		// Broadcast announce: the id is in the payload.
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(payload, &a) != nil || a.ID == "" {
			return nil, bad("", ReasonNotJSON, "announce %q", clip(payload))
		}
		return s.announce(a.ID, payload)
	}
	dev := "shelly:" + id
	s.setGen(id, 1)
	switch {
	case path == "online":
		on, ok := onlineWord(payload)
		if !ok {
			return nil, bad(dev, ReasonBadValue, "online %q", clip(payload))
		}
		return []devices.Update{presence(dev, on, "lwt", now)}, nil
	case path == "announce":
		return s.announce(id, payload)
	case path == "" || path == "info" || path == "command" || strings.HasSuffix(path, "/command") || strings.Contains(path, "/command/"):
		return nil, nil
	}
	key := strings.ReplaceAll(path, "/", ".")
	last := path[strings.LastIndexByte(path, '/')+1:]
	unit, measured := gen1Units[last]
	if measured && strings.HasPrefix(path, "emeter/") && last == "energy" {
		unit = "Wh"
	}
	text := strings.TrimSpace(string(payload))
	if f, ok := parseNumber(text); ok {
		return []devices.Update{numReading(dev, key, now, f, unit)}, nil
	}
	if measured && unit != "" {
		return nil, bad(dev, ReasonNotNumeric, "%s=%q", path, clip(payload))
	}
	if strings.HasPrefix(text, "{") {
		obj, ok := decodeObject(payload)
		if !ok {
			return nil, bad(dev, ReasonNotJSON, "%s %q", path, clip(payload))
		}
		var out []devices.Update
		flatten(key, obj, 1, func(k string, v any) {
			if u, ok := valueUpdate(dev, k, now, v, gen1Units[k[strings.LastIndexByte(k, '.')+1:]]); ok {
				out = append(out, u)
			}
		})
		return out, nil
	}
	if text == "" || len(text) > maxStateLen {
		return nil, bad(dev, ReasonBadValue, "%s=%q", path, clip(payload))
	}
	return []devices.Update{stateReading(dev, key, now, text)}, nil
}

func (s *Shelly) announce(id string, payload []byte) ([]devices.Update, error) {
	var a struct {
		Model string `json:"model"`
		FwVer string `json:"fw_ver"`
	}
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, bad("shelly:"+id, ReasonNotJSON, "announce: %v", err)
	}
	s.setGen(id, 1)
	return []devices.Update{{Meta: &devices.Meta{Device: "shelly:" + id, Name: id, Model: a.Model, Firmware: a.FwVer, Source: "shelly"}}}, nil
}

func (s *Shelly) setGen(id string, g int) {
	s.mu.Lock()
	if s.gen[id] == 0 {
		s.gen[id] = g
	}
	s.mu.Unlock()
}

// gen2Accepts reports whether a Gen2 prefix may be taken for a Shelly.
func (s *Shelly) gen2Accepts(p string) bool {
	s.mu.Lock()
	g := s.gen[p]
	s.mu.Unlock()
	if g == 2 {
		return true
	}
	for _, q := range s.o.Gen2Prefixes {
		if p == q {
			return true
		}
	}
	return !strings.Contains(p, "/") && strings.HasPrefix(strings.ToLower(p), "shelly")
}

func (s *Shelly) gen2(p, kind string, payload []byte, now time.Time) ([]devices.Update, error) {
	dev := "shelly:" + p
	switch {
	case kind == "/online":
		if !s.gen2Accepts(p) {
			return nil, ErrNotMine
		}
		on, ok := onlineWord(payload)
		if !ok {
			return nil, bad(dev, ReasonBadValue, "online %q", clip(payload))
		}
		s.markGen2(p)
		return []devices.Update{presence(dev, on, "lwt", now)}, nil
	case kind == "/events/rpc":
		var n struct {
			Method string         `json:"method"`
			Params map[string]any `json:"params"`
		}
		if err := json.Unmarshal(payload, &n); err != nil {
			if !s.gen2Accepts(p) {
				return nil, ErrNotMine
			}
			return nil, bad(dev, ReasonNotJSON, "events/rpc: %v", err)
		}
		if !strings.HasPrefix(n.Method, "Notify") {
			return nil, ErrNotMine
		}
		s.markGen2(p)
		t := now
		if ts, ok := n.Params["ts"]; ok {
			pt, ok := parseTime(ts, time.UTC)
			if !ok || !saneTime(pt, now) {
				return nil, bad(dev, ReasonBadTime, "ts %v", ts)
			}
			t = pt
		}
		switch n.Method {
		case "NotifyStatus", "NotifyFullStatus":
			return s.overlay(p, n.Params, n.Method == "NotifyFullStatus", t), nil
		case "NotifyEvent":
			evs, _ := n.Params["events"].([]any)
			var out []devices.Update
			for _, e := range evs {
				m, _ := e.(map[string]any)
				comp, _ := m["component"].(string)
				ev, _ := m["event"].(string)
				if comp != "" && ev != "" {
					out = append(out, stateReading(dev, comp+".event", t, ev))
				}
			}
			return out, nil
		}
		return nil, nil
	default: // /status/<component>
		if !s.gen2Accepts(p) {
			return nil, ErrNotMine
		}
		comp := strings.TrimPrefix(kind, "/status/")
		obj, ok := decodeObject(payload)
		if !ok {
			return nil, bad(dev, ReasonNotJSON, "status/%s %q", comp, clip(payload))
		}
		s.markGen2(p)
		s.mu.Lock()
		if st := s.status[p]; st != nil {
			delete(st, comp) // a full component status replaces the old one
		}
		s.mu.Unlock()
		return s.overlay(p, map[string]any{comp: obj}, false, now), nil
	}
}

func (s *Shelly) markGen2(p string) {
	s.mu.Lock()
	s.gen[p] = 2
	s.mu.Unlock()
}

// gen2Skip lists components that describe the device's plumbing, not its readings.
var gen2Skip = map[string]bool{"sys": true, "cloud": true, "mqtt": true, "ble": true, "ws": true, "eth": true, "ts": true}

// gen2Units maps a Gen2 status field to its unit.
var gen2Units = map[string]string{
	"apower": "W", "voltage": "V", "current": "A", "freq": "Hz", "pf": "",
	"aenergy.total": "Wh", "ret_aenergy.total": "Wh", "tC": "°C", "tF": "°F", "rh": "%",
	"percent": "%", "lux": "lx", "current_pos": "%", "rssi": "dBm", "act_power": "W",
	"aprt_power": "VA", "brightness": "%",
}

// overlay merges a NotifyStatus delta into the last known status of p and
// returns readings for the leaves the delta touched.
func (s *Shelly) overlay(p string, params map[string]any, full bool, t time.Time) []devices.Update {
	dev := "shelly:" + p
	s.mu.Lock()
	st := s.status[p]
	if st == nil || full {
		st = map[string]map[string]any{}
		s.status[p] = st
	}
	var out []devices.Update
	for comp, v := range params {
		delta, ok := v.(map[string]any)
		if !ok || gen2Skip[comp] {
			continue
		}
		cur := st[comp]
		if cur == nil {
			cur = map[string]any{}
			st[comp] = cur
		}
		mergeInto(cur, delta, 0)
		flatten("", delta, 0, func(key string, _ any) {
			if key == "id" || key == "source" || strings.HasSuffix(key, "minute_ts") || (comp == "wifi" && key != "rssi") {
				return
			}
			// Read the merged value: the delta and the status agree on
			// touched leaves, and the status is what we keep.
			val := lookup(cur, key)
			unit := gen2Units[key]
			if unit == "" {
				unit = gen2Units[key[strings.LastIndexByte(key, '.')+1:]]
			}
			if u, ok := valueUpdate(dev, comp+"."+key, t, val, unit); ok {
				out = append(out, u)
			}
		})
	}
	s.mu.Unlock()
	return out
}

func mergeInto(dst, src map[string]any, depth int) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok && depth < maxDepth {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			mergeInto(dm, sm, depth+1)
			continue
		}
		dst[k] = v
	}
}

func lookup(m map[string]any, key string) any {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	return cur
}

// Status returns a copy of the last known status of a Gen2+ component
// (e.g. "switch:0"), or nil.
func (s *Shelly) Status(device, component string) map[string]any {
	p, ok := splitID(device, "shelly")
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.status[p][component]
	if c == nil {
		return nil
	}
	out := map[string]any{}
	mergeInto(out, c, 0)
	return out
}

var (
	gen1CmdRE = regexp.MustCompile(`^(relay|light|roller|color|white)[./]([0-9]{1,2})$`)
	gen2CmdRE = regexp.MustCompile(`^(switch|light|cover)[:.]([0-9]{1,2})$`)
	rpcRE     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*\.[A-Z][A-Za-z0-9]*$`)
)

// Command implements Convention. Gen1: names "relay.N" (and light, roller,
// color, white) publish the argument text on shellies/<id>/relay/N/command.
// Gen2+: "switch:N" with on/off/toggle or a boolean becomes Switch.Set or
// Switch.Toggle over JSON-RPC on <prefix>/rpc; a method name such as
// "Cover.GoToPosition" sends the argument object as the RPC params.
func (s *Shelly) Command(cmd devices.Command) (Message, error) {
	id, ok := splitID(cmd.Device, "shelly")
	if !ok {
		return Message{}, devices.ErrUnknownDevice
	}
	s.mu.Lock()
	g := s.gen[id]
	s.mu.Unlock()
	arg := strings.ToLower(argText(cmd.Args))
	switch g {
	case 1:
		m := gen1CmdRE.FindStringSubmatch(cmd.Name)
		if m == nil || arg == "" {
			return Message{}, devices.ErrUnknownCommand
		}
		return Message{Topic: s.o.Gen1Prefix + "/" + id + "/" + m[1] + "/" + m[2] + "/command", Payload: []byte(arg), QoS: 1}, nil
	case 2:
		if rpcRE.MatchString(cmd.Name) {
			params := cmd.Args
			if len(params) == 0 {
				params = json.RawMessage("{}")
			}
			if !json.Valid(params) {
				return Message{}, errors.New("convention: shelly rpc params are not JSON")
			}
			return s.rpc(id, cmd.Name, params), nil
		}
		m := gen2CmdRE.FindStringSubmatch(cmd.Name)
		if m == nil {
			return Message{}, devices.ErrUnknownCommand
		}
		n, _ := strconv.Atoi(m[2])
		var on bool
		switch arg {
		case "on", "true":
			on = true
		case "off", "false":
		case "toggle":
		default:
			return Message{}, fmt.Errorf("%w: %s wants on, off or toggle", devices.ErrUnknownCommand, cmd.Name)
		}
		if s.o.SimpleControl && m[1] == "switch" {
			word := arg
			if word == "true" {
				word = "on"
			} else if word == "false" {
				word = "off"
			}
			return Message{Topic: id + "/command/switch:" + m[2], Payload: []byte(word), QoS: 1}, nil
		}
		method := strings.ToUpper(m[1][:1]) + m[1][1:]
		if arg == "toggle" {
			return s.rpc(id, method+".Toggle", json.RawMessage(fmt.Sprintf(`{"id":%d}`, n))), nil
		}
		return s.rpc(id, method+".Set", json.RawMessage(fmt.Sprintf(`{"id":%d,"on":%t}`, n, on))), nil
	}
	return Message{}, devices.ErrUnknownDevice
}

func (s *Shelly) rpc(id, method string, params json.RawMessage) Message {
	s.mu.Lock()
	s.rpcID++
	n := s.rpcID
	s.mu.Unlock()
	b, _ := json.Marshal(struct {
		ID     int             `json:"id"`
		Src    string          `json:"src"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}{n, s.o.RPCSource, method, params})
	return Message{Topic: id + "/rpc", Payload: b, QoS: 1}
}
