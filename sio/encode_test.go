package sio

import (
	"encoding/json"
	"testing"

	"gatewayd/sio/internal/parser"
)

// FuzzAppendJSONString checks the offset encoder against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "1234", "a\"b", "x\\y", "<&>", "é", "\xff", "\u2028", "tab\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want x%s", s, got, want)
		}
	})
}

// TestEncodePacketsWithOffset checks that the one-buffer encoding of a
// recorded broadcast is the packet encoding of the payload with the offset
// appended, with and without a namespace, ack id and attachments.
func TestEncodePacketsWithOffset(t *testing.T) {
	for _, p := range []parser.Packet{
		{Type: parser.Event, Namespace: "/", ID: -1, Data: json.RawMessage(`["reading",{"d":"x","v":1}]`)},
		{Type: parser.Event, Namespace: "/admin", ID: 12, Data: json.RawMessage(`["e"]`)},
		{Type: parser.Event, Namespace: "/", ID: -1, Data: json.RawMessage(`["bin",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2}}},
	} {
		for _, off := range []string{"42", "a\"b"} {
			got := encodePackets(&p, off)
			q := p
			q.Data = appendWithOffset(nil, p.Data, off)
			want := parser.Encode(&q)
			if string(got[0].Data) != string(want) || len(got) != 1+len(p.Attachments) {
				t.Fatalf("encodePackets(%s, %q) = %s (%d packets), want %s", p.Data, off, got[0].Data, len(got), want)
			}
		}
	}
}
