package parser_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"gatewayd/sio/internal/parser"
)

type msg struct {
	data   string
	binary bool
}

func txt(s string) msg    { return msg{s, false} }
func bin(b ...byte) msg   { return msg{string(b), true} }
func ph(n int) string     { return `{"_placeholder":true,"num":` + string(rune('0'+n)) + `}` }
func raw(s string) []byte { return []byte(s) }
func feed(t *testing.T, d *parser.Decoder, ms ...msg) (*parser.Packet, error) {
	t.Helper()
	var p *parser.Packet
	var err error
	for i, m := range ms {
		p, err = d.Add([]byte(m.data), m.binary)
		if err != nil {
			return nil, err
		}
		if i < len(ms)-1 && p != nil {
			t.Fatalf("packet complete after message %d of %d", i+1, len(ms))
		}
	}
	return p, nil
}

// The wire strings come from the protocol notes (suite and reference probes).
var wireCases = []struct {
	name string
	msgs []msg
	want parser.Packet
}{
	{"connect main", []msg{txt("0")}, parser.Packet{Type: parser.Connect, Namespace: "/", ID: -1}},
	{"connect auth", []msg{txt(`0{"token":"123"}`)}, parser.Packet{Type: parser.Connect, Namespace: "/", ID: -1, Data: raw(`{"token":"123"}`)}},
	{"connect nsp no comma", []msg{txt("0/random")}, parser.Packet{Type: parser.Connect, Namespace: "/random", ID: -1}},
	{"connect nsp comma", []msg{txt("0/random,")}, parser.Packet{Type: parser.Connect, Namespace: "/random", ID: -1}},
	{"connect reply", []msg{txt(`0/custom,{"sid":"abc"}`)}, parser.Packet{Type: parser.Connect, Namespace: "/custom", ID: -1, Data: raw(`{"sid":"abc"}`)}},
	{"disconnect", []msg{txt("1")}, parser.Packet{Type: parser.Disconnect, Namespace: "/", ID: -1}},
	{"disconnect nsp", []msg{txt("1/custom,")}, parser.Packet{Type: parser.Disconnect, Namespace: "/custom", ID: -1}},
	{"event with ack", []msg{txt(`2456["message-with-ack",1,"2",{"3":[false]}]`)},
		parser.Packet{Type: parser.Event, Namespace: "/", ID: 456, Data: raw(`["message-with-ack",1,"2",{"3":[false]}]`)}},
	{"event nsp", []msg{txt(`2/custom,["auth",{}]`)}, parser.Packet{Type: parser.Event, Namespace: "/custom", ID: -1, Data: raw(`["auth",{}]`)}},
	{"event numeric name", []msg{txt(`2[42,"x"]`)}, parser.Packet{Type: parser.Event, Namespace: "/", ID: -1, Data: raw(`[42,"x"]`)}},
	{"ack", []msg{txt(`3456[1,"2",{"3":[false]}]`)}, parser.Packet{Type: parser.Ack, Namespace: "/", ID: 456, Data: raw(`[1,"2",{"3":[false]}]`)}},
	{"ack empty", []msg{txt(`3/a,7[]`)}, parser.Packet{Type: parser.Ack, Namespace: "/a", ID: 7, Data: raw(`[]`)}},
	{"binary event", []msg{txt(`52-["message",` + ph(0) + `,` + ph(1) + `]`), bin(1, 2, 3), bin(4, 5, 6)},
		parser.Packet{Type: parser.BinaryEvent, Namespace: "/", ID: -1, Data: raw(`["message",` + ph(0) + `,` + ph(1) + `]`),
			Attachments: [][]byte{{1, 2, 3}, {4, 5, 6}}}},
	{"binary ack", []msg{txt(`62-789[` + ph(0) + `,` + ph(1) + `]`), bin(1), bin(2)},
		parser.Packet{Type: parser.BinaryAck, Namespace: "/", ID: 789, Data: raw(`[` + ph(0) + `,` + ph(1) + `]`),
			Attachments: [][]byte{{1}, {2}}}},
	{"binary event nsp id", []msg{txt(`51-/x,3["a",` + ph(0) + `]`), bin(9)},
		parser.Packet{Type: parser.BinaryEvent, Namespace: "/x", ID: 3, Data: raw(`["a",` + ph(0) + `]`), Attachments: [][]byte{{9}}}},
}

func TestDecodeWire(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			var d parser.Decoder
			p, err := feed(t, &d, tc.msgs...)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				t.Fatal("no packet")
			}
			if !reflect.DeepEqual(*p, tc.want) {
				t.Fatalf("got %+v\nwant %+v", *p, tc.want)
			}
		})
	}
}

func TestEncodeWire(t *testing.T) {
	cases := []struct {
		p    parser.Packet
		want string
	}{
		{parser.Packet{Type: parser.Connect, Namespace: "/", ID: -1, Data: raw(`{"sid":"x"}`)}, `0{"sid":"x"}`},
		{parser.Packet{Type: parser.Connect, Namespace: "/custom", ID: -1, Data: raw(`{"sid":"x"}`)}, `0/custom,{"sid":"x"}`},
		{parser.Packet{Type: parser.ConnectError, Namespace: "/random", ID: -1, Data: raw(`{"message":"Invalid namespace"}`)}, `4/random,{"message":"Invalid namespace"}`},
		{parser.Packet{Type: parser.Ack, Namespace: "/", ID: 456, Data: raw(`[1,"2",{"3":[false]}]`)}, `3456[1,"2",{"3":[false]}]`},
		{parser.Packet{Type: parser.Disconnect, Namespace: "/custom", ID: -1}, `1/custom,`},
		{parser.Packet{Type: parser.Disconnect, Namespace: "", ID: -1}, `1`},
		// Attachments turn EVENT/ACK into their binary types, and the absence
		// of attachments turns binary types back.
		{parser.Packet{Type: parser.Event, Namespace: "/", ID: -1, Data: raw(`["message-back",` + ph(0) + `,` + ph(1) + `]`), Attachments: [][]byte{{1}, {2}}},
			`52-["message-back",` + ph(0) + `,` + ph(1) + `]`},
		{parser.Packet{Type: parser.Ack, Namespace: "/", ID: 789, Data: raw(`[` + ph(0) + `]`), Attachments: [][]byte{{1}}}, `61-789[` + ph(0) + `]`},
		{parser.Packet{Type: parser.BinaryEvent, Namespace: "/", ID: -1, Data: raw(`["a"]`)}, `2["a"]`},
		{parser.Packet{Type: parser.Event, Namespace: "/", ID: 0, Data: raw(`["a"]`)}, `20["a"]`},
	}
	for _, tc := range cases {
		if got := string(parser.Encode(&tc.p)); got != tc.want {
			t.Errorf("Encode(%+v) = %s, want %s", tc.p, got, tc.want)
		}
		if got := string(parser.AppendEncode([]byte("4"), &tc.p)); got != "4"+tc.want {
			t.Errorf("AppendEncode = %s", got)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range wireCases {
		enc := parser.Encode(&tc.want)
		msgs := []msg{txt(string(enc))}
		for _, a := range tc.want.Attachments {
			msgs = append(msgs, bin(a...))
		}
		var d parser.Decoder
		p, err := feed(t, &d, msgs...)
		if err != nil || p == nil {
			t.Fatalf("%s: decode %q: %v", tc.name, enc, err)
		}
		if !reflect.DeepEqual(*p, tc.want) {
			t.Fatalf("%s: round trip got %+v want %+v", tc.name, *p, tc.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name   string
		msgs   []msg
		server bool
	}{
		{"empty", []msg{txt("")}, false},
		{"garbage", []msg{txt("abc")}, false},
		{"type 7", []msg{txt("7")}, false},
		{"event object", []msg{txt("2{}")}, false},
		{"garbage ack id", []msg{txt(`2abc["message-with-ack",1]`)}, false},
		{"bad json", []msg{txt(`2["a",`)}, false},
		{"event empty", []msg{txt(`2[]`)}, false},
		{"event missing", []msg{txt(`2`)}, false},
		{"event name object", []msg{txt(`2[{}]`)}, false},
		{"event name null", []msg{txt(`2[null]`)}, false},
		{"reserved connect", []msg{txt(`2["connect"]`)}, false},
		{"reserved disconnecting", []msg{txt(`2/a,["disconnecting"]`)}, false},
		{"reserved newListener", []msg{txt(`2["newListener"]`)}, false},
		{"connect array", []msg{txt(`0[]`)}, false},
		{"connect string", []msg{txt(`0"x"`)}, false},
		{"disconnect payload", []msg{txt(`1{}`)}, false},
		{"ack object", []msg{txt(`31{}`)}, false},
		{"ack no id", []msg{txt(`3[]`)}, false},
		{"connect error from client", []msg{txt(`4{"message":"x"}`)}, true},
		{"connect error number", []msg{txt(`43`)}, false},
		{"binary no count", []msg{txt(`5-["a"]`)}, false},
		{"binary no dash", []msg{txt(`51["a"]`)}, false},
		{"binary zero", []msg{txt(`50-["a"]`)}, false},
		{"binary too many", []msg{txt(`511-["a"]`)}, false},
		{"stray binary", []msg{bin(1, 2)}, false},
		{"text while awaiting", []msg{txt(`51-["a",` + ph(0) + `]`), txt(`2["b"]`)}, false},
		{"placeholder out of range", []msg{txt(`51-["a",` + ph(1) + `]`), bin(1)}, false},
		{"ack id overflow", []msg{txt(`2999999999999999999999["a"]`)}, false},
		{"trailing data", []msg{txt(`2["a"]x`)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := parser.Decoder{Server: tc.server}
			_, err := feed(t, &d, tc.msgs...)
			if !errors.Is(err, parser.ErrInvalidPacket) {
				t.Fatalf("err = %v, want ErrInvalidPacket", err)
			}
			if d.Pending() {
				t.Fatal("decoder still pending after an error")
			}
		})
	}
}

func TestDecoderMaxAttachments(t *testing.T) {
	d := parser.Decoder{MaxAttachments: 2}
	if _, err := d.Add([]byte(`53-["a"]`), false); !errors.Is(err, parser.ErrInvalidPacket) {
		t.Fatalf("3 attachments over a cap of 2: err = %v", err)
	}
	if p, err := d.Add([]byte(`52-["a"]`), false); err != nil || p != nil {
		t.Fatalf("2 attachments: %v %v", p, err)
	}
}

func TestDecoderConnectErrorFromServer(t *testing.T) {
	var d parser.Decoder // a client-side decoder accepts CONNECT_ERROR
	// The suite's frame is 44/random,…: Engine.IO "4" then this packet.
	p, err := d.Add([]byte(`4/random,{"message":"Invalid namespace"}`), false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != parser.ConnectError || p.Namespace != "/random" || string(p.Data) != `{"message":"Invalid namespace"}` {
		t.Fatalf("got %+v", p)
	}
}

func TestTypeString(t *testing.T) {
	if parser.BinaryEvent.String() != "BINARY_EVENT" || parser.Type(9).String() != "Type(9)" {
		t.Fatal(parser.BinaryEvent.String(), parser.Type(9).String())
	}
}

type inner struct {
	Blob  []byte `json:"blob"`
	Label string `json:"label,omitempty"`
}

type outer struct {
	Name   string         `json:"name"`
	In     inner          `json:"in"`
	List   []inner        `json:"list"`
	ByKey  map[string]any `json:"byKey"`
	Skip   []byte         `json:"-"`
	hidden []byte
	Any    any `json:"any"`
}

func TestMarshalArgs(t *testing.T) {
	data, att, err := parser.MarshalArgs()
	if err != nil || string(data) != "[]" || att != nil {
		t.Fatalf("no args: %s %v %v", data, att, err)
	}
	data, att, err = parser.MarshalArgs("x", 1, true, nil, map[string]int{"b": 2, "a": 1}, json.RawMessage(`{"raw":1}`))
	if err != nil || string(data) != `["x",1,true,null,{"a":1,"b":2},{"raw":1}]` || len(att) != 0 {
		t.Fatalf("plain: %s %v %v", data, att, err)
	}
	data, att, err = parser.MarshalArgs(
		[]byte{1},
		[]any{"x", []byte{2}},
		map[string]any{"z": []byte{4}, "a": []byte{3}},
		outer{Name: "n", In: inner{Blob: []byte{5}}, List: []inner{{Blob: []byte{6}, Label: "l"}}, Skip: []byte{9}, hidden: []byte{9}, Any: []byte{7}},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := `[` + ph(0) + `,["x",` + ph(1) + `],{"a":` + ph(2) + `,"z":` + ph(3) + `},` +
		`{"name":"n","in":{"blob":` + ph(4) + `},"list":[{"blob":` + ph(5) + `,"label":"l"}],"byKey":null,"any":` + ph(6) + `}]`
	if string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
	for i, a := range att {
		if len(a) != 1 || a[0] != byte(i+1) {
			t.Fatalf("attachment %d = %v", i, a)
		}
	}
	if len(att) != 7 {
		t.Fatalf("%d attachments", len(att))
	}
	if _, _, err := parser.MarshalArgs(func() {}); err == nil {
		t.Fatal("a func argument must fail")
	}
}

func TestSplitArray(t *testing.T) {
	elems, err := parser.SplitArray(json.RawMessage(` [ "a,]" , {"b":[1,2]} ,3, null,"\"]"] `))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"a,]"`, `{"b":[1,2]}`, `3`, `null`, `"\"]"`}
	if len(elems) != len(want) {
		t.Fatalf("got %q", elems)
	}
	for i := range want {
		if string(elems[i]) != want[i] {
			t.Fatalf("elem %d = %s, want %s", i, elems[i], want[i])
		}
	}
	if e, err := parser.SplitArray(json.RawMessage(`[]`)); err != nil || len(e) != 0 {
		t.Fatal(e, err)
	}
	for _, bad := range []string{``, `{}`, `[`, `[1,]`, `[1 2]`, `[1]x`, `"s"`, `[{]`} {
		if _, err := parser.SplitArray(json.RawMessage(bad)); err == nil {
			t.Errorf("SplitArray(%q) succeeded", bad)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	att := [][]byte{{1, 2, 3}, {4, 5}}
	rawv := json.RawMessage(`{"name":"n","in":{"blob":` + ph(0) + `},"list":[{"blob":` + ph(1) + `}],"byKey":{"k":` + ph(1) + `},"any":[` + ph(0) + `,"x"]}`)
	var o outer
	if err := parser.Unmarshal(rawv, att, &o); err != nil {
		t.Fatal(err)
	}
	if o.Name != "n" || !bytes.Equal(o.In.Blob, att[0]) || !bytes.Equal(o.List[0].Blob, att[1]) {
		t.Fatalf("typed: %+v", o)
	}
	if b, ok := o.ByKey["k"].([]byte); !ok || !bytes.Equal(b, att[1]) {
		t.Fatalf("map[string]any field: %#v", o.ByKey)
	}
	if l, ok := o.Any.([]any); !ok || !bytes.Equal(l[0].([]byte), att[0]) || l[1] != "x" {
		t.Fatalf("any field: %#v", o.Any)
	}
	var a any
	if err := parser.Unmarshal(json.RawMessage(`{"data":`+ph(0)+`,"n":1}`), att, &a); err != nil {
		t.Fatal(err)
	}
	m := a.(map[string]any)
	if !bytes.Equal(m["data"].([]byte), att[0]) || m["n"] != 1.0 {
		t.Fatalf("any: %#v", a)
	}
	var b []byte
	if err := parser.Unmarshal(json.RawMessage(ph(1)), att, &b); err != nil || !bytes.Equal(b, att[1]) {
		t.Fatalf("[]byte: %v %v", b, err)
	}
	var s string
	if err := parser.Unmarshal(json.RawMessage(`"plain"`), nil, &s); err != nil || s != "plain" {
		t.Fatal(s, err)
	}
	if err := parser.Unmarshal(json.RawMessage(ph(5)), att, &a); err == nil {
		t.Fatal("placeholder beyond the attachments must fail")
	}
	if err := parser.Unmarshal(json.RawMessage(`{"a":1}`), nil, &s); err == nil {
		t.Fatal("type mismatch must fail")
	}
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	in := outer{Name: "n", In: inner{Blob: []byte("hello")}, List: []inner{{Blob: []byte{0, 255}}}, Any: map[string]any{"b": []byte{7}}}
	data, att, err := parser.MarshalArgs(in)
	if err != nil {
		t.Fatal(err)
	}
	elems, err := parser.SplitArray(data)
	if err != nil || len(elems) != 1 {
		t.Fatal(elems, err)
	}
	var out outer
	if err := parser.Unmarshal(elems[0], att, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %#v\nwant %#v", out, in)
	}
}

// FuzzDecoder feeds arbitrary messages to a Decoder. It must never panic, and
// every packet it accepts must encode to messages that decode to the same
// packet.
func FuzzDecoder(f *testing.F) {
	seeds := []string{
		"0", `0{"token":"123"}`, "0/random", "0/random,", "1", "1/custom,",
		`2456["message-with-ack",1,"2",{"3":[false]}]`, `2/custom,["auth",{}]`,
		`3456[1,"2",{"3":[false]}]`, `44/random,{"message":"Invalid namespace"}`,
		`52-["message",` + ph(0) + `,` + ph(1) + `]`, `62-789[` + ph(0) + `,` + ph(1) + `]`,
		"abc", "2{}", `2abc["x",1]`, `2["connect"]`, `5-[]`, `50-["a"]`, `2/,["a"]`, `0/a,5{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), byte(2), []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, text []byte, nbin byte, blob []byte) {
		var d parser.Decoder
		p, err := d.Add(text, false)
		for i := 0; err == nil && p == nil && i < int(nbin%12); i++ {
			p, err = d.Add(blob, true)
		}
		if err != nil || p == nil {
			return
		}
		enc := parser.Encode(p)
		var d2 parser.Decoder
		q, err := d2.Add(enc, false)
		for i := 0; err == nil && q == nil && i < len(p.Attachments); i++ {
			q, err = d2.Add(p.Attachments[i], true)
		}
		if err != nil || q == nil {
			t.Fatalf("re-decode of %q (from %q): %v", enc, text, err)
		}
		if p.Type == parser.BinaryEvent && len(p.Attachments) == 0 || !reflect.DeepEqual(normal(p), normal(q)) {
			t.Fatalf("unstable: %+v -> %q -> %+v", p, enc, q)
		}
		if string(parser.Encode(q)) != string(enc) {
			t.Fatalf("encode not stable: %q vs %q", enc, parser.Encode(q))
		}
	})
}

func normal(p *parser.Packet) parser.Packet {
	c := *p
	if len(c.Attachments) == 0 {
		c.Attachments = nil
	}
	return c
}

func BenchmarkEncode(b *testing.B) {
	p := parser.Packet{Type: parser.Event, Namespace: "/devices", ID: -1, Data: raw(`["reading",{"device":"t-1","value":21.5,"unit":"C","ts":1732580000000}]`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = parser.AppendEncode(buf[:0], &p)
	}
}

func BenchmarkDecode(b *testing.B) {
	msg := []byte(`2/devices,12["reading",{"device":"t-1","value":21.5,"unit":"C","ts":1732580000000}]`)
	b.ReportAllocs()
	for b.Loop() {
		var d parser.Decoder
		if _, err := d.Add(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	msg := []byte(`51-["blob",` + ph(0) + `]`)
	blob := bytes.Repeat([]byte{7}, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var d parser.Decoder
		if _, err := d.Add(msg, false); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Add(blob, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalArgs(b *testing.B) {
	type reading struct {
		Device string  `json:"device"`
		Value  float64 `json:"value"`
	}
	r := reading{"t-1", 21.5}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parser.MarshalArgs("reading", r); err != nil {
			b.Fatal(err)
		}
	}
}

type hiddenInner struct {
	Blob []byte `json:"blob"`
	N    int    `json:"n"`
	Any  any    `json:"any"`
}

type withHidden struct {
	hiddenInner
	Name string `json:"name"`
}

func TestUnexportedEmbeddedDoesNotPanic(t *testing.T) {
	_, _, err := parser.MarshalArgs(withHidden{hiddenInner: hiddenInner{Blob: []byte{1}, N: 2}, Name: "x"})
	if err != nil {
		t.Fatal(err) // encoding/json reaches promoted fields; so do we
	}
	data, att, err := parser.MarshalArgs(withHidden{Name: "x"})
	if err != nil || len(att) != 0 || string(data) != `[{"blob":null,"n":0,"any":null,"name":"x"}]` {
		t.Fatalf("%s %v", data, err)
	}
	var out withHidden
	raw := json.RawMessage(`{"blob":` + ph(0) + `,"n":2,"any":` + ph(0) + `,"name":"x"}`)
	if err := parser.Unmarshal(raw, [][]byte{{9}}, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Blob, []byte{9}) || out.N != 2 || out.Name != "x" {
		t.Fatalf("%+v", out)
	}
}

// FuzzUnmarshal decodes arbitrary JSON with attachments into generic and
// typed targets. It must never panic, and a generic value it produces must
// marshal back to arguments that decode to the same value.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"a":` + ph(0) + `}`, `[` + ph(0) + `,` + ph(1) + `]`, ph(0), `"x"`, `{"_placeholder":true,"num":1.5}`,
		`{"_placeholder":true,"num":-1}`, `{"blob":` + ph(0) + `,"list":[{"blob":` + ph(1) + `}],"any":[` + ph(0) + `]}`, `null`,
	} {
		f.Add([]byte(s), []byte{1, 2}, []byte{3})
	}
	f.Fuzz(func(t *testing.T, raw, a, b []byte) {
		att := [][]byte{a, b}
		var o outer
		_ = parser.Unmarshal(raw, att, &o)
		var v any
		if err := parser.Unmarshal(raw, att, &v); err != nil {
			return
		}
		data, att2, err := parser.MarshalArgs(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		elems, err := parser.SplitArray(data)
		if err != nil || len(elems) != 1 {
			t.Fatalf("split %s: %v", data, err)
		}
		var w any
		if err := parser.Unmarshal(elems[0], att2, &w); err != nil {
			t.Fatalf("re-decode %s: %v", elems[0], err)
		}
		if !reflect.DeepEqual(normalBytes(v), normalBytes(w)) {
			t.Fatalf("%#v became %#v", v, w)
		}
	})
}

// normalBytes maps empty []byte to nil-equivalent form for comparison.
func normalBytes(v any) any {
	switch t := v.(type) {
	case []byte:
		return string(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalBytes(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalBytes(e)
		}
		return out
	}
	return v
}

// FuzzString checks the fast string decoder against encoding/json: the same
// string for every input json.Unmarshal takes, an error for every input it
// refuses.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"reading"`, `"a\"b"`, `"\u00e9t\u00e9"`, "\"\xff\"", `""`, `"`, ` "x"`, `"x" `, `12`, `"tab	in"`, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parser.String(raw)
		var want string
		wantErr := json.Unmarshal(raw, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("String(%q) error %v, json.Unmarshal error %v", raw, err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("String(%q) = %q, json.Unmarshal gives %q", raw, got, want)
		}
	})
}
