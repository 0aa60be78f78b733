package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
)

// TestExternalMosquitto runs the source against the machine's broker on
// 127.0.0.1:1883 when one answers.
func TestExternalMosquitto(t *testing.T) {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:1883", time.Second)
	if err != nil {
		skipOrFail(t, "no MQTT broker answers on 127.0.0.1:1883: %v", err)
	}
	conn.Close()
	id := fmt.Sprintf("test-ext-%d", time.Now().UnixNano())
	s, col := startSource(t, &mqtt.Options{Mode: mqtt.ModeExternal, GatewayID: id, NarrowSubscriptions: true})
	if s.Mode() != mqtt.ModeExternal {
		t.Fatalf("mode %s", s.Mode())
	}
	dev := client(t, "tcp://127.0.0.1:1883", id+"-dev", true)
	publish(t, dev, "devices/"+id+"/telemetry", false, `{"v":42}`)
	col.waitFor(t, "reading through mosquitto", isReading(id, "v", 42))

	// Home Assistant discovery: the state topic is subscribed on demand.
	publish(t, dev, "homeassistant/sensor/"+id+"/t/config", false, `{"stat_t":"`+id+`/t","unit_of_meas":"°C","dev":{"ids":"`+id+`"}}`)
	col.waitFor(t, "discovery meta", func(u devices.Update) bool { return u.Meta != nil && u.Meta.Device == "ha:"+id })
	deadline := time.Now().Add(10 * time.Second)
	for col.count(isReading("ha:"+id, "t", 5)) == 0 && time.Now().Before(deadline) {
		publish(t, dev, id+"/t", false, "5")
		time.Sleep(100 * time.Millisecond)
	}
	col.waitFor(t, "discovered state topic", isReading("ha:"+id, "t", 5))

	// Commands travel through the external broker.
	got := make(chan paho.Message, 1)
	dev.Subscribe("devices/"+id+"/commands/+", 1, func(_ paho.Client, m paho.Message) { got <- m }).Wait()
	if err := s.SendCommand(context.Background(), devices.Command{Device: id, Name: "blink", Args: []byte(`3`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "3" {
			t.Fatalf("payload %q", m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command not delivered through mosquitto")
	}
}

// mosquittoProc is a private mosquitto on a random loopback port with
// persistence, so sessions survive its restarts.
type mosquittoProc struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func newMosquitto(t *testing.T) *mosquittoProc {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		skipOrFail(t, "mosquitto binary not found")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nlog_dest stderr\n", port, dir)
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to its own user, who cannot write here.
		conf += "user root\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mosquittoProc{t: t, bin: bin, dir: dir, port: port}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquittoProc) url() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

func (m *mosquittoProc) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", filepath.Join(m.dir, "mosquitto.conf"))
	log, _ := os.Create(filepath.Join(m.dir, "mosquitto.log"))
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.port), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	m.t.Fatalf("mosquitto did not start: %s", b)
}

// stop terminates this test's mosquitto (by its own process, never by name).
func (m *mosquittoProc) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// TestBrokerRestart stops and restarts a broker mid-stream: with QoS 1
// publishers and the source's persistent session nothing is lost, the
// subscriptions come back, and the outage shows as "broker lost".
func TestBrokerRestart(t *testing.T) {
	m := newMosquitto(t)
	s, col := startSource(t, &mqtt.Options{
		Mode: mqtt.ModeExternal, Broker: m.url(), GatewayID: "restart",
		MaxReconnectInterval: time.Second, RateLimit: -1,
	})
	pub := client(t, m.url(), "restart-pub", false)
	waitHealth := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for (s.Health() == nil) != want {
			if time.Now().After(deadline) {
				t.Fatalf("Health() = %v, want healthy %v", s.Health(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealth(true)

	const n = 200
	toks := make([]paho.Token, 0, n)
	send := func(i int) {
		toks = append(toks, pub.Publish("devices/r1/telemetry", 1, false, fmt.Sprintf(`{"seq":%d}`, i)))
	}
	for i := range n / 2 {
		send(i)
	}
	col.waitFor(t, "first half", isReading("r1", "seq", n/2-1))

	m.stop()
	col.waitFor(t, "broker lost", isPresence("r1", false, "broker lost"))
	if !errors.Is(s.Health(), mqtt.ErrBrokerDown) {
		t.Fatalf("Health() with the broker stopped = %v", s.Health())
	}
	// Published while the broker is down: paho keeps QoS 1 messages and
	// sends them once it is back.
	for i := n / 2; i < n*3/4; i++ {
		send(i)
	}
	m.start()
	for i := n * 3 / 4; i < n; i++ {
		send(i)
	}
	// A QoS 1 publisher whose write failed as the broker went away retries
	// (paho also keeps the message and resends it itself: duplicates are
	// allowed, losses are not).
	for i, tok := range toks {
		for attempt := 0; ; attempt++ {
			if tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
				break
			}
			if attempt == 5 {
				t.Fatalf("publish %d never acknowledged: %v", i, tok.Error())
			}
			tok = pub.Publish("devices/r1/telemetry", 1, false, fmt.Sprintf(`{"seq":%d}`, i))
		}
	}
	col.waitFor(t, "last message", isReading("r1", "seq", n-1))
	waitHealth(true)
	deadline := time.Now().Add(15 * time.Second)
	var missing []int
	for {
		missing = missing[:0]
		seen := map[float64]bool{}
		for _, u := range col.snapshot() {
			if u.Reading != nil && u.Reading.Device == "r1" && u.Reading.Key == "seq" {
				seen[u.Reading.Value] = true
			}
		}
		for i := range n {
			if !seen[float64(i)] {
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d messages lost across the restart: %v", len(missing), missing)
	}
	col.waitFor(t, "back online", func(u devices.Update) bool {
		return isPresence("r1", true, "data")(u) && col.count(isPresence("r1", false, "broker lost")) > 0
	})
}

// TestExternalStartsBeforeBroker starts the source while its broker is
// down: it keeps retrying and connects once the broker appears.
func TestExternalStartsBeforeBroker(t *testing.T) {
	m := newMosquitto(t)
	m.stop()
	s, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeExternal, Broker: m.url(), GatewayID: "late", Logger: testLogger(t), MaxReconnectInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, col.emit) }()
	defer func() { cancel(); <-done }()
	select {
	case <-s.Ready():
		t.Fatal("ready without a broker")
	case <-time.After(1500 * time.Millisecond):
	}
	if err := s.SendCommand(ctx, devices.Command{Device: "x", Name: "y"}); err == nil {
		t.Fatal("command accepted without a broker")
	}
	m.start()
	select {
	case <-s.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("never connected after the broker started")
	}
	dev := client(t, m.url(), "late-dev", true)
	publish(t, dev, "devices/late/telemetry", false, `{"v":1}`)
	col.waitFor(t, "reading", isReading("late", "v", 1))
}
