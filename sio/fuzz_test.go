package sio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"gatewayd/sio"
	"gatewayd/sio/internal/eio"
	"gatewayd/sio/internal/parser"
)

// FuzzServerInput feeds one client's arbitrary Engine.IO messages to the
// interop app. Messages are separated by 0x1e; a message starting with 'b'
// is binary. The server must never panic, and must close the connection
// with "parse error" or keep it open, never anything else.
func FuzzServerInput(f *testing.F) {
	seeds := []string{
		"0",
		"0\x1e2[\"echo\",1]",
		"0\x1e21[\"echo\",1,\"2\",{\"3\":[false]}]",
		"0{\"token\":\"bad\"}\x1e0",
		"0/custom,\x1e2/custom,5[\"echo\"]\x1e1/custom,",
		"0\x1e51-[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1eb\x01\x02",
		"0\x1e23[\"join\",\"r\"]\x1e2[\"to-room\",\"r\",\"x\",1]\x1e24[\"rooms\"]",
		"0\x1e2[\"get-binary\"]\x1e2[\"volatile\",3]\x1e30[1]",
		"0/dyn-1\x1e0/nope\x1e0/dyn-1",
		"abc", "2{}", "0\x1e2abc[\"x\"]", "0\x1e0", "4{}", "b\x01",
		"0\x1e2[\"disconnect-me\"]\x1e2[\"x\"]",
		"0\x1e2[\"drop-me\"]",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	srv := newInteropApp(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := dial(t, srv)
		for _, m := range bytes.Split(in, []byte{0x1e}) {
			if c.isClosed() {
				break
			}
			if len(m) > 0 && m[0] == 'b' {
				c.binary(m[1:])
			} else {
				c.text(string(m))
			}
		}
		reason, closed := c.sess.closeReason()
		if closed && reason != "parse error" && reason != "forced close" && reason != "forced server close" {
			t.Fatalf("closed with %q", reason)
		}
		c.sess.Close(eio.ReasonTransportClose)
		<-c.sess.done
	})
}

// FuzzRecoveryConnect feeds arbitrary CONNECT payloads to a server with
// recovery on, where a session "known-pid" is kept after offset "o1". The
// server must never panic: it answers CONNECT with a sid and a pid (or
// CONNECT_ERROR when the input named another namespace), or closes the
// connection with "parse error".
func FuzzRecoveryConnect(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"pid":"known-pid","offset":"o1"}`, `{"pid":"known-pid"}`,
		`{"pid":"known-pid","offset":"nope"}`, `{"pid":1,"offset":2}`, `{"pid":null}`,
		`{"pid":"known-pid","offset":["o1"]}`, `{"pid":"x","offset":"o1","token":"t"}`,
		`[1]`, `"str"`, `{"pid":`, `{"pid":"\u0000"}`,
	} {
		f.Add(s)
	}
	store := sio.NewMemorySessionStore(nil)
	srv := sio.NewServer(&sio.Options{Recovery: &sio.RecoveryOptions{Store: store}})
	f.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := store.Append(ctx, &sio.StoredPacket{Offset: "o1", Namespace: "/", Data: []byte(`["a"]`)}); err != nil {
		f.Fatal(err)
	}
	if _, err := store.Append(ctx, &sio.StoredPacket{Namespace: "/", Rooms: []string{"r"}, Data: []byte(`["b",1]`)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		_ = store.SaveSession(ctx, &sio.Session{PID: "known-pid", SID: "known-sid", Namespace: "/", Rooms: []string{"r", "known-sid"}, DisconnectedAt: time.Now()})
		c := dial(t, srv)
		c.text("0" + auth)
		var p *parser.Packet
		ok := false
		for deadline := time.Now().Add(2 * time.Second); !ok && !c.isClosed() && time.Now().Before(deadline); {
			p, ok = c.tryNext(5 * time.Millisecond)
		}
		if !ok {
			if reason, closed := c.sess.closeReason(); !closed || reason != "parse error" {
				t.Fatalf("no CONNECT reply, closed %v with %q", closed, reason)
			}
			return
		}
		if p.Type == parser.ConnectError && p.Namespace != "/" {
			return // the payload began with a namespace name
		}
		var reply map[string]string
		if p.Type != parser.Connect || json.Unmarshal(p.Data, &reply) != nil || reply["sid"] == "" || reply["pid"] == "" {
			t.Fatalf("CONNECT reply %s", parser.Encode(p))
		}
		if reply["sid"] == "known-sid" {
			// Recovered: the packet for room r follows, with its offset.
			if p := c.next(); !jsonHasStringLast(p.Data) {
				t.Fatalf("replayed %s", parser.Encode(p))
			}
		}
		c.sess.Close(eio.ReasonTransportClose)
		<-c.sess.done
	})
}
