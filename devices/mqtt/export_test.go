package mqtt

import (
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
)

// Offline attaches emit to a Source without any broker, so tests and
// benchmarks can drive the router directly.
func (s *Source) Offline(emit func(devices.Update)) { s.emit = emit }

// Inject routes one message as if a broker had delivered it.
func (s *Source) Inject(topic string, payload []byte, retained bool) {
	s.handle(topic, payload, retained)
}

// CheckStale runs one staleness check at now.
func (s *Source) CheckStale(now time.Time) { s.checkStale(now) }

// BrokerLost simulates the loss of the broker connection.
func (s *Source) BrokerLost() { s.brokerLost() }

// Covers exposes the ACL filter check.
func Covers(rule, filter string) bool { return covers(rule, filter) }

// NewCopyStore returns the source's race-free paho store, for the tests'
// own publishers (paho's memory store races on resume, paho issue #703).
func NewCopyStore() paho.Store { return newCopyStore() }
