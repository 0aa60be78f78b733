package convention_test

import (
	"slices"
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func TestHomeAssistant(t *testing.T) {
	h := convention.NewHomeAssistant(convention.HomeAssistantOptions{
		Claimed: func(topic string) bool { return topic == "livingroom/sensor/temperature/state" },
	})
	runSteps(t, h, []step{
		// Per-entity config with a node id, full keys and a JSON state topic.
		{"homeassistant/sensor/garden/temp/config", `{"name":"Garden temperature","unique_id":"garden_temp","state_topic":"garden/state","value_template":"{{ value_json.temperature | round(1) }}","unit_of_measurement":"°C","device_class":"temperature","availability_topic":"garden/avail","device":{"identifiers":["garden-01"],"name":"Garden","manufacturer":"Acme","model":"TH1","sw_version":"2.0"}}`,
			[]string{"M ha:garden-01 name=Garden model=Acme TH1 fw=2.0 units=temp:°C cmds="}},
		// Abbreviated keys, "~" base topic, a second entity on the same state topic.
		{"homeassistant/sensor/garden/hum/config", `{"~":"garden","name":"Garden humidity","stat_t":"~/state","val_tpl":"{{ value_json['humidity'] }}","unit_of_meas":"%","avty_t":"~/avail","dev":{"ids":"garden-01"}}`,
			[]string{"M ha:garden-01 name=Garden model=Acme TH1 fw=2.0 units=hum:%,temp:°C cmds="}},
		{"homeassistant/switch/garden/pump/config", `{"name":"Pump","stat_t":"garden/pump","cmd_t":"garden/pump/set","dev":{"ids":["garden-01"]}}`,
			[]string{"M ha:garden-01 name=Garden model=Acme TH1 fw=2.0 units=hum:%,temp:°C cmds=pump"}},
		{"garden/avail", "online", []string{"P ha:garden-01 online availability"}},
		{"garden/state", `{"temperature":12.25,"humidity":81}`, []string{"R ha:garden-01 temp=12.25 °C @" + nowS, "R ha:garden-01 hum=81 % @" + nowS}},
		{"garden/state", `{"temperature":13}`, []string{"R ha:garden-01 temp=13 °C @" + nowS}},
		{"garden/pump", `ON`, []string{"S ha:garden-01 pump=ON @" + nowS}},
		{"garden/state", `{"temperature":"cold"}`, []string{"B ha:garden-01 not_numeric"}},
		{"garden/state", `not json`, []string{"B ha:garden-01 not_json"}},
		{"garden/state", `{"temperature":"unavailable"}`, nil},
		// Device-based discovery with a binary sensor and an availability list.
		{"homeassistant/device/door-7/config", `{"dev":{"ids":"door-7","name":"Front door","mf":"Acme","mdl":"DW"},"o":{"name":"x"},"avty":[{"t":"door7/lwt","pl_avail":"up","pl_not_avail":"down"}],
		  "cmps":{"contact":{"p":"binary_sensor","dev_cla":"door","stat_t":"door7/state","val_tpl":"{{ value_json.contact }}","pl_on":"open","pl_off":"closed"},
		          "battery":{"p":"sensor","unit_of_meas":"%","stat_t":"door7/state","val_tpl":"{{ value_json.battery }}"}}}`,
			[]string{"M ha:door-7 name=Front door model=Acme DW fw= units=battery:% cmds="}},
		{"door7/lwt", "up", []string{"P ha:door-7 online availability"}},
		{"door7/state", `{"contact":"open","battery":97}`, []string{"S ha:door-7 contact=ON @" + nowS, "R ha:door-7 battery=97 % @" + nowS}},
		{"door7/lwt", "sideways", []string{"B ha:door-7 bad_value"}},
		{"door7/lwt", "down", []string{"P ha:door-7 offline availability"}},
		// An entity whose state topic another convention owns is skipped.
		{"homeassistant/sensor/livingroom/temperature/config", `{"name":"T","stat_t":"livingroom/sensor/temperature/state","unit_of_meas":"°C","dev":{"ids":"esp-1"}}`, nil},
		{"livingroom/sensor/temperature/state", "20", []string{"NOTMINE"}},
		// Malformed config, HA's own birth, unknown topics.
		{"homeassistant/sensor/bad/config", `{`, []string{"B  not_json"}},
		{"homeassistant/status", "online", nil},
		{"random/topic", "1", []string{"NOTMINE"}},
		// Removing a config stops its state topic being parsed.
		{"homeassistant/switch/garden/pump/config", ``, nil},
		{"garden/pump", `ON`, []string{"NOTMINE"}},
	})
	if !h.Matches("garden/state") || h.Matches("garden/pump") || !h.Matches("homeassistant/x/y/config") {
		t.Error("Matches does not follow the learned topics")
	}
	nf := h.NewFilters()
	for _, want := range []string{"garden/state", "garden/avail", "door7/state", "door7/lwt"} {
		if !slices.Contains(nf, want) {
			t.Errorf("NewFilters %v lacks %s", nf, want)
		}
	}
	if len(h.NewFilters()) != 0 {
		t.Error("NewFilters repeats itself")
	}
	runSteps(t, h, []step{
		{"homeassistant/light/garden/lamp/config", `{"name":"Lamp","stat_t":"garden/lamp","cmd_t":"garden/lamp/set","dev":{"ids":["garden-01"]}}`,
			[]string{"M ha:garden-01 name=Garden model=Acme TH1 fw=2.0 units=hum:%,temp:°C cmds=lamp"}},
	})
	runCommands(t, h, []cmdCase{
		{dev: "ha:garden-01", name: "lamp", args: `"ON"`, topic: "garden/lamp/set", payload: "ON"},
		{dev: "ha:garden-01", name: "pump", args: `"ON"`, err: devices.ErrUnknownCommand},
		{dev: "ha:garden-01", name: "temp", args: `"ON"`, err: devices.ErrUnknownCommand},
		{dev: "ha:nothing", name: "lamp", args: `"ON"`, err: devices.ErrUnknownDevice},
	})
}
