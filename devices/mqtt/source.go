// Package mqtt is the gateway's MQTT device source: it owns the broker
// connection (an embedded broker, an external one, or whichever auto mode
// finds), routes every message to the first convention that understands it,
// and turns the conventions' output into the normalised devices.Update
// stream, adding presence from staleness and broker loss, per-device rate
// limits and bad-payload accounting. It also carries commands back.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

// Errors returned by Source.
var (
	// ErrPortInUse means the embedded broker could not listen because its
	// port is taken (probably by another broker).
	ErrPortInUse = errors.New("mqtt: embedded broker port in use")
	// ErrNotRunning is returned by SendCommand before Run connected.
	ErrNotRunning = errors.New("mqtt: source not running")
	// ErrRunning is returned by a second call to Run.
	ErrRunning = errors.New("mqtt: source already running")
)

// Source is the MQTT device source. It implements devices.Source and
// devices.Commander; all methods are safe for concurrent use.
type Source struct {
	o     Options
	log   *slog.Logger
	convs []convention.Convention
	ha    *convention.HomeAssistant

	started atomic.Bool
	linkUp  atomic.Bool // the broker runs (embedded) or is connected (external)
	ready   chan struct{}
	emit    func(devices.Update)
	be      atomic.Value // backend, set once by Run
	mode    Mode
	addr    string

	mu   sync.Mutex
	devs map[string]*devState
	bad  map[badKey]*badState

	messages, readings, dropped atomic.Uint64
}

var (
	_ devices.Source    = (*Source)(nil)
	_ devices.Commander = (*Source)(nil)
)

type badKey struct {
	device string
	reason convention.Reason
}

type badState struct {
	count      uint64
	lastLog    time.Time
	suppressed uint64
}

// New builds a Source from o (nil means all defaults). It fails only on an
// unusable convention setting.
func New(o *Options) (*Source, error) {
	opts := o.withDefaults()
	if err := opts.checkSecurity(); err != nil {
		return nil, err
	}
	s := &Source{o: opts, log: opts.Logger, ready: make(chan struct{}), devs: map[string]*devState{}, bad: map[badKey]*badState{}}
	c := opts.Conventions
	if !c.Generic.Disabled {
		s.convs = append(s.convs, convention.NewGeneric(c.Generic))
	}
	if !c.Tasmota.Disabled {
		t, err := convention.NewTasmota(c.Tasmota)
		if err != nil {
			return nil, err
		}
		s.convs = append(s.convs, t)
	}
	if !c.Zigbee2MQTT.Disabled {
		s.convs = append(s.convs, convention.NewZigbee2MQTT(c.Zigbee2MQTT))
	}
	if !c.Shelly.Disabled {
		s.convs = append(s.convs, convention.NewShelly(c.Shelly))
	}
	if !c.Homie.Disabled {
		s.convs = append(s.convs, convention.NewHomie(c.Homie))
	}
	if !c.ESPHome.Disabled {
		s.convs = append(s.convs, convention.NewESPHome(c.ESPHome))
	}
	s.convs = append(s.convs, opts.Extra...)
	if !c.HomeAssistant.Disabled {
		ho := c.HomeAssistant
		others := s.convs
		user := ho.Claimed
		ho.Claimed = func(topic string) bool {
			if user != nil && user(topic) {
				return true
			}
			return claimedBy(others, topic)
		}
		s.ha = convention.NewHomeAssistant(ho)
		s.convs = append(s.convs, s.ha)
	}
	return s, nil
}

// claimedBy reports whether one of convs would handle topic.
func claimedBy(convs []convention.Convention, topic string) bool {
	for _, c := range convs {
		if !matches(c, topic) {
			continue
		}
		if cl, ok := c.(convention.Claimer); ok && !cl.Claims(topic) {
			continue
		}
		return true
	}
	return false
}

func matches(c convention.Convention, topic string) bool {
	if m, ok := c.(convention.Matcher); ok {
		return m.Matches(topic)
	}
	for _, f := range c.Filters() {
		if convention.MatchTopic(f, topic) {
			return true
		}
	}
	return false
}

// Ready is closed once Run has a working broker (embedded started, or
// external connected for the first time).
func (s *Source) Ready() <-chan struct{} { return s.ready }

// isReady reports whether Ready is closed: mode, addr and be are set.
func (s *Source) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// Mode returns the broker mode Run chose, or "" before Ready.
func (s *Source) Mode() Mode {
	if !s.isReady() {
		return ""
	}
	return s.mode
}

// BrokerAddr returns the embedded broker's TCP address (useful with port 0),
// or the external broker's URL; "" before Ready.
func (s *Source) BrokerAddr() string {
	if !s.isReady() {
		return ""
	}
	return s.addr
}

// Run connects or starts the broker, subscribes, and emits updates until ctx
// ends. The start-up log says which broker mode was chosen and why.
func (s *Source) Run(ctx context.Context, emit func(devices.Update)) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	s.emit = emit
	mode := s.o.Mode
	if mode == ModeAuto {
		addr := hostPort(s.o.Broker)
		if err := probe(ctx, addr, s.o.ProbeTimeout); err == nil {
			s.log.Info("mqtt: auto mode: a broker answers, using it as the external broker", "addr", addr)
			s.o.warnUnusedSecurity(s.log)
			mode = ModeExternal
		} else {
			s.log.Info("mqtt: auto mode: no broker answers, starting the embedded broker", "probed", addr, "reason", err.Error(), "listen", s.o.Listen)
			mode = ModeEmbedded
		}
	}
	s.mode = mode
	var be backend
	switch mode {
	case ModeEmbedded:
		e, err := startEmbedded(s)
		if err != nil {
			// Nothing runs: Run may be called again (the port may free up).
			s.started.Store(false)
			return err
		}
		be = e
		s.be.Store(be)
		s.addr = be.addr()
		s.linkUp.Store(true)
		close(s.ready)
	case ModeExternal:
		e := newExternal(s)
		be = e
		s.be.Store(be)
		e.connect(ctx)
	default:
		s.started.Store(false)
		return fmt.Errorf("mqtt: unknown mode %q (want auto, embedded or external)", mode)
	}
	defer func() {
		s.linkUp.Store(false)
		be.close()
	}()
	tick := time.NewTicker(s.o.StaleCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.checkStale(s.o.Now().UTC())
		}
	}
}

// ErrBrokerDown is returned by Health while the broker link is down.
var ErrBrokerDown = errors.New("mqtt: not connected to the broker")

// Health returns nil while the source has a working broker (the embedded
// one running, or a connection to the external one), else ErrBrokerDown.
func (s *Source) Health() error {
	if !s.linkUp.Load() {
		return ErrBrokerDown
	}
	return nil
}

// markReady is called by the external backend on its first connection.
func (s *Source) markReady(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isReady() {
		s.addr = addr
		close(s.ready)
	}
}

// SendCommand implements devices.Commander: the convention owning the
// device id (its prefix before ':'; none means the generic convention)
// builds the message, which is published with QoS 1.
func (s *Source) SendCommand(ctx context.Context, cmd devices.Command) error {
	name := "generic"
	if p, _, ok := strings.Cut(cmd.Device, ":"); ok {
		name = p
	}
	var conv convention.Convention
	for _, c := range s.convs {
		if c.Name() == name {
			conv = c
			break
		}
	}
	if conv == nil {
		return devices.ErrUnknownDevice
	}
	msg, err := conv.Command(cmd)
	if err != nil {
		return err
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	default:
		return ErrNotRunning
	}
	return s.be.Load().(backend).publish(ctx, msg)
}

// handle is the single entry point of every received message; backends call
// it from their own goroutines.
func (s *Source) handle(topic string, payload []byte, retained bool) {
	s.messages.Add(1)
	now := s.o.Now().UTC()
	if len(topic) > s.o.MaxTopicLen {
		s.badPayload(&convention.BadPayloadError{Reason: convention.ReasonTopicTooLong, Detail: fmt.Sprintf("%d bytes: %.64s…", len(topic), topic)}, now)
		return
	}
	if len(payload) > s.o.MaxPayload {
		s.badPayload(&convention.BadPayloadError{Reason: convention.ReasonTooLarge, Detail: fmt.Sprintf("%d bytes on %s", len(payload), topic)}, now)
		return
	}
	for _, c := range s.convs {
		if !matches(c, topic) {
			continue
		}
		ups, err := c.Handle(topic, payload, now)
		if errors.Is(err, convention.ErrNotMine) {
			continue
		}
		for _, bp := range convention.BadPayloads(err) {
			s.badPayload(bp, now)
		}
		if c == convention.Convention(s.ha) {
			if be, ok := s.be.Load().(backend); ok {
				if fs := s.ha.NewFilters(); len(fs) > 0 {
					be.addFilters(fs)
				}
			}
		}
		s.deliver(ups, retained, now)
		return
	}
}

// deliver applies presence bookkeeping and rate limits, then emits.
func (s *Source) deliver(ups []devices.Update, retained bool, now time.Time) {
	if len(ups) == 0 {
		return
	}
	var out []devices.Update
	dataDev := ""
	s.mu.Lock()
	for _, u := range ups {
		switch {
		case u.Reading != nil:
			d := s.devLocked(u.Reading.Device)
			if u.Reading.Device != dataDev {
				dataDev = u.Reading.Device
				if !retained && !d.allow(now, s.o.RateLimit, s.o.RateBurst) {
					s.mu.Unlock()
					s.badPayload(&convention.BadPayloadError{Device: dataDev, Reason: convention.ReasonRateLimited, Detail: "over the per-device message rate"}, now)
					s.dropped.Add(uint64(len(ups)))
					return
				}
				if !retained {
					d.seen(now)
					if !d.online {
						d.online, d.known, d.reason = true, true, "data"
						out = append(out, devices.Update{Presence: &devices.Presence{Device: dataDev, Online: true, Reason: "data", Time: now}})
					}
				}
			}
			out = append(out, u)
		case u.Presence != nil:
			d := s.devLocked(u.Presence.Device)
			if d.known && d.online == u.Presence.Online {
				continue
			}
			d.known, d.online, d.reason = true, u.Presence.Online, u.Presence.Reason
			if d.online {
				d.lastData = now // a fresh birth restarts the staleness clock
			}
			out = append(out, u)
		default:
			out = append(out, u)
		}
	}
	s.mu.Unlock()
	for _, u := range out {
		if u.Reading != nil {
			s.readings.Add(1)
		}
		s.emit(u)
	}
}

func (s *Source) badPayload(bp *convention.BadPayloadError, now time.Time) {
	k := badKey{bp.Device, bp.Reason}
	s.mu.Lock()
	b := s.bad[k]
	if b == nil && len(s.bad) >= maxBadKeys {
		// A flood of made-up device ids must not grow the counters forever.
		k.device = overflowDevice
		b = s.bad[k]
	}
	if b == nil {
		b = &badState{}
		s.bad[k] = b
	}
	b.count++
	logIt := now.Sub(b.lastLog) >= s.o.LogEvery
	suppressed := b.suppressed
	if logIt {
		b.lastLog, b.suppressed = now, 0
	} else {
		b.suppressed++
	}
	s.mu.Unlock()
	if logIt {
		s.log.Warn("mqtt: bad payload dropped", "device", bp.Device, "reason", string(bp.Reason), "detail", bp.Detail, "suppressed_since_last", suppressed)
	}
}

// maxBadKeys bounds the number of (device, reason) counters; further
// devices are counted under overflowDevice.
const (
	maxBadKeys     = 10000
	overflowDevice = "(other)"
)

// BadCount is one bad-payload counter.
type BadCount struct {
	Device string // "" when the message could not be attributed
	Reason convention.Reason
	Count  uint64
}

// BadPayloads returns the bad-payload counters per device and reason,
// sorted by device then reason.
func (s *Source) BadPayloads() []BadCount {
	s.mu.Lock()
	out := make([]BadCount, 0, len(s.bad))
	for k, b := range s.bad {
		out = append(out, BadCount{k.device, k.reason, b.count})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// Stats are running totals of a Source.
type Stats struct {
	Messages uint64 // messages received
	Readings uint64 // readings emitted
	Dropped  uint64 // updates dropped by the rate limit
}

// Stats returns running totals.
func (s *Source) Stats() Stats {
	return Stats{s.messages.Load(), s.readings.Load(), s.dropped.Load()}
}

// brokerLost marks every online device offline with reason "broker lost":
// the gateway, not the device, lost contact.
func (s *Source) brokerLost() {
	now := s.o.Now().UTC()
	var out []devices.Update
	s.mu.Lock()
	for id, d := range s.devs {
		if d.online {
			d.online, d.reason = false, "broker lost"
			out = append(out, devices.Update{Presence: &devices.Presence{Device: id, Online: false, Reason: "broker lost", Time: now}})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Presence.Device < out[j].Presence.Device })
	for _, u := range out {
		s.emit(u)
	}
}

// checkStale marks devices offline whose data stopped for longer than their
// staleness timeout.
func (s *Source) checkStale(now time.Time) {
	var out []devices.Update
	s.mu.Lock()
	for id, d := range s.devs {
		if !d.online || d.lastData.IsZero() {
			continue
		}
		limit := s.staleLimitLocked(id, d)
		if limit <= 0 || now.Sub(d.lastData) <= limit {
			continue
		}
		d.online, d.reason = false, "stale"
		out = append(out, devices.Update{Presence: &devices.Presence{Device: id, Online: false, Reason: "stale", Time: now}})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Presence.Device < out[j].Presence.Device })
	for _, u := range out {
		s.emit(u)
	}
}

// DeviceState is what the source knows of one device's presence.
type DeviceState struct {
	Device string
	// Known is false until a presence signal or live data was seen.
	Known  bool
	Online bool
	Reason string
	// LastData is when the last live data burst began (zero if none).
	LastData time.Time
	// StaleAfter is the staleness timeout in force (0 while not yet learned,
	// negative when disabled).
	StaleAfter time.Duration
}

// Devices returns the presence state of every device seen, sorted by id.
func (s *Source) Devices() []DeviceState {
	s.mu.Lock()
	out := make([]DeviceState, 0, len(s.devs))
	for id, d := range s.devs {
		out = append(out, DeviceState{Device: id, Known: d.known, Online: d.online, Reason: d.reason, LastData: d.lastData, StaleAfter: s.staleLimitLocked(id, d)})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// staleLimitLocked is the staleness timeout of a device: the option's
// override, else a convention's hint, else the learned one.
func (s *Source) staleLimitLocked(id string, d *devState) time.Duration {
	if o, ok := s.o.StaleAfter[id]; ok {
		return o
	}
	for _, c := range s.convs {
		if sh, ok := c.(convention.StaleHinter); ok {
			if hint, ok := sh.StaleAfter(id); ok {
				return hint
			}
		}
	}
	return d.staleAfter(s.o)
}
