package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RecoveryOptions turns on connection state recovery (socket.io 4.6+): a
// client that lost its connection involuntarily comes back with the same
// socket id, rooms and Data, and receives every packet it missed. A zero
// field means the default given on it.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a session is kept after an
	// involuntary disconnect. Zero means 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the namespace middleware for a recovered socket
	// too. Zero skips it, as socket.io's skipMiddlewares: true does.
	RunMiddlewares bool
	// Store keeps the sessions and the packets to replay. Nil means an
	// in-memory store (NewMemorySessionStore) keeping packets for
	// MaxDisconnectionDuration.
	Store SessionStore
}

// DefaultMaxDisconnectionDuration is the default of
// RecoveryOptions.MaxDisconnectionDuration, as in socket.io.
const DefaultMaxDisconnectionDuration = 2 * time.Minute

func (o *RecoveryOptions) withDefaults() *RecoveryOptions {
	if o == nil {
		return nil
	}
	c := *o
	if c.MaxDisconnectionDuration <= 0 {
		c.MaxDisconnectionDuration = DefaultMaxDisconnectionDuration
	}
	if c.Store == nil {
		c.Store = NewMemorySessionStore(&MemoryStoreOptions{MaxAge: c.MaxDisconnectionDuration})
	}
	return &c
}

// Reasons a recovery was refused, from Socket.RecoveryFailure (maybe
// wrapped: test with errors.Is). A store returns the first three from
// RestoreSession.
var (
	// ErrRecoveryUnknownSession: no session is kept under the client's pid
	// (it never existed, was restored already, was pruned, or ended with a
	// voluntary disconnect).
	ErrRecoveryUnknownSession = errors.New("sio: recovery: unknown session")
	// ErrRecoveryExpired: the session was disconnected for longer than
	// MaxDisconnectionDuration.
	ErrRecoveryExpired = errors.New("sio: recovery: session expired")
	// ErrRecoveryOffsetGone: the client's offset is missing or no longer
	// in the store, so the packets it missed cannot all be found.
	ErrRecoveryOffsetGone = errors.New("sio: recovery: offset unknown or pruned")
	// ErrRecoveryTooLarge: the missed packets take more than half of
	// Options.MaxQueuedBytes, more than the connection could queue.
	ErrRecoveryTooLarge = errors.New("sio: recovery: too many missed packets")
)

// Session is the state of a socket kept after an involuntary disconnect,
// for the client to recover it.
type Session struct {
	// PID is the private session id the client presents to recover.
	PID string
	// SID is the socket id, given back to the recovered socket.
	SID string
	// Namespace is the namespace name of the socket.
	Namespace string
	// Rooms are the rooms the socket was in, its own id room included.
	Rooms []string
	// Data is the value of Socket.Data. A durable store encodes it in its
	// own way (JSON, typically), so the restored value may have another
	// type than the one stored (a struct coming back as map[string]any).
	Data any
	// DisconnectedAt is when the socket was disconnected.
	DisconnectedAt time.Time
}

// Wants reports whether p, a packet of the store, was meant for the socket
// of s: same namespace, sent to one of its rooms (or to every socket), and
// excluding none of them.
func (s *Session) Wants(p *StoredPacket) bool {
	if p.Namespace != s.Namespace {
		return false
	}
	if len(p.Rooms) > 0 && !intersects(p.Rooms, s.Rooms) {
		return false
	}
	return !intersects(p.Except, s.Rooms)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// StoredPacket is one EVENT packet sent with recovery on, as the store
// keeps it: a broadcast, or an emit to one socket (Rooms is then that
// socket's id room).
type StoredPacket struct {
	// Offset is the packet's position in the store, the string sent to
	// clients as the last event argument. In Append it is the offset the
	// application chose with Broadcast.Offset, or "" for the store to pick.
	Offset string
	// Namespace is the name of the namespace the packet was sent on.
	Namespace string
	// Rooms and Except selected the recipients (no rooms: every socket).
	Rooms, Except []string
	// Data is the JSON array ["event", args...] without the offset, with
	// placeholders for the attachments.
	Data json.RawMessage
	// Attachments are the binary attachments.
	Attachments [][]byte
}

// SessionStore keeps, for connection state recovery, the packets sent and
// the sessions of disconnected sockets. NewMemorySessionStore is the
// default; a durable implementation (SQL) makes recovery survive a server
// restart and disconnections of any length.
//
// Offsets are opaque strings chosen by the store (or by the application,
// see Broadcast.Offset); only the store compares them. They should carry
// the epoch of the history they index, as the in-memory store's do
// ("<epoch>-<n>"): an offset from a history that was lost or recreated is
// then refused with ErrRecoveryOffsetGone instead of replaying the wrong
// packets. The server calls
// Append and fans the packet out to the connected sockets while holding a
// lock that also covers restoring a session (joining its rooms, then
// reading the missed packets), so nothing is delivered in between. The
// store must therefore guarantee:
//
//   - Order: the packets RestoreSession yields after offset X are exactly
//     those appended after the packet of offset X, in Append order. A
//     client that saw offset X saw every earlier packet meant for it.
//   - Durability before delivery: once Append returns an offset, the packet
//     must be found by a later RestoreSession (until it is pruned), since
//     clients may already hold that offset.
//   - A packet whose Append returns "" and no error is sent without offset
//     and never replayed: a store may persist only the events it cares
//     about.
//   - RestoreSession removes the session: a pid is restored at most once.
//
// Append and the reading of RestoreSession's sequence run under that
// lock: every broadcast waits for them, so they must be quick (an indexed
// query, not a scan of the history).
//
// Implementations must be safe for concurrent use; several Servers may
// share one store (one after the other across a restart, or side by side
// when their adapters carry broadcasts between them).
type SessionStore interface {
	// Append records a packet about to be sent and returns its offset. With
	// p.Offset set (Broadcast.Offset), the store keeps that offset and
	// returns it, or fails. An error stops the broadcast.
	Append(ctx context.Context, p *StoredPacket) (offset string, err error)
	// SaveSession keeps the state of a socket that disconnected
	// involuntarily. The store may forget it once it is older than it
	// wants to keep.
	SaveSession(ctx context.Context, s *Session) error
	// RestoreSession takes the session saved under pid, removing it, and
	// returns it with the packets appended after offset that s.Wants, in
	// order. The sequence is read once, while the server holds its
	// broadcast lock, and may stop early; it yields a non-nil error to say
	// that reading failed. RestoreSession returns ErrRecoveryUnknownSession,
	// ErrRecoveryExpired or ErrRecoveryOffsetGone (maybe wrapped) when it
	// cannot restore.
	RestoreSession(ctx context.Context, pid, offset string) (*Session, iter.Seq2[*StoredPacket, error], error)
}

// MemoryStoreOptions configures NewMemorySessionStore; a zero field means
// the default given on it.
type MemoryStoreOptions struct {
	// MaxAge is how long packets and sessions are kept. Zero means
	// DefaultMaxDisconnectionDuration.
	MaxAge time.Duration
	// MaxPackets bounds the packets kept; the oldest go first. Zero means
	// 100000.
	MaxPackets int
}

// MemorySessionStore is the in-memory SessionStore of one process: sessions
// and packets live as long as the store value, at most MaxAge.
type MemorySessionStore struct {
	maxAge     time.Duration
	maxPackets int
	epoch      string // prefix of offsets: unique to this store value

	mu        sync.Mutex
	now       func() time.Time
	seq       uint64 // seq of the last packet appended
	packets   []memPacket
	index     map[string]uint64 // offset → seq of its last packet
	sessions  map[string]*Session
	lastSweep time.Time
}

type memPacket struct {
	seq uint64
	at  time.Time
	p   StoredPacket
}

var _ SessionStore = (*MemorySessionStore)(nil)

// NewMemorySessionStore returns an empty in-memory store (opts nil means
// the defaults).
func NewMemorySessionStore(opts *MemoryStoreOptions) *MemorySessionStore {
	var o MemoryStoreOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxDisconnectionDuration
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = 100000
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return &MemorySessionStore{
		maxAge:     o.MaxAge,
		maxPackets: o.MaxPackets,
		epoch:      base64.RawURLEncoding.EncodeToString(b[:]),
		now:        time.Now,
		index:      make(map[string]uint64),
		sessions:   make(map[string]*Session),
	}
}

// Append implements SessionStore.
func (m *MemorySessionStore) Append(_ context.Context, p *StoredPacket) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.prune(now)
	m.seq++
	c := *p
	if c.Offset == "" {
		c.Offset = m.epoch + "-" + strconv.FormatUint(m.seq, 36)
	}
	m.packets = append(m.packets, memPacket{seq: m.seq, at: now, p: c})
	m.index[c.Offset] = m.seq
	return c.Offset, nil
}

// prune drops the packets older than maxAge or over maxPackets and, once
// in a while, the expired sessions. m.mu is held.
func (m *MemorySessionStore) prune(now time.Time) {
	cut := 0
	for cut < len(m.packets) && (len(m.packets)-cut >= m.maxPackets || now.Sub(m.packets[cut].at) > m.maxAge) {
		mp := m.packets[cut]
		if m.index[mp.p.Offset] == mp.seq {
			delete(m.index, mp.p.Offset)
		}
		m.packets[cut] = memPacket{} // let the data be collected
		cut++
	}
	if cut > 0 {
		m.packets = m.packets[cut:]
	}
	if now.Sub(m.lastSweep) > m.maxAge/4 {
		m.lastSweep = now
		for pid, s := range m.sessions {
			if now.Sub(s.DisconnectedAt) > m.maxAge {
				delete(m.sessions, pid)
			}
		}
	}
}

// SaveSession implements SessionStore.
func (m *MemorySessionStore) SaveSession(_ context.Context, s *Session) error {
	c := *s
	c.Rooms = slices.Clone(s.Rooms)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(m.now())
	m.sessions[s.PID] = &c
	return nil
}

// RestoreSession implements SessionStore.
func (m *MemorySessionStore) RestoreSession(_ context.Context, pid, offset string) (*Session, iter.Seq2[*StoredPacket, error], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[pid]
	if s == nil {
		return nil, nil, ErrRecoveryUnknownSession
	}
	delete(m.sessions, pid)
	now := m.now()
	if now.Sub(s.DisconnectedAt) > m.maxAge {
		return nil, nil, ErrRecoveryExpired
	}
	m.prune(now)
	seq, ok := m.index[offset]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrRecoveryOffsetGone, offset)
	}
	return s, func(yield func(*StoredPacket, error) bool) {
		// Copy the matching packets, so that yield runs without m.mu.
		m.mu.Lock()
		var out []*StoredPacket
		if len(m.packets) > 0 && m.packets[0].seq > seq+1 {
			m.mu.Unlock()
			yield(nil, fmt.Errorf("%w: pruned while restoring", ErrRecoveryOffsetGone))
			return
		}
		start := 0
		if len(m.packets) > 0 {
			start = max(0, int(seq+1-m.packets[0].seq))
		}
		for i := start; i < len(m.packets); i++ {
			if p := &m.packets[i].p; s.Wants(p) {
				c := *p
				out = append(out, &c)
			}
		}
		m.mu.Unlock()
		for _, p := range out {
			if !yield(p, nil) {
				return
			}
		}
	}, nil
}

// Len returns the number of packets and sessions kept, for monitoring.
func (m *MemorySessionStore) Len() (packets, sessions int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.packets), len(m.sessions)
}

// recoverable reports whether a socket disconnected for reason keeps its
// session (socket.io's RECOVERABLE_DISCONNECT_REASONS, plus slow client).
func recoverable(reason Reason) bool {
	switch reason {
	case ReasonTransportError, ReasonTransportClose, ReasonForcedClose, ReasonPingTimeout,
		ReasonServerShutdown, ReasonForcedServerClose, ReasonSlowClient:
		return true
	}
	return false
}

// appendWithOffset appends to dst the JSON array data with the string off
// as a last element. data is never empty: it holds at least the event name.
func appendWithOffset(dst []byte, data json.RawMessage, off string) []byte {
	end := len(data)
	for end > 0 && data[end-1] != ']' {
		end--
	}
	dst = append(dst, data[:end-1]...)
	dst = append(dst, ',')
	dst = appendJSONString(dst, off)
	return append(dst, ']')
}

// appendJSONString appends s as encoding/json writes it. Offsets are
// digits or ids, so the plain case is copied as is.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		// encoding/json escapes <, > and & too, and treats non-ASCII.
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
