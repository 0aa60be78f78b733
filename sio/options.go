package sio

import (
	"log/slog"
	"net/http"
	"time"

	"gatewayd/sio/internal/eio"
)

// Options configures a Server. A nil *Options, or a zero field, means the
// default of the Node.js socket.io server, given on each field. NewServer
// copies the struct, so changing it afterwards has no effect.
type Options struct {
	// Path is the URL path prefix the server answers under. Zero means
	// "/socket.io/".
	Path string
	// PingInterval is the time between Engine.IO pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take before the connection is
	// closed with ReasonPingTimeout. Zero means 20s.
	PingTimeout time.Duration
	// ConnectTimeout closes a connection that has joined no namespace within
	// it. Zero means 45s.
	ConnectTimeout time.Duration
	// MaxHTTPBufferSize is the largest message or polling body accepted, in
	// bytes. Zero means 1e6.
	MaxHTTPBufferSize int64
	// Transports lists the allowed transports, "polling" and "websocket".
	// Nil means both.
	Transports []string
	// DisallowUpgrades stops the server offering the polling → websocket
	// upgrade (Node's allowUpgrades: false). Zero allows upgrades.
	DisallowUpgrades bool
	// CORS sets the cross-origin rules of polling requests. Nil sends no
	// CORS headers.
	CORS *CORS
	// AllowRequest may refuse a handshake or upgrade request; a non-nil error
	// answers HTTP 403. Nil allows every request.
	AllowRequest func(r *http.Request) error
	// PerMessageDeflate turns on websocket compression. Off by default.
	PerMessageDeflate bool
	// HTTPCompressionThreshold is the polling response size above which the
	// body is compressed when the client accepts it. Zero means 1024;
	// negative turns compression off.
	HTTPCompressionThreshold int
	// MaxQueuedBytes caps the unsent bytes of one connection; a send that
	// would go over it closes the connection with ReasonSlowClient. Zero
	// means 1 MiB.
	MaxQueuedBytes int
	// Adapter creates the Adapter of each namespace. Nil means the
	// in-memory adapter (a single server process).
	Adapter AdapterFactory
	// Logger receives debug and error logs. Nil discards them.
	Logger *slog.Logger
	// Recovery turns on connection state recovery (see RecoveryOptions):
	// the CONNECT reply then carries a "pid" and every event sent without
	// ack and not volatile an offset as its last argument. Nil leaves it
	// off, as in socket.io.
	Recovery *RecoveryOptions
}

// CORS holds the cross-origin resource sharing rules of a Server.
type CORS struct {
	// Origins lists the allowed origins; "*" allows any.
	Origins []string
	// OriginFunc decides instead of Origins when it is non-nil.
	OriginFunc func(origin string) bool
	// Credentials allows cookies and authorization headers.
	Credentials bool
	// Methods, AllowedHeaders and ExposedHeaders fill the matching headers;
	// nil Methods means GET, HEAD, PUT, PATCH, POST, DELETE.
	Methods, AllowedHeaders, ExposedHeaders []string
	// MaxAge is how long a preflight answer may be cached; zero omits it.
	MaxAge time.Duration
}

// Defaults of Options, as in Node.js socket.io.
const (
	DefaultPath              = "/socket.io/"
	DefaultPingInterval      = 25 * time.Second
	DefaultPingTimeout       = 20 * time.Second
	DefaultConnectTimeout    = 45 * time.Second
	DefaultMaxHTTPBufferSize = 1e6
	DefaultMaxQueuedBytes    = 1 << 20
)

// withDefaults returns a copy of o with zero fields filled.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxHTTPBufferSize <= 0 {
		c.MaxHTTPBufferSize = DefaultMaxHTTPBufferSize
	}
	if c.Transports == nil {
		c.Transports = []string{"polling", "websocket"}
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.Adapter == nil {
		c.Adapter = NewMemoryAdapter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Recovery = c.Recovery.withDefaults()
	return c
}

// engineOptions maps o (with defaults filled) to the Engine.IO options.
func (o *Options) engineOptions() *eio.Options {
	e := &eio.Options{
		PingInterval:             o.PingInterval,
		PingTimeout:              o.PingTimeout,
		MaxPayload:               o.MaxHTTPBufferSize,
		Transports:               append([]string(nil), o.Transports...),
		DisallowUpgrades:         o.DisallowUpgrades,
		AllowRequest:             o.AllowRequest,
		PerMessageDeflate:        o.PerMessageDeflate,
		HTTPCompressionThreshold: o.HTTPCompressionThreshold,
		MaxQueuedBytes:           o.MaxQueuedBytes,
		Logger:                   o.Logger,
	}
	if o.CORS != nil {
		c := *o.CORS
		e.CORS = &eio.CORS{
			Origins:        c.Origins,
			OriginFunc:     c.OriginFunc,
			Credentials:    c.Credentials,
			Methods:        c.Methods,
			AllowedHeaders: c.AllowedHeaders,
			ExposedHeaders: c.ExposedHeaders,
			MaxAge:         c.MaxAge,
		}
	}
	return e
}
