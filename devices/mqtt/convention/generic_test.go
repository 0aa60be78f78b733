package convention_test

import (
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func TestGeneric(t *testing.T) {
	g := convention.NewGeneric(convention.GenericOptions{})
	runSteps(t, g, []step{
		// Birth, metadata, telemetry with and without a timestamp.
		{"devices/esp32-1/status", "online", []string{"P esp32-1 online lwt"}},
		{"devices/esp32-1/meta", `{"name":"Kitchen","model":"ESP32","firmware":"1.2","units":{"temperature":"°C"},"commands":["relay"]}`,
			[]string{"M esp32-1 name=Kitchen model=ESP32 fw=1.2 units=temperature:°C cmds=relay"}},
		{"devices/esp32-1/telemetry", `{"temperature":21.5,"humidity":{"value":40,"unit":"%"},"door":"open","relay":true}`, []string{
			"R esp32-1 temperature=21.5 °C @" + nowS,
			"R esp32-1 humidity=40 % @" + nowS,
			"S esp32-1 door=open @" + nowS,
			"S esp32-1 relay=true @" + nowS,
		}},
		{"devices/esp32-1/telemetry", `{"ts":1708810200,"temperature":22}`, []string{"R esp32-1 temperature=22 °C @2024-02-24T21:30:00Z"}},
		{"devices/esp32-1/telemetry", `{"ts":"2024-02-24T22:00:00+01:00","temperature":22}`, []string{"R esp32-1 temperature=22 °C @2024-02-24T21:00:00Z"}},
		{"devices/esp32-1/telemetry", `{"ts":1708810200123,"t":1}`, []string{"R esp32-1 t=1  @2024-02-24T21:30:00Z"}},
		{"devices/esp32-1/telemetry", `{"env":{"t":1,"h":2}}`, []string{"R esp32-1 env.t=1  @" + nowS, "R esp32-1 env.h=2  @" + nowS}},
		{"devices/esp32-1/commands/relay/reply", `{"ok":true}`, []string{`S esp32-1 reply.relay={"ok":true} @` + nowS}},
		// Malformed messages.
		{"devices/esp32-1/telemetry", `21.5`, []string{"B esp32-1 not_json"}},
		{"devices/esp32-1/telemetry", `{"temperature":`, []string{"B esp32-1 not_json"}},
		{"devices/esp32-1/telemetry", `{"ts":5,"temperature":1}`, []string{"B esp32-1 bad_timestamp"}},
		{"devices/esp32-1/telemetry", `{"ts":"2099-01-01T00:00:00Z","temperature":1}`, []string{"B esp32-1 bad_timestamp"}},
		{"devices/esp32-1/telemetry", `{"a":[1,2],"b":3}`, []string{"B esp32-1 bad_value", "R esp32-1 b=3  @" + nowS}},
		{"devices/esp32-1/status", `maybe`, []string{"B esp32-1 bad_value"}},
		{"devices/bad id/status", `online`, []string{"B  bad_topic"}},
		{"devices/esp32-1/status", "offline", []string{"P esp32-1 offline lwt"}},
	})
	runCommands(t, g, []cmdCase{
		{dev: "esp32-1", name: "relay", args: `"on"`, topic: "devices/esp32-1/commands/relay", payload: `"on"`},
		{dev: "esp32-1", name: "reboot", err: devices.ErrUnknownCommand},
		{dev: "nope", name: "relay", err: devices.ErrUnknownDevice},
	})
}

func TestGenericPrefix(t *testing.T) {
	g := convention.NewGeneric(convention.GenericOptions{Prefix: "home/dev"})
	runSteps(t, g, []step{
		{"home/dev/a/telemetry", `{"x":1}`, []string{"R a x=1  @" + nowS}},
		{"devices/a/telemetry", `{"x":1}`, []string{"NOTMINE"}},
	})
	if f := g.Filters(); f[0] != "home/dev/+/telemetry" {
		t.Errorf("filters %v", f)
	}
}
