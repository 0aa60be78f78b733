package gpio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"gatewayd/devices"
	dgpio "gatewayd/devices/gpio"
	"gatewayd/devices/internal/clock"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recPin wraps a fake pin, records every WaitForEdge timeout and counts
// reads, so tests can catch non-positive timeouts (which busy-loop or block
// forever on real drivers) and reads of output pins.
type recPin struct {
	*gpiotest.Pin
	mu       sync.Mutex
	calls    int
	bad      []time.Duration
	reads    int
	failWith error // returned by In and Out when set
}

func (p *recPin) WaitForEdge(d time.Duration) bool {
	p.mu.Lock()
	p.calls++
	if d <= 0 {
		p.bad = append(p.bad, d)
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	return p.Pin.WaitForEdge(d)
}

func (p *recPin) Read() gpio.Level {
	p.mu.Lock()
	p.reads++
	p.mu.Unlock()
	return p.Pin.Read()
}

func (p *recPin) In(pull gpio.Pull, e gpio.Edge) error {
	if p.failWith != nil {
		return p.failWith
	}
	return p.Pin.In(pull, e)
}

func (p *recPin) Out(l gpio.Level) error {
	if p.failWith != nil {
		return p.failWith
	}
	return p.Pin.Out(l)
}

func (p *recPin) level() gpio.Level {
	p.Pin.Lock()
	defer p.Pin.Unlock()
	return p.Pin.L
}

func (p *recPin) numCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// rig runs a Source on fake pins and records what it emits.
type rig struct {
	t      *testing.T
	pins   map[string]*recPin
	clk    *clock.Fake
	src    *dgpio.Source
	cancel context.CancelFunc
	done   chan error

	mu  sync.Mutex
	ups []devices.Update
}

func newRig(t *testing.T, opts dgpio.Options) *rig {
	t.Helper()
	r := &rig{t: t, pins: map[string]*recPin{}, clk: clock.NewFake(start), done: make(chan error, 1)}
	for _, in := range opts.Inputs {
		r.pins[in.Pin] = newPin(in.Pin)
	}
	for _, o := range opts.Outputs {
		r.pins[o.Pin] = newPin(o.Pin)
	}
	if opts.Open == nil {
		opts.Open = func(name string) (gpio.PinIO, error) {
			if p, ok := r.pins[name]; ok {
				return p, nil
			}
			return nil, fmt.Errorf("no pin %s", name)
		}
	}
	if opts.Clock == nil {
		opts.Clock = r.clk
	}
	if opts.EdgeTimeout == 0 {
		opts.EdgeTimeout = 5 * time.Millisecond
	}
	src, err := dgpio.New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	r.src = src
	t.Cleanup(func() {
		r.stop()
		for name, p := range r.pins {
			p.mu.Lock()
			if len(p.bad) > 0 {
				t.Errorf("%s: WaitForEdge called with non-positive timeouts %v", name, p.bad)
			}
			p.mu.Unlock()
		}
	})
	return r
}

func newPin(name string) *recPin {
	return &recPin{Pin: &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 32), Clock: clockwork.NewRealClock()}}
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.src.Run(ctx, r.record) }()
	r.waitFor("presence online", func(u devices.Update) bool { return u.Presence != nil && u.Presence.Online })
}

func (r *rig) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (r *rig) record(u devices.Update) {
	r.mu.Lock()
	r.ups = append(r.ups, u)
	r.mu.Unlock()
}

func (r *rig) updates() []devices.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]devices.Update(nil), r.ups...)
}

// readings returns the readings with key, in order.
func (r *rig) readings(key string) []devices.Reading {
	var out []devices.Reading
	for _, u := range r.updates() {
		if u.Reading != nil && u.Reading.Key == key {
			out = append(out, *u.Reading)
		}
	}
	return out
}

func (r *rig) waitFor(what string, match func(devices.Update) bool) devices.Update {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, u := range r.updates() {
			if match(u) {
				return u
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s; got %+v", what, r.updates())
	return devices.Update{}
}

// settle waits until the pin's loop has consumed every queued edge and come
// back to wait again, so all edges are processed.
func (r *rig) settle(p *recPin) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(p.EdgesChan) > 0 {
		if time.Now().After(deadline) {
			r.t.Fatal("edges never consumed")
		}
		time.Sleep(time.Millisecond)
	}
	n := p.numCalls()
	for p.numCalls() < n+2 {
		if time.Now().After(deadline) {
			r.t.Fatal("input loop stuck")
		}
		time.Sleep(time.Millisecond)
	}
}

func stateReading(key, text string) func(devices.Update) bool {
	return func(u devices.Update) bool {
		return u.Reading != nil && u.Reading.Key == key && u.Reading.IsState && u.Reading.Text == text
	}
}

func TestStateDebounceReportsOneChange(t *testing.T) {
	r := newRig(t, dgpio.Options{Inputs: []dgpio.Input{{
		Name: "door", Pin: "GPIO17", Active: "open", Inactive: "closed", Debounce: 100 * time.Millisecond,
	}}})
	r.start()
	// The pull-up makes the idle line high: "open".
	r.waitFor("initial open", stateReading("door", "open"))
	p := r.pins["GPIO17"]
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		p.EdgesChan <- l
	}
	r.settle(p)
	if got := r.readings("door"); len(got) != 1 {
		t.Fatalf("state reported before the debounce time passed: %+v", got)
	}
	r.clk.Advance(100 * time.Millisecond)
	r.waitFor("closed", stateReading("door", "closed"))
	r.settle(p)
	got := r.readings("door")
	if len(got) != 2 || got[1].Text != "closed" || !got[1].Time.Equal(start.Add(100*time.Millisecond)) {
		t.Fatalf("readings %+v, want open then one closed at +100ms", got)
	}
	// A bounce that ends where it started reports nothing.
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.Low
	r.settle(p)
	r.clk.Advance(time.Second)
	r.settle(p)
	if got := r.readings("door"); len(got) != 2 {
		t.Fatalf("a bounce back to the same level was reported: %+v", got)
	}
}

func TestInversionAndNoDebounce(t *testing.T) {
	r := newRig(t, dgpio.Options{Device: "board", Inputs: []dgpio.Input{{
		Name: "button", Pin: "GPIO5", Invert: true, Debounce: -1,
	}}})
	r.start()
	// Pulled up and inverted: idle is logical low, "OFF".
	u := r.waitFor("initial OFF", stateReading("button", "OFF"))
	if u.Reading.Device != "board" {
		t.Fatalf("device %q, want board", u.Reading.Device)
	}
	r.pins["GPIO5"].EdgesChan <- gpio.Low
	r.waitFor("pressed", stateReading("button", "ON"))
}

func TestCounterRateAndTotal(t *testing.T) {
	r := newRig(t, dgpio.Options{Inputs: []dgpio.Input{{
		Name: "water", Pin: "GPIO6", Counter: true, Debounce: -1, Scale: 0.5, Unit: "L", Interval: time.Minute,
	}}})
	r.start()
	p := r.pins["GPIO6"]
	for i := range 10 {
		p.EdgesChan <- gpio.Level(i%2 == 1) // L H L H ...: five rising edges
	}
	r.settle(p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Minute)
	r.waitFor("first total", func(u devices.Update) bool { return u.Reading != nil && u.Reading.Key == "water_total" })
	rate, total := r.readings("water_rate"), r.readings("water_total")
	if rate[0].Value != 2.5 || rate[0].Unit != "L/min" || total[0].Value != 2.5 || total[0].Unit != "L" {
		t.Fatalf("rate %+v total %+v, want 2.5 L/min and 2.5 L", rate[0], total[0])
	}
	for i := range 4 {
		p.EdgesChan <- gpio.Level(i%2 == 1)
	}
	r.settle(p)
	if err := r.clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Minute)
	r.waitFor("second total", func(u devices.Update) bool {
		return u.Reading != nil && u.Reading.Key == "water_total" && u.Reading.Value == 3.5
	})
	if rate := r.readings("water_rate"); rate[1].Value != 1 {
		t.Fatalf("second rate %v, want 1 L/min", rate[1].Value)
	}
	m := r.src.Meta()
	if m.Units["water_rate"] != "L/min" || m.Units["water_total"] != "L" {
		t.Fatalf("meta units %v", m.Units)
	}
}

func TestCounterDebounceAndFallingEdge(t *testing.T) {
	r := newRig(t, dgpio.Options{Inputs: []dgpio.Input{{
		Name: "meter", Pin: "GPIO6", Counter: true, Edge: "falling", Debounce: 50 * time.Millisecond, Interval: time.Minute,
	}}})
	r.start()
	p := r.pins["GPIO6"]
	// Bouncing contact at one instant: only the first falling edge counts.
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		p.EdgesChan <- l
	}
	r.settle(p)
	r.clk.Advance(60 * time.Millisecond)
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.Low
	r.settle(p)
	r.clk.Advance(time.Minute - 60*time.Millisecond)
	u := r.waitFor("total", func(u devices.Update) bool { return u.Reading != nil && u.Reading.Key == "meter_total" })
	if u.Reading.Value != 2 || u.Reading.Unit != "pulses" {
		t.Fatalf("total %+v, want 2 pulses", u.Reading)
	}
}

func TestOutputsCommandsAndSafeState(t *testing.T) {
	r := newRig(t, dgpio.Options{Outputs: []dgpio.Output{
		{Name: "relay1", Pin: "GPIO27"},
		{Name: "relay2", Pin: "GPIO22", Invert: true, Safe: "ON"},
		{Name: "pump", Pin: "GPIO23", Safe: "keep"},
	}})
	r.start()
	p1, p2, p3 := r.pins["GPIO27"], r.pins["GPIO22"], r.pins["GPIO23"]
	// Initial state is the safe state (keep → OFF).
	if p1.level() != gpio.Low || p2.level() != gpio.Low || p3.level() != gpio.Low {
		t.Fatalf("initial levels %v %v %v, want Low, Low (inverted ON), Low", p1.level(), p2.level(), p3.level())
	}
	if s, _ := r.src.State("relay2"); s != "ON" {
		t.Fatalf("relay2 state %q, want ON", s)
	}
	ctx := context.Background()
	send := func(name, args string) error {
		return r.src.SendCommand(ctx, devices.Command{Device: "gpio", Name: name, Args: json.RawMessage(args)})
	}
	if err := send("relay1", `"ON"`); err != nil {
		t.Fatal(err)
	}
	if p1.level() != gpio.High {
		t.Fatal("relay1 ON did not drive the pin high")
	}
	r.waitFor("relay1 ON", stateReading("relay1", "ON"))
	if err := send("relay1", `"toggle"`); err != nil || p1.level() != gpio.Low {
		t.Fatalf("toggle: %v, level %v", err, p1.level())
	}
	if err := send("set", `{"relay2":false,"pump":"ON"}`); err != nil {
		t.Fatal(err)
	}
	if p2.level() != gpio.High || p3.level() != gpio.High {
		t.Fatalf("set object: relay2 %v (inverted OFF = High), pump %v", p2.level(), p3.level())
	}
	for _, c := range []struct {
		dev, name, args string
		want            error
	}{
		{"gpio", "set", `"ON"`, dgpio.ErrBadArgs},
		{"gpio", "relay1", `"MAYBE"`, dgpio.ErrBadArgs},
		{"gpio", "relay1", `{`, dgpio.ErrBadArgs},
		{"gpio", "relay9", `"ON"`, devices.ErrUnknownCommand},
		{"gpio", "set", `{"relay9":"ON"}`, devices.ErrUnknownCommand},
		{"other", "relay1", `"ON"`, devices.ErrUnknownDevice},
	} {
		err := r.src.SendCommand(ctx, devices.Command{Device: c.dev, Name: c.name, Args: json.RawMessage(c.args)})
		if !errors.Is(err, c.want) {
			t.Errorf("%s %s %s: err %v, want %v", c.dev, c.name, c.args, err, c.want)
		}
	}
	if p1.level() != gpio.Low {
		t.Fatal("a rejected command changed relay1")
	}
	if err := r.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	// Safe states: relay1 OFF (Low), relay2 ON (inverted: Low), pump kept ON.
	if p1.level() != gpio.Low || p2.level() != gpio.Low || p3.level() != gpio.High {
		t.Fatalf("after shutdown %v %v %v, want Low Low High", p1.level(), p2.level(), p3.level())
	}
	if got := r.readings("relay2"); got[len(got)-1].Text != "ON" {
		t.Fatalf("safe state not reported: %+v", got)
	}
	if err := send("relay1", `"ON"`); !errors.Is(err, dgpio.ErrNotRunning) {
		t.Fatalf("command after Run: %v", err)
	}
	for _, p := range []*recPin{p1, p2, p3} {
		if p.reads != 0 {
			t.Errorf("%s: output pin read back %d times", p.N, p.reads)
		}
	}
}

func TestSetWithSingleOutput(t *testing.T) {
	r := newRig(t, dgpio.Options{Outputs: []dgpio.Output{{Name: "relay", Pin: "GPIO4", Initial: "ON"}}})
	r.start()
	if r.pins["GPIO4"].level() != gpio.High {
		t.Fatal("Initial ON not applied")
	}
	if err := r.src.SendCommand(context.Background(), devices.Command{Device: "gpio", Name: "set", Args: json.RawMessage(`"OFF"`)}); err != nil {
		t.Fatal(err)
	}
	if r.pins["GPIO4"].level() != gpio.Low {
		t.Fatal("set OFF not applied")
	}
	m := r.src.Meta()
	if strings.Join(m.Commands, ",") != "set,relay" {
		t.Fatalf("commands %v", m.Commands)
	}
}

func TestNeverWaitsWithNonPositiveTimeout(t *testing.T) {
	// Negative settings must not reach WaitForEdge: -1 busy-loops on the
	// character-device driver and blocks forever on the fake.
	r := newRig(t, dgpio.Options{EdgeTimeout: -1, Inputs: []dgpio.Input{
		{Name: "a", Pin: "GPIO2", Debounce: time.Millisecond},
		{Name: "b", Pin: "GPIO3", Counter: true, Debounce: -1},
	}})
	r.start()
	a := r.pins["GPIO2"]
	a.EdgesChan <- gpio.Low
	// Debounce left shrinks to zero or below as the clock moves on.
	r.clk.Advance(time.Millisecond / 2)
	r.settle(a)
	r.clk.Advance(time.Millisecond)
	r.waitFor("a OFF", stateReading("a", "OFF"))
	r.pins["GPIO3"].EdgesChan <- gpio.High
	r.settle(r.pins["GPIO3"])
	r.stop()
	for _, p := range r.pins {
		if p.numCalls() == 0 {
			t.Fatalf("%s never waited for an edge", p.N)
		}
	}
	// newRig's cleanup fails the test on any non-positive timeout; check a
	// deliberate one is caught so the guard itself is known to work.
	probe := newPin("GPIO9")
	probe.WaitForEdge(-1)
	if len(probe.bad) != 1 {
		t.Fatal("recorder missed a negative timeout")
	}
}

func TestPinNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"GPIO0": true, "GPIO17": true, "GPIO27": true,
		"GPIO28": false, "GPIO46": false, "GPIO017": false, "gpio17": false, "GPIO": false,
		"GPIO-1": false, "17": false, "P1_11": false, "GPIO1x": false,
	} {
		if got := dgpio.ValidPinName(name, nil); got != ok {
			t.Errorf("ValidPinName(%q) = %v, want %v", name, got, ok)
		}
	}
	if !dgpio.ValidPinName("GPIO28", []string{"GPIO28"}) {
		t.Error("AllowPins not honoured")
	}
	_, err := dgpio.New(&dgpio.Options{Inputs: []dgpio.Input{{Name: "fan", Pin: "GPIO45"}}})
	if !errors.Is(err, dgpio.ErrPinName) || !errors.Is(err, dgpio.ErrConfig) {
		t.Fatalf("GPIO45: %v", err)
	}
	if _, err := dgpio.New(&dgpio.Options{AllowPins: []string{"GPIO45"}, Inputs: []dgpio.Input{{Name: "fan", Pin: "GPIO45"}}}); err != nil {
		t.Fatalf("allowed GPIO45: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, o := range map[string]dgpio.Options{
		"dup pin":       {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1"}}, Outputs: []dgpio.Output{{Name: "b", Pin: "GPIO1"}}},
		"dup name":      {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1"}, {Name: "a", Pin: "GPIO2"}}},
		"no name":       {Inputs: []dgpio.Input{{Pin: "GPIO1"}}},
		"bad pull":      {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1", Pull: "sideways"}}},
		"bad edge":      {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1", Counter: true, Edge: "up"}}},
		"state edge":    {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1", Edge: "rising"}}},
		"same states":   {Inputs: []dgpio.Input{{Name: "a", Pin: "GPIO1", Active: "x", Inactive: "x"}}},
		"bad safe":      {Outputs: []dgpio.Output{{Name: "r", Pin: "GPIO1", Safe: "maybe"}}},
		"bad initial":   {Outputs: []dgpio.Output{{Name: "r", Pin: "GPIO1", Initial: "keep"}}},
		"reserved name": {Outputs: []dgpio.Output{{Name: "set", Pin: "GPIO1"}}},
	} {
		if _, err := dgpio.New(&o); !errors.Is(err, dgpio.ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	if _, err := dgpio.New(nil); err != nil {
		t.Fatalf("nil options: %v", err)
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func TestHostPermissionError(t *testing.T) {
	_, err := dgpio.Host(&dgpio.HostOptions{
		Glob: func(string) ([]string, error) { return []string{"/dev/gpiochip0", "/dev/gpiochip4"}, nil },
		OpenDevice: func(p string) (io.Closer, error) {
			if p == "/dev/gpiochip4" {
				return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
			}
			return nopCloser{}, nil
		},
	})
	if !errors.Is(err, dgpio.ErrPermission) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("err %v, want a permission error", err)
	}
	for _, want := range []string{"/dev/gpiochip4", `"gpio" group`, "SupplementaryGroups=gpio"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	_, err = dgpio.Host(&dgpio.HostOptions{
		Glob:       func(string) ([]string, error) { return []string{"/dev/gpiochip0"}, nil },
		OpenDevice: func(p string) (io.Closer, error) { return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.ENXIO} },
	})
	if err == nil || errors.Is(err, dgpio.ErrPermission) {
		t.Fatalf("ENXIO: %v, want a plain error", err)
	}
}

func TestRunPermissionErrorFromPin(t *testing.T) {
	p := newPin("GPIO17")
	p.failWith = &fs.PathError{Op: "ioctl", Path: "/dev/gpiochip0", Err: syscall.EACCES}
	src, err := dgpio.New(&dgpio.Options{
		Inputs: []dgpio.Input{{Name: "door", Pin: "GPIO17"}},
		Open:   func(string) (gpio.PinIO, error) { return p, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Run(context.Background(), func(devices.Update) {})
	if !errors.Is(err, dgpio.ErrPermission) || !strings.Contains(err.Error(), `"gpio" group`) {
		t.Fatalf("err %v, want a permission error naming the gpio group", err)
	}
	// An opener failure for a missing pin is reported with the pin name.
	src, _ = dgpio.New(&dgpio.Options{
		Outputs: []dgpio.Output{{Name: "r", Pin: "GPIO4"}},
		Open:    func(n string) (gpio.PinIO, error) { return nil, fmt.Errorf("%w: %q", dgpio.ErrNoPin, n) },
	})
	if err := src.Run(context.Background(), func(devices.Update) {}); !errors.Is(err, dgpio.ErrNoPin) || !strings.Contains(err.Error(), "GPIO4") {
		t.Fatalf("missing pin: %v", err)
	}
}

func TestFailedSetupRestoresSafeState(t *testing.T) {
	good, bad := newPin("GPIO20"), newPin("GPIO21")
	bad.failWith = errors.New("line busy")
	src, err := dgpio.New(&dgpio.Options{
		Outputs: []dgpio.Output{{Name: "a", Pin: "GPIO20", Initial: "ON"}, {Name: "b", Pin: "GPIO21"}},
		Open: func(n string) (gpio.PinIO, error) {
			if n == "GPIO20" {
				return good, nil
			}
			return bad, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Run(context.Background(), func(devices.Update) {})
	if err == nil || !strings.Contains(err.Error(), "GPIO21") || !strings.Contains(err.Error(), "line busy") {
		t.Fatalf("Run: %v", err)
	}
	if good.level() != gpio.Low {
		t.Fatal("output driven before the failure was left ON")
	}
	if err := src.Run(context.Background(), func(devices.Update) {}); !errors.Is(err, dgpio.ErrRan) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestHostWithoutChips(t *testing.T) {
	open, err := dgpio.Host(&dgpio.HostOptions{Glob: func(string) ([]string, error) { return nil, nil }})
	if err != nil {
		t.Fatalf("Host without chips: %v", err)
	}
	p, err := open("GPIO17")
	if err == nil {
		t.Skipf("this machine has GPIO (%s); the missing-pin path is not reachable", p)
	}
	if !errors.Is(err, dgpio.ErrNoPin) || !strings.Contains(err.Error(), "GPIO17") {
		t.Fatalf("missing pin: %v", err)
	}
}

func FuzzParseSwitch(f *testing.F) {
	for _, s := range []string{`"ON"`, `"off"`, `"TOGGLE"`, `true`, `0`, `1`, `2`, `null`, `{}`, `"`, ``, `" on "`} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, arg string, cur bool) {
		on, err := dgpio.ParseSwitch(json.RawMessage(arg), cur)
		if err != nil && on {
			t.Fatal("error with ON result")
		}
		if err == nil && !json.Valid([]byte(arg)) {
			t.Fatalf("accepted invalid JSON %q", arg)
		}
	})
}
