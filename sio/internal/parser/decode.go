package parser

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// DefaultMaxAttachments is the attachment count limit a zero
// Decoder.MaxAttachments means (the reference server's limit).
const DefaultMaxAttachments = 10

// reserved lists the event names a peer may not emit.
var reserved = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}

// Decoder turns a session's Engine.IO messages into packets: a text message
// starts a packet; a binary packet then waits for its n binary messages.
// The zero value is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxAttachments caps the attachment count of one packet. Zero means
	// DefaultMaxAttachments.
	MaxAttachments int
	// Server makes the decoder refuse CONNECT_ERROR packets, which only a
	// server may send.
	Server bool

	pending *Packet
	want    int
}

// Add feeds one Engine.IO message. It returns a complete packet, or (nil, nil)
// while attachments are still awaited, or an error wrapping ErrInvalidPacket
// for anything the protocol forbids. After an error the caller should close
// the connection ("parse error"); the decoder itself is reset. Add keeps
// binary data slices in the returned packet without copying them.
func (d *Decoder) Add(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, invalid("binary message while no attachment is awaited")
		}
		p := d.pending
		p.Attachments = append(p.Attachments, data)
		if len(p.Attachments) < d.want {
			return nil, nil
		}
		d.pending, d.want = nil, 0
		if err := checkPlaceholders(p.Data, len(p.Attachments)); err != nil {
			return nil, err
		}
		return p, nil
	}
	if d.pending != nil {
		d.pending, d.want = nil, 0
		return nil, invalid("text message while attachments are awaited")
	}
	max := d.MaxAttachments
	if max <= 0 {
		max = DefaultMaxAttachments
	}
	p, n, err := decodeText(data, max, d.Server)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.pending, d.want = p, n
		return nil, nil
	}
	return p, nil
}

// Pending reports whether the decoder waits for attachments.
func (d *Decoder) Pending() bool { return d.pending != nil }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPacket}, args...)...)
}

// decodeText parses the text form of a packet and returns it with the number
// of attachments still to come.
func decodeText(s []byte, maxAttachments int, server bool) (*Packet, int, error) {
	if len(s) == 0 {
		return nil, 0, invalid("empty message")
	}
	if s[0] < '0' || s[0] > '6' {
		return nil, 0, invalid("unknown packet type %q", s[0])
	}
	p := &Packet{Type: Type(s[0] - '0'), Namespace: "/", ID: -1}
	if server && p.Type == ConnectError {
		return nil, 0, invalid("CONNECT_ERROR from a client")
	}
	i := 1
	n := 0
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int(s[i]-'0')
			i++
			if n > maxAttachments {
				return nil, 0, invalid("more than %d attachments", maxAttachments)
			}
		}
		if i == start || i >= len(s) || s[i] != '-' {
			return nil, 0, invalid("bad attachment count")
		}
		if n < 1 {
			return nil, 0, invalid("attachment count %d", n)
		}
		i++
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		nsp := s[start:i]
		if !utf8.Valid(nsp) {
			return nil, 0, invalid("namespace is not UTF-8")
		}
		p.Namespace = string(nsp)
		if i < len(s) {
			i++ // the comma
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		var id int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			d := int64(s[i] - '0')
			if id > (math.MaxInt64-d)/10 {
				return nil, 0, invalid("ack id overflows")
			}
			id = id*10 + d
			i++
		}
		p.ID = id
	}
	if i < len(s) {
		p.Data = json.RawMessage(s[i:])
		if !json.Valid(p.Data) {
			return nil, 0, invalid("payload is not JSON")
		}
	}
	if err := checkShape(p); err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// checkShape refuses payloads of the wrong shape for the packet type.
func checkShape(p *Packet) error {
	first := firstByte(p.Data)
	switch p.Type {
	case Connect:
		if p.Data != nil && first != '{' {
			return invalid("CONNECT payload is not an object")
		}
	case Disconnect:
		if p.Data != nil {
			return invalid("DISCONNECT with a payload")
		}
	case ConnectError:
		if first != '{' && first != '"' {
			return invalid("CONNECT_ERROR payload is not an object or a string")
		}
	case Event, BinaryEvent:
		if first != '[' {
			return invalid("EVENT payload is not an array")
		}
		// The whole payload is valid JSON already: only the first element
		// needs looking at.
		i := skipSpace(p.Data, skipSpace(p.Data, 0)+1)
		if i >= len(p.Data) || p.Data[i] == ']' {
			return invalid("EVENT payload is empty")
		}
		end := scanValue(p.Data, i)
		first := p.Data[i:end]
		switch c := first[0]; {
		case c == '"':
			name, err := String(first)
			if err != nil {
				return invalid("event name: %v", err)
			}
			if reserved[name] {
				return invalid("reserved event name %q", name)
			}
		case c == '-' || (c >= '0' && c <= '9'):
		default:
			return invalid("event name is neither a string nor a number")
		}
	case Ack, BinaryAck:
		if first != '[' {
			return invalid("ACK payload is not an array")
		}
		if p.ID < 0 {
			return invalid("ACK without an id")
		}
	}
	return nil
}

// firstByte returns the first non-space byte of a JSON text, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// checkPlaceholders verifies that every placeholder in data points at one of
// the n attachments.
func checkPlaceholders(data json.RawMessage, n int) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return invalid("payload: %v", err)
	}
	return walkPlaceholders(v, func(m map[string]any) error {
		if _, err := placeholderNum(m, n); err != nil {
			return err
		}
		return nil
	})
}

// isPlaceholder reports whether m is a {"_placeholder":true,...} object.
func isPlaceholder(m map[string]any) bool {
	b, ok := m["_placeholder"].(bool)
	return ok && b
}

func placeholderNum(m map[string]any, n int) (int, error) {
	f, ok := m["num"].(float64)
	if !ok || f != math.Trunc(f) || f < 0 || f >= float64(n) {
		return 0, invalid("placeholder %v does not name one of %d attachments", m["num"], n)
	}
	return int(f), nil
}

// walkPlaceholders calls fn for every placeholder object inside v.
func walkPlaceholders(v any, fn func(map[string]any) error) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walkPlaceholders(e, fn); err != nil {
				return err
			}
		}
	case map[string]any:
		if isPlaceholder(v) {
			return fn(v)
		}
		for _, e := range v {
			if err := walkPlaceholders(e, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
