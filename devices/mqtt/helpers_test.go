package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
)

// collector gathers a Source's updates.
type collector struct {
	mu  sync.Mutex
	ups []devices.Update
}

func (c *collector) emit(u devices.Update) {
	c.mu.Lock()
	c.ups = append(c.ups, u)
	c.mu.Unlock()
}

func (c *collector) snapshot() []devices.Update {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]devices.Update(nil), c.ups...)
}

func (c *collector) count(pred func(devices.Update) bool) int {
	n := 0
	for _, u := range c.snapshot() {
		if pred(u) {
			n++
		}
	}
	return n
}

// waitFor polls until an update satisfies pred.
func (c *collector) waitFor(t *testing.T, what string, pred func(devices.Update) bool) devices.Update {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, u := range c.snapshot() {
			if pred(u) {
				return u
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; got %d updates: %s", what, len(c.snapshot()), describe(c.snapshot()))
	return devices.Update{}
}

func describe(ups []devices.Update) string {
	var b strings.Builder
	for i, u := range ups {
		if i == 20 {
			b.WriteString("…")
			break
		}
		switch {
		case u.Reading != nil:
			fmt.Fprintf(&b, "[R %s %s %g %q] ", u.Reading.Device, u.Reading.Key, u.Reading.Value, u.Reading.Text)
		case u.Presence != nil:
			fmt.Fprintf(&b, "[P %s %v %s] ", u.Presence.Device, u.Presence.Online, u.Presence.Reason)
		case u.Meta != nil:
			fmt.Fprintf(&b, "[M %s] ", u.Meta.Device)
		}
	}
	return b.String()
}

func isReading(dev, key string, val float64) func(devices.Update) bool {
	return func(u devices.Update) bool {
		return u.Reading != nil && u.Reading.Device == dev && u.Reading.Key == key && u.Reading.Value == val
	}
}

func isState(dev, key, text string) func(devices.Update) bool {
	return func(u devices.Update) bool {
		return u.Reading != nil && u.Reading.Device == dev && u.Reading.Key == key && u.Reading.IsState && u.Reading.Text == text
	}
}

func isPresence(dev string, online bool, reason string) func(devices.Update) bool {
	return func(u devices.Update) bool {
		return u.Presence != nil && u.Presence.Device == dev && u.Presence.Online == online && (reason == "" || u.Presence.Reason == reason)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLogger logs through t.Log so failures show the source's story.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	// The broker's listener goroutines may still log a closed connection
	// after Run returned, and t.Log panics once the test has completed.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startSource runs a Source until the test ends and waits until it is ready.
func startSource(t *testing.T, o *mqtt.Options) (*mqtt.Source, *collector) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	s, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("source not ready")
	}
	return s, c
}

// embeddedSource starts a Source with the embedded broker on a random port.
func embeddedSource(t *testing.T, o *mqtt.Options) (*mqtt.Source, *collector, string) {
	t.Helper()
	if o == nil {
		o = &mqtt.Options{}
	}
	o.Mode = mqtt.ModeEmbedded
	o.Listen = "127.0.0.1:0"
	if o.GatewayID == "" {
		o.GatewayID = "test"
	}
	s, c := startSource(t, o)
	return s, c, "tcp://" + s.BrokerAddr()
}

// client connects a paho client for publishing as a device would.
func client(t *testing.T, broker, id string, clean bool) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(false).
		SetStore(mqtt.NewCopyStore())
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c paho.Client, topic string, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// strict reports whether missing services must fail tests.
func strict() bool { return os.Getenv("GATEWAYD_STRICT") != "" }

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if strict() {
		t.Fatalf(format+" (GATEWAYD_STRICT=1)", args...)
	}
	t.Skipf(format, args...)
}
