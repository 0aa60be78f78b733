package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/sio/sioclient"
)

// phaseID scales the phase number inside a published value: a reading's
// value is phase*phaseID + sequence number, so late readings of an earlier
// phase are told apart and the sequence finds the send time.
const phaseID = 1_000_000_000

// phaseState is what one phase records: the send time of every reading
// and, per dashboard, which readings arrived and how late.
type phaseState struct {
	id   int64
	base time.Time
	// sent[dev][seq] is the send time in ns after base, plus one (0 means
	// not sent).
	sent [][]atomic.Int64
	// burst[dev][seq] marks the readings sent in a burst.
	burst [][]atomic.Bool
	// next[dev] is the number of readings device dev sent; only the
	// device's publisher writes it, read after the publishers stopped.
	next []int
	dash []*dashPhase
}

// dashPhase is one dashboard's record of a phase.
type dashPhase struct {
	recv      [][]atomic.Uint32 // [slot][seq] arrivals
	delivered atomic.Int64      // first arrivals
	dups      atomic.Int64      // further arrivals
	stray     atomic.Int64      // readings of unknown devices, keys or sequence numbers
	mu        sync.Mutex
	lat       []time.Duration // every arrival
	latSteady []time.Duration // arrivals of readings not sent in a burst
}

// newPhaseState allocates the records of phase id for n devices sending at
// most perDev readings each, and the dashboards' subscriptions.
func newPhaseState(id int64, n, perDev int, dashes []*dashboard) *phaseState {
	ps := &phaseState{id: id, sent: make([][]atomic.Int64, n), next: make([]int, n), dash: make([]*dashPhase, len(dashes))}
	ps.burst = make([][]atomic.Bool, n)
	for i := range ps.sent {
		ps.sent[i] = make([]atomic.Int64, perDev)
		ps.burst[i] = make([]atomic.Bool, perDev)
	}
	for i, d := range dashes {
		dp := &dashPhase{recv: make([][]atomic.Uint32, len(d.devs))}
		for s := range dp.recv {
			dp.recv[s] = make([]atomic.Uint32, perDev)
		}
		ps.dash[i] = dp
	}
	ps.base = time.Now()
	return ps
}

// dashboard is one Socket.IO client subscribed to some devices.
type dashboard struct {
	idx  int
	c    *sioclient.Client
	devs []int          // device indices, by slot
	slot map[string]int // device id → slot
}

// reading is the part of a `reading` push the benchmark needs.
type reading struct {
	D string  `json:"d"`
	K string  `json:"k"`
	V float64 `json:"v"`
}

// dialDashboard connects dashboard idx, registers its reading handler and
// subscribes it to devs.
func dialDashboard(ctx context.Context, url string, idx int, devs []int, ids []string, cur *atomic.Pointer[phaseState]) (*dashboard, error) {
	c, err := sioclient.New(url, &sioclient.Options{NoReconnect: true})
	if err != nil {
		return nil, err
	}
	d := &dashboard{idx: idx, c: c, devs: devs, slot: make(map[string]int, len(devs))}
	for s, dev := range devs {
		d.slot[ids[dev]] = s
	}
	c.On("reading", func(ev *sioclient.Event) {
		now := time.Now()
		ps := cur.Load()
		if ps == nil {
			return
		}
		dp := ps.dash[idx]
		var r reading
		if err := json.Unmarshal(ev.Args.Raw(0), &r); err != nil {
			dp.stray.Add(1)
			return
		}
		v := int64(r.V)
		if v/phaseID != ps.id {
			// A late reading of an earlier phase, or the warm-up.
			return
		}
		seq := v % phaseID
		s, ok := d.slot[r.D]
		if !ok || r.K != "seq" || seq < 0 || seq >= int64(len(dp.recv[s])) {
			dp.stray.Add(1)
			return
		}
		if dp.recv[s][seq].Add(1) == 1 {
			dp.delivered.Add(1)
		} else {
			dp.dups.Add(1)
		}
		st := ps.sent[devs[s]][seq].Load()
		if st == 0 {
			dp.stray.Add(1)
			return
		}
		lat := now.Sub(ps.base) - time.Duration(st-1)
		dp.mu.Lock()
		dp.lat = append(dp.lat, lat)
		if !ps.burst[devs[s]][seq].Load() {
			dp.latSteady = append(dp.latSteady, lat)
		}
		dp.mu.Unlock()
	})
	connected := make(chan struct{}, 1)
	failed := make(chan error, 1)
	c.OnConnect(func() {
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	c.OnConnectError(func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	c.Connect()
	select {
	case <-connected:
	case err := <-failed:
		c.Close()
		return nil, fmt.Errorf("e2e: dashboard %d: %w", idx, err)
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	want := make([]string, len(devs))
	for s, dev := range devs {
		want[s] = ids[dev]
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := c.EmitWithAck(sctx, "subscribe", map[string]any{"devices": want})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("e2e: dashboard %d subscribe: %w", idx, err)
	}
	var ack struct {
		Devices []string `json:"devices"`
		Error   *struct {
			Code, Message string
		} `json:"error"`
	}
	if err := res.Decode(&ack); err != nil {
		c.Close()
		return nil, fmt.Errorf("e2e: dashboard %d subscribe ack: %w", idx, err)
	}
	if ack.Error != nil || len(ack.Devices) != len(want) {
		c.Close()
		return nil, fmt.Errorf("e2e: dashboard %d subscribe refused: %s", idx, res.Raw(0))
	}
	return d, nil
}
