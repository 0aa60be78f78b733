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

// An embedded broker for an untrusted network: MQTT over TLS only, one
// account per device restricted to its own topics, and a Zigbee2MQTT bridge
// with explicit rights.
func Example_secured() {
	kitchen, err := mqtt.HashPassword("kitchen-secret") // or `gatewayd hash-password`
	if err != nil {
		log.Fatal(err)
	}
	bridge, err := mqtt.HashPassword("bridge-secret")
	if err != nil {
		log.Fatal(err)
	}
	src, err := mqtt.New(&mqtt.Options{
		Mode:      mqtt.ModeEmbedded,
		Listen:    mqtt.ListenOff,
		TLSListen: ":8883", TLSCert: "/etc/gatewayd/mqtt.crt", TLSKey: "/etc/gatewayd/mqtt.key",
		Users: []mqtt.User{
			// Defaults: publish devices/esp32-kitchen/#, tele/… and stat/…;
			// subscribe devices/esp32-kitchen/commands/# and cmnd/….
			{Username: "esp32-kitchen", PasswordHash: kitchen},
			{Username: "z2m", PasswordHash: bridge, Publish: []string{"zigbee2mqtt/#"}, Subscribe: []string{"zigbee2mqtt/+/set"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := src.Run(ctx, func(devices.Update) {}); err != nil {
		log.Fatal(err)
	}
}
