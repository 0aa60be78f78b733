package gateway_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/devices"
	"gatewayd/gateway"
	"gatewayd/sio/sioclient"
	"gatewayd/store"
)

// BenchmarkReadingToDashboards measures the gateway's live path per
// reading: a source hands it a reading, the store queues it, and it is
// pushed to the two dashboards subscribed to its device, over loopback
// websockets, until both have decoded it. Sources emit from 8 goroutines,
// as broker connections do. The dashboards are in-process Go clients, so
// the time and allocations include their reading and decoding too.
func BenchmarkReadingToDashboards(b *testing.B) {
	const devs, dashboards, emitters = 40, 4, 8
	st, err := store.Open(filepath.Join(b.TempDir(), "gw.db"), &store.Options{FlushInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	src := newFakeSource()
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, gateway.Config{Store: st, Sources: []devices.Source{src}, Auth: gateway.AuthConfig{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(gw.Handler())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		gw.Shutdown(sctx)
		scancel()
		hs.Close()
		cancel()
		<-done
	}()

	id := func(i int) string { return "bench" + strconv.Itoa(i) }
	t0 := time.Now()
	for i := range devs {
		src.reading(id(i), "temperature", t0, 0)
	}
	for i := range devs {
		waitKnown(b, hs.URL, id(i))
	}
	// Dashboard d subscribes to the devices i with i%(dashboards/2) ==
	// d%(dashboards/2): every device has exactly two subscribers.
	var got atomic.Int64
	for d := range dashboards {
		c, err := dialURL(hs.URL, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		c.On("reading", func(ev *sioclient.Event) {
			var m struct {
				D string
				V float64
				O int64
			}
			if ev.Args.Decode(&m) == nil && m.O > 0 {
				got.Add(1)
			}
		})
		var ids []string
		for i := range devs {
			if i%(dashboards/2) == d%(dashboards/2) {
				ids = append(ids, id(i))
			}
		}
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.EmitWithAck(sctx, "subscribe", map[string]any{"devices": ids})
		scancel()
		if err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / emitters
	for e := range emitters {
		n := per
		if e == emitters-1 {
			n = b.N - per*(emitters-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range n {
				dev := e + emitters*(k%(devs/emitters))
				src.reading(id(dev), "temperature", time.Now(), float64(k))
			}
		}()
	}
	wg.Wait()
	want := int64(2 * b.N)
	deadline := time.Now().Add(time.Minute)
	for got.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("dashboards got %d of %d deliveries", got.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	if g := got.Load(); g != want {
		b.Fatalf("dashboards got %d deliveries, want %d", g, want)
	}
}
