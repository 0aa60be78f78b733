package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event kinds the gateway records. Other kinds are allowed.
const (
	EventOnline        = "online"
	EventOffline       = "offline"
	EventAlertRaised   = "alert.raised"
	EventAlertCleared  = "alert.cleared"
	EventCommandSent   = "command.sent"
	EventCommandResult = "command.result"
)

// Event is something that happened: an alert raised or cleared, a device
// going online or offline, a command sent and its result.
type Event struct {
	ID      int64 // assigned by AddEvent, increasing
	Time    time.Time
	Kind    string
	Device  string // may be empty
	Message string
	// Data is free-form detail, usually JSON (rule, value, command args).
	Data string
}

// EventFilter narrows Events. The zero value matches everything.
type EventFilter struct {
	Device string   // only this device, if set
	Kinds  []string // only these kinds, if any
	// Limit caps the result, newest events kept. Zero means 1000.
	Limit int
}

// AddEvent stores e (zero Time means now) and returns its id.
func (s *Store) AddEvent(ctx context.Context, e Event) (int64, error) {
	if e.Kind == "" || len(e.Kind) > maxNameLen {
		return 0, fmt.Errorf("%w: event kind empty or too long", ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = s.opts.Now()
	}
	var id int64
	err := s.withTx(ctx, "add event", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO events (ts, kind, device, message, data) VALUES (?, ?, ?, ?, ?)",
			msec(e.Time), e.Kind, e.Device, e.Message, e.Data)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// Events returns the events with from <= Time < to that match f, oldest
// first.
func (s *Store) Events(ctx context.Context, from, to time.Time, f EventFilter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := "SELECT id, ts, kind, device, message, data FROM events WHERE ts >= ? AND ts < ?"
	args := []any{msec(from), msec(to)}
	if f.Device != "" {
		q += " AND device = ?"
		args = append(args, f.Device)
	}
	if len(f.Kinds) > 0 {
		q += " AND kind IN (?" + strings.Repeat(",?", len(f.Kinds)-1) + ")"
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	q = "SELECT * FROM (" + q + " ORDER BY ts DESC, id DESC LIMIT ?) ORDER BY ts, id"
	args = append(args, f.Limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fileErr("events", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.Kind, &e.Device, &e.Message, &e.Data); err != nil {
			return nil, s.fileErr("events", err)
		}
		e.Time = fromMsec(ts)
		out = append(out, e)
	}
	return out, s.fileErr("events", rows.Err())
}
