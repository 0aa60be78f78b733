package eio

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// Engine.IO packet types, as the ASCII digit that starts a text packet.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSep separates the packets of a polling payload.
const recordSep = 0x1e

// errParse reports input that is not a valid Engine.IO packet or payload.
var errParse = errors.New("eio: malformed packet")

// packet is one Engine.IO packet in either direction. For outbound packets
// data is shared with the caller of Send and never modified.
type packet struct {
	typ      byte
	bin      bool // binary message: raw frame on websocket, "b"+base64 on polling
	compress bool
	data     []byte
}

// size is what a packet counts against MaxQueuedBytes.
func (p *packet) size() int { return len(p.data) + 1 }

// decodeText decodes a text packet: one type digit then optional data.
func decodeText(b []byte) (packet, error) {
	if len(b) == 0 || b[0] < typeOpen || b[0] > typeNoop {
		return packet{}, errParse
	}
	// Capped, so a handler appending to its Data cannot overwrite the next
	// packet of the same payload.
	return packet{typ: b[0], data: b[1:len(b):len(b)]}, nil
}

// decodePollPacket decodes one packet of a polling payload, where a binary
// message is "b" followed by standard base64 (padding optional).
func decodePollPacket(b []byte) (packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		src := b[1:]
		enc := base64.StdEncoding
		if len(src)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		dst := make([]byte, enc.DecodedLen(len(src)))
		n, err := enc.Decode(dst, src)
		if err != nil {
			return packet{}, errParse
		}
		return packet{typ: typeMessage, bin: true, data: dst[:n]}, nil
	}
	return decodeText(b)
}

// decodePayload splits a polling body on the record separator and decodes
// every packet. It fails as a whole: either all packets or an error.
func decodePayload(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errParse
	}
	n := bytes.Count(body, []byte{recordSep}) + 1
	pkts := make([]packet, 0, n)
	for range n {
		rec := body
		if i := bytes.IndexByte(body, recordSep); i >= 0 {
			rec, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		p, err := decodePollPacket(rec)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// appendPollPacket appends the polling encoding of p to dst.
func appendPollPacket(dst []byte, p *packet) []byte {
	if p.bin {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, p.typ)
	return append(dst, p.data...)
}

// pollSize is the length of p in a polling payload.
func pollSize(p *packet) int {
	if p.bin {
		return 1 + base64.StdEncoding.EncodedLen(len(p.data))
	}
	return 1 + len(p.data)
}
