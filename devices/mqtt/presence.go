package mqtt

import (
	"time"
)

// devState is the per-device bookkeeping of a Source: presence, the learned
// reporting interval and the rate-limit bucket.
type devState struct {
	known, online bool
	reason        string

	lastData  time.Time
	interval  time.Duration // moving average of the gaps between data bursts
	intervals int

	tokens   float64
	lastFill time.Time
}

// burstGap separates reporting bursts: messages closer than this (one
// sensor per topic, published together) count as one report.
const burstGap = time.Second

func (s *Source) devLocked(id string) *devState {
	d := s.devs[id]
	if d == nil {
		d = &devState{}
		s.devs[id] = d
	}
	return d
}

// seen records a data message for the interval estimate.
func (d *devState) seen(now time.Time) {
	if !d.lastData.IsZero() {
		gap := now.Sub(d.lastData)
		if gap < burstGap {
			return // same burst: keep the burst's start as the reference
		}
		if d.intervals == 0 {
			d.interval = gap
		} else {
			// Exponential moving average, weight 1/4 for the new gap.
			d.interval += (gap - d.interval) / 4
		}
		d.intervals++
	}
	d.lastData = now
}

// staleAfter is the learned staleness timeout, 0 while unknown.
func (d *devState) staleAfter(o Options) time.Duration {
	if d.intervals < 3 {
		return 0
	}
	t := time.Duration(float64(d.interval) * o.StaleFactor)
	return min(max(t, o.StaleMin), o.StaleMax)
}

// allow takes one token from the device's bucket.
func (d *devState) allow(now time.Time, rate, burst float64) bool {
	if rate < 0 {
		return true
	}
	if d.lastFill.IsZero() {
		d.tokens, d.lastFill = burst, now
	} else if el := now.Sub(d.lastFill).Seconds(); el > 0 {
		d.tokens = min(burst, d.tokens+el*rate)
		d.lastFill = now
	}
	if d.tokens < 1 {
		return false
	}
	d.tokens--
	return true
}
