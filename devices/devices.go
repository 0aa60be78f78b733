// Package devices defines what every reading source produces: readings,
// presence changes and device metadata, and how commands travel back to a
// device. It knows nothing of Socket.IO or the store; sub-packages implement
// the sources (mqtt, gpio, sim).
package devices

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Reading is one normalised sample from a device: a numeric metric
// (temperature, power) or a state (ON/OFF, open/closed).
type Reading struct {
	// Device is the gateway-wide device id, e.g. "tasmota_A1B2C3" or "gpio".
	Device string
	// Key is the metric or state name within the device, e.g. "temperature".
	Key string
	// Time is when the sample was taken, in UTC.
	Time time.Time
	// Value holds a numeric sample; it is meaningless when IsState is true.
	Value float64
	// Text holds a state sample such as "ON" or "open"; set only when IsState.
	Text string
	// IsState tells a state sample from a numeric one.
	IsState bool
	// Unit is the unit of a numeric sample when known ("°C", "W"), else "".
	Unit string
}

// Presence reports a device going online or offline, with the reason.
type Presence struct {
	Device string
	Online bool
	// Reason says why the state changed: "lwt", "availability", "stale",
	// "broker lost", "birth", ...
	Reason string
	Time   time.Time
}

// Meta is what a source learned about a device: names, model, firmware,
// units per metric and the commands it accepts. Empty fields mean unknown.
type Meta struct {
	Device   string
	Name     string
	Model    string
	Firmware string
	// Source names the convention or driver, e.g. "tasmota", "zigbee2mqtt", "gpio".
	Source string
	// Units maps a metric key to its unit.
	Units map[string]string
	// Commands lists the command names the device accepts.
	Commands []string
}

// Update is one item of a source's output stream: exactly one of its
// pointer fields is set.
type Update struct {
	Reading  *Reading
	Presence *Presence
	Meta     *Meta
}

// Command asks a device to do something, e.g. Name "power" with Args "ON".
type Command struct {
	Device string
	Name   string
	// Args is the command's argument as JSON (a string, number, bool or object).
	Args json.RawMessage
}

// Source produces updates until ctx ends. Implementations call emit from
// their own goroutines and must not assume emit is fast; emit never blocks
// for long and is safe for concurrent use.
type Source interface {
	Run(ctx context.Context, emit func(Update)) error
}

// Commander is implemented by sources that can carry commands to devices.
type Commander interface {
	// SendCommand delivers cmd to its device. It returns ErrUnknownDevice if
	// the source does not own cmd.Device, and ErrUnknownCommand if the device
	// does not accept cmd.Name.
	SendCommand(ctx context.Context, cmd Command) error
}

// Errors returned by Commander implementations.
var (
	ErrUnknownDevice  = errors.New("devices: unknown device")
	ErrUnknownCommand = errors.New("devices: unknown command")
)
