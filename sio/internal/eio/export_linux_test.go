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
