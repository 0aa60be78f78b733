package convention_test

import (
	"testing"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

const z2mDevices = `[
 {"ieee_address":"0x00124b0000000000","type":"Coordinator","friendly_name":"Coordinator"},
 {"ieee_address":"0x00158d0001234567","type":"EndDevice","friendly_name":"kitchen/sensor","model_id":"lumi.weather","software_build_id":"3000-0001",
  "definition":{"model":"WSDCGQ11LM","vendor":"Aqara","exposes":[
   {"type":"numeric","name":"temperature","property":"temperature","unit":"°C","access":1},
   {"type":"numeric","name":"humidity","property":"humidity","unit":"%","access":1}]}},
 {"ieee_address":"0x00158d0007654321","type":"Router","friendly_name":"kitchen/floor_light",
  "definition":{"model":"LED1545G12","vendor":"IKEA","exposes":[
   {"type":"light","features":[{"type":"binary","name":"state","property":"state","access":7},
     {"type":"numeric","name":"brightness","property":"brightness","access":7}]},
   {"type":"numeric","name":"linkquality","property":"linkquality","unit":"lqi","access":1}]}}
]`

func TestZigbee2MQTT(t *testing.T) {
	z := convention.NewZigbee2MQTT(convention.Zigbee2MQTTOptions{})
	runSteps(t, z, []step{
		{"zigbee2mqtt/bridge/state", `{"state":"online"}`, []string{"P z2m:bridge online lwt"}},
		{"zigbee2mqtt/bridge/devices", z2mDevices, []string{
			"M z2m:kitchen/sensor name=kitchen/sensor model=Aqara WSDCGQ11LM fw=3000-0001 units=humidity:%,temperature:°C cmds=",
			"M z2m:kitchen/floor_light name=kitchen/floor_light model=IKEA LED1545G12 fw= units=linkquality:lqi cmds=brightness,state",
		}},
		{"zigbee2mqtt/bridge/info", `{"version":"1.35.0"}`, nil},
		// Both availability forms.
		{"zigbee2mqtt/kitchen/sensor/availability", `online`, []string{"P z2m:kitchen/sensor online availability"}},
		{"zigbee2mqtt/kitchen/floor_light/availability", `{"state":"offline"}`, []string{"P z2m:kitchen/floor_light offline availability"}},
		{"zigbee2mqtt/kitchen/sensor", `{"temperature":27.34,"humidity":44.72,"linkquality":120,"battery":null}`, []string{
			"R z2m:kitchen/sensor temperature=27.34 °C @" + nowS,
			"R z2m:kitchen/sensor humidity=44.72 % @" + nowS,
			"R z2m:kitchen/sensor linkquality=120  @" + nowS,
		}},
		{"zigbee2mqtt/kitchen/floor_light", `{"state":"ON","brightness":254,"color":{"x":0.3,"y":0.4},"last_seen":"2024-02-24T21:29:59.000Z"}`, []string{
			"S z2m:kitchen/floor_light state=ON @2024-02-24T21:29:59Z",
			"R z2m:kitchen/floor_light brightness=254  @2024-02-24T21:29:59Z",
			"R z2m:kitchen/floor_light color.x=0.3  @2024-02-24T21:29:59Z",
			"R z2m:kitchen/floor_light color.y=0.4  @2024-02-24T21:29:59Z",
		}},
		// Our own commands echo back through the broker: ignored.
		{"zigbee2mqtt/kitchen/floor_light/set", `{"state":"OFF"}`, nil},
		{"zigbee2mqtt/kitchen/floor_light/set/state", `OFF`, nil},
		// Malformed.
		{"zigbee2mqtt/kitchen/sensor", `temperature=1`, []string{"B z2m:kitchen/sensor not_json"}},
		{"zigbee2mqtt/kitchen/sensor", `{"temperature":"hot"}`, []string{"B z2m:kitchen/sensor not_numeric"}},
		{"zigbee2mqtt/kitchen/sensor/availability", `{"state":"asleep"}`, []string{"B z2m:kitchen/sensor bad_value"}},
		{"zigbee2mqtt/bridge/devices", `{`, []string{"B z2m:bridge not_json"}},
		{"zigbee2mqtt/kitchen/sensor", ``, nil},
		// The bridge going away takes every device with it.
		{"zigbee2mqtt/bridge/state", `offline`, []string{
			"P z2m:bridge offline lwt",
			"P z2m:kitchen/sensor offline bridge offline",
			"P z2m:kitchen/floor_light offline bridge offline",
		}},
		{"other/x", `{}`, []string{"NOTMINE"}},
	})
	runCommands(t, z, []cmdCase{
		{dev: "z2m:kitchen/floor_light", name: "state", args: `"ON"`, topic: "zigbee2mqtt/kitchen/floor_light/set", payload: `{"state":"ON"}`},
		{dev: "z2m:kitchen/floor_light", name: "set", args: `{"state":"ON","brightness":10}`, topic: "zigbee2mqtt/kitchen/floor_light/set", payload: `{"state":"ON","brightness":10}`},
		{dev: "z2m:kitchen/floor_light", name: "color_temp", args: `300`, err: devices.ErrUnknownCommand},
		{dev: "z2m:kitchen/sensor", name: "temperature", args: `1`, err: devices.ErrUnknownCommand},
		{dev: "z2m:bridge", name: "state", args: `"ON"`, err: devices.ErrUnknownDevice},
		{dev: "z2m:ghost", name: "state", args: `"ON"`, err: devices.ErrUnknownDevice},
	})
}
