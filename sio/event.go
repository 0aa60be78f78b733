package sio

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"gatewayd/sio/internal/parser"
)

// Args are the arguments of a received event or ack: JSON values plus the
// binary attachments their placeholders name. The zero value has no
// arguments. Args are immutable and safe to share.
type Args struct {
	raw []json.RawMessage
	att [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i as received, placeholders included; nil when i is
// out of range.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// Decode decodes the arguments, in order, into the pointers dst, like
// json.Unmarshal; a binary argument fills a []byte or an interface. A nil
// pointer skips its argument; arguments beyond dst are ignored. Fewer
// arguments than dst is an error.
func (a Args) Decode(dst ...any) error {
	if len(dst) > len(a.raw) {
		return fmt.Errorf("sio: %d arguments, want %d", len(a.raw), len(dst))
	}
	for i, d := range dst {
		if d == nil {
			continue
		}
		if err := parser.Unmarshal(a.raw[i], a.att, d); err != nil {
			return fmt.Errorf("sio: argument %d: %w", i, err)
		}
	}
	return nil
}

// Values decodes every argument into a generic Go value (as json.Unmarshal
// into any does), with binary values as []byte.
func (a Args) Values() ([]any, error) {
	out := make([]any, len(a.raw))
	for i := range a.raw {
		if err := parser.Unmarshal(a.raw[i], a.att, &out[i]); err != nil {
			return nil, fmt.Errorf("sio: argument %d: %w", i, err)
		}
	}
	return out, nil
}

// Forward returns the arguments ready to be emitted or acked again
// unchanged: JSON-exact json.RawMessage values, except the arguments that
// hold binary, which are decoded with their []byte in place.
func (a Args) Forward() []any {
	out := make([]any, len(a.raw))
	for i, r := range a.raw {
		out[i] = r
		if len(a.att) > 0 {
			var v any
			if err := parser.Unmarshal(r, a.att, &v); err == nil && hasBytes(v) {
				out[i] = v
			}
		}
	}
	return out
}

func hasBytes(v any) bool {
	switch t := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range t {
			if hasBytes(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range t {
			if hasBytes(e) {
				return true
			}
		}
	}
	return false
}

// newArgs splits a JSON array payload.
func newArgs(data json.RawMessage, att [][]byte) (Args, error) {
	if len(data) == 0 {
		return Args{}, nil
	}
	raw, err := parser.SplitArray(data)
	if err != nil {
		return Args{}, err
	}
	return Args{raw: raw, att: att}, nil
}

// Event is one event received from a client, as handed to middleware and
// handlers.
type Event struct {
	// Name is the event name (a numeric name is given as its decimal text).
	Name string
	// Args are the arguments after the name.
	Args Args

	socket *Socket
	ackID  int64 // -1 without ack
	acked  atomic.Bool
}

// Socket returns the socket the event arrived on.
func (e *Event) Socket() *Socket { return e.socket }

// HasAck reports whether the client asked for an acknowledgement.
func (e *Event) HasAck() bool { return e.ackID >= 0 }

// Ack sends the acknowledgement the client asked for with args (any []byte
// travels as a binary attachment). It may be called once, from any
// goroutine; it returns ErrNoAck when the client asked for none, ErrAckSent
// on a second call and ErrDisconnected when the socket is gone.
func (e *Event) Ack(args ...any) error {
	if e.ackID < 0 {
		return ErrNoAck
	}
	if !e.acked.CompareAndSwap(false, true) {
		return ErrAckSent
	}
	data, att, err := parser.MarshalArgs(args...)
	if err != nil {
		return fmt.Errorf("sio: ack: %w", err)
	}
	return e.socket.sendPacket(&parser.Packet{Type: parser.Ack, ID: e.ackID, Data: data, Attachments: att}, "", false, true)
}
