package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/devices/internal/clock"
	"gatewayd/devices/sim"
)

var start = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type msg struct {
	Topic    string
	Payload  string
	Retained bool
	QoS      byte
}

// recorder is an in-memory Publisher.
type recorder struct {
	mu   sync.Mutex
	msgs []msg
	subs map[string]func(string, []byte)
	fail error
}

func newRecorder() *recorder { return &recorder{subs: map[string]func(string, []byte){}} }

func (r *recorder) Publish(topic string, payload []byte, retained bool, qos byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, msg{topic, string(payload), retained, qos})
	return nil
}

func (r *recorder) Subscribe(filter string, fn func(string, []byte)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs[filter] = fn
	return nil
}

// deliver plays a command message to the subscription of topic.
func (r *recorder) deliver(t *testing.T, topic, payload string) {
	t.Helper()
	r.mu.Lock()
	fn := r.subs[topic]
	r.mu.Unlock()
	if fn == nil {
		t.Fatalf("no subscription for %s", topic)
	}
	fn(topic, []byte(payload))
}

func (r *recorder) all() []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) since(n int) []msg { return r.all()[n:] }

func newSim(t testing.TB, r *recorder, o sim.Options) *sim.Simulator {
	t.Helper()
	if o.Start.IsZero() {
		o.Start = start
	}
	s, err := sim.New(r, &o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func step(t testing.TB, s *sim.Simulator, until time.Time) {
	t.Helper()
	if _, err := s.Step(context.Background(), until); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministic(t *testing.T) {
	o := sim.Options{Generic: 2, Tasmota: 2, Zigbee: 3, Shelly: 2, ESPHome: 2, Seed: 42, DropoutProb: 0.05, BurstProb: 0.05, Interval: 15 * time.Second}
	run := func(o sim.Options, steps int) []msg {
		r := newRecorder()
		s := newSim(t, r, o)
		// Different step sizes must not change the output.
		for i := 1; i <= steps; i++ {
			step(t, s, start.Add(time.Duration(i)*time.Hour/time.Duration(steps)))
		}
		return r.all()
	}
	a, b := run(o, 1), run(o, 37)
	if len(a) < 500 {
		t.Fatalf("only %d messages in an hour", len(a))
	}
	if !slices.Equal(a, b) {
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("runs differ at message %d: %+v vs %+v", i, a[i], b[i])
			}
		}
		t.Fatalf("runs differ in length: %d vs %d", len(a), len(b))
	}
	o.Seed = 43
	if c := run(o, 1); slices.Equal(a, c) {
		t.Fatal("a different seed gave the same messages")
	}
}

// checker validates messages against each convention's grammar.
type checker struct {
	devs map[string]sim.DeviceInfo
}

func newChecker(s *sim.Simulator) *checker {
	c := &checker{devs: map[string]sim.DeviceInfo{}}
	for _, d := range s.Devices() {
		c.devs[string(d.Convention)+":"+d.ID] = d
	}
	return c
}

func (c *checker) has(conv sim.Convention, id string) bool {
	_, ok := c.devs[string(conv)+":"+id]
	return ok
}

func jsonObj(p string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(p), &m); err != nil {
		return nil, fmt.Errorf("payload %q is not a JSON object: %v", p, err)
	}
	return m, nil
}

func num(m map[string]any, key string, lo, hi float64) error {
	v, ok := m[key].(float64)
	if !ok {
		return fmt.Errorf("%s missing or not a number in %v", key, m)
	}
	if v < lo || v > hi {
		return fmt.Errorf("%s = %v outside [%v, %v]", key, v, lo, hi)
	}
	return nil
}

func oneOf(p string, want ...string) error {
	if !slices.Contains(want, p) {
		return fmt.Errorf("payload %q, want one of %v", p, want)
	}
	return nil
}

// owner returns the key ("<convention>:<id>") of the device a message
// belongs to, and for an online/offline message which of the two it says.
func (c *checker) owner(m msg) (key string, presence, online bool) {
	t := m.Topic
	if rest, ok := strings.CutPrefix(t, "devices/"); ok {
		id, sub, _ := strings.Cut(rest, "/")
		return "generic:" + id, sub == "status", m.Payload == "online"
	}
	for _, p := range []string{"tele/", "stat/"} {
		if rest, ok := strings.CutPrefix(t, p); ok {
			id, sub, _ := strings.Cut(rest, "/")
			return "tasmota:" + id, sub == "LWT", m.Payload == "Online"
		}
	}
	if rest, ok := strings.CutPrefix(t, "zigbee2mqtt/"); ok {
		if name, ok := strings.CutSuffix(rest, "/availability"); ok {
			return "zigbee2mqtt:" + name, true, m.Payload == `{"state":"online"}`
		}
		return "zigbee2mqtt:" + rest, false, false
	}
	prefix, sub, _ := strings.Cut(t, "/")
	if c.has(sim.ShellyGen2, prefix) {
		return "shelly:" + prefix, sub == "online", m.Payload == "true"
	}
	return "esphome:" + prefix, sub == "status", m.Payload == "online"
}

func (c *checker) check(m msg) error {
	t, p := m.Topic, m.Payload
	wantRetained := false
	err := func() error {
		if id, ok := strings.CutPrefix(t, "devices/"); ok {
			id, sub, _ := strings.Cut(id, "/")
			if !c.has(sim.Generic, id) {
				return errors.New("unknown generic device")
			}
			switch sub {
			case "status":
				wantRetained = true
				return oneOf(p, "online", "offline")
			case "telemetry":
				o, err := jsonObj(p)
				if err != nil {
					return err
				}
				return errors.Join(num(o, "temperature", 0, 40), num(o, "humidity", 5, 95), num(o, "pressure", 960, 1050), oneOf(fmt.Sprint(o["power"]), "ON", "OFF"))
			}
			return errors.New("unknown generic topic")
		}
		if rest, ok := strings.CutPrefix(t, "tele/"); ok {
			id, sub, _ := strings.Cut(rest, "/")
			if !c.has(sim.Tasmota, id) {
				return errors.New("unknown tasmota device")
			}
			switch sub {
			case "LWT":
				wantRetained = true
				return oneOf(p, "Online", "Offline")
			case "STATE", "SENSOR":
				o, err := jsonObj(p)
				if err != nil {
					return err
				}
				ts, _ := o["Time"].(string)
				if _, err := time.Parse("2006-01-02T15:04:05", ts); err != nil {
					return fmt.Errorf("bad Time %q", ts)
				}
				if sub == "STATE" {
					return errors.Join(oneOf(fmt.Sprint(o["POWER"]), "ON", "OFF"), num(o, "UptimeSec", 0, 1e9))
				}
				b, ok := o["BME280"].(map[string]any)
				if !ok || o["TempUnit"] != "C" {
					return errors.New("no BME280 object or TempUnit")
				}
				return errors.Join(num(b, "Temperature", 0, 40), num(b, "Humidity", 5, 95), num(b, "Pressure", 960, 1050))
			}
			return errors.New("unknown tele topic")
		}
		if rest, ok := strings.CutPrefix(t, "stat/"); ok {
			id, sub, _ := strings.Cut(rest, "/")
			if !c.has(sim.Tasmota, id) {
				return errors.New("unknown tasmota device")
			}
			switch sub {
			case "POWER":
				return oneOf(p, "ON", "OFF")
			case "RESULT":
				return oneOf(p, `{"POWER":"ON"}`, `{"POWER":"OFF"}`)
			}
			return errors.New("unknown stat topic")
		}
		if rest, ok := strings.CutPrefix(t, "zigbee2mqtt/"); ok {
			if rest == "bridge/state" {
				wantRetained = true
				return oneOf(p, `{"state":"online"}`, `{"state":"offline"}`)
			}
			if name, ok := strings.CutSuffix(rest, "/availability"); ok {
				wantRetained = true
				if !c.has(sim.Zigbee2MQTT, name) {
					return errors.New("unknown z2m device")
				}
				return oneOf(p, `{"state":"online"}`, `{"state":"offline"}`)
			}
			if !c.has(sim.Zigbee2MQTT, rest) {
				return errors.New("unknown z2m device")
			}
			o, err := jsonObj(p)
			if err != nil {
				return err
			}
			if err := num(o, "linkquality", 0, 255); err != nil {
				return err
			}
			if _, ok := o["state"]; ok {
				return errors.Join(oneOf(fmt.Sprint(o["state"]), "ON", "OFF"), num(o, "power", 0, 3000), num(o, "voltage", 220, 240))
			}
			return errors.Join(num(o, "temperature", 0, 40), num(o, "humidity", 5, 95), num(o, "battery", 0, 100))
		}
		prefix, sub, _ := strings.Cut(t, "/")
		switch {
		case c.has(sim.ShellyGen2, prefix):
			switch sub {
			case "online":
				wantRetained = true
				return oneOf(p, "true", "false")
			case "events/rpc":
				var n struct {
					Src, Dst, Method string
					Params           map[string]json.RawMessage
				}
				if err := json.Unmarshal([]byte(p), &n); err != nil {
					return err
				}
				if n.Src != prefix || (n.Method != "NotifyStatus" && n.Method != "NotifyFullStatus") {
					return fmt.Errorf("src %q method %q", n.Src, n.Method)
				}
				var ts float64
				var sw struct {
					Output *bool    `json:"output"`
					APower *float64 `json:"apower"`
				}
				if json.Unmarshal(n.Params["ts"], &ts) != nil || ts < float64(start.Unix()) {
					return fmt.Errorf("bad ts %s", n.Params["ts"])
				}
				if json.Unmarshal(n.Params["switch:0"], &sw) != nil || sw.Output == nil {
					return fmt.Errorf("bad switch:0 %s", n.Params["switch:0"])
				}
				if sw.APower != nil && (*sw.APower < 0 || (!*sw.Output && *sw.APower != 0)) {
					return fmt.Errorf("apower %v with output %v", *sw.APower, *sw.Output)
				}
				return nil
			}
		case c.has(sim.ESPHome, prefix):
			switch sub {
			case "status":
				wantRetained = true
				return oneOf(p, "online", "offline")
			case "sensor/temperature/state", "sensor/humidity/state":
				v, err := strconv.ParseFloat(p, 64)
				if err != nil || v < 0 || v > 95 {
					return fmt.Errorf("bad sensor value %q", p)
				}
				return nil
			case "switch/relay/state":
				return oneOf(p, "ON", "OFF")
			}
		}
		return errors.New("unexpected topic")
	}()
	if err == nil && m.Retained != wantRetained {
		err = fmt.Errorf("retained %v, want %v", m.Retained, wantRetained)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", t, p, err)
	}
	return nil
}

func TestMessagesWellFormed(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Generic: 2, Tasmota: 2, Zigbee: 4, Shelly: 2, ESPHome: 2, Seed: 7,
		DropoutProb: 0.05, BurstProb: 0.05, SwitchProb: 0.1, Interval: 20 * time.Second})
	step(t, s, start.Add(2*time.Hour))
	c := newChecker(s)
	seen := map[string]bool{}
	for _, m := range r.all() {
		if err := c.check(m); err != nil {
			t.Fatal(err)
		}
		seen[strings.SplitN(m.Topic, "/", 2)[0]] = true
		if strings.Contains(m.Payload, `"method":"NotifyFullStatus"`) {
			seen["full"] = true
		}
	}
	if !seen["full"] {
		t.Error("no Shelly NotifyFullStatus after connecting")
	}
	for _, p := range []string{"devices", "tele", "stat", "zigbee2mqtt"} {
		if !seen[p] {
			t.Errorf("no %s messages", p)
		}
	}
	// Friendly names may contain a slash; the mix must exercise that.
	slash := false
	for _, d := range s.Devices() {
		if d.Convention == sim.Zigbee2MQTT && strings.Contains(d.ID, "/") {
			slash = true
		}
	}
	if !slash {
		t.Error("no zigbee friendly name with a slash")
	}
}

func TestDailyCurve(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Generic: 1, Seed: 3, Interval: time.Minute})
	step(t, s, start.Add(24*time.Hour))
	var night, afternoon []float64
	// Telemetry has no timestamp; reconstruct from the fixed interval.
	i := 0
	for _, m := range r.all() {
		if !strings.HasSuffix(m.Topic, "/telemetry") {
			continue
		}
		o, _ := jsonObj(m.Payload)
		h := i / 60 % 24
		i++
		switch {
		case h >= 2 && h < 5:
			night = append(night, o["temperature"].(float64))
		case h >= 13 && h < 17:
			afternoon = append(afternoon, o["temperature"].(float64))
		}
	}
	avg := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	if len(night) == 0 || len(afternoon) == 0 || avg(afternoon) <= avg(night) {
		t.Fatalf("afternoon average %.2f not above night %.2f", avg(afternoon), avg(night))
	}
}

func TestDropoutsGoOfflineThenOnline(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Generic: 1, Tasmota: 1, Zigbee: 1, Shelly: 1, ESPHome: 1, Seed: 11,
		DropoutProb: 0.3, Offline: time.Minute, Interval: 10 * time.Second})
	step(t, s, start.Add(30*time.Minute))
	c := newChecker(s)
	state := map[string]bool{}
	offlines, backs := map[string]int{}, map[string]int{}
	for _, m := range r.all() {
		if m.Topic == "zigbee2mqtt/bridge/state" {
			continue
		}
		dev, presence, online := c.owner(m)
		if _, ok := c.devs[dev]; !ok {
			t.Fatalf("%s: no such device %s", m.Topic, dev)
		}
		prev, known := state[dev]
		if !presence {
			if !prev {
				t.Fatalf("%s published %s while offline", dev, m.Topic)
			}
			continue
		}
		if known && prev == online {
			t.Fatalf("%s: presence %v twice in a row", dev, online)
		}
		if !known && !online {
			t.Fatalf("%s: first presence is offline", dev)
		}
		if !online {
			offlines[dev]++
		} else if known {
			backs[dev]++
		}
		state[dev] = online
	}
	if len(state) != 5 {
		t.Fatalf("presence seen for %d devices: %v", len(state), state)
	}
	for dev := range state {
		if offlines[dev] == 0 || backs[dev] == 0 {
			t.Errorf("%s: %d dropouts, %d returns; want both", dev, offlines[dev], backs[dev])
		}
	}
}

func TestRates(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Generic: 3, Tasmota: 2, Zigbee: 2, Shelly: 2, ESPHome: 2, Seed: 5, Interval: 30 * time.Second, SwitchProb: -1})
	step(t, s, start.Add(time.Hour))
	per := map[string]int{}
	for _, m := range r.all() {
		if strings.HasSuffix(m.Topic, "/telemetry") || strings.HasSuffix(m.Topic, "/SENSOR") ||
			strings.HasSuffix(m.Topic, "/events/rpc") || strings.HasSuffix(m.Topic, "/sensor/temperature/state") ||
			(strings.HasPrefix(m.Topic, "zigbee2mqtt/") && !strings.HasSuffix(m.Topic, "/availability") && !strings.HasSuffix(m.Topic, "bridge/state")) {
			per[m.Topic]++
		}
	}
	if len(per) != 11 {
		t.Fatalf("telemetry topics %d, want 11: %v", len(per), per)
	}
	// 120 periodic reports in an hour (121 when the random phase is zero),
	// plus the report that follows going online.
	for topic, n := range per {
		if n < 121 || n > 122 {
			t.Errorf("%s: %d reports in an hour at 30s, want 121 or 122", topic, n)
		}
	}
	// Bursts add BurstSize reports per period.
	r2 := newRecorder()
	s2 := newSim(t, r2, sim.Options{Generic: 1, Seed: 5, Interval: time.Minute, BurstProb: 1, BurstSize: 3, BurstSpacing: time.Second})
	step(t, s2, start.Add(10*time.Minute-time.Nanosecond))
	n := 0
	for _, m := range r2.all() {
		if strings.HasSuffix(m.Topic, "/telemetry") {
			n++
		}
	}
	if n < 1+9*4 || n > 1+10*4 {
		t.Fatalf("%d reports with bursts in 10 periods, want 37 to 41", n)
	}
}

func TestCommandsGetReplies(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Seed: 9, SwitchProb: -1})
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	step(t, s, start)
	devs := map[sim.Convention]sim.DeviceInfo{}
	for _, d := range s.Devices() {
		devs[d.Convention] = d
	}
	now := start
	send := func(topic, payload string) []msg {
		t.Helper()
		n := len(r.all())
		r.deliver(t, topic, payload)
		now = now.Add(time.Millisecond)
		step(t, s, now)
		return r.since(n)
	}
	tas := devs[sim.Tasmota].ID
	got := send("cmnd/"+tas+"/POWER", "ON")
	if len(got) != 2 || got[0] != (msg{"stat/" + tas + "/RESULT", `{"POWER":"ON"}`, false, 0}) || got[1] != (msg{"stat/" + tas + "/POWER", "ON", false, 0}) {
		t.Fatalf("tasmota ON: %+v", got)
	}
	if got := send("cmnd/"+tas+"/POWER", "TOGGLE"); len(got) != 2 || got[1].Payload != "OFF" {
		t.Fatalf("tasmota TOGGLE: %+v", got)
	}
	if got := send("cmnd/"+tas+"/POWER", ""); len(got) != 2 || got[1].Payload != "OFF" {
		t.Fatalf("tasmota query: %+v", got)
	}

	gen := devs[sim.Generic].ID
	got = send("devices/"+gen+"/set", `{"power":"ON"}`)
	if len(got) != 1 || got[0].Topic != "devices/"+gen+"/telemetry" || !strings.Contains(got[0].Payload, `"power":"ON"`) {
		t.Fatalf("generic set: %+v", got)
	}
	if got := send("devices/"+gen+"/set", `not json`); len(got) != 0 {
		t.Fatalf("generic garbage answered: %+v", got)
	}

	// One z2m device of one is a sensor (index 0); add a plug-bearing sim.
	r2 := newRecorder()
	s2 := newSim(t, r2, sim.Options{Zigbee: 2, Seed: 9, SwitchProb: -1})
	if err := s2.Subscribe(); err != nil {
		t.Fatal(err)
	}
	step(t, s2, start)
	plug := s2.Devices()[1]
	if !plug.Switchable || !strings.Contains(plug.ID, "/") {
		t.Fatalf("second z2m device %+v, want a plug with a slash in its name", plug)
	}
	for _, c := range []struct{ topic, payload, want string }{
		{"zigbee2mqtt/" + plug.ID + "/set", `{"state":"ON"}`, `"state":"ON"`},
		{"zigbee2mqtt/" + plug.ID + "/set/state", `OFF`, `"state":"OFF"`},
		{"zigbee2mqtt/" + plug.ID + "/set", `{"state":"TOGGLE"}`, `"state":"ON"`},
		{"zigbee2mqtt/" + plug.ID + "/get", `{"state":""}`, `"state":"ON"`},
	} {
		n := len(r2.all())
		r2.deliver(t, c.topic, c.payload)
		now = now.Add(time.Millisecond)
		step(t, s2, now)
		got := r2.since(n)
		if len(got) != 1 || got[0].Topic != "zigbee2mqtt/"+plug.ID || !strings.Contains(got[0].Payload, c.want) {
			t.Fatalf("%s %s: %+v, want state with %s", c.topic, c.payload, got, c.want)
		}
	}

	sh := devs[sim.ShellyGen2].ID
	got = send(sh+"/rpc", `{"id":7,"src":"gw-1","method":"Switch.Set","params":{"id":0,"on":true}}`)
	if len(got) < 1 || got[0].Topic != "gw-1/rpc" {
		t.Fatalf("shelly Switch.Set: %+v", got)
	}
	var resp struct {
		ID     int
		Src    string
		Dst    string
		Result map[string]any
		Error  *struct{ Code int }
	}
	if err := json.Unmarshal([]byte(got[0].Payload), &resp); err != nil || resp.ID != 7 || resp.Src != sh || resp.Dst != "gw-1" || resp.Result == nil {
		t.Fatalf("shelly reply %s (%v)", got[0].Payload, err)
	}
	wasOn := resp.Result["was_on"].(bool)
	if !wasOn && (len(got) != 2 || !strings.Contains(got[1].Payload, `"output":true`)) {
		t.Fatalf("switching on did not notify: %+v", got)
	}
	got = send(sh+"/rpc", `{"id":8,"src":"gw-1","method":"Nope.Nope"}`)
	if len(got) != 1 || !strings.Contains(got[0].Payload, `"code":404`) {
		t.Fatalf("unknown method: %+v", got)
	}
	got = send(sh+"/command/switch:0", "off")
	if len(got) != 1 || got[0].Topic != sh+"/events/rpc" || !strings.Contains(got[0].Payload, `"output":false`) {
		t.Fatalf("shelly command off: %+v", got)
	}

	esp := devs[sim.ESPHome].ID
	for _, want := range []string{"ON", "OFF"} {
		got = send(esp+"/switch/relay/command", want)
		if len(got) != 1 || got[0] != (msg{esp + "/switch/relay/state", want, false, 0}) {
			t.Fatalf("esphome %s: %+v", want, got)
		}
	}

	c := newChecker(s)
	for _, m := range r.all() {
		if strings.HasSuffix(m.Topic, "gw-1/rpc") {
			continue
		}
		if err := c.check(m); err != nil {
			t.Error(err)
		}
	}
	if st := s.Stats(); st.Commands < 10 || st.Published == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOfflineDeviceIgnoresCommands(t *testing.T) {
	r := newRecorder()
	s := newSim(t, r, sim.Options{Tasmota: 1, Seed: 1, DropoutProb: 1, Offline: time.Hour, Interval: time.Second})
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	step(t, s, start.Add(2*time.Second))
	tas := s.Devices()[0].ID
	last := r.all()[len(r.all())-1]
	if last != (msg{"tele/" + tas + "/LWT", "Offline", true, 0}) {
		t.Fatalf("last message %+v, want the LWT Offline", last)
	}
	n := len(r.all())
	r.deliver(t, "cmnd/"+tas+"/POWER", "ON")
	step(t, s, start.Add(3*time.Second))
	if got := r.since(n); len(got) != 0 {
		t.Fatalf("offline device answered: %+v", got)
	}
}

func TestRunOnFakeClock(t *testing.T) {
	r := newRecorder()
	clk := clock.NewFake(start)
	s := newSim(t, r, sim.Options{Tasmota: 1, ESPHome: 1, Seed: 2, Interval: 10 * time.Second, Clock: clk, SwitchProb: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	waitFor := func(what string, ok func([]msg) bool) {
		t.Helper()
		for !ok(r.all()) {
			if wctx.Err() != nil {
				t.Fatalf("timed out waiting for %s: %+v", what, r.all())
			}
			time.Sleep(time.Millisecond)
		}
	}
	count := func(suffix string) func([]msg) int {
		return func(ms []msg) int {
			n := 0
			for _, m := range ms {
				if strings.HasSuffix(m.Topic, suffix) {
					n++
				}
			}
			return n
		}
	}
	sensors := count("/SENSOR")
	waitFor("birth", func(ms []msg) bool { return sensors(ms) == 1 })
	for i := range 6 {
		if err := clk.BlockUntil(wctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
		// After n intervals the device has reported n or n+1 times, plus at birth.
		waitFor("telemetry", func(ms []msg) bool { return sensors(ms) >= i+2 })
	}
	if n := sensors(r.all()); n > 8 {
		t.Fatalf("%d SENSOR reports after 60s at 10s, want at most 8", n)
	}
	tas := s.Devices()[0].ID
	if err := clk.BlockUntil(wctx, 1); err != nil {
		t.Fatal(err)
	}
	r.deliver(t, "cmnd/"+tas+"/POWER", "ON")
	waitFor("command reply", func(ms []msg) bool { return count("stat/"+tas+"/POWER")(ms) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	all := r.all()
	tail := all[len(all)-2:]
	if tail[0] != (msg{"tele/" + tas + "/LWT", "Offline", true, 0}) || !strings.HasSuffix(tail[1].Topic, "/status") || tail[1].Payload != "offline" {
		t.Fatalf("shutdown did not publish offline: %+v", tail)
	}
	if err := s.Run(context.Background()); !errors.Is(err, sim.ErrClosed) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestPublishErrorsAreCounted(t *testing.T) {
	r := newRecorder()
	r.fail = errors.New("broker gone")
	s := newSim(t, r, sim.Options{Generic: 1, Seed: 1, Interval: time.Second})
	n, err := s.Step(context.Background(), start.Add(10*time.Second))
	if err != nil || n != 0 {
		t.Fatalf("Step: %d, %v", n, err)
	}
	if st := s.Stats(); st.PublishErrors < 10 || st.Published != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOptionsValidation(t *testing.T) {
	for name, o := range map[string]sim.Options{
		"negative count": {Generic: -1},
		"dropout > 1":    {DropoutProb: 1.5},
		"burst < 0":      {BurstProb: -0.1},
		"qos 3":          {QoS: 3},
	} {
		if _, err := sim.New(newRecorder(), &o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sim.New(nil, nil); err == nil {
		t.Error("nil publisher accepted")
	}
	s, err := sim.New(newRecorder(), nil)
	if err != nil || len(s.Devices()) != 5 {
		t.Fatalf("defaults: %v, %d devices", err, len(s.Devices()))
	}
}

func FuzzCommands(f *testing.F) {
	for _, p := range []string{"ON", "", "TOGGLE", `{"state":"ON"}`, `{"id":1,"src":"x","method":"Switch.Set","params":{"on":true}}`,
		`{"id":1,"src":"x","method":"Switch.Toggle"}`, `{"power":"OFF"}`, `{"src":"","method":1}`, "\x00\xff", `{"id":[1],"src":"a/b"}`} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		r := newRecorder()
		s := newSim(t, r, sim.Options{Zigbee: 2, Seed: 1})
		if err := s.Subscribe(); err != nil {
			t.Fatal(err)
		}
		step(t, s, start)
		for _, d := range s.Devices() {
			for _, topic := range d.CommandTopics {
				r.deliver(t, topic, payload)
			}
		}
		step(t, s, start.Add(time.Second))
		for _, m := range r.all() {
			if strings.HasPrefix(m.Payload, "{") && !json.Valid([]byte(m.Payload)) {
				t.Fatalf("invalid JSON reply on %s: %q", m.Topic, m.Payload)
			}
		}
	})
}

type nopPub struct{}

func (nopPub) Publish(string, []byte, bool, byte) error     { return nil }
func (nopPub) Subscribe(string, func(string, []byte)) error { return nil }

func BenchmarkGenerate(b *testing.B) {
	s, err := sim.New(nopPub{}, &sim.Options{Generic: 20, Tasmota: 20, Zigbee: 20, Shelly: 20, ESPHome: 20, Seed: 1, Start: start, Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	at := start
	total := 0
	b.ResetTimer()
	for b.Loop() {
		at = at.Add(time.Second)
		n, _ := s.Step(ctx, at)
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}

func TestTasmotaTimeIsLocalWithoutOffset(t *testing.T) {
	r := newRecorder()
	zone := time.FixedZone("CET", 3600)
	s := newSim(t, r, sim.Options{Tasmota: 1, Seed: 1, Location: zone})
	step(t, s, start)
	for _, m := range r.all() {
		if strings.HasSuffix(m.Topic, "/SENSOR") {
			if !strings.Contains(m.Payload, `"Time":"2026-06-01T01:00:00"`) {
				t.Fatalf("SENSOR %s, want local time 01:00:00 without offset", m.Payload)
			}
			return
		}
	}
	t.Fatal("no SENSOR message at start")
}
