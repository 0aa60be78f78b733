package sio

import (
	"context"
	"encoding/json"
	"iter"
	"slices"
	"sync"
)

// Adapter keeps the room membership of one namespace and carries broadcasts
// to other server nodes. The namespace does the local fan-out itself: it asks
// the adapter which local sockets match, encodes the packet once and hands
// the same bytes to each of them.
//
// The in-memory adapter (NewMemoryAdapter) is the default. A multi-node
// adapter (Redis pub/sub) implements Publish by sending the Message to the
// other nodes, where it calls the deliver func its factory received.
// Connection state recovery does not go through the adapter: packets are
// recorded in Options.Recovery.Store before they are fanned out, and their
// offset travels in Message.Offset.
//
// Implementations must be safe for concurrent use. Sockets are named by their
// id; every socket is also in the room named after its id.
type Adapter interface {
	// AddAll puts socket id in rooms.
	AddAll(id string, rooms ...string)
	// Del removes socket id from room.
	Del(id, room string)
	// DelAll removes socket id from every room.
	DelAll(id string)
	// Rooms returns the rooms of socket id, nil when it has none.
	Rooms(id string) []string
	// SocketIDs returns the local sockets in any of rooms (every socket of
	// the namespace when rooms is empty) that are in none of except, each
	// once.
	SocketIDs(rooms, except []string) []string
	// Publish carries a broadcast to the other nodes. An adapter for a
	// single process does nothing.
	Publish(ctx context.Context, m *Message) error
	// Close releases the adapter's resources when the server closes.
	Close() error
}

// AdapterFactory creates the adapter of the namespace called nsp. deliver
// fans a Message that arrived from another node out to the local sockets;
// it must not be called for messages this node published.
type AdapterFactory func(nsp string, deliver func(*Message)) Adapter

// Message is one broadcast as it travels between nodes: the event payload
// with its placeholders, its attachments and the targeting options.
type Message struct {
	// Data is the JSON array ["event", args...], placeholders included.
	Data json.RawMessage
	// Attachments are the binary attachments the placeholders name.
	Attachments [][]byte
	// Rooms and Except select the recipients (no rooms: everyone).
	Rooms, Except []string
	// Volatile messages may be dropped for a socket that is not ready.
	Volatile bool
	// Compress asks the transport to compress the packet.
	Compress bool
	// Offset is the packet's offset in the recovery store, sent to the
	// clients as a last argument; "" sends none.
	Offset string
}

// memoryAdapter is the single-process Adapter.
type memoryAdapter struct {
	mu    sync.RWMutex
	rooms map[string]strSet // room → socket ids
	sids  map[string]strSet // socket id → rooms
}

var _ Adapter = (*memoryAdapter)(nil)

// NewMemoryAdapter returns the in-memory Adapter for one process; it is the
// default AdapterFactory.
func NewMemoryAdapter(nsp string, deliver func(*Message)) Adapter {
	return &memoryAdapter{
		rooms: make(map[string]strSet),
		sids:  make(map[string]strSet),
	}
}

func (a *memoryAdapter) AddAll(id string, rooms ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := a.sids[id]
	for _, r := range rooms {
		mine.add(r)
		members := a.rooms[r]
		members.add(id)
		a.rooms[r] = members
	}
	a.sids[id] = mine
}

func (a *memoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mine, ok := a.sids[id]; ok {
		mine.del(room)
		a.sids[id] = mine
	}
	a.delMember(room, id)
}

func (a *memoryAdapter) delMember(room, id string) {
	if members, ok := a.rooms[room]; ok {
		members.del(id)
		if members.len() == 0 {
			delete(a.rooms, room)
		} else {
			a.rooms[room] = members
		}
	}
}

func (a *memoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := a.sids[id]
	for r := range mine.all() {
		a.delMember(r, id)
	}
	delete(a.sids, id)
}

func (a *memoryAdapter) Rooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	mine := a.sids[id]
	if mine.len() == 0 {
		return nil
	}
	out := make([]string, 0, mine.len())
	for r := range mine.all() {
		out = append(out, r)
	}
	return out
}

func (a *memoryAdapter) SocketIDs(rooms, except []string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var excluded map[string]struct{}
	for _, r := range except {
		for id := range a.rooms[r].all() {
			if excluded == nil {
				excluded = make(map[string]struct{})
			}
			excluded[id] = struct{}{}
		}
	}
	if len(rooms) == 0 {
		out := make([]string, 0, len(a.sids))
		for id := range a.sids {
			if _, ex := excluded[id]; !ex {
				out = append(out, id)
			}
		}
		return out
	}
	// Rooms nobody is in add nothing, and with one room left there is
	// nothing to deduplicate: a broadcast to a device's room and to a
	// room that is often empty (every device's) needs no map.
	occupied, last := 0, ""
	for _, r := range rooms {
		if a.rooms[r].len() > 0 {
			occupied++
			last = r
		}
	}
	if occupied == 0 {
		return nil
	}
	if occupied == 1 {
		members := a.rooms[last]
		out := make([]string, 0, members.len())
		for id := range members.all() {
			if _, ex := excluded[id]; !ex {
				out = append(out, id)
			}
		}
		return out
	}
	seen := make(map[string]struct{})
	var out []string
	for _, r := range rooms {
		for id := range a.rooms[r].all() {
			if _, ex := excluded[id]; ex {
				continue
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// smallSet is how many strings a strSet keeps in a slice before it turns
// into a map.
const smallSet = 8

// strSet is a set of strings. Most sets are tiny (a socket's rooms, the
// room named after a socket, holding only it), so a set starts as a slice,
// far smaller than a map, and becomes a map past smallSet members. The zero
// value is an empty set.
type strSet struct {
	list []string
	m    map[string]struct{}
}

func (s *strSet) add(v string) {
	if s.m != nil {
		s.m[v] = struct{}{}
		return
	}
	if slices.Contains(s.list, v) {
		return
	}
	if len(s.list) < smallSet {
		s.list = append(s.list, v)
		return
	}
	s.m = make(map[string]struct{}, len(s.list)+1)
	for _, x := range s.list {
		s.m[x] = struct{}{}
	}
	s.m[v] = struct{}{}
	s.list = nil
}

func (s *strSet) del(v string) {
	if s.m != nil {
		delete(s.m, v)
		return
	}
	if i := slices.Index(s.list, v); i >= 0 {
		s.list = slices.Delete(s.list, i, i+1)
	}
}

func (s strSet) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.list)
}

// all yields the members; the set must not change meanwhile.
func (s strSet) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		if s.m != nil {
			for v := range s.m {
				if !yield(v) {
					return
				}
			}
			return
		}
		for _, v := range s.list {
			if !yield(v) {
				return
			}
		}
	}
}

func (a *memoryAdapter) Publish(context.Context, *Message) error { return nil }

func (a *memoryAdapter) Close() error { return nil }
