package eio

// TestPacket exposes a decoded packet to the external tests.
type TestPacket struct {
	Type   byte
	Binary bool
	Data   []byte
}

// DecodePayload decodes a polling payload for tests.
func DecodePayload(b []byte) ([]TestPacket, error) {
	pkts, err := decodePayload(b)
	if err != nil {
		return nil, err
	}
	out := make([]TestPacket, len(pkts))
	for i, p := range pkts {
		out[i] = TestPacket{Type: p.typ, Binary: p.bin, Data: p.data}
	}
	return out, nil
}

// EncodePayload encodes packets as a polling payload for tests.
func EncodePayload(pkts []TestPacket) []byte {
	var b []byte
	for i, p := range pkts {
		if i > 0 {
			b = append(b, recordSep)
		}
		b = appendPollPacket(b, &packet{typ: p.Type, bin: p.Binary, data: p.Data})
	}
	return b
}

// DecodeText decodes one websocket text packet for tests.
func DecodeText(b []byte) (TestPacket, error) {
	p, err := decodeText(b)
	return TestPacket{Type: p.typ, Data: p.data}, err
}
