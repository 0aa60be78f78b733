package sio

import "gatewayd/sio/internal/eio"

// Session is the engine session interface, for the fake in the tests.
type Session = session

// OpenForTest attaches a fake Engine.IO session to s as the real engine
// would when a client completes its handshake.
func (s *Server) OpenForTest(sess Session) eio.Handler { return s.open(sess) }

// EngineOptionsForTest returns the Engine.IO options s was built with.
func (s *Server) EngineOptionsForTest() *eio.Options { return s.opts.engineOptions() }

// OptionsForTest returns the options of s, defaults filled.
func (s *Server) OptionsForTest() Options { return s.opts }
