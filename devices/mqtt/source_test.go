package mqtt_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
	"gatewayd/devices/mqtt/convention"
)

func TestEmbeddedEndToEnd(t *testing.T) {
	_, col, broker := embeddedSource(t, nil)
	dev := client(t, broker, "esp32-1", true)
	publish(t, dev, "devices/esp32-1/status", true, "online")
	publish(t, dev, "devices/esp32-1/telemetry", false, `{"temperature":21.5,"door":"open"}`)
	publish(t, dev, "tele/kitchen/LWT", true, "Online")
	publish(t, dev, "tele/kitchen/SENSOR", false, `{"DS18B20":{"Temperature":19.5}}`)
	publish(t, dev, "zigbee2mqtt/hall/motion", false, `{"occupancy":true,"illuminance":42}`)
	publish(t, dev, "shellies/shellyht-1/sensor/humidity", false, `55`)
	publish(t, dev, "homie/car/$state", true, `ready`)
	publish(t, dev, "homie/car/engine/rpm", false, `900`)
	publish(t, dev, "node1/status", true, `online`)
	publish(t, dev, "node1/sensor/co2/state", false, `612`)

	col.waitFor(t, "generic presence", isPresence("esp32-1", true, "lwt"))
	col.waitFor(t, "generic reading", isReading("esp32-1", "temperature", 21.5))
	col.waitFor(t, "generic state", isState("esp32-1", "door", "open"))
	col.waitFor(t, "tasmota presence", isPresence("tasmota:kitchen", true, "lwt"))
	col.waitFor(t, "tasmota reading", isReading("tasmota:kitchen", "DS18B20.Temperature", 19.5))
	col.waitFor(t, "z2m reading", isReading("z2m:hall/motion", "illuminance", 42))
	col.waitFor(t, "z2m implicit presence", isPresence("z2m:hall/motion", true, "data"))
	col.waitFor(t, "shelly reading", isReading("shelly:shellyht-1", "sensor.humidity", 55))
	col.waitFor(t, "homie reading", isReading("homie:car", "engine.rpm", 900))
	col.waitFor(t, "esphome reading", isReading("esphome:node1", "co2", 612))
	u := col.waitFor(t, "reading time", isReading("esp32-1", "temperature", 21.5))
	if u.Reading.Time.Location() != time.UTC || time.Since(u.Reading.Time) > time.Minute {
		t.Errorf("reading time %v", u.Reading.Time)
	}
}

func TestGatewayStatusTopic(t *testing.T) {
	o := &mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: "127.0.0.1:0", GatewayID: "gw1", Logger: quietLogger()}
	s, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(devices.Update) {}) }()
	<-s.Ready()
	c := client(t, "tcp://"+s.BrokerAddr(), "watcher", true)
	got := make(chan string, 4)
	c.Subscribe("gatewayd/gw1/status", 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			got <- string(m.Payload())
		}
	}).Wait()
	select {
	case v := <-got:
		if v != "online" {
			t.Errorf("retained status %q, want online", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no retained gateway status")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	s, col, broker := embeddedSource(t, nil)
	dev := client(t, broker, "esp32-2", true)
	cmds := make(chan paho.Message, 8)
	if tok := dev.Subscribe("devices/esp32-2/commands/+", 1, func(_ paho.Client, m paho.Message) { cmds <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish(t, dev, "devices/esp32-2/meta", true, `{"name":"Relay box","commands":["relay"]}`)
	col.waitFor(t, "meta", func(u devices.Update) bool { return u.Meta != nil && u.Meta.Device == "esp32-2" })

	ctx := context.Background()
	if err := s.SendCommand(ctx, devices.Command{Device: "esp32-2", Name: "relay", Args: []byte(`"on"`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-cmds:
		if m.Topic() != "devices/esp32-2/commands/relay" || string(m.Payload()) != `"on"` {
			t.Fatalf("device got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command never reached the device")
	}
	// The device answers on the reply topic; the reply becomes a state reading.
	publish(t, dev, "devices/esp32-2/commands/relay/reply", false, `ok`)
	col.waitFor(t, "reply", isState("esp32-2", "reply.relay", "ok"))

	for _, c := range []struct {
		cmd  devices.Command
		want error
	}{
		{devices.Command{Device: "esp32-2", Name: "explode"}, devices.ErrUnknownCommand},
		{devices.Command{Device: "nobody", Name: "relay"}, devices.ErrUnknownDevice},
		{devices.Command{Device: "gpio:17", Name: "relay"}, devices.ErrUnknownDevice},
		{devices.Command{Device: "tasmota:never-seen", Name: "POWER"}, devices.ErrUnknownDevice},
	} {
		if err := s.SendCommand(ctx, c.cmd); !errors.Is(err, c.want) {
			t.Errorf("SendCommand(%+v) = %v, want %v", c.cmd, err, c.want)
		}
	}

	// Tasmota: a command goes to cmnd/<t>/<Cmd> and the device's answer on
	// stat/<t>/RESULT comes back as a reading.
	tas := make(chan paho.Message, 1)
	dev.Subscribe("cmnd/plug/+", 1, func(_ paho.Client, m paho.Message) { tas <- m }).Wait()
	publish(t, dev, "tele/plug/LWT", true, "Online")
	col.waitFor(t, "tasmota birth", isPresence("tasmota:plug", true, "lwt"))
	if err := s.SendCommand(ctx, devices.Command{Device: "tasmota:plug", Name: "POWER", Args: []byte(`"ON"`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-tas:
		if m.Topic() != "cmnd/plug/POWER" || string(m.Payload()) != "ON" || m.Retained() {
			t.Fatalf("tasmota got %s %q retained=%v", m.Topic(), m.Payload(), m.Retained())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tasmota command never arrived")
	}
	publish(t, dev, "stat/plug/RESULT", false, `{"POWER":"ON"}`)
	col.waitFor(t, "tasmota result", isState("tasmota:plug", "POWER", "ON"))
}

func TestBadPayloadsAreCountedAndIsolated(t *testing.T) {
	s, col, broker := embeddedSource(t, &mqtt.Options{MaxTopicLen: 64, RateLimit: 5, RateBurst: 10, Logger: quietLogger()})
	flood := client(t, broker, "flood", true)
	good := client(t, broker, "good", true)
	publish(t, flood, "devices/flood/telemetry", false, `not json`)
	publish(t, flood, "devices/flood/telemetry", false, `{"ts":12,"t":1}`)
	publish(t, flood, "devices/"+strings.Repeat("x", 80)+"/telemetry", false, `{"t":1}`)
	// A flood well above the limit: the excess is dropped and counted.
	for i := range 60 {
		flood.Publish("devices/flood/telemetry", 0, false, `{"n":`+strconv.Itoa(i)+`}`)
	}
	publish(t, flood, "devices/flood/telemetry", false, `{"last":1}`)
	publish(t, good, "devices/good/telemetry", false, `{"t":7}`)
	col.waitFor(t, "good device", isReading("good", "t", 7))

	counts := map[string]uint64{}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		counts = map[string]uint64{}
		for _, b := range s.BadPayloads() {
			counts[b.Device+"/"+string(b.Reason)] = b.Count
		}
		if counts["flood/rate_limited"] > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if counts["flood/not_json"] != 1 || counts["flood/bad_timestamp"] != 1 || counts["/topic_too_long"] != 1 {
		t.Errorf("counters %v", counts)
	}
	if counts["flood/rate_limited"] < 40 {
		t.Errorf("rate limited %d messages of a 60-message flood, want most of them (counters %v)", counts["flood/rate_limited"], counts)
	}
	n := col.count(func(u devices.Update) bool { return u.Reading != nil && u.Reading.Device == "flood" })
	if n > 15 {
		t.Errorf("%d flood readings passed a burst of 10", n)
	}
	if st := s.Stats(); st.Dropped == 0 || st.Messages < 60 {
		t.Errorf("stats %+v", st)
	}
}

func TestEmbeddedPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: ln.Addr().String(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background(), func(devices.Update) {})
	if !errors.Is(err, mqtt.ErrPortInUse) {
		t.Fatalf("Run = %v, want ErrPortInUse", err)
	}
	for _, want := range []string{ln.Addr().String(), "mqtt.mode", "external"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestAutoModeSelection(t *testing.T) {
	// Nothing answers on the probed address: the embedded broker starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	s1, _ := startSource(t, &mqtt.Options{Mode: mqtt.ModeAuto, Broker: "tcp://" + closed, Listen: "127.0.0.1:0", GatewayID: "auto1"})
	if s1.Mode() != mqtt.ModeEmbedded {
		t.Fatalf("auto with no broker chose %s", s1.Mode())
	}
	// A broker answers (s1's embedded one): the next source uses it as external.
	addr := s1.BrokerAddr()
	s2, col2 := startSource(t, &mqtt.Options{Mode: mqtt.ModeAuto, Broker: "tcp://" + addr, Listen: "127.0.0.1:0", GatewayID: "auto2"})
	if s2.Mode() != mqtt.ModeExternal {
		t.Fatalf("auto with a broker chose %s", s2.Mode())
	}
	c := client(t, "tcp://"+addr, "dev-auto", true)
	publish(t, c, "devices/auto/telemetry", false, `{"v":3}`)
	col2.waitFor(t, "reading through the external broker", isReading("auto", "v", 3))

	// Something that is not MQTT answers: auto does not take it for a broker.
	junk, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	go func() {
		for {
			conn, err := junk.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			conn.Close()
		}
	}()
	s3, _ := startSource(t, &mqtt.Options{Mode: mqtt.ModeAuto, Broker: "tcp://" + junk.Addr().String(), Listen: "127.0.0.1:0", GatewayID: "auto3"})
	if s3.Mode() != mqtt.ModeEmbedded {
		t.Fatalf("auto with a non-MQTT listener chose %s", s3.Mode())
	}
}

func TestPresenceStaleAndBrokerLost(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	s, err := mqtt.New(&mqtt.Options{Now: now, Logger: quietLogger(), StaleAfter: map[string]time.Duration{"fixed": 10 * time.Second, "never": -1}})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	s.Offline(col.emit)

	// A device reporting every 2 minutes: after 3 intervals its staleness
	// timeout is learned (3 × 2 min).
	for range 4 {
		s.Inject("devices/learn/telemetry", []byte(`{"t":1}`), false)
		advance(2 * time.Minute)
	}
	s.Inject("devices/fixed/telemetry", []byte(`{"t":1}`), false)
	s.Inject("devices/never/telemetry", []byte(`{"t":1}`), false)
	col.waitFor(t, "implicit online", isPresence("learn", true, "data"))

	states := map[string]mqtt.DeviceState{}
	for _, d := range s.Devices() {
		states[d.Device] = d
	}
	if st := states["learn"]; !st.Online || st.StaleAfter != 6*time.Minute || st.Reason != "data" {
		t.Fatalf("learn state %+v, want online with a learned 6m timeout", st)
	}
	if st := states["fixed"]; st.StaleAfter != 10*time.Second {
		t.Fatalf("fixed state %+v", st)
	}
	advance(4 * time.Minute) // 6 min since "learn"'s last data minus 2: still fresh
	s.CheckStale(now())
	if col.count(isPresence("learn", false, "stale")) != 0 {
		t.Fatal("learn marked stale too early")
	}
	if col.count(isPresence("fixed", false, "stale")) != 1 {
		t.Fatal("fixed (10s override) not marked stale after 4 minutes")
	}
	advance(3 * time.Minute)
	s.CheckStale(now())
	if col.count(isPresence("learn", false, "stale")) != 1 {
		t.Fatal("learn not stale after 7 minutes of silence")
	}
	if col.count(isPresence("never", false, "")) != 0 {
		t.Fatal("staleness disabled for never, yet marked offline")
	}
	// Data brings it back; retained data (replayed by the broker) does not.
	s.Inject("devices/learn/telemetry", []byte(`{"t":2}`), true)
	if col.count(isPresence("learn", true, "")) != 1 {
		t.Fatal("retained data revived a stale device")
	}
	s.Inject("devices/learn/telemetry", []byte(`{"t":3}`), false)
	col.waitFor(t, "revival", func(u devices.Update) bool {
		return isPresence("learn", true, "data")(u) && u.Presence.Time.Equal(now())
	})

	// Losing the broker is not the device's fault: the reason says so.
	s.Inject("devices/lwt/status", []byte("online"), true)
	s.BrokerLost()
	col.waitFor(t, "broker lost", isPresence("lwt", false, "broker lost"))
	col.waitFor(t, "broker lost", isPresence("learn", false, "broker lost"))
	// The retained birth replayed after reconnecting restores it.
	s.Inject("devices/lwt/status", []byte("online"), true)
	if col.count(isPresence("lwt", true, "lwt")) != 2 {
		t.Fatal("retained birth after reconnect did not restore presence")
	}
	// Duplicate presence is not re-emitted.
	s.Inject("devices/lwt/status", []byte("online"), true)
	if col.count(isPresence("lwt", true, "lwt")) != 2 {
		t.Fatal("duplicate presence emitted")
	}
}

func TestWebsocketListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wsAddr := ln.Addr().String()
	ln.Close()
	_, col, _ := embeddedSource(t, &mqtt.Options{WebsocketListen: wsAddr})
	var c paho.Client
	deadline := time.Now().Add(10 * time.Second)
	for {
		o := paho.NewClientOptions().AddBroker("ws://" + wsAddr + "/").SetClientID("ws-dev").SetConnectTimeout(time.Second)
		c = paho.NewClient(o)
		tok := c.Connect()
		if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("websocket connect: %v", tok.Error())
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Disconnect(50)
	publish(t, c, "devices/ws1/telemetry", false, `{"v":9}`)
	col.waitFor(t, "reading over websocket", isReading("ws1", "v", 9))

	// A taken websocket port is reported like a taken TCP port.
	s2, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: "127.0.0.1:0", WebsocketListen: wsAddr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background(), func(devices.Update) {}); !errors.Is(err, mqtt.ErrPortInUse) {
		t.Fatalf("Run with a taken websocket port = %v", err)
	}
	if s2.Mode() != "" || s2.BrokerAddr() != "" {
		t.Error("a failed source reports a mode or address")
	}
}

// countHandler counts log records by message.
type countHandler struct {
	mu   sync.Mutex
	msgs map[string]int
	last map[string][]slog.Attr
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	var as []slog.Attr
	r.Attrs(func(a slog.Attr) bool { as = append(as, a); return true })
	h.last[r.Message] = as
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func TestBadPayloadLogIsRateLimited(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	h := &countHandler{msgs: map[string]int{}, last: map[string][]slog.Attr{}}
	s, err := mqtt.New(&mqtt.Options{Now: now, Logger: slog.New(h), LogEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	s.Offline(col.emit)
	for range 100 {
		s.Inject("devices/noisy/telemetry", []byte("garbage"), false)
	}
	s.Inject("devices/other/telemetry", []byte("garbage"), false)
	const msg = "mqtt: bad payload dropped"
	h.mu.Lock()
	n := h.msgs[msg]
	h.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d log lines for 101 bad payloads from 2 devices, want 2", n)
	}
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	s.Inject("devices/noisy/telemetry", []byte("garbage"), false)
	h.mu.Lock()
	n = h.msgs[msg]
	var suppressed int64
	for _, a := range h.last[msg] {
		if a.Key == "suppressed_since_last" {
			suppressed = int64(a.Value.Uint64())
		}
	}
	h.mu.Unlock()
	if n != 3 || suppressed != 99 {
		t.Fatalf("after a minute: %d lines, suppressed %d; want 3 and 99", n, suppressed)
	}
	var got uint64
	for _, b := range s.BadPayloads() {
		if b.Device == "noisy" && b.Reason == convention.ReasonNotJSON {
			got = b.Count
		}
	}
	if got != 101 {
		t.Fatalf("counter %d, want 101", got)
	}
	if len(col.snapshot()) != 0 {
		t.Fatalf("garbage produced updates: %s", describe(col.snapshot()))
	}
}

// TestNativeConventionWinsOverDiscovery: a device that speaks ESPHome and
// Home Assistant discovery appears once, as esphome:, with the units its
// discovery configs give; a plain discovery device appears as ha:.
func TestNativeConventionWinsOverDiscovery(t *testing.T) {
	s, err := mqtt.New(&mqtt.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	s.Offline(col.emit)
	// Retained discovery arrives before the node's status, as a broker
	// replaying "#" in topic order would send it.
	s.Inject("homeassistant/sensor/attic/temp/config", []byte(`{"name":"Temp","unit_of_meas":"°C","stat_t":"attic/sensor/temp/state","avty_t":"attic/status","dev":{"ids":"aabb","name":"attic","sw":"esphome v2024.2.0","mdl":"esp32dev"}}`), true)
	s.Inject("homeassistant/sensor/garden/t/config", []byte(`{"unit_of_meas":"°C","stat_t":"garden/t","dev":{"ids":"g1","name":"Garden"}}`), true)
	s.Inject("attic/status", []byte("online"), true)
	s.Inject("attic/sensor/temp/state", []byte("17.5"), false)
	s.Inject("garden/t", []byte("9"), false)
	u := col.waitFor(t, "esphome reading", isReading("esphome:attic", "temp", 17.5))
	if u.Reading.Unit != "°C" {
		t.Errorf("esphome unit %q", u.Reading.Unit)
	}
	col.waitFor(t, "ha reading", isReading("ha:g1", "t", 9))
	for _, u := range col.snapshot() {
		dev := ""
		switch {
		case u.Reading != nil:
			dev = u.Reading.Device
		case u.Meta != nil:
			dev = u.Meta.Device
		case u.Presence != nil:
			dev = u.Presence.Device
		}
		if dev == "ha:aabb" || strings.HasPrefix(dev, "ha:attic") {
			t.Errorf("ESPHome device duplicated as %s", dev)
		}
	}
}

// TestExpireAfter: Home Assistant's expire_after sets the staleness timeout
// of the entity's device without waiting for intervals to be learned.
func TestExpireAfter(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s, err := mqtt.New(&mqtt.Options{Now: now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	s.Offline(col.emit)
	s.Inject("homeassistant/sensor/p/w/config", []byte(`{"stat_t":"p/w","unit_of_meas":"W","exp_aft":90,"dev":{"ids":"plug"}}`), true)
	s.Inject("p/w", []byte("12"), false)
	col.waitFor(t, "online", isPresence("ha:plug", true, "data"))
	mu.Lock()
	clock = clock.Add(80 * time.Second)
	mu.Unlock()
	s.CheckStale(now())
	if col.count(isPresence("ha:plug", false, "stale")) != 0 {
		t.Fatal("stale before expire_after")
	}
	mu.Lock()
	clock = clock.Add(20 * time.Second)
	mu.Unlock()
	s.CheckStale(now())
	col.waitFor(t, "stale after expire_after", isPresence("ha:plug", false, "stale"))
}

func TestPayloadTooLarge(t *testing.T) {
	s, col, broker := embeddedSource(t, &mqtt.Options{MaxPayload: 1000, Logger: quietLogger()})
	c := client(t, broker, "big", true)
	publish(t, c, "devices/big/telemetry", false, `{"pad":"`+strings.Repeat("x", 1200)+`"}`)
	publish(t, c, "devices/big/telemetry", false, `{"ok":1}`)
	col.waitFor(t, "small message after a big one", isReading("big", "ok", 1))
	var n uint64
	for _, b := range s.BadPayloads() {
		if b.Reason == convention.ReasonTooLarge {
			n += b.Count
		}
	}
	if n != 1 {
		t.Fatalf("payload_too_large counted %d times, want 1", n)
	}
}

// TestEmbeddedLastWill checks that a device's last will, which the broker
// publishes itself when the device's connection drops without DISCONNECT,
// reaches the router and marks the device offline.
func TestEmbeddedLastWill(t *testing.T) {
	s, col, _ := embeddedSource(t, nil)
	// Clean session, will QoS 1 retained on devices/w1/status with "offline".
	c := connectRaw(t, s.BrokerAddr(), 0x02|0x04|0x08|0x20, "w1", "devices/w1/status", "offline")
	defer c.Close()
	// A reading first, so the device is online by data.
	if _, err := c.Write(encodePublish(nil, "devices/w1/telemetry", []byte(`{"t":1}`))); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "reading", isReading("w1", "t", 1))
	col.waitFor(t, "online by data", isPresence("w1", true, ""))
	// Dropping the connection without DISCONNECT makes the broker send the will.
	c.Close()
	col.waitFor(t, "offline by will", isPresence("w1", false, "lwt"))
}
