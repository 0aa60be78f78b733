package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gatewayd/devices"
	"gatewayd/sio"
	"gatewayd/store"
)

// Config is what New needs. Store is required; the rest has defaults.
type Config struct {
	// Store keeps history, the device registry and events.
	Store *store.Store
	// Sources produce readings; each runs in its own goroutine under Run.
	// Those that also implement devices.Commander receive commands.
	Sources []devices.Source
	// Web is the dashboard served at /. Nil serves a page saying it is not
	// built.
	Web fs.FS
	// Auth configures dashboard and API authentication.
	Auth AuthConfig
	// Alerts are the configuration's alert rules, read-only through the
	// API. The rules operators add at run time are kept in Store and
	// loaded from it; one of these of the same name as a rule here is
	// skipped.
	Alerts []AlertRule
	// CommandTimeout bounds the wait for a device to confirm a command.
	// Zero means 10s.
	CommandTimeout time.Duration
	// Socket configures the Socket.IO server (CORS, timeouts). Nil means
	// defaults.
	Socket *SocketOptions
	// ReplayLimit is the most missed readings replayed one by one to a
	// reconnecting dashboard; beyond it the dashboard gets a `gap` event and
	// re-queries history. Zero means 10,000.
	ReplayLimit int
	// SessionKeep is how long a disconnected dashboard's session is kept for
	// it to resume. Zero means 24 hours.
	SessionKeep time.Duration
	// FleetInterval is how often the fleet room gets the newest values of
	// the devices that sent readings since the last time (`fleet_update`),
	// so an overview of many devices is not sent every reading. Zero means
	// one second.
	FleetInterval time.Duration
	// Logger receives the gateway's logs. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// AuthConfig configures authentication of dashboards and scripts.
type AuthConfig struct {
	// Disabled turns authentication off (a lab-bench setting); New then
	// logs a warning and every request acts as an operator.
	Disabled bool
	// PasswordHash is the dashboard password's hash from HashPassword.
	// Logging in is impossible while it is empty.
	PasswordHash string
	// APITokens are long-lived tokens for scripts.
	APITokens []APIToken
	// Key signs session tokens; at least 32 bytes, kept across restarts so
	// sessions survive them.
	Key []byte
	// SessionTTL is how long a login lasts. Zero means 7 days.
	SessionTTL time.Duration
}

// APIToken is a token for scripts, stored as its SHA-256.
type APIToken struct {
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
	Role   Role   `yaml:"role"`
}

// SocketOptions is the part of the Socket.IO configuration a gateway user
// may change.
type SocketOptions struct {
	// CORSOrigins lists the origins allowed to connect from other sites;
	// empty means same-origin only.
	CORSOrigins []string
	// PingInterval and PingTimeout tune the heartbeat; zero means 25s/20s.
	PingInterval, PingTimeout time.Duration
}

// value is a latest value in the device cache.
type value struct {
	T     int64    `json:"t"`
	V     *float64 `json:"v,omitempty"`
	S     *string  `json:"s,omitempty"`
	U     string   `json:"u,omitempty"`
	state bool
}

// deviceState is what the gateway keeps in memory per device, so fleet
// views need no database query.
type deviceState struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	Source   string            `json:"source,omitempty"`
	Model    string            `json:"model,omitempty"`
	Firmware string            `json:"firmware,omitempty"`
	Online   bool              `json:"online"`
	Since    int64             `json:"since,omitempty"`
	LastSeen int64             `json:"lastSeen,omitempty"`
	Commands []string          `json:"commands"`
	Units    map[string]string `json:"units"`
	Latest   map[string]value  `json:"latest"`
	Alerts   int               `json:"alerts"`
}

func (d *deviceState) clone() deviceState {
	c := *d
	c.Commands = slices.Clone(d.Commands)
	c.Units = maps.Clone(d.Units)
	c.Latest = maps.Clone(d.Latest)
	return c
}

// Gateway is the running wiring of sources, store and dashboards. Create it
// with New, serve Handler, and call Run.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	store    *store.Store
	alerts   *Alerts
	rules    alertRules
	tokens   *Tokens
	push     pusher
	sio      *sio.Server
	sessions *sessionStore
	met      *metrics

	commanders []devices.Commander

	// ingestMu orders Append and the live push, so that per device the
	// dashboards see readings in offset order.
	ingestMu sync.Mutex

	mu      sync.Mutex
	devs    map[string]*deviceState
	waiters map[string][]chan struct{} // device → command confirmations awaited
	// fresh holds the devices with readings not yet in a fleet_update.
	fresh map[string]struct{}

	// slow runs registry and event writes off the ingest path.
	slow chan func(context.Context)
}

// pusher sends an event to Socket.IO rooms without blocking. A positive
// offset (a reading's store offset) makes the event replayable to a
// dashboard that reconnects.
type pusher interface {
	Push(event string, payload any, offset int64, rooms ...string)
	// Occupied reports whether a dashboard of this node is in room.
	Occupied(room string) bool
}

// Room names.
const (
	roomFleet      = "fleet"
	roomAlerts     = "alerts"
	roomAllDevices = "device:*"
)

func deviceRoom(id string) string { return "device:" + id }

// New checks cfg and builds a Gateway. It loads the device registry and the
// latest values from the store.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Store == nil {
		return nil, errors.New("gateway: Config.Store is nil")
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.ReplayLimit <= 0 {
		cfg.ReplayLimit = 10_000
	}
	if cfg.SessionKeep <= 0 {
		cfg.SessionKeep = 24 * time.Hour
	}
	if cfg.FleetInterval <= 0 {
		cfg.FleetInterval = time.Second
	}
	if cfg.Auth.SessionTTL == 0 {
		cfg.Auth.SessionTTL = 7 * 24 * time.Hour
	}
	g := &Gateway{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		store:   cfg.Store,
		devs:    map[string]*deviceState{},
		waiters: map[string][]chan struct{}{},
		fresh:   map[string]struct{}{},
		slow:    make(chan func(context.Context), 4096),
		met:     newMetrics(),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if err := g.loadAlertRules(ctx); err != nil {
		return nil, err
	}
	var err error
	if !cfg.Auth.Disabled {
		if g.tokens, err = NewTokens(cfg.Auth.Key, g.now); err != nil {
			return nil, err
		}
	} else {
		g.log.Warn("AUTHENTICATION IS OFF: anyone who reaches this gateway can read every device and send commands")
	}
	for _, s := range cfg.Sources {
		if c, ok := s.(devices.Commander); ok {
			g.commanders = append(g.commanders, c)
		}
	}
	if err := g.loadRegistry(ctx); err != nil {
		return nil, err
	}
	g.met.registerStore(cfg.Store)
	for _, src := range cfg.Sources {
		if h, ok := src.(healthChecker); ok {
			g.met.gauge("gatewayd_source_up", "1 while the source's link works (MQTT broker up or connected).", func() float64 {
				if h.Health() != nil {
					return 0
				}
				return 1
			})
			break // one gauge: gatewayd has one linked source, MQTT
		}
	}
	g.sessions = &sessionStore{st: cfg.Store, keep: cfg.SessionKeep, maxReplay: cfg.ReplayLimit, now: g.now}
	// Whatever an earlier run committed was recorded by its Socket.IO
	// server: a dashboard resuming across a restart may replay up to it.
	g.sessions.appended.Store(cfg.Store.Committed())
	g.push = g.newSocketServer()
	return g, nil
}

func (g *Gateway) loadRegistry(ctx context.Context) error {
	devs, err := g.store.Devices(ctx)
	if err != nil {
		return fmt.Errorf("gateway: load device registry: %w", err)
	}
	ids := make([]string, 0, len(devs))
	for _, d := range devs {
		g.devs[d.ID] = &deviceState{
			ID: d.ID, Name: d.Name, Source: d.Source, Model: d.Model, Firmware: d.Firmware,
			Online: d.Online, Since: ms(d.OnlineChanged), LastSeen: ms(d.LastSeen),
			Units: maps.Clone(d.Units), Latest: map[string]value{}, Commands: []string{},
		}
		if g.devs[d.ID].Units == nil {
			g.devs[d.ID].Units = map[string]string{}
		}
		ids = append(ids, d.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	latest, err := g.store.Latest(ctx, ids...)
	if err != nil {
		return fmt.Errorf("gateway: load latest values: %w", err)
	}
	for _, s := range latest {
		if d := g.devs[s.Device]; d != nil {
			d.Latest[s.Key] = toValue(s.Reading)
		}
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func toValue(r store.Reading) value {
	v := value{T: r.Time.UnixMilli(), U: r.Unit, state: r.IsState}
	if r.IsState {
		s := r.Text
		v.S = &s
	} else {
		f := r.Value
		v.V = &f
	}
	return v
}

// Run runs the sources, the alert clock and the background writer until ctx
// ends, then flushes the store. A source that fails is logged and restarted
// after a pause; Run returns only when ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range g.cfg.Sources {
		wg.Go(func() { g.runSource(ctx, s) })
	}
	wg.Go(func() { g.runSlow(ctx) })
	wg.Go(func() { every(ctx, time.Second, func() { g.emitAlerts(g.alerts.Tick(g.now())) }) })
	wg.Go(func() { every(ctx, g.cfg.FleetInterval, g.fleetTick) })
	wg.Wait()
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.store.Flush(flushCtx)
}

func (g *Gateway) runSource(ctx context.Context, s devices.Source) {
	for {
		err := s.Run(ctx, g.handle)
		if ctx.Err() != nil {
			return
		}
		g.log.Error("device source stopped; restarting in 5s", "source", fmt.Sprintf("%T", s), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func (g *Gateway) runSlow(ctx context.Context) {
	for {
		select {
		case fn := <-g.slow:
			fn(ctx)
		case <-ctx.Done():
			// Drain what is queued so registry and events reach the store.
			drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for {
				select {
				case fn := <-g.slow:
					fn(drainCtx)
					continue
				default:
				}
				break
			}
			cancel()
			return
		}
	}
}

// later queues a registry or event write; when the queue is full it is
// dropped and counted rather than blocking ingest.
func (g *Gateway) later(what string, fn func(context.Context)) {
	select {
	case g.slow <- fn:
	default:
		g.met.dropped.WithLabelValues("background_" + what).Inc()
		g.log.Warn("background write queue full; dropping", "what", what)
	}
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// handle takes one update from a source. It is called concurrently by the
// sources and never blocks on the store or on dashboards.
func (g *Gateway) handle(u devices.Update) {
	switch {
	case u.Reading != nil:
		g.reading(*u.Reading)
	case u.Presence != nil:
		g.presence(*u.Presence)
	case u.Meta != nil:
		g.meta(*u.Meta)
	}
}

// readingMsg is the `reading` push of docs/protocol.md.
type readingMsg struct {
	D string   `json:"d"`
	K string   `json:"k"`
	T int64    `json:"t"`
	V *float64 `json:"v,omitempty"`
	S *string  `json:"s,omitempty"`
	U string   `json:"u,omitempty"`
	O int64    `json:"o"`
}

// readingMsgOf is the `reading` push of value v of device's key, stored at
// offset off (0 when it is not stored).
func readingMsgOf(device, key string, v value, off int64) readingMsg {
	return readingMsg{D: device, K: key, T: v.T, V: v.V, S: v.S, U: v.U, O: off}
}

func (g *Gateway) reading(r devices.Reading) {
	if r.Time.IsZero() {
		r.Time = g.now()
	}
	g.met.readings.Inc()
	g.ingestMu.Lock()
	off, err := g.store.Append(store.Reading(r))
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			g.ingestMu.Unlock()
			g.met.dropped.WithLabelValues("invalid").Inc()
			g.log.Debug("reading refused", "device", r.Device, "key", r.Key, "err", err)
			return
		}
		// The store is full or failing: the dashboards still get the
		// reading live, without an offset (o = 0) since it is not stored.
		g.met.dropped.WithLabelValues("store").Inc()
		off = 0
	}
	v := toValue(store.Reading(r))
	g.push.Push("reading", readingMsgOf(r.Device, r.Key, v, off), off,
		deviceRoom(r.Device), roomAllDevices)
	g.ingestMu.Unlock()

	g.mu.Lock()
	d, isNew := g.device(r.Device)
	d.Latest[r.Key] = v
	d.LastSeen = v.T
	g.fresh[r.Device] = struct{}{}
	if r.Unit != "" && d.Units[r.Key] != r.Unit {
		d.Units[r.Key] = r.Unit
	}
	for _, ch := range g.waiters[r.Device] {
		if r.IsState {
			close(ch)
		}
	}
	if r.IsState {
		delete(g.waiters, r.Device)
	}
	// A device whose source never reports presence (GPIO, the board
	// itself) counts as online from its first reading.
	firstSign := d.Since == 0
	var snapshot deviceState
	if isNew {
		snapshot = d.clone()
	}
	g.mu.Unlock()
	if firstSign {
		g.presence(devices.Presence{Device: r.Device, Online: true, Reason: "data", Time: r.Time})
	}
	if isNew {
		g.push.Push("device", snapshot, 0, roomFleet)
		g.later("register", func(ctx context.Context) {
			if err := g.store.UpsertDevice(ctx, store.DeviceInfo{ID: r.Device}); err != nil {
				g.log.Warn("register device", "device", r.Device, "err", err)
			}
		})
	}
	if !r.IsState {
		g.emitAlerts(g.alerts.Reading(r.Device, r.Key, r.Time, r.Value))
	}
}

// fleetEntry is one device of the `fleet_update` push.
type fleetEntry struct {
	ID       string           `json:"id"`
	LastSeen int64            `json:"lastSeen"`
	Latest   map[string]value `json:"latest"`
}

// fleetTick sends the fleet room the newest values of the devices that
// sent readings since the last tick.
func (g *Gateway) fleetTick() {
	// Nobody in the room: skip the copies and the JSON, and start the
	// round afresh, since the overview asks for the fleet when it joins.
	if !g.push.Occupied(roomFleet) {
		g.mu.Lock()
		clear(g.fresh)
		g.mu.Unlock()
		return
	}
	if u := g.fleetUpdate(); len(u) > 0 {
		g.push.Push("fleet_update", map[string]any{"devices": u}, 0, roomFleet)
	}
}

// fleetUpdate returns the entries of the devices with fresh readings, by
// id, and starts the next round.
func (g *Gateway) fleetUpdate() []fleetEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.fresh) == 0 {
		return nil
	}
	out := make([]fleetEntry, 0, len(g.fresh))
	for id := range g.fresh {
		if d := g.devs[id]; d != nil {
			out = append(out, fleetEntry{ID: id, LastSeen: d.LastSeen, Latest: maps.Clone(d.Latest)})
		}
	}
	clear(g.fresh)
	slices.SortFunc(out, func(a, b fleetEntry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// device returns the cached state of id, creating it; g.mu must be held.
func (g *Gateway) device(id string) (*deviceState, bool) {
	d := g.devs[id]
	if d != nil {
		return d, false
	}
	d = &deviceState{ID: id, Units: map[string]string{}, Latest: map[string]value{}, Commands: []string{}}
	g.devs[id] = d
	return d, true
}

type presenceMsg struct {
	Device string `json:"device"`
	Online bool   `json:"online"`
	Reason string `json:"reason"`
	T      int64  `json:"t"`
}

func (g *Gateway) presence(p devices.Presence) {
	if p.Time.IsZero() {
		p.Time = g.now()
	}
	g.mu.Lock()
	d, _ := g.device(p.Device)
	changed := d.Online != p.Online || d.Since == 0
	d.Online = p.Online
	if changed {
		d.Since = p.Time.UnixMilli()
	}
	g.mu.Unlock()
	if !changed {
		return
	}
	g.push.Push("presence", presenceMsg{Device: p.Device, Online: p.Online, Reason: p.Reason, T: p.Time.UnixMilli()},
		0, deviceRoom(p.Device), roomFleet)
	kind := store.EventOffline
	if p.Online {
		kind = store.EventOnline
	}
	// The store records the event itself with SetOnline; dashboards get it now.
	g.push.Push("event", eventMsg{T: p.Time.UnixMilli(), Device: p.Device, Kind: kind, Text: p.Reason}, 0, roomFleet)
	g.later("presence", func(ctx context.Context) {
		if _, err := g.store.SetOnline(ctx, p.Device, p.Online, p.Time, p.Reason); err != nil {
			g.log.Warn("store presence", "device", p.Device, "err", err)
		}
	})
	g.emitAlerts(g.alerts.Presence(p.Device, p.Online, p.Time))
}

func (g *Gateway) meta(m devices.Meta) {
	g.mu.Lock()
	d, _ := g.device(m.Device)
	if m.Name != "" {
		d.Name = m.Name
	}
	if m.Source != "" {
		d.Source = m.Source
	}
	if m.Model != "" {
		d.Model = m.Model
	}
	if m.Firmware != "" {
		d.Firmware = m.Firmware
	}
	maps.Copy(d.Units, m.Units)
	for _, c := range m.Commands {
		if !slices.Contains(d.Commands, c) {
			d.Commands = append(d.Commands, c)
		}
	}
	snapshot := d.clone()
	g.mu.Unlock()
	g.push.Push("device", snapshot, 0, roomFleet)
	g.later("meta", func(ctx context.Context) {
		err := g.store.UpsertDevice(ctx, store.DeviceInfo{ID: m.Device, Name: m.Name, Source: m.Source,
			Model: m.Model, Firmware: m.Firmware, Units: m.Units})
		if err != nil {
			g.log.Warn("store device metadata", "device", m.Device, "err", err)
		}
	})
}

// eventMsg is the `event` push and the items of the `events` result.
type eventMsg struct {
	T      int64  `json:"t"`
	Device string `json:"device"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
}

func (g *Gateway) recordEvent(e store.Event) {
	rooms := []string{roomFleet}
	// Every alert.* kind: raised, cleared, acknowledged, rules changed.
	if strings.HasPrefix(e.Kind, "alert.") {
		rooms = append(rooms, roomAlerts)
	}
	g.push.Push("event", eventMsg{T: e.Time.UnixMilli(), Device: e.Device, Kind: e.Kind, Text: e.Message}, 0, rooms...)
	g.later("event", func(ctx context.Context) {
		if _, err := g.store.AddEvent(ctx, e); err != nil {
			g.log.Warn("store event", "kind", e.Kind, "device", e.Device, "err", err)
		}
	})
}

func (g *Gateway) emitAlerts(as []Alert) {
	if len(as) == 0 {
		return
	}
	counts := g.alerts.ActiveCount()
	for _, a := range as {
		kind := store.EventAlertCleared
		if a.Raised {
			kind = store.EventAlertRaised
			g.met.alerts.Inc()
		}
		g.log.Info("alert", "rule", a.Rule, "device", a.Device, "raised", a.Raised, "text", a.Text)
		g.recordEvent(store.Event{Time: a.Time, Kind: kind, Device: a.Device, Message: a.Rule + ": " + a.Text})
		g.mu.Lock()
		var snapshot deviceState
		if d := g.devs[a.Device]; d != nil {
			d.Alerts = counts[a.Device]
			snapshot = d.clone()
		}
		g.mu.Unlock()
		if snapshot.ID != "" {
			g.push.Push("device", snapshot, 0, roomFleet)
		}
	}
}

// Errors of Command.
var (
	ErrCommandTimeout = errors.New("gateway: the device did not confirm the command in time")
	ErrNoCommander    = errors.New("gateway: no source can reach this device")
)

// Command sends cmd to its device through the source that owns it and waits
// for the device's next state report as confirmation, up to CommandTimeout.
// who is recorded with the command event.
func (g *Gateway) Command(ctx context.Context, who string, cmd devices.Command) error {
	confirmed := make(chan struct{})
	g.mu.Lock()
	g.waiters[cmd.Device] = append(g.waiters[cmd.Device], confirmed)
	g.mu.Unlock()
	defer g.dropWaiter(cmd.Device, confirmed)

	err := ErrNoCommander
	for _, c := range g.commanders {
		err = c.SendCommand(ctx, cmd)
		if !errors.Is(err, devices.ErrUnknownDevice) {
			break
		}
	}
	g.recordEvent(store.Event{Time: g.now(), Kind: store.EventCommandSent, Device: cmd.Device,
		Message: fmt.Sprintf("%s %s by %s", cmd.Name, cmd.Args, who)})
	if err != nil {
		g.recordEvent(store.Event{Time: g.now(), Kind: store.EventCommandResult, Device: cmd.Device,
			Message: fmt.Sprintf("%s failed: %v", cmd.Name, err)})
		return err
	}
	timer := time.NewTimer(g.cfg.CommandTimeout)
	defer timer.Stop()
	select {
	case <-confirmed:
		g.recordEvent(store.Event{Time: g.now(), Kind: store.EventCommandResult, Device: cmd.Device,
			Message: cmd.Name + " confirmed"})
		return nil
	case <-timer.C:
		err = ErrCommandTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.recordEvent(store.Event{Time: g.now(), Kind: store.EventCommandResult, Device: cmd.Device,
		Message: fmt.Sprintf("%s: %v", cmd.Name, err)})
	return err
}

func (g *Gateway) dropWaiter(device string, ch chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ws := g.waiters[device]
	if i := slices.Index(ws, ch); i >= 0 {
		g.waiters[device] = slices.Delete(ws, i, i+1)
	}
	if len(g.waiters[device]) == 0 {
		delete(g.waiters, device)
	}
}

// fleet returns a snapshot of every known device, sorted by id.
func (g *Gateway) fleet() []deviceState {
	counts := g.alerts.ActiveCount()
	g.mu.Lock()
	out := make([]deviceState, 0, len(g.devs))
	for _, d := range g.devs {
		c := d.clone()
		c.Alerts = counts[d.ID]
		out = append(out, c)
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b deviceState) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// lookup returns a snapshot of one device.
func (g *Gateway) lookup(id string) (deviceState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.devs[id]
	if d == nil {
		return deviceState{}, false
	}
	c := d.clone()
	return c, true
}

// healthChecker is implemented by sources that can tell whether their link
// works (the MQTT source: broker up or connected).
type healthChecker interface{ Health() error }

// Health returns nil when the store and every source are well, else what is
// failing.
func (g *Gateway) Health() error {
	if err := g.store.Health(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, s := range g.cfg.Sources {
		if h, ok := s.(healthChecker); ok {
			if err := h.Health(); err != nil {
				return fmt.Errorf("source: %w", err)
			}
		}
	}
	return nil
}
