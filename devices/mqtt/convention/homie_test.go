package convention_test

import (
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func TestHomie4(t *testing.T) {
	h := convention.NewHomie(convention.HomieOptions{})
	runSteps(t, h, []step{
		{"homie/super-car/$homie", "4.0.0", nil},
		{"homie/super-car/$state", "init", []string{"P homie:super-car offline init"}},
		{"homie/super-car/$name", "Super car", []string{"M homie:super-car name=Super car model= fw= units= cmds="}},
		{"homie/super-car/$nodes", "engine,lights", nil},
		{"homie/super-car/engine/$name", "Engine", nil},
		{"homie/super-car/engine/temperature/$datatype", "float", nil},
		{"homie/super-car/engine/temperature/$unit", "°C", []string{"M homie:super-car name=Super car model= fw= units=engine.temperature:°C cmds="}},
		{"homie/super-car/lights/power/$datatype", "boolean", nil},
		{"homie/super-car/lights/power/$settable", "true", []string{"M homie:super-car name=Super car model= fw= units=engine.temperature:°C cmds=lights.power"}},
		{"homie/super-car/$state", "ready", []string{"P homie:super-car online ready"}},
		{"homie/super-car/engine/temperature", "21.5", []string{"R homie:super-car engine.temperature=21.5 °C @" + nowS}},
		{"homie/super-car/lights/power", "true", []string{"S homie:super-car lights.power=true @" + nowS}},
		{"homie/super-car/lights/power/set", "false", nil},
		// Malformed.
		{"homie/super-car/engine/temperature", "hot", []string{"B homie:super-car not_numeric"}},
		{"homie/super-car/lights/power", "yes", []string{"B homie:super-car bad_value"}},
		{"homie/super-car/$state", "exploded", []string{"B homie:super-car bad_value"}},
		// The last will.
		{"homie/super-car/$state", "lost", []string{"P homie:super-car offline lwt"}},
		{"other/super-car/$state", "lost", []string{"NOTMINE"}},
	})
	runCommands(t, h, []cmdCase{
		{dev: "homie:super-car", name: "lights.power", args: `"true"`, topic: "homie/super-car/lights/power/set", payload: "true"},
		{dev: "homie:super-car", name: "lights.power", args: `true`, topic: "homie/super-car/lights/power/set", payload: "true"},
		{dev: "homie:super-car", name: "engine.temperature", args: `20`, err: devices.ErrUnknownCommand},
		{dev: "homie:nobody", name: "lights.power", args: `true`, err: devices.ErrUnknownDevice},
	})
}

func TestHomie5(t *testing.T) {
	h := convention.NewHomie(convention.HomieOptions{})
	runSteps(t, h, []step{
		{"homie/5/thermo/$state", "init", []string{"P homie:thermo offline init"}},
		{"homie/5/thermo/$description", `{"homie":"5.0","version":7,"name":"Thermostat","nodes":{"room":{"name":"Room","properties":{"temperature":{"datatype":"float","unit":"°C"},"setpoint":{"datatype":"float","unit":"°C","settable":true}}}}}`,
			[]string{"M homie:thermo name=Thermostat model= fw= units=room.setpoint:°C,room.temperature:°C cmds=room.setpoint"}},
		{"homie/5/thermo/$state", "ready", []string{"P homie:thermo online ready"}},
		{"homie/5/thermo/room/temperature", "19.75", []string{"R homie:thermo room.temperature=19.75 °C @" + nowS}},
		{"homie/5/thermo/room/setpoint/$target", "21", nil},
		{"homie/5/thermo/$log/info", "booted", nil},
		{"homie/5/thermo/$description", `{"nodes":`, []string{"B homie:thermo not_json"}},
		{"homie/5/thermo/$state", "lost", []string{"P homie:thermo offline lwt"}},
		{"homie/5/thermo/$state", "", []string{"P homie:thermo offline removed"}},
	})
	runCommands(t, h, []cmdCase{
		{dev: "homie:thermo", name: "room.setpoint", args: `21.5`, topic: "homie/5/thermo/room/setpoint/set", payload: "21.5"},
		{dev: "homie:thermo", name: "room.temperature", args: `21.5`, err: devices.ErrUnknownCommand},
	})
}
