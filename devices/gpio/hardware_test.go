//go:build hardware

package gpio_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/devices"
	dgpio "gatewayd/devices/gpio"
)

// TestHardwareLoopback drives an output wired to an input on a real board
// and checks the input follows. Run it on the board with
//
//	GATEWAYD_GPIO_LOOP=GPIO27,GPIO17 go test -tags hardware -run Hardware ./devices/gpio/
//
// where the first line is the output and the second the input.
func TestHardwareLoopback(t *testing.T) {
	pair := strings.Split(os.Getenv("GATEWAYD_GPIO_LOOP"), ",")
	if len(pair) != 2 {
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatal("GATEWAYD_GPIO_LOOP=<output>,<input> is not set")
		}
		t.Skip("set GATEWAYD_GPIO_LOOP=<output>,<input> to two wired header lines")
	}
	src, err := dgpio.New(&dgpio.Options{
		Outputs:     []dgpio.Output{{Name: "out", Pin: pair[0]}},
		Inputs:      []dgpio.Input{{Name: "in", Pin: pair[1], Pull: "down", Debounce: 5 * time.Millisecond}},
		EdgeTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var states []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(u devices.Update) {
			if u.Reading != nil && u.Reading.Key == "in" {
				mu.Lock()
				states = append(states, u.Reading.Text)
				mu.Unlock()
			}
		})
	}()
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			last := ""
			if len(states) > 0 {
				last = states[len(states)-1]
			}
			mu.Unlock()
			if last == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("input never became %s; states %v", want, states)
	}
	waitState("OFF")
	for _, v := range []string{"ON", "OFF", "ON"} {
		arg, _ := json.Marshal(v)
		for {
			err := src.SendCommand(ctx, devices.Command{Device: "gpio", Name: "out", Args: arg})
			if err == nil {
				break
			}
			if err != dgpio.ErrNotRunning {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		waitState(v)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
}
