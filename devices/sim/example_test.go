package sim_test

import (
	"context"
	"fmt"
	"time"

	"gatewayd/devices/sim"
)

type printer struct{}

func (printer) Publish(topic string, payload []byte, retained bool, qos byte) error {
	fmt.Printf("%s %s retained=%v\n", topic, payload, retained)
	return nil
}

func (printer) Subscribe(string, func(string, []byte)) error { return nil }

// Step drives the simulator on virtual time: the same seed and start always
// give the same messages.
func ExampleSimulator_Step() {
	s, err := sim.New(printer{}, &sim.Options{
		Tasmota:  1,
		Seed:     1,
		Start:    time.Date(2026, 6, 1, 15, 0, 0, 0, time.UTC),
		Interval: time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = s.Step(context.Background(), time.Date(2026, 6, 1, 15, 0, 0, 0, time.UTC))
	// Output:
	// tele/tasmota_00F300/LWT Online retained=true
	// tele/tasmota_00F300/STATE {"Time":"2026-06-01T15:00:00","Uptime":"0T00:00:00","UptimeSec":0,"POWER":"ON","Wifi":{"AP":1,"SSId":"sim","RSSI":88,"Signal":-56}} retained=false
	// tele/tasmota_00F300/SENSOR {"Time":"2026-06-01T15:00:00","BME280":{"Temperature":21.4,"Humidity":51.8,"DewPoint":11.1,"Pressure":1007.4},"PressureUnit":"hPa","TempUnit":"C"} retained=false
}
