package clock_test

import (
	"context"
	"testing"
	"time"

	"gatewayd/devices/internal/clock"
)

func TestFakeFiresInOrderWhenDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clock.NewFake(t0)
	late, early := f.After(2*time.Second), f.After(time.Second)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
	if f.Waiters() != 2 {
		t.Fatalf("waiters %d, want 2", f.Waiters())
	}
	f.Advance(1500 * time.Millisecond)
	select {
	case got := <-early:
		if !got.Equal(t0.Add(1500 * time.Millisecond)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("due waiter did not fire")
	}
	select {
	case <-late:
		t.Fatal("waiter fired early")
	default:
	}
	f.Set(t0) // never backwards
	if !f.Now().Equal(t0.Add(1500 * time.Millisecond)) {
		t.Fatal("Set moved the clock backwards")
	}
	f.Set(t0.Add(time.Hour))
	<-late
	if f.Waiters() != 0 {
		t.Fatal("fired waiters not removed")
	}
}

func TestBlockUntil(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	go func() { <-f.After(time.Second) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := f.BlockUntil(short, 2); err == nil {
		t.Fatal("BlockUntil(2) returned with one waiter")
	}
	var r clock.Real
	if d := time.Since(r.Now()); d < 0 || d > time.Second {
		t.Fatalf("Real.Now off by %v", d)
	}
}
