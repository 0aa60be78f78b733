package main

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestReadHeader decodes headers encoded by the broker's packet library.
func TestReadHeader(t *testing.T) {
	for _, size := range []int{0, 5, 127, 128, 16383, 16384, 70000} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 4,
			TopicName: "devices/x/telemetry", Payload: bytes.Repeat([]byte{'a'}, size)}
		var b bytes.Buffer
		if err := pk.PublishEncode(&b); err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(b.Bytes())
		typ, n, err := readHeader(r)
		if err != nil || typ != packets.Publish || n != r.Len() {
			t.Errorf("payload %d: type %d, length %d (rest %d), %v", size, typ, n, r.Len(), err)
		}
	}
	if _, _, err := readHeader(bytes.NewReader([]byte{0x40, 0xff, 0xff, 0xff, 0xff, 0x01})); !errors.Is(err, errBadLength) {
		t.Errorf("five length bytes: %v", err)
	}
	if _, _, err := readHeader(bytes.NewReader([]byte{0x40, 0x80})); !errors.Is(err, io.EOF) {
		t.Errorf("cut length: %v", err)
	}
}

// FuzzReadHeader feeds arbitrary bytes to the header reader: it must not
// panic, and a length it returns fits MQTT's four-byte maximum.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte{0x40, 0x02, 0x00, 0x01})
	f.Add([]byte{0x30, 0x80, 0x01})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, n, err := readHeader(bytes.NewReader(b))
		if err == nil && (n < 0 || n > 268435455) {
			t.Fatalf("length %d from % x", n, b)
		}
	})
}

// FuzzParseRates checks that -ceiling parsing never panics and only
// returns positive rates.
func FuzzParseRates(f *testing.F) {
	for _, s := range []string{"1000,2000", " 5e3 ,, 1", "x", "-1", "0", "NaN", "Inf", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRates(s)
		if err != nil {
			return
		}
		for _, v := range r {
			if !(v > 0) || math.IsInf(v, 1) {
				t.Fatalf("parseRates(%q) gave %v", s, v)
			}
		}
	})
}
