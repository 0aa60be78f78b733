package gpio

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Errors of the gpio package. Config errors wrap ErrConfig.
var (
	// ErrConfig is wrapped by every configuration error New returns.
	ErrConfig = errors.New("gpio: bad configuration")
	// ErrPinName is wrapped when a pin name is not an allowed header line.
	ErrPinName = errors.New("gpio: pin not allowed")
	// ErrNoPin is returned when the host has no pin of the given name.
	ErrNoPin = errors.New("gpio: no such pin")
	// ErrPermission is wrapped (by *PermissionError) when the GPIO devices
	// cannot be opened for lack of rights.
	ErrPermission = errors.New("gpio: permission denied")
	// ErrBadArgs is returned by SendCommand for an argument it cannot read.
	ErrBadArgs = errors.New("gpio: bad command argument")
	// ErrNotRunning is returned by SendCommand before Run has set up the pins.
	ErrNotRunning = errors.New("gpio: source not running")
	// ErrRan is returned by a second call of Run.
	ErrRan = errors.New("gpio: Run already called")
)

// Opener resolves a pin name ("GPIO17") to a pin. Host returns the real one;
// tests pass a map of gpiotest pins.
type Opener func(name string) (gpio.PinIO, error)

// Clock is the time source of a Source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Input configures one input line, reported either as a state or as a
// pulse counter.
type Input struct {
	// Name is the reading key, e.g. "door" or "water". Required.
	Name string
	// Pin is the line name, e.g. "GPIO17". Required.
	Pin string
	// Pull is "up", "down" or "none". Empty means "up".
	Pull string
	// Invert swaps high and low before anything else sees the level, for
	// active-low contacts.
	Invert bool
	// Debounce is the software debounce. A state is reported once the line
	// has been quiet for this long; a counter ignores edges closer than this
	// to the last counted one. Zero means 50ms; negative disables it.
	Debounce time.Duration

	// Active and Inactive name the states of a state input for a (possibly
	// inverted) high and low level, e.g. "open" and "closed". Empty means
	// "ON" and "OFF".
	Active, Inactive string

	// Counter makes the input a pulse counter (a water or energy meter)
	// instead of a state input.
	Counter bool
	// Edge picks which edges of the (possibly inverted) level a counter
	// counts: "rising" (the pulse starts), "falling" or "both". Empty means
	// "rising". State inputs always watch both edges.
	Edge string
	// Interval is how often a counter reports "<name>_rate" and
	// "<name>_total". Zero means one minute.
	Interval time.Duration
	// Scale multiplies counts, e.g. 0.5 litres per pulse. Zero means 1.
	Scale float64
	// Unit is the unit of a scaled count, e.g. "L". Empty means "pulses".
	Unit string
	// RatePer is the time unit of the rate. Zero means one minute.
	RatePer time.Duration
}

// Output configures one output line (a relay), driven by commands.
type Output struct {
	// Name is the command and state key, e.g. "relay1". Required.
	Name string
	// Pin is the line name, e.g. "GPIO27". Required.
	Pin string
	// Invert drives the pin low for ON, for active-low relay boards.
	Invert bool
	// Initial is the state set when Run starts: "ON" or "OFF". Empty means
	// the Safe state, or "OFF" when Safe is "keep".
	Initial string
	// Safe is the state set when Run ends: "OFF", "ON", or "keep" to leave
	// the pin as it is. Empty means "OFF".
	Safe string
}

// Options configures a Source. A nil *Options means defaults, with no pins.
type Options struct {
	// Device is the device id of every reading. Empty means "gpio".
	Device string
	// Inputs and Outputs list the lines to use; a line may appear once.
	Inputs  []Input
	Outputs []Output
	// AllowPins lists extra line names allowed besides the 40-pin header's
	// GPIO0 to GPIO27 (higher lines on a Pi 5 drive on-board functions).
	AllowPins []string
	// Open resolves pin names. Nil means Host(nil), which initialises periph.
	Open Opener
	// EdgeTimeout bounds each WaitForEdge call so loops notice ctx ending.
	// Zero or negative means one second.
	EdgeTimeout time.Duration
	// Clock supplies time. Nil means the wall clock.
	Clock Clock
	// Logger receives warnings. Nil means slog.Default().
	Logger *slog.Logger
}

// ValidPinName reports whether name is one of the header lines GPIO0 to
// GPIO27, written without leading zeros, or is listed in extra.
func ValidPinName(name string, extra []string) bool {
	for _, e := range extra {
		if name == e {
			return true
		}
	}
	num, ok := strings.CutPrefix(name, "GPIO")
	if !ok || num == "" || (len(num) > 1 && num[0] == '0') {
		return false
	}
	n, err := strconv.Atoi(num)
	return err == nil && n >= 0 && n <= 27
}

func parsePull(s string) (gpio.Pull, error) {
	switch strings.ToLower(s) {
	case "", "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none", "float":
		return gpio.Float, nil
	}
	return 0, fmt.Errorf("%w: pull %q (want up, down or none)", ErrConfig, s)
}

// counterEdge parses a counter's logical edge and returns the kernel edge
// to ask for, taking inversion into account.
func counterEdge(s string, invert bool) (logical, physical gpio.Edge, err error) {
	switch strings.ToLower(s) {
	case "", "rising":
		logical = gpio.RisingEdge
	case "falling":
		logical = gpio.FallingEdge
	case "both":
		logical = gpio.BothEdges
	default:
		return 0, 0, fmt.Errorf("%w: edge %q (want rising, falling or both)", ErrConfig, s)
	}
	physical = logical
	if invert && logical != gpio.BothEdges {
		physical = gpio.RisingEdge + gpio.FallingEdge - logical
	}
	return logical, physical, nil
}

func parseOnOff(s, field string, allowKeep bool) (string, error) {
	switch u := strings.ToUpper(s); u {
	case "ON", "OFF":
		return u, nil
	case "KEEP":
		if allowKeep {
			return "keep", nil
		}
	}
	return "", fmt.Errorf("%w: %s %q (want ON or OFF)", ErrConfig, field, s)
}

// normalize copies opts, fills defaults and checks every field.
func normalize(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Inputs = append([]Input(nil), o.Inputs...)
	o.Outputs = append([]Output(nil), o.Outputs...)
	if o.Device == "" {
		o.Device = "gpio"
	}
	if o.EdgeTimeout <= 0 {
		o.EdgeTimeout = time.Second
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pins := map[string]string{}
	keys := map[string]bool{}
	usePin := func(pin, user string) error {
		if !ValidPinName(pin, o.AllowPins) {
			return fmt.Errorf("%w: %w: %q for %q (use GPIO0 to GPIO27, or list it in AllowPins)", ErrConfig, ErrPinName, pin, user)
		}
		if other, dup := pins[pin]; dup {
			return fmt.Errorf("%w: pin %s used by both %q and %q", ErrConfig, pin, other, user)
		}
		pins[pin] = user
		return nil
	}
	useKey := func(k string) error {
		if k == "" {
			return fmt.Errorf("%w: a line has no name", ErrConfig)
		}
		if keys[k] {
			return fmt.Errorf("%w: name %q used twice", ErrConfig, k)
		}
		keys[k] = true
		return nil
	}
	for i := range o.Inputs {
		in := &o.Inputs[i]
		if err := usePin(in.Pin, in.Name); err != nil {
			return o, err
		}
		if _, err := parsePull(in.Pull); err != nil {
			return o, err
		}
		if in.Debounce == 0 {
			in.Debounce = 50 * time.Millisecond
		}
		if in.Counter {
			if _, _, err := counterEdge(in.Edge, in.Invert); err != nil {
				return o, err
			}
			if err := useKey(in.Name + "_rate"); err != nil {
				return o, err
			}
			if err := useKey(in.Name + "_total"); err != nil {
				return o, err
			}
			if in.Interval <= 0 {
				in.Interval = time.Minute
			}
			if in.Scale == 0 {
				in.Scale = 1
			}
			if in.Unit == "" {
				in.Unit = "pulses"
			}
			if in.RatePer <= 0 {
				in.RatePer = time.Minute
			}
			continue
		}
		if in.Edge != "" && !strings.EqualFold(in.Edge, "both") {
			return o, fmt.Errorf("%w: state input %q watches both edges; edge %q is for counters", ErrConfig, in.Name, in.Edge)
		}
		if err := useKey(in.Name); err != nil {
			return o, err
		}
		if in.Active == "" {
			in.Active = "ON"
		}
		if in.Inactive == "" {
			in.Inactive = "OFF"
		}
		if in.Active == in.Inactive {
			return o, fmt.Errorf("%w: input %q has the same name %q for both states", ErrConfig, in.Name, in.Active)
		}
	}
	for i := range o.Outputs {
		out := &o.Outputs[i]
		if err := usePin(out.Pin, out.Name); err != nil {
			return o, err
		}
		if err := useKey(out.Name); err != nil {
			return o, err
		}
		if out.Name == "set" {
			return o, fmt.Errorf("%w: output name %q is reserved for the set command", ErrConfig, out.Name)
		}
		var err error
		if out.Safe == "" {
			out.Safe = "OFF"
		}
		if out.Safe, err = parseOnOff(out.Safe, "safe state of "+out.Name, true); err != nil {
			return o, err
		}
		if out.Initial == "" {
			out.Initial = out.Safe
			if out.Initial == "keep" {
				out.Initial = "OFF"
			}
		}
		if out.Initial, err = parseOnOff(out.Initial, "initial state of "+out.Name, false); err != nil {
			return o, err
		}
	}
	return o, nil
}
