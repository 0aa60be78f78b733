package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"gatewayd/devices/sim"
)

// startBroker runs an embedded broker with an inline client on a loopback port.
func startBroker(t *testing.T) (*mochi.Server, string) {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "tcp://" + tcp.Address()
}

// inline adapts the broker's inline client to sim.Publisher, as the gateway does.
type inline struct {
	srv *mochi.Server
	id  atomic.Int32
}

func (p *inline) Publish(topic string, payload []byte, retained bool, qos byte) error {
	return p.srv.Publish(topic, payload, retained, qos)
}

func (p *inline) Subscribe(filter string, fn func(string, []byte)) error {
	return p.srv.Subscribe(filter, int(p.id.Add(1)), func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
}

// controller is a network client playing the gateway's command side.
type controller struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs map[string][]string
}

func newController(t *testing.T, url string) *controller {
	t.Helper()
	ctl := &controller{msgs: map[string][]string{}}
	ctl.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("ctl"))
	if tok := ctl.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("controller connect: %v", tok.Error())
	}
	t.Cleanup(func() { ctl.c.Disconnect(100) })
	tok := ctl.c.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		ctl.mu.Lock()
		ctl.msgs[m.Topic()] = append(ctl.msgs[m.Topic()], string(m.Payload()))
		ctl.mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("controller subscribe: %v", tok.Error())
	}
	return ctl
}

func (c *controller) wait(t *testing.T, topic string, match func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, p := range c.msgs[topic] {
			if match(p) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("no matching message on %s; have %v", topic, c.msgs[topic])
}

func (c *controller) send(t *testing.T, topic, payload string) {
	t.Helper()
	if tok := c.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func roundTrip(t *testing.T, pub sim.Publisher, url string) {
	ctl := newController(t, url)
	s, err := sim.New(pub, &sim.Options{Tasmota: 1, Shelly: 1, Seed: 4, Interval: 200 * time.Millisecond, SwitchProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tas, sh := s.Devices()[0].ID, s.Devices()[1].ID
	ctl.wait(t, "tele/"+tas+"/LWT", func(p string) bool { return p == "Online" })
	ctl.wait(t, "tele/"+tas+"/SENSOR", func(p string) bool { return json.Valid([]byte(p)) })
	ctl.send(t, "cmnd/"+tas+"/POWER", "ON")
	ctl.wait(t, "stat/"+tas+"/RESULT", func(p string) bool { return p == `{"POWER":"ON"}` })
	ctl.wait(t, "stat/"+tas+"/POWER", func(p string) bool { return p == "ON" })
	ctl.send(t, sh+"/rpc", `{"id":3,"src":"ctl-gw","method":"Switch.GetStatus","params":{"id":0}}`)
	ctl.wait(t, "ctl-gw/rpc", func(p string) bool { return strings.Contains(p, `"id":3`) && strings.Contains(p, `"result"`) })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
	ctl.wait(t, sh+"/online", func(p string) bool { return p == "false" })
}

func TestRoundTripOverPaho(t *testing.T) {
	_, url := startBroker(t)
	p, err := sim.DialPaho(context.Background(), &sim.PahoOptions{Broker: url, ClientID: "sim-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip(t, p, url)
}

func TestRoundTripOverInlineClient(t *testing.T) {
	srv, url := startBroker(t)
	roundTrip(t, &inline{srv: srv}, url)
}

func TestDialPahoErrors(t *testing.T) {
	if _, err := sim.DialPaho(context.Background(), nil); err == nil {
		t.Fatal("nil options accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	if _, err := sim.DialPaho(ctx, &sim.PahoOptions{Broker: "tcp://127.0.0.1:1"}); err == nil {
		t.Fatal("connected to a closed port")
	}
}
