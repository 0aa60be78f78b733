package convention_test

import (
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func TestESPHome(t *testing.T) {
	e := convention.NewESPHome(convention.ESPHomeOptions{Prefixes: []string{"home/attic"}})
	runSteps(t, e, []step{
		// State before the birth message: not known to be ESPHome yet.
		{"livingroom/sensor/temperature/state", "21.5", []string{"NOTMINE"}},
		{"livingroom/status", "online", []string{"P esphome:livingroom online lwt"}},
		{"livingroom/sensor/temperature/state", "21.5", []string{"R esphome:livingroom temperature=21.5  @" + nowS}},
		{"livingroom/sensor/temperature/state", "nan", nil},
		{"livingroom/binary_sensor/door/state", "ON", []string{"S esphome:livingroom door=ON @" + nowS}},
		{"livingroom/switch/relay/state", "OFF", []string{"S esphome:livingroom relay=OFF @" + nowS}},
		{"livingroom/light/lamp/state", `{"state":"ON","brightness":255,"color_mode":"brightness"}`, []string{
			"S esphome:livingroom lamp=ON @" + nowS,
			"R esphome:livingroom lamp.brightness=255  @" + nowS,
			"S esphome:livingroom lamp.color_mode=brightness @" + nowS,
		}},
		{"home/attic/sensor/humidity/state", "55", []string{"R esphome:home/attic humidity=55  @" + nowS}},
		// Malformed and foreign.
		{"livingroom/sensor/temperature/state", "hot", []string{"B esphome:livingroom not_numeric"}},
		{"livingroom/light/lamp/state", `{"state":`, []string{"B esphome:livingroom not_json"}},
		{"livingroom/widget/x/state", "1", []string{"NOTMINE"}},
		{"other/status", "ready", []string{"NOTMINE"}},
		{"livingroom/status", "offline", []string{"P esphome:livingroom offline lwt"}},
	})
	// Discovery configs from ESPHome give units and device data, and make a
	// node known even before its status arrives.
	runSteps(t, e, []step{
		{"homeassistant/sensor/garage/temperature/config", `{"dev_cla":"temperature","unit_of_meas":"°C","stat_cla":"measurement","name":"Temperature","stat_t":"garage/sensor/temperature/state","avty_t":"garage/status","uniq_id":"ESPsensortemperature","dev":{"ids":"a4cf12aabbcc","name":"garage","sw":"esphome v2024.2.0 Feb 20 2024","mdl":"esp32dev","mf":"espressif"}}`,
			[]string{"M esphome:garage name=garage model=espressif esp32dev fw=esphome v2024.2.0 Feb 20 2024 units=temperature:°C cmds="}},
		{"homeassistant/switch/garage/door_relay/config", `{"name":"Door relay","stat_t":"garage/switch/door_relay/state","cmd_t":"garage/switch/door_relay/command","dev":{"ids":"a4cf12aabbcc","sw":"esphome v2024.2.0"}}`,
			[]string{"M esphome:garage name=garage model=espressif esp32dev fw=esphome v2024.2.0 units=temperature:°C cmds=door_relay"}},
		{"garage/sensor/temperature/state", "18.25", []string{"R esphome:garage temperature=18.25 °C @" + nowS}},
		// Someone else's discovery config is left to the Home Assistant convention.
		{"homeassistant/sensor/garden/temp/config", `{"stat_t":"garden/state","dev":{"ids":"g","sw":"1.0"}}`, []string{"NOTMINE"}},
	})
	if !e.Claims("livingroom/sensor/temperature/state") || e.Claims("kitchen/sensor/temperature/state") {
		t.Error("Claims does not follow known nodes")
	}
	runCommands(t, e, []cmdCase{
		{dev: "esphome:livingroom", name: "relay", args: `"ON"`, topic: "livingroom/switch/relay/command", payload: "ON"},
		{dev: "esphome:livingroom", name: "light/lamp", args: `{"state":"ON","brightness":100}`, topic: "livingroom/light/lamp/command", payload: `{"state":"ON","brightness":100}`},
		{dev: "esphome:livingroom", name: "temperature", args: `1`, err: devices.ErrUnknownCommand},
		{dev: "esphome:livingroom", name: "nothing", args: `1`, err: devices.ErrUnknownCommand},
		{dev: "esphome:kitchen", name: "relay", args: `"ON"`, err: devices.ErrUnknownDevice},
	})
}
