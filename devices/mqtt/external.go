package mqtt

import (
	"context"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices/mqtt/convention"
)

// external is a persistent QoS 1 session with another broker through paho.
type external struct {
	s      *Source
	client paho.Client

	wg sync.WaitGroup // the connect loop

	mu      sync.Mutex
	filters []string // current subscription set, restored on every connect
}

func newExternal(s *Source) *external {
	e := &external{s: s}
	if s.o.NarrowSubscriptions {
		seen := map[string]bool{}
		for _, c := range s.convs {
			for _, f := range c.Filters() {
				if !seen[f] {
					seen[f] = true
					e.filters = append(e.filters, f)
				}
			}
		}
	} else {
		e.filters = []string{"#"}
	}
	o := paho.NewClientOptions().
		AddBroker(s.o.Broker).
		SetClientID(s.o.ClientID).
		SetUsername(s.o.Username).
		SetPassword(s.o.Password).
		// A persistent session: the broker queues QoS 1 messages while we
		// are away and delivers them when we come back.
		SetCleanSession(false).
		SetStore(newCopyStore()).
		SetKeepAlive(s.o.KeepAlive).
		SetConnectTimeout(s.o.ConnectTimeout).
		SetAutoReconnect(true).
		// The first connection is retried by connect (with backoff and a
		// log line per attempt); paho's own reconnect, also exponential,
		// takes over once connected.
		SetConnectRetry(false).
		SetMaxReconnectInterval(s.o.MaxReconnectInterval).
		SetOrderMatters(true).
		SetWill(s.o.StatusTopic, "offline", 1, true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if m.Topic() == s.o.StatusTopic {
				return
			}
			s.handle(m.Topic(), m.Payload(), m.Retained())
		}).
		SetOnConnectHandler(e.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.log.Warn("mqtt: connection to broker lost; devices are marked offline with reason \"broker lost\"", "broker", s.o.Broker, "err", err)
			s.linkUp.Store(false)
			s.brokerLost()
		}).
		SetReconnectingHandler(func(_ paho.Client, _ *paho.ClientOptions) {
			s.log.Info("mqtt: reconnecting to broker", "broker", s.o.Broker)
		})
	e.client = paho.NewClient(o)
	return e
}

// connect tries to connect in the background until it succeeds or ctx
// ends, doubling the wait between attempts up to MaxReconnectInterval.
func (e *external) connect(ctx context.Context) {
	s := e.s
	s.log.Info("mqtt: connecting to external broker", "broker", s.o.Broker, "client_id", s.o.ClientID, "status_topic", s.o.StatusTopic)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		wait := time.Second
		for attempt := 1; ; attempt++ {
			tok := e.client.Connect()
			select {
			case <-tok.Done():
			case <-ctx.Done():
				return
			}
			if tok.Error() == nil {
				return
			}
			s.log.Warn("mqtt: cannot connect to broker, retrying", "broker", s.o.Broker, "attempt", attempt, "retry_in", wait, "err", tok.Error())
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(wait*2, s.o.MaxReconnectInterval)
		}
	}()
}

// onConnect runs on every (re)connection: subscriptions are restored and the
// gateway's retained status is set to online.
func (e *external) onConnect(c paho.Client) {
	s := e.s
	e.mu.Lock()
	subs := make(map[string]byte, len(e.filters))
	for _, f := range e.filters {
		subs[f] = 1
	}
	e.mu.Unlock()
	for attempt := 1; ; attempt++ {
		tok := c.SubscribeMultiple(subs, nil)
		if tok.WaitTimeout(s.o.ConnectTimeout) && tok.Error() == nil {
			break
		}
		if !c.IsConnectionOpen() {
			return // the next connection retries
		}
		s.log.Error("mqtt: subscribing failed, retrying", "attempt", attempt, "err", tok.Error())
		time.Sleep(min(time.Duration(attempt)*time.Second, s.o.MaxReconnectInterval))
	}
	c.Publish(s.o.StatusTopic, 1, true, "online")
	s.linkUp.Store(true)
	s.log.Info("mqtt: connected to broker and subscribed", "broker", s.o.Broker, "filters", len(subs))
	s.markReady(s.o.Broker)
}

func (e *external) publish(ctx context.Context, m convention.Message) error {
	tok := e.client.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt: publish %s: %w", m.Topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *external) addFilters(fs []string) {
	if !e.s.o.NarrowSubscriptions {
		return
	}
	e.mu.Lock()
	e.filters = append(e.filters, fs...)
	e.mu.Unlock()
	subs := make(map[string]byte, len(fs))
	for _, f := range fs {
		subs[f] = 1
	}
	// Called from the message handler: never wait for the token here, the
	// handler goroutine is the one that would complete it.
	e.client.SubscribeMultiple(subs, nil)
}

func (e *external) addr() string { return e.s.o.Broker }

func (e *external) close() {
	e.wg.Wait() // Run cancelled ctx first, so the connect loop is ending
	if e.client.IsConnectionOpen() {
		// A clean disconnect suppresses the will, so say offline ourselves.
		e.client.Publish(e.s.o.StatusTopic, 1, true, "offline").WaitTimeout(time.Second)
	}
	e.client.Disconnect(250)
	e.s.log.Info("mqtt: disconnected from broker", "broker", e.s.o.Broker)
}
