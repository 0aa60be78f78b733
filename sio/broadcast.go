package sio

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gatewayd/sio/internal/parser"
)

// Broadcast selects sockets of a namespace by room and sends to all of them.
// It is a value: To, In, Except, Volatile, Compress, Local and Timeout
// return a modified copy and never change the receiver, so a Broadcast can
// be kept and shared between goroutines.
//
// Emit encodes the packet once and hands the same bytes to the send queue of
// every recipient. It never blocks on a slow socket: a recipient whose queue
// would go over Options.MaxQueuedBytes is closed with ReasonSlowClient, and a
// volatile packet is dropped for a recipient that is not ready to write.
type Broadcast struct {
	nsp      *Namespace
	rooms    []string
	except   []string
	volatile bool
	compress bool
	local    bool
	timeout  time.Duration
	offset   string
}

// To returns a copy that also targets the sockets in rooms. Without any To,
// a Broadcast targets every socket of the namespace.
func (b Broadcast) To(rooms ...string) Broadcast {
	b.rooms = append(slices.Clip(b.rooms), rooms...)
	return b
}

// In is To.
func (b Broadcast) In(rooms ...string) Broadcast { return b.To(rooms...) }

// Except returns a copy that leaves out the sockets in rooms.
func (b Broadcast) Except(rooms ...string) Broadcast {
	b.except = append(slices.Clip(b.except), rooms...)
	return b
}

// Volatile returns a copy whose packets may be dropped for sockets that are
// not ready to receive them (the transport is busy or the queue is not
// empty).
func (b Broadcast) Volatile() Broadcast {
	b.volatile = true
	return b
}

// Compress returns a copy that asks the transport to compress (the default)
// or not.
func (b Broadcast) Compress(compress bool) Broadcast {
	b.compress = compress
	return b
}

// Local returns a copy that reaches only the sockets of this server node,
// not those of other nodes sharing the adapter.
func (b Broadcast) Local() Broadcast {
	b.local = true
	return b
}

// Timeout returns a copy whose EmitWithAck waits at most d for the acks.
func (b Broadcast) Timeout(d time.Duration) Broadcast {
	b.timeout = d
	return b
}

// Offset returns a copy whose Emit records the packet in the recovery
// store under offset o instead of one the store picks (see
// SessionStore.Append), so an application that already numbers its events
// (rows of a database) sends that number as the Socket.IO offset. The
// offsets of successive broadcasts must follow the store's order. On a
// parent namespace (OfRegexp, OfFunc) every child's packet is appended
// with the same offset. Without Options.Recovery, or on a volatile
// broadcast, it has no effect.
func (b Broadcast) Offset(o string) Broadcast {
	b.offset = o
	return b
}

func (b Broadcast) message(event string, args []any) (*Message, error) {
	if b.nsp == nil {
		return nil, ErrNoNamespace
	}
	if parserReserved(event) {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	data, att, err := parser.MarshalArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sio: emit %q: %w", event, err)
	}
	return &Message{
		Data:        data,
		Attachments: att,
		Rooms:       b.rooms,
		Except:      b.except,
		Volatile:    b.volatile,
		Compress:    b.compress,
	}, nil
}

// Emit sends event with args (any []byte travels as a binary attachment) to
// every selected socket, here and, unless Local, on the other nodes.
func (b Broadcast) Emit(event string, args ...any) error {
	m, err := b.message(event, args)
	if err != nil {
		return err
	}
	recorded := b.nsp.srv.opts.Recovery != nil && !m.Volatile
	for _, n := range b.nsp.targets() {
		sent := m
		if recorded {
			if sent, err = b.fanOutRecorded(n, m); err != nil {
				return fmt.Errorf("sio: emit %q: recovery store: %w", event, err)
			}
		} else {
			n.fanOut(n.matching(m.Rooms, m.Except), m, -1, nil, false)
		}
		if !b.local {
			if err := n.adapter.Publish(context.Background(), sent); err != nil {
				return fmt.Errorf("sio: publish %q: %w", event, err)
			}
		}
	}
	return nil
}

// fanOutRecorded is Emit's fan-out on n with recovery on: the packet is
// appended to the store and fanned out under Server.recMu, with its offset
// as a last argument. It returns m with that offset, for the adapter.
func (b Broadcast) fanOutRecorded(n *Namespace, m *Message) (*Message, error) {
	srv := b.nsp.srv
	srv.recMu.Lock()
	off, err := srv.opts.Recovery.Store.Append(context.Background(), &StoredPacket{
		Offset:      b.offset,
		Namespace:   n.name,
		Rooms:       m.Rooms,
		Except:      m.Except,
		Data:        m.Data,
		Attachments: m.Attachments,
	})
	if err != nil {
		srv.recMu.Unlock()
		return nil, err
	}
	mm := *m
	mm.Offset = off
	reached := n.fanOut(n.matching(m.Rooms, m.Except), &mm, -1, nil, true)
	srv.recMu.Unlock()
	// Outside the lock: a handler may broadcast.
	notifyAll(reached, &mm)
	return &mm, nil
}

// EmitWithAck sends event to every selected local socket, asking each for
// an acknowledgement, and returns the replies in arrival order. It waits
// until every recipient answered, the Timeout passed (ErrAckTimeout) or ctx
// ended (ctx.Err()); on error the replies received so far are returned with
// it. Recipients that disconnect before answering are left out.
// Acknowledgements are only collected from this node's sockets.
func (b Broadcast) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	m, err := b.message(event, args)
	if err != nil {
		return nil, err
	}
	type pending struct {
		n     *Namespace
		id    int64
		socks []*Socket
	}
	var sent []pending
	total := 0
	for _, n := range b.nsp.targets() {
		socks := n.matching(m.Rooms, m.Except)
		total += len(socks)
		sent = append(sent, pending{n: n, socks: socks})
	}
	// One slot per recipient, so no reply or disconnect notice ever blocks
	// the connection delivering it.
	ch := make(chan ackReply, total)
	expected := 0
	defer func() {
		for _, p := range sent {
			for _, s := range p.socks {
				s.dropAck(p.id)
			}
		}
	}()
	for i := range sent {
		p := &sent[i]
		p.id = p.n.ackIDs.Add(1) - 1
		p.socks = p.n.fanOut(p.socks, m, p.id, ch, false)
		expected += len(p.socks)
	}
	var timeout <-chan time.Time
	if b.timeout > 0 {
		t := time.NewTimer(b.timeout)
		defer t.Stop()
		timeout = t.C
	}
	replies := make([]Args, 0, expected)
	for got := 0; got < expected; got++ {
		select {
		case r := <-ch:
			if r.err == nil {
				replies = append(replies, r.args)
			}
		case <-timeout:
			return replies, ErrAckTimeout
		case <-ctx.Done():
			return replies, ctx.Err()
		}
	}
	return replies, nil
}

// FetchSockets returns the selected local sockets.
func (b Broadcast) FetchSockets() []*Socket {
	if b.nsp == nil {
		return nil
	}
	return b.nsp.localSockets(b.rooms, b.except)
}

// SocketsJoin makes the selected local sockets join rooms.
func (b Broadcast) SocketsJoin(rooms ...string) {
	for _, s := range b.FetchSockets() {
		s.Join(rooms...)
	}
}

// SocketsLeave makes the selected local sockets leave rooms.
func (b Broadcast) SocketsLeave(rooms ...string) {
	for _, s := range b.FetchSockets() {
		for _, r := range rooms {
			s.Leave(r)
		}
	}
}

// DisconnectSockets disconnects the selected local sockets; see
// Socket.Disconnect for close.
func (b Broadcast) DisconnectSockets(close bool) {
	for _, s := range b.FetchSockets() {
		s.Disconnect(close)
	}
}

func parserReserved(event string) bool {
	switch event {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}
