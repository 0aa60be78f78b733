package convention_test

import (
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func TestShellyGen1(t *testing.T) {
	s := convention.NewShelly(convention.ShellyOptions{})
	runSteps(t, s, []step{
		{"shellies/shellyplug-s-7AD3F2/online", "true", []string{"P shelly:shellyplug-s-7AD3F2 online lwt"}},
		{"shellies/announce", `{"id":"shellyplug-s-7AD3F2","model":"SHPLG-S","mac":"A4CF127AD3F2","ip":"192.168.1.5","new_fw":false,"fw_ver":"20230913-114008/v1.14.0-gcb84623"}`,
			[]string{"M shelly:shellyplug-s-7AD3F2 name=shellyplug-s-7AD3F2 model=SHPLG-S fw=20230913-114008/v1.14.0-gcb84623 units= cmds="}},
		{"shellies/shellyplug-s-7AD3F2/relay/0", "on", []string{"S shelly:shellyplug-s-7AD3F2 relay.0=on @" + nowS}},
		{"shellies/shellyplug-s-7AD3F2/relay/0/power", "42.47", []string{"R shelly:shellyplug-s-7AD3F2 relay.0.power=42.47 W @" + nowS}},
		{"shellies/shellyplug-s-7AD3F2/relay/0/energy", "1234", []string{"R shelly:shellyplug-s-7AD3F2 relay.0.energy=1234 Wmin @" + nowS}},
		{"shellies/shellyem-B9F1A1/emeter/0/energy", "1234", []string{"R shelly:shellyem-B9F1A1 emeter.0.energy=1234 Wh @" + nowS}},
		{"shellies/shellyht-AB12CD/sensor/temperature", "21.5", []string{"R shelly:shellyht-AB12CD sensor.temperature=21.5 °C @" + nowS}},
		{"shellies/shellydw2-AB12CD/sensor/state", "open", []string{"S shelly:shellydw2-AB12CD sensor.state=open @" + nowS}},
		{"shellies/shellyplug-s-7AD3F2/relay/0/command", "off", nil},
		{"shellies/shellyplug-s-7AD3F2/info", `{"wifi_sta":{}}`, nil},
		// Malformed.
		{"shellies/shellyht-AB12CD/sensor/temperature", "warm", []string{"B shelly:shellyht-AB12CD not_numeric"}},
		{"shellies/shellyplug-s-7AD3F2/online", "perhaps", []string{"B shelly:shellyplug-s-7AD3F2 bad_value"}},
		{"shellies/announce", `nope`, []string{"B  not_json"}},
		{"shellies/shellyplug-s-7AD3F2/online", "false", []string{"P shelly:shellyplug-s-7AD3F2 offline lwt"}},
	})
	runCommands(t, s, []cmdCase{
		{dev: "shelly:shellyplug-s-7AD3F2", name: "relay.0", args: `"ON"`, topic: "shellies/shellyplug-s-7AD3F2/relay/0/command", payload: "on"},
		{dev: "shelly:shellyplug-s-7AD3F2", name: "relay/1", args: `"toggle"`, topic: "shellies/shellyplug-s-7AD3F2/relay/1/command", payload: "toggle"},
		{dev: "shelly:shellyplug-s-7AD3F2", name: "switch:0", args: `"on"`, err: devices.ErrUnknownCommand},
		{dev: "shelly:nobody", name: "relay.0", args: `"on"`, err: devices.ErrUnknownDevice},
	})
}

func TestShellyGen2(t *testing.T) {
	s := convention.NewShelly(convention.ShellyOptions{})
	const dev = "shelly:shellyplus1pm-a8032ab12345"
	runSteps(t, s, []step{
		{"shellyplus1pm-a8032ab12345/online", "true", []string{"P " + dev + " online lwt"}},
		{"shellyplus1pm-a8032ab12345/status/switch:0", `{"id":0,"source":"init","output":false,"apower":0.0,"voltage":230.1,"current":0.0,"aenergy":{"total":10.5,"by_minute":[0,0,0],"minute_ts":1708810140},"temperature":{"tC":40.1,"tF":104.2}}`, []string{
			"S " + dev + " switch:0.output=false @" + nowS,
			"R " + dev + " switch:0.apower=0 W @" + nowS,
			"R " + dev + " switch:0.voltage=230.1 V @" + nowS,
			"R " + dev + " switch:0.current=0 A @" + nowS,
			"R " + dev + " switch:0.aenergy.total=10.5 Wh @" + nowS,
			"R " + dev + " switch:0.temperature.tC=40.1 °C @" + nowS,
			"R " + dev + " switch:0.temperature.tF=104.2 °F @" + nowS,
		}},
		// A delta: only the touched fields come out, stamped with ts.
		{"shellyplus1pm-a8032ab12345/events/rpc", `{"src":"shellyplus1pm-a8032ab12345","dst":"shellyplus1pm-a8032ab12345/events","method":"NotifyStatus","params":{"ts":1708810100.50,"switch:0":{"id":0,"output":true,"apower":57.2}}}`, []string{
			"S " + dev + " switch:0.output=true @2024-02-24T21:28:20Z",
			"R " + dev + " switch:0.apower=57.2 W @2024-02-24T21:28:20Z",
		}},
		{"shellyplus1pm-a8032ab12345/events/rpc", `{"src":"x","method":"NotifyStatus","params":{"ts":1708810110,"switch:0":{"aenergy":{"total":10.6}},"sys":{"uptime":100}}}`, []string{
			"R " + dev + " switch:0.aenergy.total=10.6 Wh @2024-02-24T21:28:30Z",
		}},
		{"shellyplus1pm-a8032ab12345/events/rpc", `{"src":"x","method":"NotifyEvent","params":{"ts":1708810120,"events":[{"component":"input:0","id":0,"event":"single_push","ts":1708810120}]}}`, []string{
			"S " + dev + " input:0.event=single_push @2024-02-24T21:28:40Z",
		}},
		// Malformed.
		{"shellyplus1pm-a8032ab12345/events/rpc", `{"method":"NotifyStatus","params":{"ts":12,"switch:0":{"output":true}}}`, []string{"B " + dev + " bad_timestamp"}},
		{"shellyplus1pm-a8032ab12345/events/rpc", `{not json`, []string{"B " + dev + " not_json"}},
		{"shellyplus1pm-a8032ab12345/status/switch:0", `oops`, []string{"B " + dev + " not_json"}},
		// Not Shelly-looking prefixes are left to other conventions.
		{"kitchen/online", "true", []string{"NOTMINE"}},
		{"kitchen/events/rpc", `{"method":"Other"}`, []string{"NOTMINE"}},
		{"shellyplus1pm-a8032ab12345/online", "false", []string{"P " + dev + " offline lwt"}},
	})
	// The delta was overlaid on the full status.
	st := s.Status(dev, "switch:0")
	if st["output"] != true || st["apower"] != 57.2 || st["voltage"] != 230.1 {
		t.Errorf("overlaid status %v", st)
	}
	if ae, _ := st["aenergy"].(map[string]any); ae["total"] != 10.6 || ae["minute_ts"] == nil {
		t.Errorf("overlaid aenergy %v", st["aenergy"])
	}
	runCommands(t, s, []cmdCase{
		{dev: dev, name: "switch:0", args: `"on"`, topic: "shellyplus1pm-a8032ab12345/rpc", payload: `{"id":1,"src":"gatewayd","method":"Switch.Set","params":{"id":0,"on":true}}`},
		{dev: dev, name: "switch:0", args: `false`, topic: "shellyplus1pm-a8032ab12345/rpc", payload: `{"id":2,"src":"gatewayd","method":"Switch.Set","params":{"id":0,"on":false}}`},
		{dev: dev, name: "switch:1", args: `"toggle"`, topic: "shellyplus1pm-a8032ab12345/rpc", payload: `{"id":3,"src":"gatewayd","method":"Switch.Toggle","params":{"id":1}}`},
		{dev: dev, name: "Cover.GoToPosition", args: `{"id":0,"pos":50}`, topic: "shellyplus1pm-a8032ab12345/rpc", payload: `{"id":4,"src":"gatewayd","method":"Cover.GoToPosition","params":{"id":0,"pos":50}}`},
		{dev: dev, name: "switch:0", args: `"dim"`, err: devices.ErrUnknownCommand},
		{dev: dev, name: "relay.0", args: `"on"`, err: devices.ErrUnknownCommand},
	})
	simple := convention.NewShelly(convention.ShellyOptions{SimpleControl: true, Gen2Prefixes: []string{"home/plug"}})
	runSteps(t, simple, []step{{"home/plug/online", "true", []string{"P shelly:home/plug online lwt"}}})
	runCommands(t, simple, []cmdCase{
		{dev: "shelly:home/plug", name: "switch:0", args: `true`, topic: "home/plug/command/switch:0", payload: "on"},
	})
}
