package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Device is a registry entry: what the gateway learned about a device and
// whether it is online.
type Device struct {
	ID       string
	Name     string
	Source   string // convention or driver: "tasmota", "zigbee2mqtt", "gpio", ...
	Model    string
	Firmware string
	Units    map[string]string // metric key -> unit
	// FirstSeen is when the device was first registered; LastSeen the newest
	// of its registry updates and its committed readings.
	FirstSeen, LastSeen time.Time
	Online              bool
	OnlineChanged       time.Time // zero if it never changed
}

// DeviceInfo is what UpsertDevice records. Empty fields leave the stored
// value unchanged; Units are merged key by key.
type DeviceInfo struct {
	ID       string
	Name     string
	Source   string
	Model    string
	Firmware string
	Units    map[string]string
}

// UpsertDevice creates or updates a device from what a source learned, and
// sets its LastSeen to now.
func (s *Store) UpsertDevice(ctx context.Context, d DeviceInfo) error {
	if d.ID == "" || len(d.ID) > maxNameLen {
		return fmt.Errorf("%w: device id empty or too long", ErrInvalid)
	}
	return s.withTx(ctx, "upsert device", func(tx *sql.Tx) error {
		units := map[string]string{}
		var raw string
		err := tx.QueryRowContext(ctx, "SELECT units FROM devices WHERE id = ?", d.ID).Scan(&raw)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if raw != "" {
			_ = json.Unmarshal([]byte(raw), &units) // a damaged value is replaced
		}
		maps.Copy(units, d.Units)
		ub, _ := json.Marshal(units)
		now := msec(s.opts.Now())
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, name, source, model, firmware, units, first_seen, last_seen)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
			ON CONFLICT (id) DO UPDATE SET
				name = CASE WHEN ?2 = '' THEN name ELSE ?2 END,
				source = CASE WHEN ?3 = '' THEN source ELSE ?3 END,
				model = CASE WHEN ?4 = '' THEN model ELSE ?4 END,
				firmware = CASE WHEN ?5 = '' THEN firmware ELSE ?5 END,
				units = ?6, last_seen = max(last_seen, ?7)`,
			d.ID, d.Name, d.Source, d.Model, d.Firmware, string(ub), now)
		return err
	})
}

// SetOnline records a device's presence at time at (zero means now),
// creating the device if needed. When the state changes it also adds an
// "online" or "offline" event carrying reason, and reports changed.
func (s *Store) SetOnline(ctx context.Context, id string, online bool, at time.Time, reason string) (changed bool, err error) {
	if id == "" || len(id) > maxNameLen {
		return false, fmt.Errorf("%w: device id empty or too long", ErrInvalid)
	}
	if at.IsZero() {
		at = s.opts.Now()
	}
	ts := msec(at)
	err = s.withTx(ctx, "set online", func(tx *sql.Tx) error {
		var was int
		err := tx.QueryRowContext(ctx, "SELECT online FROM devices WHERE id = ?", id).Scan(&was)
		known := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		changed = !known || (was == 1) != online
		if !known {
			_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, first_seen, last_seen, online, online_changed) VALUES (?, ?, ?, ?, ?)`,
				id, ts, ts, online, ts)
		} else if changed {
			_, err = tx.ExecContext(ctx, `UPDATE devices SET online = ?, online_changed = ?, last_seen = max(last_seen, ?) WHERE id = ?`,
				online, ts, ts, id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE devices SET last_seen = max(last_seen, ?) WHERE id = ?`, ts, id)
		}
		if err != nil || !changed {
			return err
		}
		kind := EventOffline
		if online {
			kind = EventOnline
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO events (ts, kind, device, message) VALUES (?, ?, ?, ?)", ts, kind, id, reason)
		return err
	})
	return changed, err
}

// Devices returns every registered device, sorted by id.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	return s.devices(ctx, "SELECT id, name, source, model, firmware, units, first_seen, last_seen, online, online_changed FROM devices ORDER BY id")
}

// Device returns one device, or an error wrapping ErrNotFound.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	ds, err := s.devices(ctx, "SELECT id, name, source, model, firmware, units, first_seen, last_seen, online, online_changed FROM devices WHERE id = ?", id)
	if err != nil {
		return Device{}, err
	}
	if len(ds) == 0 {
		return Device{}, fmt.Errorf("%w: device %q", ErrNotFound, id)
	}
	return ds[0], nil
}

func (s *Store) devices(ctx context.Context, q string, args ...any) ([]Device, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fileErr("devices", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var units string
		var first, last, changed int64
		if err := rows.Scan(&d.ID, &d.Name, &d.Source, &d.Model, &d.Firmware, &units, &first, &last, &d.Online, &changed); err != nil {
			return nil, s.fileErr("devices", err)
		}
		d.Units = map[string]string{}
		_ = json.Unmarshal([]byte(units), &d.Units)
		d.FirstSeen, d.LastSeen = fromMsec(first), fromMsec(last)
		if changed != 0 {
			d.OnlineChanged = fromMsec(changed)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fileErr("devices", err)
	}
	// Readings do not touch the devices table (that would cost a write per
	// device per commit); their times are folded in here.
	c := &s.cache
	c.mu.RLock()
	for id, smp := range c.latest {
		k := c.byID[id]
		for i := range out {
			if out[i].ID == k.device && smp.Time.After(out[i].LastSeen) {
				out[i].LastSeen = smp.Time
			}
		}
	}
	c.mu.RUnlock()
	return out, nil
}

// withTx runs fn in a write transaction on the writer connection.
func (s *Store) withTx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	tx, err := s.writeDB().BeginTx(ctx, nil)
	if err != nil {
		return s.fileErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return s.fileErr(op, err)
	}
	return s.fileErr(op, tx.Commit())
}
