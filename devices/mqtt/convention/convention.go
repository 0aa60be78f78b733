// Package convention turns the MQTT topic layouts that devices already speak
// (our generic one, Tasmota, Zigbee2MQTT, Shelly, ESPHome, Homie, Home
// Assistant discovery) into the normalised devices.Update stream, and turns
// devices.Command values back into the topic and payload each convention
// expects. Conventions are pure: they never touch a broker, so each one is
// testable from a table of topic/payload pairs.
package convention

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gatewayd/devices"
)

// Convention is one MQTT topic convention. Handle and Command may be called
// concurrently; implementations guard their own state.
type Convention interface {
	// Name is the convention's short name, also the device id prefix
	// ("tasmota", "z2m", ...); the generic convention's ids carry no prefix.
	Name() string
	// Filters are the MQTT topic filters whose messages the convention
	// understands.
	Filters() []string
	// Handle parses one message. It returns ErrNotMine when the message
	// matched a filter but belongs to something else, so the router can try
	// the next convention. Bad payloads come back as *BadPayloadError values
	// (possibly several, joined with errors.Join) next to whatever updates
	// could still be extracted.
	Handle(topic string, payload []byte, now time.Time) ([]devices.Update, error)
	// Command maps a command to the message that carries it. It returns
	// devices.ErrUnknownDevice or devices.ErrUnknownCommand when it cannot.
	Command(cmd devices.Command) (Message, error)
}

// Matcher is implemented by conventions whose topics cannot be described by
// a fixed set of filters (Home Assistant discovery learns state topics from
// config messages). The router then asks Matches instead of using Filters.
type Matcher interface {
	Matches(topic string) bool
}

// Claimer is implemented by conventions whose filters are wider than what
// they accept (ESPHome's +/+/+/state): Claims says whether a topic really is
// theirs, so Home Assistant discovery can leave it to them.
type Claimer interface {
	Claims(topic string) bool
}

// StaleHinter is implemented by conventions that know how long a device may
// stay silent before its data is stale (Home Assistant's expire_after); the
// source prefers the hint to the learned timeout.
type StaleHinter interface {
	StaleAfter(device string) (time.Duration, bool)
}

// Message is an outgoing MQTT message.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// ErrNotMine tells the router that a message matched a convention's filters
// but does not belong to it.
var ErrNotMine = errors.New("convention: message not for this convention")

// Reason classifies a bad payload for the per-device counters.
type Reason string

// Reasons a message is rejected.
const (
	ReasonNotJSON      Reason = "not_json"
	ReasonNotNumeric   Reason = "not_numeric"
	ReasonBadTime      Reason = "bad_timestamp"
	ReasonBadTopic     Reason = "bad_topic"
	ReasonBadValue     Reason = "bad_value"
	ReasonTopicTooLong Reason = "topic_too_long"
	ReasonTooLarge     Reason = "payload_too_large"
	ReasonRateLimited  Reason = "rate_limited"
)

// BadPayloadError describes one rejected message or value.
type BadPayloadError struct {
	// Device is the device id the message was attributed to ("" if unknown).
	Device string
	Reason Reason
	// Detail says what was wrong, for the log.
	Detail string
}

// Error describes the rejected payload.
func (e *BadPayloadError) Error() string {
	return fmt.Sprintf("convention: bad payload from %q (%s): %s", e.Device, e.Reason, e.Detail)
}

func bad(device string, r Reason, format string, args ...any) *BadPayloadError {
	return &BadPayloadError{Device: device, Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// BadPayloads lists the *BadPayloadError values inside err (which may be a
// single one or several joined with errors.Join).
func BadPayloads(err error) []*BadPayloadError {
	if err == nil {
		return nil
	}
	var out []*BadPayloadError
	var walk func(error)
	walk = func(e error) {
		if bp, ok := e.(*BadPayloadError); ok {
			out = append(out, bp)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// MatchTopic reports whether an MQTT topic filter (with + and #) matches
// topic. Wildcards in the first level do not match topics starting with '$'.
func MatchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		if filter == "#" {
			return true
		}
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore {
			return !tmore
		}
		if !tmore {
			// "a/#" also matches its parent "a".
			return frest == "#"
		}
		filter, topic = frest, trest
	}
}

// splitID returns the native id of a prefixed device id ("tasmota:kitchen"
// → "kitchen") if it carries prefix.
func splitID(id, prefix string) (string, bool) {
	p, rest, ok := strings.Cut(id, ":")
	if !ok || p != prefix || rest == "" {
		return "", false
	}
	return rest, true
}

// Time sanity bounds: readings stamped before MinTime or more than MaxSkew in
// the future are rejected as absurd (a device without a set clock, a bad unit).
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxSkew = time.Hour
)

func saneTime(t, now time.Time) bool {
	return !t.Before(MinTime) && !t.After(now.Add(MaxSkew))
}
