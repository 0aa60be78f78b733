// Package parser encodes and decodes Socket.IO protocol v5 packets, binary
// attachments included. It is made of pure functions: no I/O, no goroutines.
//
// A packet travels as the data of one Engine.IO message; a packet with binary
// attachments (BinaryEvent, BinaryAck) is followed by one Engine.IO binary
// message per attachment. Encode and AppendEncode produce the text part,
// Decoder reassembles incoming messages into packets, and MarshalArgs,
// SplitArray and Unmarshal convert between Go values and the JSON payloads,
// replacing []byte values by placeholders and back.
package parser

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Type is the type of a Socket.IO packet, the first character on the wire.
type Type byte

// Packet types of Socket.IO protocol v5.
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the protocol name of t, such as "BINARY_EVENT".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one Socket.IO packet.
type Packet struct {
	Type Type
	// Namespace is the namespace name; "/" when absent on the wire.
	Namespace string
	// ID is the ack id; -1 when absent.
	ID int64
	// Data is the JSON payload as on the wire (placeholders kept); nil when absent.
	Data json.RawMessage
	// Attachments are the binary attachments in placeholder order
	// (BinaryEvent and BinaryAck only).
	Attachments [][]byte
}

// ErrInvalidPacket is wrapped by every error Decoder.Add returns for input the
// protocol forbids.
var ErrInvalidPacket = errors.New("parser: invalid packet")

// Encode returns the text form of p (what goes after the Engine.IO "4"). Its
// attachments, if any, are p.Attachments and travel as separate binary
// messages. An Event or Ack with attachments is written as BinaryEvent or
// BinaryAck "5<n>-..." automatically, and a binary type without attachments
// as its text type.
func Encode(p *Packet) []byte {
	return AppendEncode(make([]byte, 0, EncodedLen(p)), p)
}

// EncodedLen is an upper bound of the length of p's text form, for sizing
// the buffer given to AppendEncode.
func EncodedLen(p *Packet) int {
	return 1 + 4 + len(p.Namespace) + 1 + 20 + len(p.Data)
}

// AppendEncode appends the text form of p to dst and returns the extended
// buffer, so callers can reuse pooled buffers.
func AppendEncode(dst []byte, p *Packet) []byte {
	t := p.Type
	n := len(p.Attachments)
	switch {
	case n > 0 && t == Event:
		t = BinaryEvent
	case n > 0 && t == Ack:
		t = BinaryAck
	case n == 0 && t == BinaryEvent:
		t = Event
	case n == 0 && t == BinaryAck:
		t = Ack
	}
	dst = append(dst, '0'+byte(t))
	if t == BinaryEvent || t == BinaryAck {
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}
