package sio

import (
	"time"

	"gatewayd/sio/internal/eio"
)

// EngineSession is the engine session interface, for the fake in the tests.
type EngineSession = session

// OpenForTest attaches a fake Engine.IO session to s as the real engine
// would when a client completes its handshake.
func (s *Server) OpenForTest(sess EngineSession) eio.Handler { return s.open(sess) }

// EngineOptionsForTest returns the Engine.IO options s was built with.
func (s *Server) EngineOptionsForTest() *eio.Options { return s.opts.engineOptions() }

// OptionsForTest returns the options of s, defaults filled.
func (s *Server) OptionsForTest() Options { return s.opts }

// SetClockForTest replaces the clock of s and of its in-memory recovery
// store, if any. Call it before any client connects.
func (s *Server) SetClockForTest(now func() time.Time) {
	s.now = now
	if s.opts.Recovery != nil {
		if m, ok := s.opts.Recovery.Store.(*MemorySessionStore); ok {
			m.SetClockForTest(now)
		}
	}
}

// SetClockForTest replaces the clock of m.
func (m *MemorySessionStore) SetClockForTest(now func() time.Time) {
	m.mu.Lock()
	m.now = now
	m.mu.Unlock()
}

// WorkersRunningForTest counts the connections of s whose worker goroutine
// is running.
func (s *Server) WorkersRunningForTest() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for c := range s.conns {
		c.mu.Lock()
		if c.working {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// QueueSizeForTest is the packets a connection may have waiting.
const QueueSizeForTest = queueSize
