// Package gpio reads inputs (contacts, pulse meters) and drives outputs
// (relays) on GPIO lines through periph.io interfaces.
//
// Inputs report debounced state changes ("open"/"closed") or pulse counts
// (a rate per interval and a running total). Outputs are driven by commands;
// their state is the state the gateway last commanded, never read back from
// the pin, because reading an output line through the character-device
// driver turns it into an input. When Run ends every output goes to its safe
// state.
//
// Only host.go touches periph's host drivers; everything else works on
// gpio.PinIO, so tests inject periph's gpiotest pins.
package gpio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/devices"

	"periph.io/x/conn/v3/gpio"
)

// Source reads and drives the configured GPIO lines. It implements
// devices.Source and devices.Commander; SendCommand is safe for concurrent
// use while Run runs.
type Source struct {
	opts Options

	ran     atomic.Bool
	mu      sync.Mutex // guards running, emit and the outputs' state
	running bool
	emit    func(devices.Update)
	outs    []*output
}

type output struct {
	cfg Output
	pin gpio.PinOut
	on  bool // the commanded state
}

type input struct {
	cfg      Input
	pin      gpio.PinIn
	pull     gpio.Pull
	logical  gpio.Edge // counters: which logical edges count
	physical gpio.Edge // the edge asked of the driver
	count    atomic.Uint64
}

var (
	_ devices.Source    = (*Source)(nil)
	_ devices.Commander = (*Source)(nil)
)

// New checks opts (copied, then defaults filled) and returns a Source. It
// touches no hardware; Run opens the pins.
func New(opts *Options) (*Source, error) {
	o, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	return &Source{opts: o}, nil
}

// Meta describes the device: its outputs as commands and the units of its
// counters.
func (s *Source) Meta() devices.Meta {
	m := devices.Meta{Device: s.opts.Device, Name: "GPIO", Source: "gpio", Units: map[string]string{}}
	if len(s.opts.Outputs) > 0 {
		m.Commands = append(m.Commands, "set")
	}
	for _, o := range s.opts.Outputs {
		m.Commands = append(m.Commands, o.Name)
	}
	for _, in := range s.opts.Inputs {
		if in.Counter {
			m.Units[in.Name+"_total"] = in.Unit
			m.Units[in.Name+"_rate"] = rateUnit(in.Unit, in.RatePer)
		}
	}
	return m
}

func rateUnit(unit string, per time.Duration) string {
	switch per {
	case time.Second:
		return unit + "/s"
	case time.Minute:
		return unit + "/min"
	case time.Hour:
		return unit + "/h"
	}
	return unit + "/" + per.String()
}

// Run may be called once. It opens and configures the pins, emits the device's Meta and initial
// states, then reports input changes and counter rates until ctx ends.
// It then puts every output in its safe state and returns ctx's error, or
// the first error met while setting up or shutting down the pins.
func (s *Source) Run(ctx context.Context, emit func(devices.Update)) (err error) {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrRan
	}
	open := s.opts.Open
	if open == nil {
		if open, err = Host(&HostOptions{Logger: s.opts.Logger}); err != nil {
			return err
		}
	}
	ins := make([]*input, len(s.opts.Inputs))
	outs := make([]*output, len(s.opts.Outputs))
	for i, cfg := range s.opts.Inputs {
		p, err := open(cfg.Pin)
		if err != nil {
			return wrapPinErr(cfg.Pin, "open", err)
		}
		in := &input{cfg: cfg, pin: p}
		in.pull, _ = parsePull(cfg.Pull)
		in.logical, in.physical = gpio.BothEdges, gpio.BothEdges
		if cfg.Counter {
			in.logical, in.physical, _ = counterEdge(cfg.Edge, cfg.Invert)
		}
		ins[i] = in
	}
	for i, cfg := range s.opts.Outputs {
		p, err := open(cfg.Pin)
		if err != nil {
			return wrapPinErr(cfg.Pin, "open", err)
		}
		outs[i] = &output{cfg: cfg, pin: p}
	}

	now := s.opts.Clock.Now().UTC()
	meta := s.Meta()
	emit(devices.Update{Meta: &meta})

	s.mu.Lock()
	s.emit = emit
	s.mu.Unlock()
	// From here on, every output driven so far goes back to its safe state
	// on the way out, even when setting up a later pin fails.
	defer func() { err = errors.Join(err, s.shutdown()) }()
	s.mu.Lock()
	for _, o := range outs {
		on := o.cfg.Initial == "ON"
		if err := o.pin.Out(o.level(on)); err != nil {
			s.mu.Unlock()
			return wrapPinErr(o.cfg.Pin, "drive", err)
		}
		o.on = on
		s.outs = append(s.outs, o)
		emit(devices.Update{Reading: s.outputReading(o, now)})
	}
	s.running = true
	s.mu.Unlock()

	for _, in := range ins {
		if err := in.pin.In(in.pull, in.physical); err != nil {
			return wrapPinErr(in.cfg.Pin, "configure", err)
		}
	}
	emit(devices.Update{Presence: &devices.Presence{Device: s.opts.Device, Online: true, Reason: "started", Time: now}})

	var wg sync.WaitGroup
	for _, in := range ins {
		if in.cfg.Counter {
			wg.Go(func() { s.countEdges(ctx, in) })
			wg.Go(func() { s.reportCounts(ctx, in, emit) })
		} else {
			emit(devices.Update{Reading: s.stateReading(in, in.level(), now)})
			wg.Go(func() { s.watchState(ctx, in, emit) })
		}
	}
	<-ctx.Done()
	for _, in := range ins {
		// Halt unblocks a pending WaitForEdge on real lines; loops also
		// notice ctx within EdgeTimeout.
		_ = in.pin.Halt()
	}
	wg.Wait()
	emit(devices.Update{Presence: &devices.Presence{Device: s.opts.Device, Online: false, Reason: "stopped", Time: s.opts.Clock.Now().UTC()}})
	return ctx.Err()
}

// shutdown drives every output to its safe state and stops accepting commands.
func (s *Source) shutdown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	var errs []error
	now := s.opts.Clock.Now().UTC()
	for _, o := range s.outs {
		if o.cfg.Safe == "keep" {
			continue
		}
		on := o.cfg.Safe == "ON"
		if err := o.pin.Out(o.level(on)); err != nil {
			errs = append(errs, wrapPinErr(o.cfg.Pin, "set safe state on", err))
			continue
		}
		if o.on != on {
			o.on = on
			s.emit(devices.Update{Reading: s.outputReading(o, now)})
		}
	}
	return errors.Join(errs...)
}

func (o *output) level(on bool) gpio.Level { return gpio.Level(on != o.cfg.Invert) }

// level reads the input's logical level.
func (in *input) level() bool { return bool(in.pin.Read()) != in.cfg.Invert }

// waitEdge waits at most d (at least a millisecond: a zero or negative
// timeout means "forever" or "return at once" depending on the driver).
func (s *Source) waitEdge(in *input, d time.Duration) bool {
	d = max(min(d, s.opts.EdgeTimeout), time.Millisecond)
	return in.pin.WaitForEdge(d)
}

// watchState reports a state input's level once it has been stable for the
// debounce time, so a bouncing contact yields one change.
func (s *Source) watchState(ctx context.Context, in *input, emit func(devices.Update)) {
	reported := in.level()
	pending := false
	var lastEdge time.Time
	settle := func() {
		pending = false
		if lvl := in.level(); lvl != reported {
			reported = lvl
			emit(devices.Update{Reading: s.stateReading(in, lvl, s.opts.Clock.Now().UTC())})
		}
	}
	for ctx.Err() == nil {
		timeout := s.opts.EdgeTimeout
		if pending {
			left := in.cfg.Debounce - s.opts.Clock.Now().Sub(lastEdge)
			if left <= 0 {
				settle()
				continue
			}
			timeout = left
		}
		if !s.waitEdge(in, timeout) {
			continue
		}
		if in.cfg.Debounce <= 0 {
			settle()
			continue
		}
		lastEdge, pending = s.opts.Clock.Now(), true
	}
}

// countEdges counts the configured logical edges, ignoring any that follow
// the last counted one within the debounce time.
func (s *Source) countEdges(ctx context.Context, in *input) {
	var last time.Time
	counted := false
	for ctx.Err() == nil {
		if !s.waitEdge(in, s.opts.EdgeTimeout) {
			continue
		}
		high := in.level()
		// The driver reports only the asked edges, but a fake or a bounce
		// can deliver others; the level after the edge tells which it was.
		if (in.logical == gpio.RisingEdge && !high) || (in.logical == gpio.FallingEdge && high) {
			continue
		}
		now := s.opts.Clock.Now()
		if counted && in.cfg.Debounce > 0 && now.Sub(last) < in.cfg.Debounce {
			continue
		}
		last, counted = now, true
		in.count.Add(1)
	}
}

// reportCounts emits the counter's rate and total every Interval.
func (s *Source) reportCounts(ctx context.Context, in *input, emit func(devices.Update)) {
	lastTime := s.opts.Clock.Now()
	var lastCount uint64
	for {
		next := lastTime.Add(in.cfg.Interval)
		select {
		case <-ctx.Done():
			return
		case <-s.opts.Clock.After(next.Sub(s.opts.Clock.Now())):
		}
		now := s.opts.Clock.Now()
		n := in.count.Load()
		elapsed := now.Sub(lastTime)
		if elapsed <= 0 {
			continue
		}
		rate := float64(n-lastCount) * in.cfg.Scale * float64(in.cfg.RatePer) / float64(elapsed)
		t := now.UTC()
		emit(devices.Update{Reading: &devices.Reading{Device: s.opts.Device, Key: in.cfg.Name + "_rate", Time: t, Value: rate, Unit: rateUnit(in.cfg.Unit, in.cfg.RatePer)}})
		emit(devices.Update{Reading: &devices.Reading{Device: s.opts.Device, Key: in.cfg.Name + "_total", Time: t, Value: float64(n) * in.cfg.Scale, Unit: in.cfg.Unit}})
		lastTime, lastCount = now, n
	}
}

func (s *Source) stateReading(in *input, high bool, t time.Time) *devices.Reading {
	text := in.cfg.Inactive
	if high {
		text = in.cfg.Active
	}
	return &devices.Reading{Device: s.opts.Device, Key: in.cfg.Name, Time: t, Text: text, IsState: true}
}

func (s *Source) outputReading(o *output, t time.Time) *devices.Reading {
	text := "OFF"
	if o.on {
		text = "ON"
	}
	return &devices.Reading{Device: s.opts.Device, Key: o.cfg.Name, Time: t, Text: text, IsState: true}
}

// State returns the commanded state of the named output ("ON" or "OFF").
func (s *Source) State(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if o.cfg.Name == name {
			if o.on {
				return "ON", true
			}
			return "OFF", true
		}
	}
	return "", false
}

// SendCommand drives outputs. Name is an output's name with Args "ON",
// "OFF", "TOGGLE" (or true/false), or "set" with either such a value (when
// there is exactly one output) or an object mapping output names to values.
// Each changed output is reported as a state reading.
func (s *Source) SendCommand(ctx context.Context, cmd devices.Command) error {
	if cmd.Device != s.opts.Device {
		return fmt.Errorf("%w: %q", devices.ErrUnknownDevice, cmd.Device)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	want := map[string]json.RawMessage{}
	switch {
	case cmd.Name == "set":
		var obj map[string]json.RawMessage
		if json.Unmarshal(cmd.Args, &obj) == nil && obj != nil {
			want = obj
		} else if len(s.opts.Outputs) == 1 {
			want[s.opts.Outputs[0].Name] = cmd.Args
		} else {
			return fmt.Errorf("%w: set needs an object of output names when there are %d outputs", ErrBadArgs, len(s.opts.Outputs))
		}
	default:
		want[cmd.Name] = cmd.Args
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return ErrNotRunning
	}
	type change struct {
		o  *output
		on bool
	}
	var changes []change
	for name, arg := range want {
		var o *output
		for _, c := range s.outs {
			if c.cfg.Name == name {
				o = c
			}
		}
		if o == nil {
			return fmt.Errorf("%w: %q", devices.ErrUnknownCommand, name)
		}
		on, err := parseSwitch(arg, o.on)
		if err != nil {
			return fmt.Errorf("%w for %s: %w", ErrBadArgs, name, err)
		}
		changes = append(changes, change{o, on})
	}
	now := s.opts.Clock.Now().UTC()
	for _, c := range changes {
		if err := c.o.pin.Out(c.o.level(c.on)); err != nil {
			return wrapPinErr(c.o.cfg.Pin, "drive", err)
		}
		c.o.on = c.on
		// Report even an unchanged state: the caller wants confirmation.
		s.emit(devices.Update{Reading: s.outputReading(c.o, now)})
	}
	return nil
}

// parseSwitch reads an ON/OFF/TOGGLE argument (a JSON string, bool or 0/1).
func parseSwitch(arg json.RawMessage, cur bool) (bool, error) {
	var v any
	if err := json.Unmarshal(arg, &v); err != nil {
		return false, fmt.Errorf("argument %q is not JSON", truncate(string(arg)))
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToUpper(strings.TrimSpace(x)) {
		case "ON", "1", "TRUE":
			return true, nil
		case "OFF", "0", "FALSE":
			return false, nil
		case "TOGGLE":
			return !cur, nil
		}
	}
	return false, fmt.Errorf("argument %s is not ON, OFF or TOGGLE", truncate(string(arg)))
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// wrapPinErr adds the pin and operation to err and turns a permission
// failure into a *PermissionError that says which group to join.
func wrapPinErr(pin, op string, err error) error {
	var pe *PermissionError
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, fs.ErrPermission) {
		return &PermissionError{Path: pin, Err: err}
	}
	return fmt.Errorf("gpio: %s %s: %w", op, pin, err)
}
