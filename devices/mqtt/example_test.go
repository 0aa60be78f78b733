package mqtt_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
)

// A gateway's MQTT side: auto mode (an existing broker on 127.0.0.1:1883,
// else the embedded one on :1883), every convention on, readings printed.
func Example() {
	src, err := mqtt.New(&mqtt.Options{GatewayID: "pi-kitchen"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-src.Ready()
		// Commands go back through the same source.
		_ = src.SendCommand(ctx, devices.Command{Device: "tasmota:kitchen", Name: "POWER", Args: []byte(`"ON"`)})
	}()
	err = src.Run(ctx, func(u devices.Update) {
		if r := u.Reading; r != nil {
			log.Printf("%s %s = %v %s %s at %s", r.Device, r.Key, r.Value, r.Text, r.Unit, r.Time)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range src.BadPayloads() {
		log.Printf("bad payloads from %q: %d × %s", b.Device, b.Count, b.Reason)
	}
}
