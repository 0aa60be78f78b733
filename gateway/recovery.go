package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gatewayd/sio"
	"gatewayd/store"
)

// sessionStore backs Socket.IO connection state recovery with the store,
// so a dashboard that reconnects (after a blip, hours asleep, or a gateway
// restart) receives exactly the readings of its devices that it missed.
//
// Readings are broadcast with their store offset as the Socket.IO offset,
// so "what did this client miss" is one query for readings after that
// offset. Other pushes (presence, metadata, events) are not replayed: the
// dashboard asks for the fleet again on every connect. Sessions of
// disconnected dashboards are kept in the store's state table.
type sessionStore struct {
	st        *store.Store
	keep      time.Duration // how long a disconnected session is kept
	maxReplay int           // beyond this many missed readings, a gap event instead
	now       func() time.Time

	// appended is the highest reading offset sio has recorded through
	// Append. Restores replay up to it and no further: anything later is
	// delivered live once the socket is back in its rooms.
	appended atomic.Int64
}

var _ sio.SessionStore = (*sessionStore)(nil)

// Append implements sio.SessionStore. Readings arrive with their store
// offset; everything else gets none and is never replayed.
func (s *sessionStore) Append(_ context.Context, p *sio.StoredPacket) (string, error) {
	if p.Offset == "" {
		return "", nil
	}
	off, err := strconv.ParseInt(p.Offset, 10, 64)
	if err != nil {
		return "", fmt.Errorf("gateway: recovery offset %q is not a store offset", p.Offset)
	}
	// Offsets come in increasing order: the gateway appends and pushes
	// readings under one lock.
	s.appended.Store(off)
	return p.Offset, nil
}

// storedSession is a sio.Session as kept in the state table.
type storedSession struct {
	PID            string          `json:"pid"`
	SID            string          `json:"sid"`
	Namespace      string          `json:"nsp"`
	Rooms          []string        `json:"rooms"`
	Data           json.RawMessage `json:"data,omitempty"`
	DisconnectedAt time.Time       `json:"at"`
}

func sessionKey(pid string) string { return "sio-session:" + pid }

// SaveSession implements sio.SessionStore.
func (s *sessionStore) SaveSession(ctx context.Context, ss *sio.Session) error {
	data, _ := json.Marshal(ss.Data)
	b, err := json.Marshal(storedSession{PID: ss.PID, SID: ss.SID, Namespace: ss.Namespace, Rooms: ss.Rooms,
		Data: data, DisconnectedAt: ss.DisconnectedAt})
	if err != nil {
		return err
	}
	return s.st.PutState(ctx, sessionKey(ss.PID), b, ss.DisconnectedAt.Add(s.keep))
}

// gapMsg is the `gap` push: more readings were missed than are replayed
// one by one; the dashboard re-queries history for the range.
type gapMsg struct {
	Devices    []string `json:"devices"`
	FromOffset int64    `json:"fromOffset"`
	ToOffset   int64    `json:"toOffset"`
	From       int64    `json:"from"`
	To         int64    `json:"to"`
}

// RestoreSession implements sio.SessionStore.
func (s *sessionStore) RestoreSession(ctx context.Context, pid, offset string) (*sio.Session, iter.Seq2[*sio.StoredPacket, error], error) {
	b, err := s.st.TakeState(ctx, sessionKey(pid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, sio.ErrRecoveryUnknownSession
	}
	if err != nil {
		return nil, nil, err
	}
	var ss storedSession
	if err := json.Unmarshal(b, &ss); err != nil {
		return nil, nil, fmt.Errorf("%w: damaged session: %v", sio.ErrRecoveryUnknownSession, err)
	}
	from, err := strconv.ParseInt(offset, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %q is not a store offset", sio.ErrRecoveryOffsetGone, offset)
	}
	sess := &sio.Session{PID: ss.PID, SID: ss.SID, Namespace: ss.Namespace, Rooms: ss.Rooms, DisconnectedAt: ss.DisconnectedAt}
	if len(ss.Data) > 0 {
		var d any
		json.Unmarshal(ss.Data, &d)
		sess.Data = d
	}
	devs, all := roomDevices(ss.Rooms)
	if !all && len(devs) == 0 {
		return sess, func(func(*sio.StoredPacket, error) bool) {}, nil
	}
	if all {
		devs = nil // every device
	}
	// An offset retention has passed, or one from another database file,
	// cannot tell what was missed.
	if _, err := s.st.After(ctx, devs, from, 1); errors.Is(err, store.ErrPruned) || errors.Is(err, store.ErrUnknownOffset) {
		return nil, nil, fmt.Errorf("%w: %v", sio.ErrRecoveryOffsetGone, err)
	}
	// The missed readings are read while sio holds its broadcast lock, so
	// no reading is recorded meanwhile: replay up to the last recorded one.
	missed := func(yield func(*sio.StoredPacket, error) bool) {
		// sio reads the sequence after RestoreSession has returned and its
		// context is gone.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		upto := s.appended.Load()
		if upto <= from {
			return
		}
		// What was recorded may still sit in the store's queue.
		if err := s.st.Flush(ctx); err != nil {
			yield(nil, err)
			return
		}
		samples, err := s.st.After(ctx, devs, from, s.maxReplay+1)
		if err != nil {
			yield(nil, err)
			return
		}
		for len(samples) > 0 && samples[len(samples)-1].Offset > upto {
			samples = samples[:len(samples)-1]
		}
		if len(samples) > s.maxReplay {
			g := gapMsg{Devices: devs, FromOffset: from, ToOffset: upto, From: samples[0].Time.UnixMilli(), To: s.now().UnixMilli()}
			if g.Devices == nil {
				g.Devices = []string{"*"}
			}
			data, _ := json.Marshal([]any{"gap", g})
			yield(&sio.StoredPacket{Offset: strconv.FormatInt(upto, 10), Namespace: ss.Namespace, Rooms: []string{ss.SID}, Data: data}, nil)
			return
		}
		for _, smp := range samples {
			data, _ := json.Marshal([]any{"reading", readingMsgOf(smp.Device, smp.Key, toValue(smp.Reading), smp.Offset)})
			p := &sio.StoredPacket{Offset: strconv.FormatInt(smp.Offset, 10), Namespace: ss.Namespace,
				Rooms: []string{deviceRoom(smp.Device), roomAllDevices}, Data: data}
			if !yield(p, nil) {
				return
			}
		}
	}
	return sess, missed, nil
}

// roomDevices lists the devices whose rooms are in rooms; all reports the
// room of every device.
func roomDevices(rooms []string) (devs []string, all bool) {
	for _, r := range rooms {
		switch {
		case r == roomAllDevices:
			all = true
		case strings.HasPrefix(r, "device:"):
			devs = append(devs, strings.TrimPrefix(r, "device:"))
		}
	}
	return devs, all
}
