package convention_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

// fuzzConvention feeds arbitrary topic/payload pairs to a convention and
// checks the invariants of its output: no panic, readings carry a device,
// a key, a UTC time and a finite value, and errors are either ErrNotMine or
// bad payloads.
func fuzzConvention(f *testing.F, c convention.Convention, seeds [][2]string) {
	for _, s := range seeds {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		ups, err := c.Handle(topic, payload, now)
		if err != nil && !errors.Is(err, convention.ErrNotMine) && len(convention.BadPayloads(err)) == 0 {
			t.Fatalf("unexpected error kind: %v", err)
		}
		for _, u := range ups {
			checkUpdate(t, u)
		}
		// Commands built from whatever was learned must not panic either.
		for _, u := range ups {
			if u.Reading != nil {
				_, _ = c.Command(devices.Command{Device: u.Reading.Device, Name: u.Reading.Key, Args: []byte(`"ON"`)})
			}
		}
	})
}

func checkUpdate(t *testing.T, u devices.Update) {
	t.Helper()
	n := 0
	if u.Reading != nil {
		n++
		r := u.Reading
		if r.Device == "" || r.Key == "" {
			t.Fatalf("reading without device or key: %+v", r)
		}
		if r.Time.Location() != time.UTC || r.Time.IsZero() {
			t.Fatalf("reading time not UTC: %v", r.Time)
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			t.Fatalf("non-finite value: %+v", r)
		}
	}
	if u.Presence != nil {
		n++
		if u.Presence.Device == "" {
			t.Fatal("presence without device")
		}
	}
	if u.Meta != nil {
		n++
		if u.Meta.Device == "" {
			t.Fatal("meta without device")
		}
	}
	if n != 1 {
		t.Fatalf("update with %d fields set", n)
	}
}

func FuzzGeneric(f *testing.F) {
	fuzzConvention(f, convention.NewGeneric(convention.GenericOptions{}), [][2]string{
		{"devices/a/telemetry", `{"t":1,"ts":1708810200,"s":"x","o":{"value":1,"unit":"W"}}`},
		{"devices/a/status", "online"},
		{"devices/a/meta", `{"units":{"t":"C"},"commands":["x"]}`},
		{"devices/a/commands/x/reply", "ok"},
		{"devices/a/telemetry", `{"ts":"2024-01-01T00:00:00","n":{"m":{"k":1}}}`},
	})
}

func FuzzTasmota(f *testing.F) {
	tz, err := convention.NewTasmota(convention.TasmotaOptions{Zone: time.UTC})
	if err != nil {
		f.Fatal(err)
	}
	fuzzConvention(f, tz, [][2]string{
		{"tele/k/SENSOR", `{"Time":"2024-02-24T22:20:38","DS18B20":{"Temperature":20.6},"TempUnit":"C"}`},
		{"tele/k/STATE", `{"Time":"2024-02-24T22:20:38","POWER":"ON","Wifi":{"RSSI":4}}`},
		{"tele/k/LWT", "Online"},
		{"tele/k/INFO1", `{"Info1":{"Module":"m","Version":"v"}}`},
		{"stat/k/RESULT", `{"POWER":"ON"}`},
		{"stat/k/POWER2", "OFF"},
		{"stat/k/STATUS7", `{"StatusTIM":{"Timezone":"-05:30"}}`},
	})
}

func FuzzZigbee2MQTT(f *testing.F) {
	fuzzConvention(f, convention.NewZigbee2MQTT(convention.Zigbee2MQTTOptions{}), [][2]string{
		{"zigbee2mqtt/a/b", `{"temperature":1,"last_seen":1708810200000}`},
		{"zigbee2mqtt/a/availability", `{"state":"online"}`},
		{"zigbee2mqtt/bridge/state", "offline"},
		{"zigbee2mqtt/bridge/devices", z2mDevices},
	})
}

func FuzzShelly(f *testing.F) {
	fuzzConvention(f, convention.NewShelly(convention.ShellyOptions{}), [][2]string{
		{"shellies/s1/relay/0/power", "1.5"},
		{"shellies/s1/online", "true"},
		{"shellies/announce", `{"id":"s1","model":"m","fw_ver":"f"}`},
		{"shellyplus1-a/events/rpc", `{"method":"NotifyStatus","params":{"ts":1708810200,"switch:0":{"output":true,"aenergy":{"total":1}}}}`},
		{"shellyplus1-a/events/rpc", `{"method":"NotifyEvent","params":{"events":[{"component":"input:0","event":"x"}]}}`},
		{"shellyplus1-a/status/switch:0", `{"output":false}`},
	})
}

func FuzzESPHome(f *testing.F) {
	e := convention.NewESPHome(convention.ESPHomeOptions{Prefixes: []string{"n"}})
	fuzzConvention(f, e, [][2]string{
		{"n/status", "online"},
		{"n/sensor/t/state", "21.5"},
		{"n/light/l/state", `{"state":"ON","brightness":3}`},
		{"n/binary_sensor/d/state", "OFF"},
		{"homeassistant/sensor/m/t/config", `{"unit_of_meas":"°C","stat_t":"m/sensor/t/state","dev":{"sw":"esphome v1"}}`},
	})
}

func FuzzHomie(f *testing.F) {
	fuzzConvention(f, convention.NewHomie(convention.HomieOptions{}), [][2]string{
		{"homie/d/$state", "ready"},
		{"homie/d/n/p/$datatype", "float"},
		{"homie/d/n/p", "1.5"},
		{"homie/5/d/$description", `{"name":"x","nodes":{"n":{"properties":{"p":{"datatype":"integer","settable":true}}}}}`},
		{"homie/5/d/n/p", "3"},
	})
}

func FuzzHomeAssistant(f *testing.F) {
	h := convention.NewHomeAssistant(convention.HomeAssistantOptions{})
	fuzzConvention(f, h, [][2]string{
		{"homeassistant/sensor/n/o/config", `{"~":"b","stat_t":"~/s","val_tpl":"{{ value_json.a[0]['b'] | float }}","unit_of_meas":"C","dev":{"ids":["x"]}}`},
		{"homeassistant/device/d/config", `{"dev":{"ids":"d"},"cmps":{"c":{"p":"sensor","stat_t":"d/s"}},"avty":[{"t":"d/a"}]}`},
		{"b/s", `{"a":[{"b":1}]}`},
		{"d/a", "online"},
	})
}

func FuzzMatchTopic(f *testing.F) {
	f.Add("a/+/#", "a/b/c")
	f.Add("+/status", "$SYS/status")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if convention.MatchTopic(filter, topic) && filter == topic+"/x" {
			t.Fatalf("%q matched shorter %q", filter, topic)
		}
		if convention.MatchTopic(topic, topic) != !hasWild(topic) && !hasWild(topic) {
			t.Fatalf("literal %q does not match itself", topic)
		}
	})
}

func hasWild(s string) bool {
	for _, c := range s {
		if c == '+' || c == '#' {
			return true
		}
	}
	return len(s) > 0 && s[0] == '$'
}
