package convention

import (
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// HomeAssistantOptions configures Home Assistant MQTT discovery.
type HomeAssistantOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Prefix is the discovery prefix; default "homeassistant".
	Prefix string
	// Claimed, if set, reports whether another convention already owns a
	// state topic; such entities are skipped so a device that speaks both
	// its native convention and discovery (ESPHome, Tasmota, Zigbee2MQTT)
	// appears once.
	Claimed func(topic string) bool
}

// HomeAssistant understands Home Assistant MQTT discovery: per-entity config
// topics <prefix>/<component>/[<node>/]<object>/config and the device form
// <prefix>/device/<id>/config. It learns names, units, device classes,
// availability and command topics, then parses the entities' state and
// availability topics. Device ids are "ha:<first device identifier>"
// (falling back to the node id or unique id); reading keys are object ids.
type HomeAssistant struct {
	o HomeAssistantOptions

	mu      sync.RWMutex
	configs map[string][]*haEntity        // config topic → entities
	byState map[string][]*haEntity        // state topic → entities
	byAvail map[string]map[*haEntity]bool // availability topic → entities
	pending []string                      // topics learned since the last NewFilters
	expire  map[string]time.Duration      // device id → longest expire_after
	info    map[string]*devices.Meta      // device id → name, model, firmware
}

type haEntity struct {
	device, key, component   string
	meta                     *devices.Meta
	unit, class              string
	stateTopic, commandTopic string
	path                     []string // value_template path into value_json; nil: raw value
	rawTemplate              bool     // template given but unsupported
	payloadOn, payloadOff    string
	expire                   time.Duration // expire_after, 0 if none
	avail                    []haAvail
}

type haAvail struct {
	topic, on, off string
	path           []string
}

// NewHomeAssistant returns the Home Assistant discovery convention.
func NewHomeAssistant(o HomeAssistantOptions) *HomeAssistant {
	if o.Prefix == "" {
		o.Prefix = "homeassistant"
	}
	return &HomeAssistant{o: o, configs: map[string][]*haEntity{}, byState: map[string][]*haEntity{}, byAvail: map[string]map[*haEntity]bool{}, info: map[string]*devices.Meta{}, expire: map[string]time.Duration{}}
}

// Name implements Convention.
func (h *HomeAssistant) Name() string { return "ha" }

// Filters implements Convention; state topics learned from configs are
// reported by NewFilters and matched by Matches.
func (h *HomeAssistant) Filters() []string { return []string{h.o.Prefix + "/#"} }

// Matches implements Matcher.
func (h *HomeAssistant) Matches(topic string) bool {
	if strings.HasPrefix(topic, h.o.Prefix+"/") {
		return true
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byState[topic]) > 0 || len(h.byAvail[topic]) > 0
}

// NewFilters returns the state and availability topics learned since the
// previous call, for a router that subscribes topic by topic.
func (h *HomeAssistant) NewFilters() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending
	h.pending = nil
	return p
}

var haAbbrev = map[string]string{
	"stat_t": "state_topic", "cmd_t": "command_topic", "avty_t": "availability_topic",
	"avty": "availability", "pl_avail": "payload_available", "pl_not_avail": "payload_not_available",
	"unit_of_meas": "unit_of_measurement", "dev_cla": "device_class", "stat_cla": "state_class",
	"uniq_id": "unique_id", "val_tpl": "value_template", "stat_val_tpl": "state_value_template",
	"dev": "device", "ids": "identifiers", "mf": "manufacturer", "mdl": "model", "sw": "sw_version",
	"hw": "hw_version", "t": "topic", "pl_on": "payload_on", "pl_off": "payload_off",
	"p": "platform", "cmps": "components", "o": "origin", "obj_id": "object_id",
	"avty_tpl": "availability_template", "avty_mode": "availability_mode", "stat_on": "state_on",
	"stat_off": "state_off", "exp_aft": "expire_after",
}

// expand rewrites abbreviated keys and the "~" base topic, recursively.
func expand(m map[string]any, base string, depth int) map[string]any {
	if b, ok := m["~"].(string); ok {
		base = b
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if long, ok := haAbbrev[k]; ok {
			k = long
		}
		switch x := v.(type) {
		case string:
			if base != "" && (strings.HasSuffix(k, "topic") || k == "topic") {
				if strings.HasPrefix(x, "~") {
					x = base + x[1:]
				} else if strings.HasSuffix(x, "~") {
					x = x[:len(x)-1] + base
				}
			}
			v = x
		case map[string]any:
			if depth < maxDepth {
				v = expand(x, base, depth+1)
			}
		case []any:
			if depth < maxDepth {
				list := make([]any, len(x))
				for i, e := range x {
					if em, ok := e.(map[string]any); ok {
						list[i] = expand(em, base, depth+1)
					} else {
						list[i] = e
					}
				}
				v = list
			}
		}
		out[k] = v
	}
	return out
}

// Handle implements Convention.
func (h *HomeAssistant) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	if rest, ok := strings.CutPrefix(topic, h.o.Prefix+"/"); ok {
		if strings.HasSuffix(rest, "/config") {
			return h.config(topic, strings.Split(strings.TrimSuffix(rest, "/config"), "/"), payload)
		}
		if !h.Matches(topic) || rest == "status" {
			return nil, nil
		}
	}
	h.mu.RLock()
	ents := h.byState[topic]
	avs := h.byAvail[topic]
	var ents2 []*haEntity
	for e := range avs {
		ents2 = append(ents2, e)
	}
	h.mu.RUnlock()
	if len(ents) == 0 && len(ents2) == 0 {
		return nil, ErrNotMine
	}
	var out []devices.Update
	var errs []error
	seenDev := map[string]bool{}
	for _, e := range ents2 {
		for _, a := range e.avail {
			if a.topic != topic || seenDev[e.device] {
				continue
			}
			val := strings.TrimSpace(string(payload))
			if a.path != nil {
				if obj, ok := decodeObject(payload); ok {
					val = stringify(lookupPath(obj, a.path))
				}
			}
			switch val {
			case a.on:
				out = append(out, presence(e.device, true, "availability", now))
			case a.off:
				out = append(out, presence(e.device, false, "availability", now))
			default:
				errs = append(errs, bad(e.device, ReasonBadValue, "availability %q", clip(payload)))
			}
			seenDev[e.device] = true
		}
	}
	var obj map[string]any
	decoded := false
	for _, e := range ents {
		var v any = strings.TrimSpace(string(payload))
		if e.path != nil {
			if !decoded {
				var ok bool
				obj, ok = decodeObject(payload)
				decoded = true
				if !ok {
					errs = append(errs, bad(e.device, ReasonNotJSON, "state of %s: %q", e.key, clip(payload)))
				}
			}
			if obj == nil {
				continue
			}
			v = lookupPath(obj, e.path)
			if v == nil {
				continue // this message does not carry the entity's field
			}
		} else if e.rawTemplate && strings.HasPrefix(v.(string), "{") {
			continue // unsupported template over JSON: nothing trustworthy to store
		}
		u, err := e.reading(v, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.Reading != nil {
			out = append(out, u)
		}
	}
	return out, errors.Join(errs...)
}

func (e *haEntity) reading(v any, now time.Time) (devices.Update, error) {
	s := stringify(v)
	if s == "" || s == "unknown" || s == "unavailable" || s == "None" {
		return devices.Update{}, nil
	}
	switch e.component {
	case "sensor", "number":
		if f, ok := v.(float64); ok {
			return numReading(e.device, e.key, now, f, e.unit), nil
		}
		if f, ok := parseNumber(s); ok {
			return numReading(e.device, e.key, now, f, e.unit), nil
		}
		if e.unit != "" || (e.class != "" && e.class != "enum" && e.class != "timestamp" && e.class != "date") {
			return devices.Update{}, bad(e.device, ReasonNotNumeric, "%s=%q", e.key, s)
		}
	case "binary_sensor":
		switch s {
		case e.payloadOn:
			s = "ON"
		case e.payloadOff:
			s = "OFF"
		}
	}
	if len(s) > maxStateLen {
		return devices.Update{}, bad(e.device, ReasonBadValue, "%s: state too long", e.key)
	}
	return stateReading(e.device, e.key, now, s), nil
}

func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	tplRE     = regexp.MustCompile(`^\{\{\s*(value_json|value)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:'[^']*'|"[^"]*"|[0-9]+)\s*\])*)\s*(?:\|[^{}]*)?\}\}$`)
	tplPartRE = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]|\[\s*([0-9]+)\s*\]`)
)

// parseTemplate understands the value templates discovery configs use in
// practice: {{ value }}, {{ value_json.a.b }}, {{ value_json['a'] }},
// optionally followed by filters (| float, | round(1)), which are ignored.
func parseTemplate(tpl string) (path []string, ok bool) {
	tpl = strings.TrimSpace(tpl)
	if tpl == "" {
		return nil, true
	}
	m := tplRE.FindStringSubmatch(tpl)
	if m == nil {
		return nil, false
	}
	if m[1] == "value" {
		return nil, m[2] == ""
	}
	path = []string{}
	for _, p := range tplPartRE.FindAllStringSubmatch(m[2], -1) {
		for _, g := range p[1:] {
			if g != "" {
				path = append(path, g)
				break
			}
		}
	}
	return path, true
}

func lookupPath(v any, path []string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func (h *HomeAssistant) config(topic string, parts []string, payload []byte) ([]devices.Update, error) {
	if len(parts) < 2 || len(parts) > 3 {
		return nil, nil
	}
	for _, p := range parts {
		if p == "" {
			return nil, bad("", ReasonBadTopic, "discovery config %s: empty topic level", topic)
		}
	}
	if len(payload) == 0 {
		h.mu.Lock()
		h.removeLocked(topic)
		h.mu.Unlock()
		return nil, nil
	}
	raw, ok := decodeObject(payload)
	if !ok {
		return nil, bad("", ReasonNotJSON, "discovery config %s: %q", topic, clip(payload))
	}
	cfg := expand(raw, "", 0)
	dev, _ := cfg["device"].(map[string]any)
	var devID string
	switch ids := dev["identifiers"].(type) {
	case string:
		devID = ids
	case []any:
		if len(ids) > 0 {
			devID = stringify(ids[0])
		}
	}
	type comp struct {
		component, key string
		c              map[string]any
	}
	var comps []comp
	if parts[0] == "device" {
		if devID == "" {
			devID = parts[1]
		}
		cm, _ := cfg["components"].(map[string]any)
		for k, v := range cm {
			c, ok := v.(map[string]any)
			if !ok || k == "" {
				continue
			}
			// Device-level keys (availability, topics with ~) are shared.
			merged := map[string]any{}
			for ck, cv := range cfg {
				if ck != "components" && ck != "device" && ck != "origin" {
					merged[ck] = cv
				}
			}
			for ck, cv := range c {
				merged[ck] = cv
			}
			comps = append(comps, comp{str(c, "platform"), k, merged})
		}
		sort.Slice(comps, func(i, j int) bool { return comps[i].key < comps[j].key })
	} else {
		if devID == "" {
			if len(parts) == 3 {
				devID = parts[1]
			} else if u := str(cfg, "unique_id"); u != "" {
				devID = u
			} else {
				devID = parts[1]
			}
		}
		comps = []comp{{parts[0], parts[len(parts)-1], cfg}}
	}
	if devID == "" || strings.ContainsAny(devID, "\x00") {
		return nil, bad("", ReasonBadValue, "discovery config %s: no device id", topic)
	}
	id := "ha:" + devID
	meta := &devices.Meta{Device: id, Source: "ha", Units: map[string]string{}}
	meta.Name = str(dev, "name")
	meta.Model = strings.TrimSpace(str(dev, "manufacturer") + " " + str(dev, "model"))
	meta.Firmware = str(dev, "sw_version")
	var ents []*haEntity
	var errs []error
	for _, c := range comps {
		e := &haEntity{device: id, key: c.key, component: c.component, meta: meta,
			unit: str(c.c, "unit_of_measurement"), class: str(c.c, "device_class"),
			stateTopic: str(c.c, "state_topic"), commandTopic: str(c.c, "command_topic"),
			payloadOn: "ON", payloadOff: "OFF"}
		if dev == nil && meta.Name == "" {
			meta.Name = str(c.c, "name") // no device block: the entity is the device
		}
		if secs, ok := c.c["expire_after"].(float64); ok && secs > 0 && secs < 1e7 {
			e.expire = time.Duration(secs * float64(time.Second))
		}
		if s := str(c.c, "payload_on"); s != "" {
			e.payloadOn = s
		}
		if s := str(c.c, "payload_off"); s != "" {
			e.payloadOff = s
		}
		tpl := str(c.c, "value_template")
		if tpl == "" {
			tpl = str(c.c, "state_value_template")
		}
		path, ok := parseTemplate(tpl)
		e.path, e.rawTemplate = path, !ok
		if !ok {
			errs = append(errs, bad(id, ReasonBadValue, "%s: unsupported value_template %q", c.key, tpl))
		}
		if e.stateTopic != "" && h.o.Claimed != nil && h.o.Claimed(e.stateTopic) {
			continue
		}
		on, off := "online", "offline"
		if s := str(c.c, "payload_available"); s != "" {
			on = s
		}
		if s := str(c.c, "payload_not_available"); s != "" {
			off = s
		}
		if t := str(c.c, "availability_topic"); t != "" {
			ap, _ := parseTemplate(str(c.c, "availability_template"))
			e.avail = append(e.avail, haAvail{t, on, off, ap})
		}
		if list, ok := c.c["availability"].([]any); ok {
			for _, a := range list {
				am, _ := a.(map[string]any)
				t := str(am, "topic")
				if t == "" {
					continue
				}
				av := haAvail{t, on, off, nil}
				if s := str(am, "payload_available"); s != "" {
					av.on = s
				}
				if s := str(am, "payload_not_available"); s != "" {
					av.off = s
				}
				av.path, _ = parseTemplate(str(am, "value_template"))
				e.avail = append(e.avail, av)
			}
		}
		if e.unit != "" {
			meta.Units[e.key] = e.unit
		}
		if e.commandTopic != "" {
			meta.Commands = append(meta.Commands, e.key)
		}
		ents = append(ents, e)
	}
	h.mu.Lock()
	h.removeLocked(topic)
	h.configs[topic] = ents
	for _, e := range ents {
		if e.stateTopic != "" {
			if len(h.byState[e.stateTopic]) == 0 {
				h.pending = append(h.pending, e.stateTopic)
			}
			h.byState[e.stateTopic] = append(h.byState[e.stateTopic], e)
		}
		for _, a := range e.avail {
			if h.byAvail[a.topic] == nil {
				h.byAvail[a.topic] = map[*haEntity]bool{}
				h.pending = append(h.pending, a.topic)
			}
			h.byAvail[a.topic][e] = true
		}
	}
	// The device's meta gathers every entity known for it, across configs,
	// and the device block fields any of them gave.
	inf := h.info[id]
	if inf == nil {
		inf = &devices.Meta{}
		h.info[id] = inf
	}
	if meta.Name != "" {
		inf.Name = meta.Name
	}
	if meta.Model != "" {
		inf.Model = meta.Model
	}
	if meta.Firmware != "" {
		inf.Firmware = meta.Firmware
	}
	full := &devices.Meta{Device: id, Name: inf.Name, Model: inf.Model, Firmware: inf.Firmware, Source: "ha", Units: map[string]string{}}
	var longest time.Duration
	for _, es := range h.configs {
		for _, e := range es {
			if e.device != id {
				continue
			}
			if e.unit != "" {
				full.Units[e.key] = e.unit
			}
			if e.commandTopic != "" {
				full.Commands = append(full.Commands, e.key)
			}
			longest = max(longest, e.expire)
		}
	}
	if longest > 0 {
		h.expire[id] = longest
	} else {
		delete(h.expire, id)
	}
	h.mu.Unlock()
	if len(ents) == 0 {
		return nil, errors.Join(errs...)
	}
	sort.Strings(full.Commands)
	return []devices.Update{{Meta: full}}, errors.Join(errs...)
}

func (h *HomeAssistant) removeLocked(topic string) {
	for _, e := range h.configs[topic] {
		if e.stateTopic != "" {
			list := h.byState[e.stateTopic]
			for i, x := range list {
				if x == e {
					list = append(list[:i:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(h.byState, e.stateTopic)
			} else {
				h.byState[e.stateTopic] = list
			}
		}
		for _, a := range e.avail {
			delete(h.byAvail[a.topic], e)
			if len(h.byAvail[a.topic]) == 0 {
				delete(h.byAvail, a.topic)
			}
		}
	}
	delete(h.configs, topic)
}

// Command implements Convention: the name is an entity key with a
// command_topic; the argument goes as text (JSON for objects).
func (h *HomeAssistant) Command(cmd devices.Command) (Message, error) {
	if _, ok := splitID(cmd.Device, "ha"); !ok {
		return Message{}, devices.ErrUnknownDevice
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	known := false
	for _, es := range h.configs {
		for _, e := range es {
			if e.device != cmd.Device {
				continue
			}
			known = true
			if e.key == cmd.Name && e.commandTopic != "" {
				if len(cmd.Args) > 0 && !json.Valid(cmd.Args) {
					return Message{}, devices.ErrUnknownCommand
				}
				return Message{Topic: e.commandTopic, Payload: []byte(argText(cmd.Args)), QoS: 1}, nil
			}
		}
	}
	if !known {
		return Message{}, devices.ErrUnknownDevice
	}
	return Message{}, devices.ErrUnknownCommand
}

// StaleAfter implements StaleHinter: the longest expire_after of the
// device's entities.
func (h *HomeAssistant) StaleAfter(device string) (time.Duration, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	d, ok := h.expire[device]
	return d, ok
}
