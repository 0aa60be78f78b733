package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"testing"
	"time"

	"gatewayd/store"
)

func TestDeviceRegistry(t *testing.T) {
	clk := newClock()
	s, path := openT(t, &store.Options{FlushInterval: -1, Now: clk.Now})
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, store.DeviceInfo{ID: "plug1", Name: "Desk plug", Source: "tasmota",
		Model: "S31", Units: map[string]string{"power": "W"}}); err != nil {
		t.Fatal(err)
	}
	first := clk.Now()
	clk.Add(time.Minute)
	// A later update keeps what it does not mention and merges units.
	if err := s.UpsertDevice(ctx, store.DeviceInfo{ID: "plug1", Firmware: "13.1", Units: map[string]string{"voltage": "V"}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Device(ctx, "plug1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Desk plug" || d.Model != "S31" || d.Firmware != "13.1" || d.Source != "tasmota" ||
		d.Units["power"] != "W" || d.Units["voltage"] != "V" || !d.FirstSeen.Equal(first) || !d.LastSeen.Equal(clk.Now()) {
		t.Fatalf("Device = %+v", d)
	}
	if d.Online || !d.OnlineChanged.IsZero() {
		t.Fatalf("new device should start offline and unchanged: %+v", d)
	}

	at := clk.Add(time.Minute)
	changed, err := s.SetOnline(ctx, "plug1", true, at, "birth")
	if err != nil || !changed {
		t.Fatalf("SetOnline(true) = %v, %v", changed, err)
	}
	if changed, _ := s.SetOnline(ctx, "plug1", true, at.Add(time.Second), "birth"); changed {
		t.Fatal("SetOnline with the same state reported a change")
	}
	if changed, _ := s.SetOnline(ctx, "plug1", false, at.Add(2*time.Second), "lwt"); !changed {
		t.Fatal("going offline was not a change")
	}
	d, _ = s.Device(ctx, "plug1")
	if d.Online || !d.OnlineChanged.Equal(at.Add(2*time.Second)) {
		t.Fatalf("after offline: %+v", d)
	}
	// SetOnline registers unknown devices.
	if _, err := s.SetOnline(ctx, "gpio", true, at, ""); err != nil {
		t.Fatal(err)
	}
	// A committed reading moves LastSeen.
	rt := at.Add(time.Hour)
	mustAppend(t, s, store.Reading{Device: "gpio", Key: "door", Time: rt, Text: "open", IsState: true})
	flush(t, s)
	all, err := s.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "gpio" || !all[0].Online || !all[0].LastSeen.Equal(rt) {
		t.Fatalf("Devices = %+v", all)
	}
	if _, err := s.Device(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Device(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.UpsertDevice(ctx, store.DeviceInfo{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("UpsertDevice without id = %v", err)
	}

	evs, err := s.Events(ctx, first, at.Add(time.Hour), store.EventFilter{Device: "plug1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != store.EventOnline || evs[0].Message != "birth" || evs[1].Kind != store.EventOffline {
		t.Fatalf("presence events = %+v", evs)
	}
	// The registry survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openPath(t, path, &store.Options{FlushInterval: -1, Now: clk.Now})
	d, err = s2.Device(ctx, "plug1")
	if err != nil || d.Firmware != "13.1" {
		t.Fatalf("after reopen Device = %+v, %v", d, err)
	}
}

func TestEvents(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	for i, k := range []string{store.EventAlertRaised, store.EventCommandSent, store.EventCommandResult, store.EventAlertCleared} {
		id, err := s.AddEvent(ctx, store.Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: k, Device: "d",
			Message: k, Data: `{"i":1}`})
		if err != nil || id <= 0 {
			t.Fatalf("AddEvent = %d, %v", id, err)
		}
	}
	if _, err := s.AddEvent(ctx, store.Event{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("AddEvent without kind = %v", err)
	}
	alerts, err := s.Events(ctx, t0, t0.Add(time.Minute), store.EventFilter{Kinds: []string{store.EventAlertRaised, store.EventAlertCleared}})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 || alerts[0].Kind != store.EventAlertRaised || alerts[1].Kind != store.EventAlertCleared || alerts[0].Data != `{"i":1}` {
		t.Fatalf("alert events = %+v", alerts)
	}
	newest, _ := s.Events(ctx, t0, t0.Add(time.Minute), store.EventFilter{Limit: 1})
	if len(newest) != 1 || newest[0].Kind != store.EventAlertCleared {
		t.Fatalf("Limit 1 should keep the newest: %+v", newest)
	}
}

func TestExportCSV(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	mustAppend(t, s, num("a", "temp", t0.Add(2*time.Second), 21.5))
	mustAppend(t, s, store.Reading{Device: "a", Key: "note", Time: t0.Add(time.Second), Text: "has, comma \"q\"\nline", IsState: true})
	mustAppend(t, s, num("a", "temp", t0.Add(time.Hour), 99)) // out of range
	mustAppend(t, s, num("b", "temp", t0, 1))                 // other device
	flush(t, s)
	var buf bytes.Buffer
	if err := s.ExportCSV(ctx, &buf, "a", nil, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not valid CSV: %v", err)
	}
	want := [][]string{
		{"time", "device", "key", "value", "unit", "offset"},
		{"2026-03-01T11:00:01.000Z", "a", "note", "has, comma \"q\"\nline", "", "2"},
		{"2026-03-01T11:00:02.000Z", "a", "temp", "21.5", "°C", "1"},
	}
	if len(recs) != len(want) {
		t.Fatalf("CSV has %d records, want %d: %q", len(recs), len(want), recs)
	}
	for i := range want {
		for j := range want[i] {
			if recs[i][j] != want[i][j] {
				t.Fatalf("record %d = %q, want %q", i, recs[i], want[i])
			}
		}
	}
	buf.Reset()
	if err := s.ExportCSV(ctx, &buf, "a", []string{"temp"}, t0, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := csv.NewReader(&buf).ReadAll(); len(recs) != 3 {
		t.Fatalf("keys filter: %q", recs)
	}
}

// FuzzAppendRoundTrip checks that whatever a device sends is either refused
// with ErrInvalid or stored and read back unchanged, and never breaks the
// store.
func FuzzAppendRoundTrip(f *testing.F) {
	f.Add("tasmota_A1", "POWER", "ON", true, 0.0, int64(0), "")
	f.Add("sensor", "temp", "", false, 21.5, int64(1234), "°C")
	f.Add("", "k", "", false, 1.0, int64(0), "")
	f.Add("d\x00x", "k\xff", "t", true, 0.0, int64(-5), "u")
	f.Add("d", "k", "", false, 1e308, int64(1<<40), "")
	f.Add("d", "'; DROP TABLE readings; --", "", false, -0.0, int64(7), "")
	s, _ := openT(f, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, dev, key, text string, state bool, v float64, ms int64, unit string) {
		ts := t0.Add(time.Duration(ms%int64(time.Hour/time.Millisecond)) * time.Millisecond)
		r := store.Reading{Device: dev, Key: key, Time: ts, Value: v, Text: text, IsState: state, Unit: unit}
		off, err := s.Append(r)
		if errors.Is(err, store.ErrInvalid) {
			return
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		got, err := s.After(ctx, []string{dev}, off-1, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("After = %v, %v", got, err)
		}
		g := got[0]
		if g.Offset != off || g.Device != dev || g.Key != key || !g.Time.Equal(ts.Truncate(time.Millisecond)) || g.IsState != state {
			t.Fatalf("stored %+v, read back %+v", r, g)
		}
		if state && g.Text != text || !state && g.Value != v {
			t.Fatalf("stored %+v, read back %+v", r, g)
		}
	})
}
