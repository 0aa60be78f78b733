package convention_test

import (
	"testing"
	"time"

	"gatewayd/devices/mqtt/convention"
)

// benchConvention measures Handle on one realistic message and reports
// readings per second (normalised output, not messages).
func benchConvention(b *testing.B, c convention.Convention, prime [][2]string, topic, payload string) {
	for _, p := range prime {
		if _, err := c.Handle(p[0], []byte(p[1]), now); err != nil {
			b.Fatal(err)
		}
	}
	pl := []byte(payload)
	readings := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ups, err := c.Handle(topic, pl, now)
		if err != nil {
			b.Fatal(err)
		}
		readings += len(ups)
	}
	b.ReportMetric(float64(readings)/time.Since(start).Seconds(), "readings/s")
}

func BenchmarkHandle(b *testing.B) {
	b.Run("generic", func(b *testing.B) {
		benchConvention(b, convention.NewGeneric(convention.GenericOptions{}), nil,
			"devices/esp32-1/telemetry", `{"temperature":21.5,"humidity":40.2,"pressure":1013.1,"door":"open"}`)
	})
	b.Run("tasmota", func(b *testing.B) {
		tz, _ := convention.NewTasmota(convention.TasmotaOptions{Zone: time.UTC})
		benchConvention(b, tz, nil, "tele/kitchen/SENSOR",
			`{"Time":"2024-02-24T21:20:38","BME280":{"Temperature":21.1,"Humidity":44.7,"Pressure":1013.2},"PressureUnit":"hPa","TempUnit":"C"}`)
	})
	b.Run("zigbee2mqtt", func(b *testing.B) {
		benchConvention(b, convention.NewZigbee2MQTT(convention.Zigbee2MQTTOptions{}), [][2]string{{"zigbee2mqtt/bridge/devices", z2mDevices}},
			"zigbee2mqtt/kitchen/sensor", `{"temperature":27.34,"humidity":44.72,"linkquality":120,"battery":97}`)
	})
	b.Run("shelly-gen1", func(b *testing.B) {
		benchConvention(b, convention.NewShelly(convention.ShellyOptions{}), nil, "shellies/shellyplug-s-1/relay/0/power", `42.47`)
	})
	b.Run("shelly-gen2", func(b *testing.B) {
		benchConvention(b, convention.NewShelly(convention.ShellyOptions{}), nil, "shellyplus1pm-a1/events/rpc",
			`{"src":"shellyplus1pm-a1","dst":"shellyplus1pm-a1/events","method":"NotifyStatus","params":{"ts":1708810100.5,"switch:0":{"id":0,"apower":57.2,"current":0.25,"voltage":230.1}}}`)
	})
	b.Run("esphome", func(b *testing.B) {
		benchConvention(b, convention.NewESPHome(convention.ESPHomeOptions{}), [][2]string{{"node1/status", "online"}}, "node1/sensor/temperature/state", `21.5`)
	})
	b.Run("homie", func(b *testing.B) {
		benchConvention(b, convention.NewHomie(convention.HomieOptions{}), [][2]string{{"homie/car/engine/temperature/$datatype", "float"}, {"homie/car/engine/temperature/$unit", "°C"}},
			"homie/car/engine/temperature", `21.5`)
	})
	b.Run("homeassistant", func(b *testing.B) {
		benchConvention(b, convention.NewHomeAssistant(convention.HomeAssistantOptions{}), [][2]string{
			{"homeassistant/sensor/garden/temp/config", `{"stat_t":"garden/state","val_tpl":"{{ value_json.temperature }}","unit_of_meas":"°C","dev":{"ids":"g"}}`},
			{"homeassistant/sensor/garden/hum/config", `{"stat_t":"garden/state","val_tpl":"{{ value_json.humidity }}","unit_of_meas":"%","dev":{"ids":"g"}}`},
		}, "garden/state", `{"temperature":12.25,"humidity":81}`)
	})
}
