package eio_test

import (
	"bytes"
	"testing"

	"gatewayd/sio/internal/eio"
)

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "bAQID", "2probe", "3",
		"1", "6", "", "\x1e", "abc", "4a\x1e", "b", "b====", "bAQ!!", "4é€\x1e5\x1e6",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := eio.DecodePayload(body)
		if err != nil {
			return
		}
		if len(pkts) == 0 {
			t.Fatal("no packets and no error")
		}
		for _, p := range pkts {
			if p.Type < '0' || p.Type > '6' {
				t.Fatalf("bad type %q", p.Type)
			}
			if p.Binary && p.Type != '4' {
				t.Fatal("binary packet that is not a message")
			}
		}
		// Encoding what was decoded gives a payload that decodes the same.
		again, err := eio.DecodePayload(eio.EncodePayload(pkts))
		if err != nil || len(again) != len(pkts) {
			t.Fatalf("re-decode: %d packets, %v", len(again), err)
		}
		for i := range pkts {
			if again[i].Type != pkts[i].Type || again[i].Binary != pkts[i].Binary || !bytes.Equal(again[i].Data, pkts[i].Data) {
				t.Fatalf("packet %d: %+v != %+v", i, again[i], pkts[i])
			}
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"4hello", "2probe", "5", "", "abc", "7", "4\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := eio.DecodeText(b)
		if err != nil {
			if len(b) > 0 && b[0] >= '0' && b[0] <= '6' {
				t.Fatalf("valid type refused: %q", b)
			}
			return
		}
		if p.Type != b[0] || !bytes.Equal(p.Data, b[1:]) {
			t.Fatalf("decode %q = %+v", b, p)
		}
	})
}
