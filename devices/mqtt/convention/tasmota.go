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

// TasmotaOptions configures the Tasmota convention.
type TasmotaOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// FullTopic is the device's FullTopic template; default "%prefix%/%topic%/".
	// It must hold %prefix% and one of %topic%, %hostname% or %id%, each as a
	// whole topic level.
	FullTopic string
	// Cmnd, Stat and Tele are the three prefixes; defaults "cmnd", "stat", "tele".
	Cmnd, Stat, Tele string
	// Zone is the time zone of devices that send "Time" without an offset
	// (Tasmota's default); default time.Local.
	Zone *time.Location
	// Zones overrides Zone per device topic (the %topic% value, e.g. "kitchen").
	Zones map[string]*time.Location
}

// Tasmota understands tele/<t>/SENSOR|STATE|LWT|INFO1, stat/<t>/RESULT|POWER<n>
// and sends commands on cmnd/<t>/<Command>. Device ids are "tasmota:<t>".
type Tasmota struct {
	o        TasmotaOptions
	levels   []string // template levels, "" at the topic position and the prefix position
	topicPos int
	prefPos  int
	filters  []string

	mu      sync.Mutex
	seen    map[string]bool
	learned map[string]*time.Location // fixed offsets reported in STATUS7
}

// NewTasmota returns the Tasmota convention, or an error if the FullTopic
// template is unusable.
func NewTasmota(o TasmotaOptions) (*Tasmota, error) {
	if o.FullTopic == "" {
		o.FullTopic = "%prefix%/%topic%/"
	}
	if o.Cmnd == "" {
		o.Cmnd = "cmnd"
	}
	if o.Stat == "" {
		o.Stat = "stat"
	}
	if o.Tele == "" {
		o.Tele = "tele"
	}
	if o.Zone == nil {
		o.Zone = time.Local
	}
	t := &Tasmota{o: o, topicPos: -1, prefPos: -1, seen: map[string]bool{}, learned: map[string]*time.Location{}}
	t.levels = strings.Split(strings.TrimSuffix(o.FullTopic, "/"), "/")
	for i, l := range t.levels {
		switch l {
		case "%prefix%":
			t.prefPos = i
		case "%topic%", "%hostname%", "%id%":
			if t.topicPos >= 0 {
				return nil, fmt.Errorf("convention: tasmota FullTopic %q names the device twice", o.FullTopic)
			}
			t.topicPos = i
		default:
			if strings.ContainsAny(l, "%+#") {
				return nil, fmt.Errorf("convention: tasmota FullTopic %q: unsupported level %q", o.FullTopic, l)
			}
		}
	}
	if t.topicPos < 0 || t.prefPos < 0 {
		return nil, fmt.Errorf("convention: tasmota FullTopic %q needs %%prefix%% and %%topic%%", o.FullTopic)
	}
	for _, p := range []string{o.Tele, o.Stat} {
		t.filters = append(t.filters, t.topicFor(p, "+", "+"))
	}
	return t, nil
}

// topicFor fills the template.
func (t *Tasmota) topicFor(prefix, device, cmd string) string {
	parts := make([]string, 0, len(t.levels)+1)
	for i, l := range t.levels {
		switch i {
		case t.prefPos:
			parts = append(parts, prefix)
		case t.topicPos:
			parts = append(parts, device)
		default:
			parts = append(parts, l)
		}
	}
	return strings.Join(append(parts, cmd), "/")
}

// Name implements Convention.
func (t *Tasmota) Name() string { return "tasmota" }

// Filters implements Convention.
func (t *Tasmota) Filters() []string { return t.filters }

// Handle implements Convention.
func (t *Tasmota) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != len(t.levels)+1 {
		return nil, ErrNotMine
	}
	for i, l := range t.levels {
		if i != t.prefPos && i != t.topicPos && parts[i] != l {
			return nil, ErrNotMine
		}
	}
	pref, dev, kind := parts[t.prefPos], parts[t.topicPos], parts[len(parts)-1]
	if dev == "" || (pref != t.o.Tele && pref != t.o.Stat) {
		return nil, ErrNotMine
	}
	id := "tasmota:" + dev
	switch {
	case pref == t.o.Tele && kind == "LWT":
		on, ok := onlineWord(payload)
		if !ok {
			return nil, bad(id, ReasonBadValue, "LWT %q", clip(payload))
		}
		t.markSeen(dev)
		return []devices.Update{presence(id, on, "lwt", now)}, nil
	case pref == t.o.Tele && (kind == "SENSOR" || kind == "STATE"):
		t.markSeen(dev)
		return t.telemetry(id, dev, kind, payload, now)
	case pref == t.o.Tele && kind == "INFO1":
		t.markSeen(dev)
		return t.info(id, payload)
	case pref == t.o.Stat && kind == "RESULT":
		t.markSeen(dev)
		obj, ok := decodeObject(payload)
		if !ok {
			return nil, bad(id, ReasonNotJSON, "RESULT %q", clip(payload))
		}
		var out []devices.Update
		for k, v := range obj {
			if powerKey(k) || k == "Dimmer" || k == "CT" {
				if u, ok := valueUpdate(id, k, now, v, ""); ok {
					out = append(out, u)
				}
			}
		}
		return out, nil
	case pref == t.o.Stat && kind == "STATUS7":
		t.markSeen(dev)
		return nil, t.status7(id, dev, payload)
	case pref == t.o.Stat && powerKey(kind):
		t.markSeen(dev)
		s := strings.TrimSpace(string(payload))
		if s != "ON" && s != "OFF" {
			return nil, bad(id, ReasonBadValue, "%s %q", kind, clip(payload))
		}
		return []devices.Update{stateReading(id, kind, now, s)}, nil
	}
	// Other tele/stat messages (STATUS*, UPGRADE, ...) carry nothing we keep.
	return nil, nil
}

var powerRE = regexp.MustCompile(`^POWER[0-9]{0,2}$`)

func powerKey(k string) bool { return powerRE.MatchString(k) }

func (t *Tasmota) markSeen(dev string) {
	t.mu.Lock()
	t.seen[dev] = true
	t.mu.Unlock()
}

// zone is the zone of a device's offset-less times: the configured one,
// else the fixed offset the device reported, else the default.
func (t *Tasmota) zone(dev string) *time.Location {
	if z := t.o.Zones[dev]; z != nil {
		return z
	}
	t.mu.Lock()
	z := t.learned[dev]
	t.mu.Unlock()
	if z != nil {
		return z
	}
	return t.o.Zone
}

var offsetRE = regexp.MustCompile(`^([+-])([0-9]{2}):([0-9]{2})$`)

// status7 learns the device's time zone from the answer to "Status 7":
// a fixed "Timezone":"+01:00" is used for its offset-less times; 99 (the
// device applies DST rules itself) leaves the configured zone in force.
func (t *Tasmota) status7(id, dev string, payload []byte) error {
	var st struct {
		StatusTIM struct {
			Timezone any `json:"Timezone"`
		} `json:"StatusTIM"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return bad(id, ReasonNotJSON, "STATUS7: %v", err)
	}
	tz, _ := st.StatusTIM.Timezone.(string)
	m := offsetRE.FindStringSubmatch(tz)
	t.mu.Lock()
	defer t.mu.Unlock()
	if m == nil {
		delete(t.learned, dev)
		return nil
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	off := h*3600 + mi*60
	if m[1] == "-" {
		off = -off
	}
	t.learned[dev] = time.FixedZone(tz, off)
	return nil
}

// tasmotaUnits maps Tasmota sensor field names to units; temperatures use
// the message's TempUnit and pressures its PressureUnit.
var tasmotaUnits = map[string]string{
	"Humidity": "%", "Illuminance": "lx", "Power": "W", "ApparentPower": "VA",
	"ReactivePower": "var", "Voltage": "V", "Current": "A", "Total": "kWh",
	"Today": "kWh", "Yesterday": "kWh", "Frequency": "Hz", "CarbonDioxide": "ppm",
	"eCO2": "ppm", "TVOC": "ppb", "PM2.5": "µg/m³", "PM10": "µg/m³", "PM1": "µg/m³",
	"Distance": "cm", "RSSI": "%", "Signal": "dBm", "Dimmer": "%", "UptimeSec": "s",
}

// tasmotaState lists the STATE fields worth keeping as readings.
var tasmotaState = map[string]bool{"Dimmer": true, "CT": true, "UptimeSec": true, "LoadAvg": true, "Heap": true, "Wifi.RSSI": true, "Wifi.Signal": true}

func (t *Tasmota) telemetry(id, dev, kind string, payload []byte, now time.Time) ([]devices.Update, error) {
	obj, ok := decodeObject(payload)
	if !ok {
		return nil, bad(id, ReasonNotJSON, "%s %q", kind, clip(payload))
	}
	ts := now
	if raw, has := obj["Time"]; has {
		pt, ok := parseTime(raw, t.zone(dev))
		if !ok || !saneTime(pt, now) {
			return nil, bad(id, ReasonBadTime, "Time %v", raw)
		}
		ts = pt
	}
	tempUnit, _ := obj["TempUnit"].(string)
	pressUnit, _ := obj["PressureUnit"].(string)
	if pressUnit == "" {
		pressUnit = "hPa"
	}
	var out []devices.Update
	var errs []error
	flatten("", obj, 0, func(key string, v any) {
		switch key {
		case "Time", "TempUnit", "PressureUnit", "SpeedUnit", "Uptime":
			return
		}
		if kind == "STATE" && !powerKey(key) && !tasmotaState[key] {
			return
		}
		field := key[strings.LastIndexByte(key, '.')+1:]
		unit := tasmotaUnits[field]
		switch {
		case strings.HasSuffix(field, "Temperature") || field == "DewPoint":
			unit = "°" + tempUnit
			if tempUnit == "" {
				unit = "°C"
			}
		case field == "Pressure" || field == "SeaPressure":
			unit = pressUnit
		}
		if s, isStr := v.(string); isStr && unit != "" && kind == "SENSOR" {
			// A measurement field that should be numeric.
			if f, ok := parseNumber(s); ok {
				v = f
			} else {
				errs = append(errs, bad(id, ReasonNotNumeric, "%s=%q", key, s))
				return
			}
		}
		if u, ok := valueUpdate(id, key, ts, v, unit); ok {
			out = append(out, u)
		}
	})
	return out, errors.Join(errs...)
}

func (t *Tasmota) info(id string, payload []byte) ([]devices.Update, error) {
	obj, ok := decodeObject(payload)
	if !ok {
		return nil, bad(id, ReasonNotJSON, "INFO1 %q", clip(payload))
	}
	if inner, ok := obj["Info1"].(map[string]any); ok {
		obj = inner
	}
	m := &devices.Meta{Device: id, Source: "tasmota", Commands: []string{"POWER"}}
	m.Model, _ = obj["Module"].(string)
	m.Firmware, _ = obj["Version"].(string)
	return []devices.Update{{Meta: m}}, nil
}

var tasmotaCmdRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)

// Command implements Convention: cmnd/<t>/<Name> with the argument as plain
// text (a JSON string loses its quotes; null means query).
func (t *Tasmota) Command(cmd devices.Command) (Message, error) {
	dev, ok := splitID(cmd.Device, "tasmota")
	if !ok {
		return Message{}, devices.ErrUnknownDevice
	}
	t.mu.Lock()
	seen := t.seen[dev]
	t.mu.Unlock()
	if !seen {
		return Message{}, devices.ErrUnknownDevice
	}
	if !tasmotaCmdRE.MatchString(cmd.Name) {
		return Message{}, devices.ErrUnknownCommand
	}
	var payload string
	if len(cmd.Args) > 0 && json.Valid(cmd.Args) {
		payload = argText(cmd.Args)
	} else if len(cmd.Args) > 0 {
		return Message{}, fmt.Errorf("convention: tasmota command %s: args are not JSON", cmd.Name)
	}
	// Never retained: a retained cmnd topic switches the device at every reconnect.
	return Message{Topic: t.topicFor(t.o.Cmnd, dev, cmd.Name), Payload: []byte(payload), QoS: 1}, nil
}
