// Package sim is a deterministic device simulator: it publishes realistic
// readings for a configurable mix of devices speaking the MQTT conventions
// the gateway understands (generic JSON, Tasmota, Zigbee2MQTT, Shelly Gen2,
// ESPHome), drops devices offline and back, sends bursts, and answers
// commands on each convention's command topics.
//
// The simulator is a discrete-event generator on virtual time. Step
// publishes every event due up to a given time, so a seed and a start time
// fully determine the messages; Run drives Step from a clock and handles
// commands as they arrive.
package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Publisher is the MQTT connection the simulator talks through: the embedded
// broker's inline client or a network client such as the Paho adapter.
type Publisher interface {
	// Publish sends payload to topic.
	Publish(topic string, payload []byte, retained bool, qos byte) error
	// Subscribe delivers messages matching filter to fn. fn must not block
	// for long; the simulator only queues the message.
	Subscribe(filter string, fn func(topic string, payload []byte)) error
}

// Clock is the simulator's time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Convention names the MQTT dialect a simulated device speaks.
type Convention string

// The conventions the simulator speaks.
const (
	Generic     Convention = "generic"
	Tasmota     Convention = "tasmota"
	Zigbee2MQTT Convention = "zigbee2mqtt"
	ShellyGen2  Convention = "shelly"
	ESPHome     Convention = "esphome"
)

// ErrClosed is returned by Run when the simulator already ran.
var ErrClosed = errors.New("sim: simulator already ran")

// Options configures a Simulator. A nil *Options means defaults: one device
// of each convention, a 10s interval, no dropouts, no bursts.
type Options struct {
	// Devices per convention. All zero means one of each.
	Generic, Tasmota, Zigbee, Shelly, ESPHome int
	// Interval is each device's telemetry period. Zero means 10s.
	Interval time.Duration
	// DropoutProb is the chance, per device and period, that an online
	// device drops offline. Zero means never.
	DropoutProb float64
	// Offline is the mean time a dropped device stays away (the actual time
	// is uniform in 0.5 to 1.5 times it). Zero means 3 intervals.
	Offline time.Duration
	// BurstProb is the chance, per device and period, of a burst of extra
	// telemetry. Zero means never.
	BurstProb float64
	// BurstSize is the number of extra messages in a burst. Zero means 5.
	BurstSize int
	// BurstSpacing is the time between burst messages. Zero means 200ms.
	BurstSpacing time.Duration
	// SwitchProb is the chance, per period, that a relay is switched by hand
	// at the device. Zero means 0.02; negative means never.
	SwitchProb float64
	// Seed seeds every random choice; the same seed, start time and options
	// give the same messages.
	Seed uint64
	// Start is the virtual start time. Zero means Clock.Now() at New. A
	// Start in the past makes Run publish the backlog at once, with the
	// payloads' timestamps in the past: a backfill.
	Start time.Time
	// Clock drives Run. Nil means the wall clock.
	Clock Clock
	// Location is the zone of Tasmota's offset-less "Time" field. Nil means UTC.
	Location *time.Location
	// ZigbeeBase is Zigbee2MQTT's base topic. Empty means "zigbee2mqtt".
	ZigbeeBase string
	// QoS is used for every publish. Zero means 0.
	QoS byte
	// MaxPendingCommands bounds the queue of received, unhandled commands;
	// more are dropped and counted. Zero means 1024.
	MaxPendingCommands int
	// Logger receives publish failures. Nil means slog.Default().
	Logger *slog.Logger
}

// DeviceInfo describes one simulated device.
type DeviceInfo struct {
	// ID is the device's topic component: Tasmota topic, friendly name,
	// Shelly or ESPHome prefix, or generic id.
	ID         string
	Convention Convention
	// CommandTopics lists the topics the device answers on.
	CommandTopics []string
	// Switchable tells whether the device has a relay or plug state.
	Switchable bool
}

// Stats counts what the simulator did.
type Stats struct {
	// Published and PublishErrors count publish calls that succeeded and failed.
	Published, PublishErrors uint64
	// Commands counts commands handled; DroppedCommands those lost to a full queue.
	Commands, DroppedCommands uint64
}

// Simulator generates device traffic. Step and Run must not be called
// concurrently with each other; the other methods are safe for concurrent use.
type Simulator struct {
	opts    Options
	devs    []*device
	cmdMap  map[string]cmdTarget
	events  eventHeap
	seq     uint64
	now     time.Time // virtual time of the last Step
	started bool

	stepMu sync.Mutex
	pub    Publisher

	qmu     sync.Mutex
	queue   []inbound
	wake    chan struct{}
	ran     atomic.Bool
	stats   struct{ published, errs, cmds, dropped atomic.Uint64 }
	errLogT time.Time
}

type inbound struct {
	topic   string
	payload []byte
}

type cmdTarget struct {
	dev  *device
	kind string
}

// New builds a simulator that publishes through pub.
func New(pub Publisher, opts *Options) (*Simulator, error) {
	if pub == nil {
		return nil, errors.New("sim: nil publisher")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Generic < 0 || o.Tasmota < 0 || o.Zigbee < 0 || o.Shelly < 0 || o.ESPHome < 0 {
		return nil, errors.New("sim: negative device count")
	}
	if o.Generic+o.Tasmota+o.Zigbee+o.Shelly+o.ESPHome == 0 {
		o.Generic, o.Tasmota, o.Zigbee, o.Shelly, o.ESPHome = 1, 1, 1, 1, 1
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.DropoutProb < 0 || o.DropoutProb > 1 || o.BurstProb < 0 || o.BurstProb > 1 || o.SwitchProb > 1 {
		return nil, errors.New("sim: probabilities must lie in [0, 1]")
	}
	if o.Offline <= 0 {
		o.Offline = 3 * o.Interval
	}
	if o.BurstSize <= 0 {
		o.BurstSize = 5
	}
	if o.BurstSpacing <= 0 {
		o.BurstSpacing = 200 * time.Millisecond
	}
	if o.SwitchProb == 0 {
		o.SwitchProb = 0.02
	} else if o.SwitchProb < 0 {
		o.SwitchProb = 0
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Start.IsZero() {
		o.Start = o.Clock.Now()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.ZigbeeBase == "" {
		o.ZigbeeBase = "zigbee2mqtt"
	}
	if o.QoS > 2 {
		return nil, errors.New("sim: QoS must be 0, 1 or 2")
	}
	if o.MaxPendingCommands <= 0 {
		o.MaxPendingCommands = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Simulator{opts: o, pub: pub, now: o.Start, cmdMap: map[string]cmdTarget{}, wake: make(chan struct{}, 1)}
	s.buildDevices()
	return s, nil
}

// Devices lists the simulated devices in a fixed order.
func (s *Simulator) Devices() []DeviceInfo {
	out := make([]DeviceInfo, len(s.devs))
	for i, d := range s.devs {
		out[i] = DeviceInfo{ID: d.id, Convention: d.conv, CommandTopics: d.commandTopics(), Switchable: d.switchable}
	}
	return out
}

// Stats returns counters of published messages, failures and commands.
func (s *Simulator) Stats() Stats {
	return Stats{
		Published:       s.stats.published.Load(),
		PublishErrors:   s.stats.errs.Load(),
		Commands:        s.stats.cmds.Load(),
		DroppedCommands: s.stats.dropped.Load(),
	}
}

// Subscribe registers the command topics of every device with the
// publisher. Run calls it; call it yourself only when driving Step by hand.
func (s *Simulator) Subscribe() error {
	for _, d := range s.devs {
		for _, t := range d.commandTopics() {
			if err := s.pub.Subscribe(t, s.receive); err != nil {
				return fmt.Errorf("sim: subscribe %s: %w", t, err)
			}
		}
	}
	return nil
}

// receive queues a command; it is the subscription callback, so it only
// copies and signals.
func (s *Simulator) receive(topic string, payload []byte) {
	s.qmu.Lock()
	if len(s.queue) >= s.opts.MaxPendingCommands {
		s.qmu.Unlock()
		s.stats.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, inbound{topic, append([]byte(nil), payload...)})
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns the virtual time of the next scheduled event.
func (s *Simulator) Next() time.Time {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	if !s.started {
		return s.opts.Start
	}
	return s.events[0].at
}

// Step publishes every event due up to until, in time order, then handles
// the commands received so far (stamped with until). It returns how many
// messages it published. Publish failures are counted and logged, not
// returned: a broker hiccup must not stop the simulation.
func (s *Simulator) Step(ctx context.Context, until time.Time) (int, error) {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	before := s.stats.published.Load()
	if !s.started {
		s.started = true
		s.scheduleStart()
	}
	for len(s.events) > 0 && !s.events[0].at.After(until) {
		if err := ctx.Err(); err != nil {
			return int(s.stats.published.Load() - before), err
		}
		ev := heap.Pop(&s.events).(event)
		s.now = ev.at
		s.handle(ev)
	}
	if until.After(s.now) {
		s.now = until
	}
	s.qmu.Lock()
	q := s.queue
	s.queue = nil
	s.qmu.Unlock()
	for _, m := range q {
		s.command(m.topic, m.payload)
	}
	return int(s.stats.published.Load() - before), nil
}

// Run subscribes to the command topics, then publishes events as the clock
// reaches them and answers commands until ctx ends. On the way out it
// publishes every device's offline message, as their wills would. It returns
// ctx's error, a subscribe error, or ErrClosed when called twice.
func (s *Simulator) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if err := s.Subscribe(); err != nil {
		return err
	}
	for {
		now := s.opts.Clock.Now()
		if _, err := s.Step(ctx, now); err != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-s.opts.Clock.After(s.Next().Sub(now)):
			continue
		case <-s.wake:
			continue
		}
		break
	}
	s.stepMu.Lock()
	for _, d := range s.devs {
		if d.online {
			s.goOffline(d)
		}
	}
	if s.opts.Zigbee > 0 {
		s.publish(s.opts.ZigbeeBase+"/bridge/state", []byte(`{"state":"offline"}`), true)
	}
	s.stepMu.Unlock()
	return ctx.Err()
}

func (s *Simulator) publish(topic string, payload []byte, retained bool) {
	if err := s.pub.Publish(topic, payload, retained, s.opts.QoS); err != nil {
		s.stats.errs.Add(1)
		// One log line per minute of virtual time is enough to see a broken broker.
		if s.now.Sub(s.errLogT) >= time.Minute || s.errLogT.IsZero() {
			s.errLogT = s.now
			s.opts.Logger.Warn("sim: publish failed", "topic", topic, "err", err, "failures", s.stats.errs.Load())
		}
		return
	}
	s.stats.published.Add(1)
}

// Event scheduling.

type eventKind uint8

const (
	evTelemetry eventKind = iota // periodic telemetry; also decides dropouts, bursts, switching
	evBurst                      // one extra telemetry message
	evOnline                     // device (re)connects
)

type event struct {
	at   time.Time
	seq  uint64
	kind eventKind
	dev  *device
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (s *Simulator) schedule(at time.Time, kind eventKind, d *device) {
	s.seq++
	heap.Push(&s.events, event{at: at, seq: s.seq, kind: kind, dev: d})
}

func (s *Simulator) scheduleStart() {
	if s.opts.Zigbee > 0 {
		s.publish(s.opts.ZigbeeBase+"/bridge/state", []byte(`{"state":"online"}`), true)
	}
	for _, d := range s.devs {
		s.schedule(s.opts.Start, evOnline, d)
		// Spread first reports over one interval so devices do not all speak at once.
		off := time.Duration(d.rng.Int64N(int64(s.opts.Interval)))
		s.schedule(s.opts.Start.Add(off), evTelemetry, d)
	}
}

func (s *Simulator) handle(ev event) {
	d := ev.dev
	switch ev.kind {
	case evOnline:
		d.online = true
		d.boot = ev.at
		s.publishOnline(d)
		if d.conv == ShellyGen2 {
			s.publishShellyMethod(d, ev.at, "NotifyFullStatus", true, "")
		} else {
			s.publishTelemetry(d, ev.at)
		}
	case evBurst:
		if d.online {
			d.advance(ev.at)
			s.publishTelemetry(d, ev.at)
		}
	case evTelemetry:
		s.schedule(ev.at.Add(s.opts.Interval), evTelemetry, d)
		// Always draw the same random numbers so one device's dropouts do
		// not shift the rest of its sequence.
		drop, burst, flip := d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
		away := 0.5 + d.rng.Float64()
		d.advance(ev.at)
		if !d.online {
			return
		}
		if drop < s.opts.DropoutProb {
			s.goOffline(d)
			s.schedule(ev.at.Add(time.Duration(away*float64(s.opts.Offline))), evOnline, d)
			return
		}
		if d.switchable && flip < s.opts.SwitchProb {
			d.power = !d.power
			s.publishSwitch(d, ev.at)
		}
		s.publishTelemetry(d, ev.at)
		if burst < s.opts.BurstProb {
			for i := 1; i <= s.opts.BurstSize; i++ {
				s.schedule(ev.at.Add(time.Duration(i)*s.opts.BurstSpacing), evBurst, d)
			}
		}
	}
}

func (s *Simulator) goOffline(d *device) {
	d.online = false
	s.publishOffline(d)
}

// buildDevices creates the devices in a fixed order, each with its own
// random stream derived from the seed and its index.
func (s *Simulator) buildDevices() {
	seen := map[string]bool{}
	add := func(conv Convention, n int) {
		for i := range n {
			idx := len(s.devs)
			d := &device{idx: idx, conv: conv, zbase: s.opts.ZigbeeBase, loc: s.opts.Location,
				rng: rand.New(rand.NewPCG(s.opts.Seed, uint64(idx)+0x9e3779b97f4a7c15))}
			for {
				d.id = d.makeID(i)
				if !seen[d.id] {
					break
				}
			}
			seen[d.id] = true
			d.init(s.opts.Start, i)
			s.devs = append(s.devs, d)
			for _, t := range d.commands() {
				s.cmdMap[t.topic] = cmdTarget{dev: d, kind: t.kind}
			}
		}
	}
	add(Generic, s.opts.Generic)
	add(Tasmota, s.opts.Tasmota)
	add(Zigbee2MQTT, s.opts.Zigbee)
	add(ShellyGen2, s.opts.Shelly)
	add(ESPHome, s.opts.ESPHome)
}
