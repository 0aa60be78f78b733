package convention

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
)

// Zigbee2MQTTOptions configures the Zigbee2MQTT convention.
type Zigbee2MQTTOptions struct {
	// Disabled turns the convention off.
	Disabled bool
	// Base is Zigbee2MQTT's base topic; default "zigbee2mqtt".
	Base string
}

// Zigbee2MQTT understands <base>/<name> state objects (names may contain
// '/'), <base>/<name>/availability in its plain and JSON forms,
// <base>/bridge/state and <base>/bridge/devices. Commands go to
// <base>/<name>/set. Device ids are "z2m:<friendly name>"; the bridge
// itself is "z2m:bridge".
type Zigbee2MQTT struct {
	base string

	mu   sync.Mutex
	devs map[string]*z2mDev // by friendly name
}

type z2mDev struct {
	units     map[string]string
	settable  []string
	described bool // bridge/devices listed it, so settable is authoritative
}

// NewZigbee2MQTT returns the Zigbee2MQTT convention.
func NewZigbee2MQTT(o Zigbee2MQTTOptions) *Zigbee2MQTT {
	if o.Base == "" {
		o.Base = "zigbee2mqtt"
	}
	return &Zigbee2MQTT{base: o.Base, devs: map[string]*z2mDev{}}
}

// Name implements Convention.
func (z *Zigbee2MQTT) Name() string { return "z2m" }

// Filters implements Convention.
func (z *Zigbee2MQTT) Filters() []string { return []string{z.base + "/#"} }

const z2mBridge = "z2m:bridge"

// Handle implements Convention.
func (z *Zigbee2MQTT) Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error) {
	rest, ok := strings.CutPrefix(topic, z.base+"/")
	if !ok || rest == "" {
		return nil, ErrNotMine
	}
	if b, isBridge := strings.CutPrefix(rest, "bridge/"); isBridge {
		switch b {
		case "state":
			on, ok := onlineWord(payload)
			if !ok {
				return nil, bad(z2mBridge, ReasonBadValue, "bridge/state %q", clip(payload))
			}
			out := []devices.Update{presence(z2mBridge, on, "lwt", now)}
			if !on {
				// Every device behind a stopped bridge is unreachable.
				for _, name := range z.names() {
					out = append(out, presence("z2m:"+name, false, "bridge offline", now))
				}
			}
			return out, nil
		case "devices":
			return z.bridgeDevices(payload)
		}
		return nil, nil
	}
	if name, ok := strings.CutSuffix(rest, "/availability"); ok {
		on, valid := onlineWord(payload)
		if !valid {
			return nil, bad("z2m:"+name, ReasonBadValue, "availability %q", clip(payload))
		}
		z.dev(name)
		return []devices.Update{presence("z2m:"+name, on, "availability", now)}, nil
	}
	// Our own command topics and their echoes.
	if strings.HasSuffix(rest, "/set") || strings.Contains(rest, "/set/") || strings.HasSuffix(rest, "/get") || strings.Contains(rest, "/get/") {
		return nil, nil
	}
	if len(payload) == 0 {
		return nil, nil // a cleared retained message
	}
	id := "z2m:" + rest
	obj, ok := decodeObject(payload)
	if !ok {
		return nil, bad(id, ReasonNotJSON, "state %q", clip(payload))
	}
	t := now
	if ls, has := obj["last_seen"]; has {
		if pt, ok := parseTime(ls, time.UTC); ok && saneTime(pt, now) {
			t = pt
		}
	}
	d := z.dev(rest)
	z.mu.Lock()
	units := d.units
	z.mu.Unlock()
	var out []devices.Update
	var errs []error
	flatten("", obj, 0, func(key string, v any) {
		if key == "last_seen" {
			return
		}
		unit := units[key]
		if s, isStr := v.(string); isStr && unit != "" {
			f, ok := parseNumber(s)
			if !ok {
				errs = append(errs, bad(id, ReasonNotNumeric, "%s=%q", key, s))
				return
			}
			v = f
		}
		if u, ok := valueUpdate(id, key, t, v, unit); ok {
			out = append(out, u)
		}
	})
	return out, errors.Join(errs...)
}

func (z *Zigbee2MQTT) dev(name string) *z2mDev {
	z.mu.Lock()
	defer z.mu.Unlock()
	d := z.devs[name]
	if d == nil {
		d = &z2mDev{units: map[string]string{}}
		z.devs[name] = d
	}
	return d
}

func (z *Zigbee2MQTT) names() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	out := make([]string, 0, len(z.devs))
	for n := range z.devs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type z2mExpose struct {
	Name     string      `json:"name"`
	Property string      `json:"property"`
	Unit     string      `json:"unit"`
	Access   int         `json:"access"`
	Features []z2mExpose `json:"features"`
}

type z2mDevice struct {
	FriendlyName    string `json:"friendly_name"`
	Type            string `json:"type"`
	SoftwareBuildID string `json:"software_build_id"`
	ModelID         string `json:"model_id"`
	Definition      *struct {
		Model   string      `json:"model"`
		Vendor  string      `json:"vendor"`
		Exposes []z2mExpose `json:"exposes"`
	} `json:"definition"`
}

// z2mSet is the "set" bit of an expose's access field.
const z2mSet = 2

func (z *Zigbee2MQTT) bridgeDevices(payload []byte) ([]devices.Update, error) {
	var list []z2mDevice
	if err := json.Unmarshal(payload, &list); err != nil {
		return nil, bad(z2mBridge, ReasonNotJSON, "bridge/devices: %v", err)
	}
	var out []devices.Update
	for _, d := range list {
		if d.Type == "Coordinator" || d.FriendlyName == "" {
			continue
		}
		m := &devices.Meta{Device: "z2m:" + d.FriendlyName, Name: d.FriendlyName, Firmware: d.SoftwareBuildID, Source: "z2m", Units: map[string]string{}}
		m.Model = d.ModelID
		if d.Definition != nil {
			m.Model = strings.TrimSpace(d.Definition.Vendor + " " + d.Definition.Model)
			var walk func([]z2mExpose)
			walk = func(es []z2mExpose) {
				for _, e := range es {
					if e.Property != "" {
						if e.Unit != "" {
							m.Units[e.Property] = e.Unit
						}
						if e.Access&z2mSet != 0 && !slices.Contains(m.Commands, e.Property) {
							m.Commands = append(m.Commands, e.Property)
						}
					}
					walk(e.Features)
				}
			}
			walk(d.Definition.Exposes)
		}
		dev := z.dev(d.FriendlyName)
		z.mu.Lock()
		dev.units = m.Units
		dev.settable = m.Commands
		dev.described = d.Definition != nil
		z.mu.Unlock()
		out = append(out, devices.Update{Meta: m})
	}
	return out, nil
}

// Command implements Convention: publishes {"<name>": args} on
// <base>/<name>/set; the name "set" sends args (an object) as they are.
func (z *Zigbee2MQTT) Command(cmd devices.Command) (Message, error) {
	name, ok := splitID(cmd.Device, "z2m")
	if !ok || cmd.Device == z2mBridge {
		return Message{}, devices.ErrUnknownDevice
	}
	z.mu.Lock()
	d := z.devs[name]
	var settable []string
	described := false
	if d != nil {
		settable, described = d.settable, d.described
	}
	z.mu.Unlock()
	if d == nil {
		return Message{}, devices.ErrUnknownDevice
	}
	args := cmd.Args
	if len(args) == 0 || !json.Valid(args) {
		return Message{}, devices.ErrUnknownCommand
	}
	var payload []byte
	if cmd.Name == "set" {
		if !strings.HasPrefix(strings.TrimSpace(string(args)), "{") {
			return Message{}, devices.ErrUnknownCommand
		}
		payload = args
	} else {
		if !validName(cmd.Name) || (described && !slices.Contains(settable, cmd.Name)) {
			return Message{}, devices.ErrUnknownCommand
		}
		payload, _ = json.Marshal(map[string]json.RawMessage{cmd.Name: args})
	}
	return Message{Topic: z.base + "/" + name + "/set", Payload: payload, QoS: 1}, nil
}
