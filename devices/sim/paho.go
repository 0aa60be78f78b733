package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// PahoOptions configures DialPaho. A nil *PahoOptions is not allowed: the
// broker URL is required.
type PahoOptions struct {
	// Broker is the broker URL, e.g. "tcp://127.0.0.1:1883". Required.
	Broker string
	// ClientID is the MQTT client id. Empty means "gatewayd-sim".
	ClientID string
	// Username and Password authenticate when set.
	Username, Password string
	// Timeout bounds each publish and subscribe. Zero means 10s.
	Timeout time.Duration
}

// Paho is a Publisher over a Paho MQTT client. It re-subscribes after every
// reconnect, since Paho drops subscriptions of clean sessions.
type Paho struct {
	c       mqtt.Client
	timeout time.Duration

	mu   sync.Mutex
	subs map[string]func(topic string, payload []byte)
}

var _ Publisher = (*Paho)(nil)

// DialPaho connects to the broker and returns a Publisher. It gives up when
// ctx ends.
func DialPaho(ctx context.Context, opts *PahoOptions) (*Paho, error) {
	if opts == nil || opts.Broker == "" {
		return nil, errors.New("sim: paho: broker URL required")
	}
	o := *opts
	if o.ClientID == "" {
		o.ClientID = "gatewayd-sim"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	p := &Paho{timeout: o.Timeout, subs: map[string]func(string, []byte){}}
	co := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		SetAutoReconnect(true).SetCleanSession(true).SetOrderMatters(false).
		SetOnConnectHandler(p.resubscribe)
	p.c = mqtt.NewClient(co)
	tok := p.c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		p.c.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("sim: paho: connect %s: %w", o.Broker, err)
	}
	return p, nil
}

func (p *Paho) wait(t mqtt.Token, what string) error {
	if !t.WaitTimeout(p.timeout) {
		return fmt.Errorf("sim: paho: %s timed out after %v", what, p.timeout)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("sim: paho: %s: %w", what, err)
	}
	return nil
}

// Publish sends one message and waits for the broker (QoS 1 and 2) or for
// the write (QoS 0).
func (p *Paho) Publish(topic string, payload []byte, retained bool, qos byte) error {
	return p.wait(p.c.Publish(topic, qos, retained, payload), "publish "+topic)
}

// Subscribe subscribes with QoS 1 and remembers the subscription for reconnects.
func (p *Paho) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	p.mu.Lock()
	p.subs[filter] = fn
	p.mu.Unlock()
	return p.wait(p.c.Subscribe(filter, 1, handler(fn)), "subscribe "+filter)
}

func handler(fn func(string, []byte)) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) { fn(m.Topic(), m.Payload()) }
}

// resubscribe runs on every (re)connect; on the first one the map is
// empty. It does not wait for the tokens: Paho's connect handler must not block.
func (p *Paho) resubscribe(c mqtt.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for f, fn := range p.subs {
		c.Subscribe(f, 1, handler(fn))
	}
}

// Close disconnects, letting in-flight messages finish for up to 250ms.
func (p *Paho) Close() {
	p.c.Disconnect(250)
}
