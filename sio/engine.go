package sio

import (
	"net/http"

	"gatewayd/sio/internal/eio"
)

// session is what sio needs from one Engine.IO connection. *eio.Session
// satisfies it; tests use an in-memory fake.
type session interface {
	ID() string
	Request() *http.Request
	Transport() string
	Send(compress bool, pkts ...eio.Packet) error
	SendVolatile(compress bool, pkts ...eio.Packet) bool
	Close(reason string)
}

// engine is the Engine.IO server sio runs on.
type engine interface {
	http.Handler
	Close()
}

// newEngine builds the Engine.IO server. open is called for every new
// session, before its handshake is written, and returns the session's
// handler.
func newEngine(opts *eio.Options, open func(session) eio.Handler) engine {
	return eio.NewServer(opts, func(s *eio.Session) eio.Handler { return open(s) })
}

var _ session = (*eio.Session)(nil)
