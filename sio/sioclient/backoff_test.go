package sioclient_test

import (
	"testing"
	"time"

	"gatewayd/sio/sioclient"
)

// The delays follow the JS client: ReconnectionDelay doubled per attempt,
// spread by ±RandomizationFactor, capped at ReconnectionDelayMax.
func TestBackoff(t *testing.T) {
	c, err := sioclient.New("http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for n, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		lo, hi := base/2, min(base*3/2, 5*time.Second)
		var spread bool
		first := c.Backoff(n)
		for range 200 {
			d := c.Backoff(n)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n, d, lo, hi)
			}
			if d != first {
				spread = true
			}
		}
		if !spread {
			t.Fatalf("attempt %d: 200 delays all %v: no jitter", n, first)
		}
	}
	for range 100 {
		if d := c.Backoff(30); d > 5*time.Second {
			t.Fatalf("attempt 30: %v over the 5s cap", d)
		}
	}
	exact, _ := sioclient.New("http://127.0.0.1:1/", &sioclient.Options{RandomizationFactor: -1,
		ReconnectionDelay: 100 * time.Millisecond, ReconnectionDelayMax: time.Second})
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if d := exact.Backoff(n); d != want*time.Millisecond {
			t.Errorf("no jitter, attempt %d: %v, want %v", n, d, want*time.Millisecond)
		}
	}
}
