package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// device is one simulated device: its identity, connection state and the
// physical model behind its values.
type device struct {
	idx   int
	conv  Convention
	id    string
	zbase string
	loc   *time.Location
	rng   *rand.Rand

	online bool
	boot   time.Time

	switchable bool
	climate    bool
	power      bool

	// Model parameters, fixed at creation.
	baseT, ampT, baseH, load float64
	// Model state, moved on by advance.
	last                time.Time
	driftT              float64
	temp, hum, pressure float64
	voltage, apower     float64
	energy, battery, lq float64
	rssi                int
	noiseP              float64
}

var rooms = []string{"kitchen", "living_room", "bedroom", "office", "garage", "cellar", "attic", "garden"}

// makeID returns the device's topic component; i is its index within its
// convention. A random part makes ids look real; the index keeps them unique.
func (d *device) makeID(i int) string {
	switch d.conv {
	case Tasmota:
		return fmt.Sprintf("tasmota_%04X%02X", d.rng.Uint32()&0xffff, i&0xff)
	case Zigbee2MQTT:
		// Every other name carries a slash, as friendly names may.
		if i%2 == 1 {
			return fmt.Sprintf("%s/plug_%02d", rooms[d.rng.IntN(len(rooms))], i)
		}
		return fmt.Sprintf("%s_sensor_%02d", rooms[d.rng.IntN(len(rooms))], i)
	case ShellyGen2:
		return fmt.Sprintf("shellyplus1pm-%08x%04x", d.rng.Uint32(), i&0xffff)
	case ESPHome:
		return fmt.Sprintf("esp-%s-%02d", rooms[d.rng.IntN(len(rooms))], i)
	default:
		return fmt.Sprintf("sim-%02d", i)
	}
}

// init draws the model parameters; i is the index within the convention.
func (d *device) init(start time.Time, i int) {
	d.switchable = d.conv != Zigbee2MQTT || i%2 == 1
	d.climate = d.conv != ShellyGen2 && !(d.conv == Zigbee2MQTT && i%2 == 1)
	d.baseT = 18 + 6*d.rng.Float64()
	d.ampT = 0.5 + 3*d.rng.Float64()
	d.baseH = 35 + 25*d.rng.Float64()
	d.pressure = 1000 + 25*d.rng.Float64()
	d.load = []float64{8, 40, 60, 120, 450, 1200, 2000}[d.rng.IntN(7)] * (0.9 + 0.2*d.rng.Float64())
	d.battery = 60 + 40*d.rng.Float64()
	d.lq = 60 + 150*d.rng.Float64()
	d.power = d.rng.IntN(2) == 1
	d.last = start
	d.advance(start)
}

// advance moves the model to t: a daily sine with noise and a slowly
// mean-reverting drift for temperature, humidity following it inversely,
// mains voltage noise and the power draw of the load when switched on. It
// always draws the same count of random numbers.
func (d *device) advance(t time.Time) {
	dt := t.Sub(d.last).Hours()
	if dt < 0 {
		dt = 0
	}
	d.last = t
	n1, n2, n3, n4, n5, n6, n7 := d.rng.NormFloat64(), d.rng.NormFloat64(), d.rng.NormFloat64(),
		d.rng.NormFloat64(), d.rng.NormFloat64(), d.rng.NormFloat64(), d.rng.NormFloat64()
	d.driftT = d.driftT*0.98 + 0.05*n1
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	daily := math.Sin(2 * math.Pi * (h - 9) / 24) // peaks at 15:00, lowest at 03:00
	d.temp = d.baseT + d.ampT*daily + d.driftT + 0.08*n2
	d.hum = clamp(d.baseH-1.5*(d.temp-d.baseT)+0.5*n3, 5, 95)
	d.pressure = clamp(d.pressure+(1013-d.pressure)*0.002+0.05*n4, 960, 1050)
	d.voltage = 230 + 1.2*n5
	d.noiseP = n6
	d.setPower()
	d.energy += d.apower * dt
	d.battery = math.Max(1, d.battery-0.0005)
	d.lq = clamp(d.lq+3*n7, 10, 255)
	d.rssi = int(clamp(70+d.lq/10, 0, 100))
}

// setPower recomputes the power draw after the relay changed.
func (d *device) setPower() {
	d.apower = 0
	if d.power {
		d.apower = math.Max(0, d.load*(1+0.03*d.noiseP))
	}
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

type cmdTopic struct {
	topic, kind string
}

// commands lists the device's command topics with the handler kind.
func (d *device) commands() []cmdTopic {
	switch d.conv {
	case Tasmota:
		return []cmdTopic{{"cmnd/" + d.id + "/POWER", "power"}}
	case Zigbee2MQTT:
		base := d.zbase + "/" + d.id
		return []cmdTopic{{base + "/set", "set"}, {base + "/set/state", "setstate"}, {base + "/get", "get"}}
	case ShellyGen2:
		return []cmdTopic{{d.id + "/rpc", "rpc"}, {d.id + "/command/switch:0", "command"}}
	case ESPHome:
		return []cmdTopic{{d.id + "/switch/relay/command", "command"}}
	default:
		return []cmdTopic{{"devices/" + d.id + "/set", "set"}}
	}
}

func (d *device) commandTopics() []string {
	var out []string
	for _, c := range d.commands() {
		out = append(out, c.topic)
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types with rounded (finite) floats get here, so this
		// cannot happen; an empty object beats crashing the gateway.
		return []byte("{}")
	}
	return b
}

// Payload types, in the field order the real devices use.

type tasmotaWifi struct {
	AP     int    `json:"AP"`
	SSId   string `json:"SSId"`
	RSSI   int    `json:"RSSI"`
	Signal int    `json:"Signal"`
}

type tasmotaState struct {
	Time      string      `json:"Time"`
	Uptime    string      `json:"Uptime"`
	UptimeSec int64       `json:"UptimeSec"`
	POWER     string      `json:"POWER"`
	Wifi      tasmotaWifi `json:"Wifi"`
}

type bme280 struct {
	Temperature float64 `json:"Temperature"`
	Humidity    float64 `json:"Humidity"`
	DewPoint    float64 `json:"DewPoint"`
	Pressure    float64 `json:"Pressure"`
}

type tasmotaSensor struct {
	Time         string `json:"Time"`
	BME280       bme280 `json:"BME280"`
	PressureUnit string `json:"PressureUnit"`
	TempUnit     string `json:"TempUnit"`
}

type shellyEnergy struct {
	Total float64 `json:"total"`
}

type shellySwitch struct {
	ID      int           `json:"id"`
	Source  string        `json:"source,omitempty"`
	Output  bool          `json:"output"`
	APower  *float64      `json:"apower,omitempty"`
	Voltage *float64      `json:"voltage,omitempty"`
	Current *float64      `json:"current,omitempty"`
	AEnergy *shellyEnergy `json:"aenergy,omitempty"`
}

type shellyNotify struct {
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Method string `json:"method"`
	Params struct {
		TS     float64      `json:"ts"`
		Switch shellySwitch `json:"switch:0"`
	} `json:"params"`
}

func (d *device) shellyStatus(full bool, source string) shellySwitch {
	s := shellySwitch{ID: 0, Output: d.power, Source: source}
	if full {
		p, v, c := round(d.apower, 1), round(d.voltage, 1), round(d.apower/d.voltage, 3)
		s.APower, s.Voltage, s.Current = &p, &v, &c
		s.AEnergy = &shellyEnergy{Total: round(d.energy, 3)}
	}
	return s
}

func dewPoint(t, rh float64) float64 {
	// Magnus formula, as Tasmota computes it.
	g := math.Log(rh/100) + 17.62*t/(243.12+t)
	return 243.12 * g / (17.62 - g)
}

func uptime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%dT%02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}

// publishTelemetry sends the device's periodic report, as of t.
func (s *Simulator) publishTelemetry(d *device, t time.Time) {
	switch d.conv {
	case Generic:
		s.publish("devices/"+d.id+"/telemetry", d.genericPayload(), false)
	case Tasmota:
		tt := t.In(d.loc).Format("2006-01-02T15:04:05")
		st := tasmotaState{Time: tt, Uptime: uptime(t.Sub(d.boot)), UptimeSec: int64(t.Sub(d.boot) / time.Second),
			POWER: onOff(d.power), Wifi: tasmotaWifi{AP: 1, SSId: "sim", RSSI: d.rssi, Signal: d.rssi/2 - 100}}
		s.publish("tele/"+d.id+"/STATE", mustJSON(st), false)
		se := tasmotaSensor{Time: tt, PressureUnit: "hPa", TempUnit: "C", BME280: bme280{
			Temperature: round(d.temp, 1), Humidity: round(d.hum, 1), DewPoint: round(dewPoint(d.temp, d.hum), 1), Pressure: round(d.pressure, 1)}}
		s.publish("tele/"+d.id+"/SENSOR", mustJSON(se), false)
	case Zigbee2MQTT:
		s.publish(d.zbase+"/"+d.id, d.z2mPayload(), false)
	case ShellyGen2:
		s.publishShellyNotify(d, t, true, "")
	case ESPHome:
		s.publish(d.id+"/sensor/temperature/state", []byte(strconv.FormatFloat(round(d.temp, 1), 'f', 1, 64)), false)
		s.publish(d.id+"/sensor/humidity/state", []byte(strconv.FormatFloat(round(d.hum, 1), 'f', 1, 64)), false)
		s.publish(d.id+"/switch/relay/state", []byte(onOff(d.power)), false)
	}
}

func (d *device) genericPayload() []byte {
	return mustJSON(map[string]any{
		"temperature": round(d.temp, 2), "humidity": round(d.hum, 1), "pressure": round(d.pressure, 1), "power": onOff(d.power),
	})
}

func (d *device) z2mPayload() []byte {
	if d.climate {
		return mustJSON(map[string]any{
			"temperature": round(d.temp, 2), "humidity": round(d.hum, 2), "battery": math.Round(d.battery),
			"voltage": math.Round(2500 + 5*d.battery), "linkquality": math.Round(d.lq),
		})
	}
	return mustJSON(map[string]any{
		"state": onOff(d.power), "power": round(d.apower, 1), "voltage": round(d.voltage, 1),
		"energy": round(d.energy/1000, 3), "linkquality": math.Round(d.lq),
	})
}

func (s *Simulator) publishShellyNotify(d *device, t time.Time, full bool, source string) {
	s.publishShellyMethod(d, t, "NotifyStatus", full, source)
}

// publishShellyMethod sends a notification; a device that just connected
// sends NotifyFullStatus, later reports are NotifyStatus deltas.
func (s *Simulator) publishShellyMethod(d *device, t time.Time, method string, full bool, source string) {
	n := shellyNotify{Src: d.id, Dst: d.id + "/events", Method: method}
	n.Params.TS = round(float64(t.UnixMilli())/1000, 2)
	n.Params.Switch = d.shellyStatus(full, source)
	s.publish(d.id+"/events/rpc", mustJSON(n), false)
}

// publishSwitch reports a relay change the way the device's firmware does.
func (s *Simulator) publishSwitch(d *device, t time.Time) {
	d.setPower()
	switch d.conv {
	case Generic:
		s.publish("devices/"+d.id+"/telemetry", d.genericPayload(), false)
	case Tasmota:
		s.publishTasmotaPower(d)
	case Zigbee2MQTT:
		s.publish(d.zbase+"/"+d.id, d.z2mPayload(), false)
	case ShellyGen2:
		s.publishShellyNotify(d, t, false, "button")
	case ESPHome:
		s.publish(d.id+"/switch/relay/state", []byte(onOff(d.power)), false)
	}
}

func (s *Simulator) publishTasmotaPower(d *device) {
	s.publish("stat/"+d.id+"/RESULT", []byte(`{"POWER":"`+onOff(d.power)+`"}`), false)
	s.publish("stat/"+d.id+"/POWER", []byte(onOff(d.power)), false)
}

func (s *Simulator) publishOnline(d *device) {
	s.publishPresence(d, true)
}

func (s *Simulator) publishOffline(d *device) {
	s.publishPresence(d, false)
}

func (s *Simulator) publishPresence(d *device, on bool) {
	switch d.conv {
	case Generic:
		s.publish("devices/"+d.id+"/status", []byte(map[bool]string{true: "online", false: "offline"}[on]), true)
	case Tasmota:
		s.publish("tele/"+d.id+"/LWT", []byte(map[bool]string{true: "Online", false: "Offline"}[on]), true)
	case Zigbee2MQTT:
		s.publish(d.zbase+"/"+d.id+"/availability", []byte(map[bool]string{true: `{"state":"online"}`, false: `{"state":"offline"}`}[on]), true)
	case ShellyGen2:
		s.publish(d.id+"/online", []byte(strconv.FormatBool(on)), true)
	case ESPHome:
		s.publish(d.id+"/status", []byte(map[bool]string{true: "online", false: "offline"}[on]), true)
	}
}

// parseSwitchWord reads ON/OFF/TOGGLE in the spellings devices accept
// (Tasmota also takes 1/0/2). ok is false for anything else, including an
// empty payload (a query).
func parseSwitchWord(p string, cur bool) (on, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "ON", "1", "TRUE":
		return true, true
	case "OFF", "0", "FALSE":
		return false, true
	case "TOGGLE", "2":
		return !cur, true
	}
	return cur, false
}

type rpcRequest struct {
	ID     json.RawMessage `json:"id"`
	Src    string          `json:"src"`
	Method string          `json:"method"`
	Params struct {
		ID *int  `json:"id"`
		On *bool `json:"on"`
	} `json:"params"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Src    string          `json:"src"`
	Dst    string          `json:"dst"`
	Result any             `json:"result,omitempty"`
	Error  *rpcError       `json:"error,omitempty"`
}

// command handles one received command message at the current virtual time.
// Malformed commands are ignored, as the firmware would (a Shelly answers an
// unknown method with an error). An offline device answers nothing.
func (s *Simulator) command(topic string, payload []byte) {
	tgt, ok := s.cmdMap[topic]
	if !ok || !tgt.dev.online {
		return
	}
	s.stats.cmds.Add(1)
	d, t := tgt.dev, s.now
	set := func(on bool) {
		if d.switchable {
			d.power = on
			d.setPower()
		}
	}
	switch d.conv {
	case Generic:
		var m map[string]any
		if json.Unmarshal(payload, &m) != nil {
			return
		}
		if p, ok := m["power"].(string); ok {
			if on, ok := parseSwitchWord(p, d.power); ok {
				set(on)
			}
		}
		s.publish("devices/"+d.id+"/telemetry", d.genericPayload(), false)
	case Tasmota:
		if on, ok := parseSwitchWord(string(payload), d.power); ok {
			set(on)
		}
		s.publishTasmotaPower(d)
	case Zigbee2MQTT:
		switch tgt.kind {
		case "set":
			var m map[string]any
			if json.Unmarshal(payload, &m) != nil {
				return
			}
			if st, ok := m["state"].(string); ok {
				if on, ok := parseSwitchWord(st, d.power); ok {
					set(on)
				}
			}
		case "setstate":
			if on, ok := parseSwitchWord(string(payload), d.power); ok {
				set(on)
			}
		}
		s.publish(d.zbase+"/"+d.id, d.z2mPayload(), false)
	case ShellyGen2:
		if tgt.kind == "command" {
			if on, ok := parseSwitchWord(string(payload), d.power); ok {
				set(on)
				s.publishShellyNotify(d, t, false, "MQTT")
			}
			return
		}
		s.shellyRPC(d, t, payload)
	case ESPHome:
		if on, ok := parseSwitchWord(string(payload), d.power); ok {
			set(on)
			s.publish(d.id+"/switch/relay/state", []byte(onOff(d.power)), false)
		}
	}
}

func (s *Simulator) shellyRPC(d *device, t time.Time, payload []byte) {
	var req rpcRequest
	if json.Unmarshal(payload, &req) != nil || req.Src == "" {
		return // nowhere to answer
	}
	resp := rpcResponse{ID: req.ID, Src: d.id, Dst: req.Src}
	if len(resp.ID) == 0 {
		resp.ID = json.RawMessage("null")
	}
	wasOn := d.power
	changed := false
	switch req.Method {
	case "Switch.Set":
		if req.Params.On == nil || (req.Params.ID != nil && *req.Params.ID != 0) {
			resp.Error = &rpcError{Code: -103, Message: "Invalid argument"}
			break
		}
		d.power = *req.Params.On
		changed = true
		resp.Result = map[string]bool{"was_on": wasOn}
	case "Switch.Toggle":
		d.power = !d.power
		changed = true
		resp.Result = map[string]bool{"was_on": wasOn}
	case "Switch.GetStatus":
		resp.Result = d.shellyStatus(true, "")
	case "Shelly.GetStatus":
		resp.Result = map[string]any{"switch:0": d.shellyStatus(true, "")}
	default:
		resp.Error = &rpcError{Code: 404, Message: "No handler for " + req.Method}
	}
	s.publish(req.Src+"/rpc", mustJSON(resp), false)
	if changed {
		d.setPower()
		if d.power != wasOn {
			s.publishShellyNotify(d, t, false, "MQTT")
		}
	}
}
