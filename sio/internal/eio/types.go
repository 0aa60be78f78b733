// Package eio implements the server side of the Engine.IO protocol v4: the
// handshake, the HTTP long-polling and WebSocket transports, the upgrade from
// one to the other, and heartbeats. It knows nothing of Socket.IO packets or
// namespaces; package sio builds on it.
package eio

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Options configures a Server. A nil *Options, or a zero field, means the
// default of the Node.js engine.io server.
type Options struct {
	// PingInterval is the time between server pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong after a ping
	// before it closes the session with "ping timeout". Zero means 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds a polling → websocket upgrade. Zero means 10s.
	UpgradeTimeout time.Duration
	// MaxPayload is the largest message or polling body accepted, in bytes
	// (maxHttpBufferSize). Zero means 1e6.
	MaxPayload int64
	// Transports lists the allowed transports. Nil means polling and websocket.
	Transports []string
	// DisallowUpgrades stops the server offering "websocket" as an upgrade.
	DisallowUpgrades bool
	// CORS sets the cross-origin rules for polling requests. Nil sends no
	// CORS headers.
	CORS *CORS
	// AllowRequest may refuse a handshake or upgrade request; a non-nil error
	// answers HTTP 403 {"code":4,"message":"Forbidden"}.
	AllowRequest func(r *http.Request) error
	// PerMessageDeflate turns on permessage-deflate for websocket sessions.
	// Off by default, as in Node.js.
	PerMessageDeflate bool
	// HTTPCompressionThreshold is the size above which polling responses are
	// gzip or deflate encoded when the client accepts it. Zero means 1024;
	// negative turns compression off.
	HTTPCompressionThreshold int
	// MaxQueuedBytes caps a session's unsent bytes; a Send that would go over
	// it closes the session with reason "slow client". Zero means 1 MiB.
	MaxQueuedBytes int
	// Logger receives debug and error logs. Nil discards them.
	Logger *slog.Logger
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

// Handler receives one session's traffic. OnMessage is called sequentially
// from one goroutine per session and never after OnClose; OnClose is called
// exactly once.
type Handler interface {
	// OnMessage receives one message packet; p.Data belongs to the handler.
	OnMessage(p Packet)
	// OnClose reports the end of the session with a Socket.IO reason string:
	// "transport close", "transport error", "ping timeout", "parse error",
	// "forced close", "server shutting down" or "slow client".
	OnClose(reason string)
}

// Packet is the data of one Engine.IO message packet, without its "4" type
// prefix.
type Packet struct {
	Data   []byte
	Binary bool
}

// Close reasons reported to Handler.OnClose.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonSlowClient     = "slow client"
)

// Errors returned by Session.Send.
var (
	// ErrClosed means the session is closed.
	ErrClosed = errors.New("eio: session closed")
	// ErrSlowClient means the send would have gone over MaxQueuedBytes, so
	// the session was closed.
	ErrSlowClient = errors.New("eio: slow client: send queue full")
)
