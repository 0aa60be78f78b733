package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gatewayd/devices/sim"
)

// runSimulate is `gatewayd simulate`: it publishes simulated devices of
// every convention to any MQTT broker (the gateway's own, or a board's
// Mosquitto) until interrupted, for demos, benchmarks and tests.
func runSimulate(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gatewayd simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	n := fs.Int("devices", 2, "devices of each convention (generic, Tasmota, Zigbee2MQTT, Shelly, ESPHome)")
	interval := fs.Duration("interval", 10*time.Second, "telemetry period of each device")
	dropout := fs.Float64("dropout", 0.002, "chance per device and period of going offline for a while")
	burst := fs.Float64("burst", 0.01, "chance per device and period of a burst of extra messages")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same devices and values")
	qos := fs.Int("qos", 1, "MQTT QoS of every publish (0 or 1)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 || *interval <= 0 || *qos < 0 || *qos > 1 {
		fmt.Fprintln(stderr, "gatewayd simulate: -devices must be at least 1, -interval positive, -qos 0 or 1")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	pub, err := sim.DialPaho(ctx, &sim.PahoOptions{Broker: *broker, ClientID: fmt.Sprintf("gatewayd-sim-%d", *seed)})
	if err != nil {
		fmt.Fprintln(stderr, "gatewayd simulate:", err)
		return 1
	}
	s, err := sim.New(pub, &sim.Options{Generic: *n, Tasmota: *n, Zigbee: *n, Shelly: *n, ESPHome: *n,
		Interval: *interval, DropoutProb: *dropout, BurstProb: *burst, Seed: *seed, QoS: byte(*qos), Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "gatewayd simulate:", err)
		return 2
	}
	log.Info("simulating", "devices", 5**n, "broker", *broker, "interval", *interval)
	if err := s.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "gatewayd simulate:", err)
		return 1
	}
	return 0
}
