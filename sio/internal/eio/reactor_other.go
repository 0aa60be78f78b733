//go:build !linux

package eio

import "net"

// reactor is not implemented outside Linux: an idle websocket waits on a
// goroutine of its own.
type reactor struct{}

func newReactor(*Server) *reactor { return nil }

func (r *reactor) park(*Session, net.Conn) bool { return false }

func (r *reactor) forget(*Session) {}

func (r *reactor) stop() {}
