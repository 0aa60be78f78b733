package convention_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTasmota(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	tz, err := convention.NewTasmota(convention.TasmotaOptions{
		Zone:  berlin,
		Zones: map[string]*time.Location{"garage": time.UTC},
	})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, tz, []step{
		{"tele/kitchen/LWT", "Online", []string{"P tasmota:kitchen online lwt"}},
		{"tele/kitchen/INFO1", `{"Info1":{"Module":"Sonoff Basic","Version":"13.2.0(tasmota)","FallbackTopic":"cmnd/DVES_123/","GroupTopic":"cmnd/tasmotas/"}}`,
			[]string{"M tasmota:kitchen name= model=Sonoff Basic fw=13.2.0(tasmota) units= cmds=POWER"}},
		// Local time without offset, in the device's zone (CET = UTC+1 in February).
		{"tele/kitchen/SENSOR", `{"Time":"2024-02-24T22:20:38","DS18B20":{"Id":"01144A0CB2AA","Temperature":20.6},"TempUnit":"C"}`,
			[]string{"R tasmota:kitchen DS18B20.Temperature=20.6 °C @2024-02-24T21:20:38Z", "S tasmota:kitchen DS18B20.Id=01144A0CB2AA @2024-02-24T21:20:38Z"}},
		{"tele/kitchen/SENSOR", `{"Time":"2024-02-24T22:20:38","BME280":{"Temperature":70.1,"Humidity":44.7,"Pressure":1013.2},"PressureUnit":"hPa","TempUnit":"F"}`, []string{
			"R tasmota:kitchen BME280.Temperature=70.1 °F @2024-02-24T21:20:38Z",
			"R tasmota:kitchen BME280.Humidity=44.7 % @2024-02-24T21:20:38Z",
			"R tasmota:kitchen BME280.Pressure=1013.2 hPa @2024-02-24T21:20:38Z",
		}},
		{"tele/kitchen/SENSOR", `{"Time":"2024-02-24T22:20:38","ENERGY":{"TotalStartTime":"2024-01-01T00:00:00","Total":1.5,"Power":42,"Voltage":230}}`, []string{
			"R tasmota:kitchen ENERGY.Total=1.5 kWh @2024-02-24T21:20:38Z",
			"R tasmota:kitchen ENERGY.Power=42 W @2024-02-24T21:20:38Z",
			"R tasmota:kitchen ENERGY.Voltage=230 V @2024-02-24T21:20:38Z",
			"S tasmota:kitchen ENERGY.TotalStartTime=2024-01-01T00:00:00 @2024-02-24T21:20:38Z",
		}},
		// Device that reports an offset (SetOption52) and one with a per-device zone.
		{"tele/kitchen/SENSOR", `{"Time":"2024-02-24T22:20:38+02:00","AM2301":{"Humidity":50}}`, []string{"R tasmota:kitchen AM2301.Humidity=50 % @2024-02-24T20:20:38Z"}},
		{"tele/garage/SENSOR", `{"Time":"2024-02-24T22:20:38","AM2301":{"Humidity":50}}`, []string{"R tasmota:garage AM2301.Humidity=50 % @2024-02-24T22:20:38Z"}},
		{"tele/kitchen/STATE", `{"Time":"2024-02-24T22:20:38","Uptime":"0T00:10:11","UptimeSec":611,"Heap":25,"SleepMode":"Dynamic","POWER":"OFF","Wifi":{"AP":1,"SSId":"x","RSSI":44,"Signal":-78}}`, []string{
			"S tasmota:kitchen POWER=OFF @2024-02-24T21:20:38Z",
			"R tasmota:kitchen UptimeSec=611 s @2024-02-24T21:20:38Z",
			"R tasmota:kitchen Heap=25  @2024-02-24T21:20:38Z",
			"R tasmota:kitchen Wifi.RSSI=44 % @2024-02-24T21:20:38Z",
			"R tasmota:kitchen Wifi.Signal=-78 dBm @2024-02-24T21:20:38Z",
		}},
		{"stat/kitchen/RESULT", `{"POWER1":"ON"}`, []string{"S tasmota:kitchen POWER1=ON @" + nowS}},
		{"stat/kitchen/RESULT", `{"Command":"Unknown"}`, nil},
		{"stat/kitchen/POWER", `ON`, []string{"S tasmota:kitchen POWER=ON @" + nowS}},
		{"stat/kitchen/STATUS", `{"Status":{}}`, nil},
		// Malformed: not JSON, before NTP sync, non-numeric measurement, odd LWT.
		{"tele/kitchen/SENSOR", `Temperature=20`, []string{"B tasmota:kitchen not_json"}},
		{"tele/kitchen/SENSOR", `{"Time":"1970-01-01T00:00:12","DS18B20":{"Temperature":20.6}}`, []string{"B tasmota:kitchen bad_timestamp"}},
		{"tele/kitchen/SENSOR", `{"Time":"2024-02-24T22:20:38","DS18B20":{"Temperature":"n/a"}}`, []string{"B tasmota:kitchen not_numeric"}},
		{"stat/kitchen/POWER", `MAYBE`, []string{"B tasmota:kitchen bad_value"}},
		// A device reporting a fixed offset in STATUS7 is read in it...
		{"stat/attic/STATUS7", `{"StatusTIM":{"UTC":"2024-02-24T21:20:38","Local":"2024-02-24T23:20:38","StartDST":"","EndDST":"","Timezone":"+02:00","Sunrise":"07:05","Sunset":"17:50"}}`, nil},
		{"tele/attic/SENSOR", `{"Time":"2024-02-24T23:20:38","AM2301":{"Humidity":50}}`, []string{"R tasmota:attic AM2301.Humidity=50 % @2024-02-24T21:20:38Z"}},
		// ...until it says it follows DST rules (99): back to the configured zone.
		{"stat/attic/STATUS7", `{"StatusTIM":{"Timezone":99}}`, nil},
		{"tele/attic/SENSOR", `{"Time":"2024-02-24T22:20:38","AM2301":{"Humidity":51}}`, []string{"R tasmota:attic AM2301.Humidity=51 % @2024-02-24T21:20:38Z"}},
		{"stat/attic/STATUS7", `{"StatusTIM":`, []string{"B tasmota:attic not_json"}},
		{"tele/kitchen/LWT", "Offline", []string{"P tasmota:kitchen offline lwt"}},
		{"tele/kitchen/extra/LWT", "Offline", []string{"NOTMINE"}},
		{"other/kitchen/LWT", "Offline", []string{"NOTMINE"}},
	})
	runCommands(t, tz, []cmdCase{
		{dev: "tasmota:kitchen", name: "POWER", args: `"TOGGLE"`, topic: "cmnd/kitchen/POWER", payload: "TOGGLE"},
		{dev: "tasmota:kitchen", name: "Dimmer", args: `50`, topic: "cmnd/kitchen/Dimmer", payload: "50"},
		{dev: "tasmota:kitchen", name: "POWER", topic: "cmnd/kitchen/POWER", payload: ""},
		{dev: "tasmota:kitchen", name: "bad/name", err: devices.ErrUnknownCommand},
		{dev: "tasmota:nobody", name: "POWER", err: devices.ErrUnknownDevice},
		{dev: "z2m:kitchen", name: "POWER", err: devices.ErrUnknownDevice},
	})
}

func TestTasmotaFullTopic(t *testing.T) {
	tz, err := convention.NewTasmota(convention.TasmotaOptions{FullTopic: "tasmota/%topic%/%prefix%/", Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, tz, []step{
		{"tasmota/plug1/tele/LWT", "Online", []string{"P tasmota:plug1 online lwt"}},
		{"tasmota/plug1/stat/POWER", "OFF", []string{"S tasmota:plug1 POWER=OFF @" + nowS}},
		{"tele/plug1/LWT", "Online", []string{"NOTMINE"}},
	})
	runCommands(t, tz, []cmdCase{{dev: "tasmota:plug1", name: "POWER", args: `"ON"`, topic: "tasmota/plug1/cmnd/POWER", payload: "ON"}})
	if f := tz.Filters(); f[0] != "tasmota/+/tele/+" || f[1] != "tasmota/+/stat/+" {
		t.Errorf("filters %v", f)
	}
	for _, bad := range []string{"%prefix%/", "%topic%/", "%prefix%/%topic%/%hostname%/", "a+/%prefix%/%topic%/"} {
		if _, err := convention.NewTasmota(convention.TasmotaOptions{FullTopic: bad}); err == nil {
			t.Errorf("FullTopic %q accepted", bad)
		}
	}
}
