package sio_test

import (
	"bytes"
	"testing"

	"gatewayd/sio/internal/eio"
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
