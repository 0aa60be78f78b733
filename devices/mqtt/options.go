package mqtt

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"time"

	"gatewayd/devices/mqtt/convention"
)

// Mode selects where the MQTT broker comes from.
type Mode string

// Broker modes. The configuration key that selects them is "mqtt.mode".
const (
	// ModeAuto uses a broker that already answers at Options.Broker's address
	// (127.0.0.1:1883 by default) as an external broker, and otherwise starts
	// the embedded one.
	ModeAuto Mode = "auto"
	// ModeEmbedded always starts the embedded broker; it fails if its port is taken.
	ModeEmbedded Mode = "embedded"
	// ModeExternal always connects to Options.Broker.
	ModeExternal Mode = "external"
)

// Conventions switches and configures each convention. Every convention is
// enabled unless its Disabled field is set.
type Conventions struct {
	Generic       convention.GenericOptions
	Tasmota       convention.TasmotaOptions
	Zigbee2MQTT   convention.Zigbee2MQTTOptions
	Shelly        convention.ShellyOptions
	Homie         convention.HomieOptions
	ESPHome       convention.ESPHomeOptions
	HomeAssistant convention.HomeAssistantOptions
}

// ListenOff as Options.Listen disables the embedded broker's plain TCP listener.
const ListenOff = "off"

// Options configures a Source. The zero value (or nil) is a working
// configuration: auto mode, embedded broker on :1883, all conventions on.
type Options struct {
	// Mode is auto (default), embedded or external.
	Mode Mode
	// Listen is the embedded broker's plain TCP address; default ":1883".
	// ListenOff ("off") disables the plain listener, e.g. to accept only
	// TLS on TLSListen.
	Listen string
	// TLSListen, if set, adds an MQTT-over-TLS listener to the embedded
	// broker (e.g. ":8883"); default off. It needs TLSConfig or
	// TLSCert and TLSKey.
	TLSListen string
	// TLSCert and TLSKey are the PEM certificate (chain) and key files of
	// TLSListen; they are read once, at start.
	TLSCert, TLSKey string
	// TLSConfig, if set, is used for TLSListen instead of TLSCert and TLSKey
	// (e.g. to require client certificates). It is cloned; a zero
	// MinVersion becomes TLS 1.2.
	TLSConfig *tls.Config
	// Users, if any, are the embedded broker's accounts with their topic
	// rights; clients must then log in as one of them, unless
	// AllowAnonymous is set. Default none: every client is allowed
	// everything. The gateway's own in-process client is never restricted.
	Users []User
	// AllowAnonymous lets clients without a username connect (with no topic
	// restriction) even though Users is set, e.g. while devices are moved to
	// accounts one by one.
	AllowAnonymous bool
	// WebsocketListen, if set, adds a websocket listener to the embedded
	// broker (e.g. ":8083"); default off.
	WebsocketListen string
	// Broker is the external broker's URL (tcp://host:port); default
	// "tcp://127.0.0.1:1883". Auto mode probes this address.
	Broker string
	// Username and Password authenticate to the external broker.
	Username, Password string
	// GatewayID names this gateway in its status topic and client id;
	// default the host name.
	GatewayID string
	// ClientID is the fixed client id of the persistent session with the
	// external broker; default "gatewayd-<GatewayID>".
	ClientID string
	// StatusTopic is the gateway's retained status topic ("online", with
	// "offline" as last will); default "gatewayd/<GatewayID>/status".
	StatusTopic string
	// KeepAlive for the external broker; default 30s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt; default 10s.
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the exponential reconnect backoff; default 1m.
	MaxReconnectInterval time.Duration
	// ProbeTimeout bounds auto mode's probe of an existing broker; default 1s.
	ProbeTimeout time.Duration
	// NarrowSubscriptions subscribes to the conventions' own filters instead
	// of "#" on the external broker. Use it on a busy shared broker; some
	// brokers then deliver a message twice when two filters overlap.
	NarrowSubscriptions bool

	// Conventions switches and configures the built-in conventions.
	Conventions Conventions
	// Extra conventions are tried after the built-in ones.
	Extra []convention.Convention

	// MaxTopicLen rejects longer topics; default 512.
	MaxTopicLen int
	// MaxPayload rejects larger payloads; default 4 MiB (Zigbee2MQTT's
	// bridge/devices list runs to megabytes on large networks). The embedded
	// broker refuses packets over twice this size outright.
	MaxPayload int
	// RateLimit is the sustained number of data messages per second accepted
	// from one device; default 50; negative disables the limit.
	RateLimit float64
	// RateBurst is the burst allowed above RateLimit; default 200.
	RateBurst float64

	// StaleAfter overrides, per device id, how long without data marks a
	// device offline with reason "stale"; a negative value disables it.
	StaleAfter map[string]time.Duration
	// StaleFactor times a device's usual interval is its learned staleness
	// timeout; default 3. It is learned after 3 intervals.
	StaleFactor float64
	// StaleMin and StaleMax clamp learned timeouts; defaults 1m and 26h.
	StaleMin, StaleMax time.Duration
	// StaleCheck is how often staleness is checked; default 5s.
	StaleCheck time.Duration

	// LogEvery bounds bad-payload log lines to one per device and reason per
	// period (with a count of the suppressed ones); default 1m.
	LogEvery time.Duration
	// Logger receives the source's logs; default slog.Default().
	Logger *slog.Logger
	// BrokerLogger receives the embedded broker's logs; default Logger at
	// warning level and above.
	BrokerLogger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if c.Listen == "" {
		c.Listen = ":1883"
	}
	if c.Broker == "" {
		c.Broker = "tcp://127.0.0.1:1883"
	}
	if c.GatewayID == "" {
		c.GatewayID, _ = os.Hostname()
		if c.GatewayID == "" {
			c.GatewayID = "gatewayd"
		}
	}
	if c.ClientID == "" {
		c.ClientID = "gatewayd-" + c.GatewayID
	}
	if c.StatusTopic == "" {
		c.StatusTopic = "gatewayd/" + c.GatewayID + "/status"
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxReconnectInterval <= 0 {
		c.MaxReconnectInterval = time.Minute
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = time.Second
	}
	if c.MaxTopicLen <= 0 {
		c.MaxTopicLen = 512
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 4 << 20
	}
	if c.RateLimit == 0 {
		c.RateLimit = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 200
	}
	if c.StaleFactor <= 0 {
		c.StaleFactor = 3
	}
	if c.StaleMin <= 0 {
		c.StaleMin = time.Minute
	}
	if c.StaleMax <= 0 {
		c.StaleMax = 26 * time.Hour
	}
	if c.StaleCheck <= 0 {
		c.StaleCheck = 5 * time.Second
	}
	if c.LogEvery <= 0 {
		c.LogEvery = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.BrokerLogger == nil {
		c.BrokerLogger = slog.New(minLevel{c.Logger.Handler(), slog.LevelWarn})
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.min}
}
