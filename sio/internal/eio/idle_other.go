//go:build !linux

package eio

import "net"

// waitReadable is a no-op where peeking at a socket is not wired up; the
// websocket reader then waits inside coder/websocket's Read.
func waitReadable(net.Conn) {}
