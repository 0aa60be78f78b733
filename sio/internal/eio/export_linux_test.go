package eio

// ParkedCount returns how many websockets wait on the server's reactor.
func (s *Server) ParkedCount() int {
	r := s.reactor.Load()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.parked)
}

// ReadBufSize returns the size of the read buffer under the session's
// websocket, 0 while it is dropped, or -1 before the websocket was parked.
func (s *Session) ReadBufSize() int {
	s.mu.Lock()
	br := s.br
	s.mu.Unlock()
	if br == nil {
		return -1
	}
	s.brMu.Lock()
	defer s.brMu.Unlock()
	return br.Size()
}
