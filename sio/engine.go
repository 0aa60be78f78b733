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
//
// INTEGRATION POINT: once package eio provides NewServer and Session, the
// body becomes:
//
//	return eio.NewServer(opts, func(s *eio.Session) eio.Handler { return open(s) })
//
// (*eio.Server has ServeHTTP and Close, so it is an engine.) Until then the
// server answers every request with 503.
func newEngine(opts *eio.Options, open func(session) eio.Handler) engine {
	_ = opts
	_ = open
	return unwiredEngine{}
}

// unwiredEngine stands in for the Engine.IO server until it is plugged in.
type unwiredEngine struct{}

func (unwiredEngine) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "sio: engine not wired", http.StatusServiceUnavailable)
}

func (unwiredEngine) Close() {}
