package sio_test

import (
	"fmt"
	"slices"
	"testing"

	"gatewayd/sio"
)

// TestMemoryAdapterSets drives the memory adapter's room sets past the size
// at which they change representation, both ways round: one socket in many
// rooms, and many sockets in one room.
func TestMemoryAdapterSets(t *testing.T) {
	a := sio.NewMemoryAdapter("/", nil)
	sorted := func(s []string) []string { slices.Sort(s); return s }
	names := func(prefix string, from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
		return out
	}

	const n = 20
	rooms := names("r", 0, n)
	a.AddAll("s1", rooms...)
	a.AddAll("s1", "r00", "r01") // again: no duplicates
	if got := sorted(a.Rooms("s1")); !slices.Equal(got, rooms) {
		t.Fatalf("rooms %v, want %v", got, rooms)
	}
	for _, r := range rooms[:n-3] {
		a.Del("s1", r)
	}
	if got, want := sorted(a.Rooms("s1")), rooms[n-3:]; !slices.Equal(got, want) {
		t.Fatalf("after leaving, rooms %v, want %v", got, want)
	}

	ids := names("s", 10, 10+n)
	for _, id := range ids {
		a.AddAll(id, id, "big")
	}
	if got := sorted(a.SocketIDs([]string{"big"}, nil)); !slices.Equal(got, ids) {
		t.Fatalf("members of big %v, want %v", got, ids)
	}
	if got := sorted(a.SocketIDs([]string{"big"}, []string{"s10", "s11"})); !slices.Equal(got, ids[2:]) {
		t.Fatalf("members of big except two %v, want %v", got, ids[2:])
	}
	if got := sorted(a.SocketIDs([]string{"big", "r19", "s10"}, []string{"s11"})); !slices.Equal(got, slices.Concat([]string{"s1"}, ids[:1], ids[2:])) {
		t.Fatalf("union %v", got)
	}
	for _, id := range ids[:n-1] {
		a.DelAll(id)
	}
	if got := a.SocketIDs([]string{"big"}, nil); !slices.Equal(got, ids[n-1:]) {
		t.Fatalf("after DelAll, members of big %v, want %v", got, ids[n-1:])
	}
	if got := a.SocketIDs([]string{"s10"}, nil); len(got) != 0 {
		t.Fatalf("room of a removed socket still has %v", got)
	}
	if got := sorted(a.SocketIDs(nil, nil)); !slices.Equal(got, []string{"s1", ids[n-1]}) {
		t.Fatalf("all sockets %v", got)
	}
	a.DelAll(ids[n-1])
	if got := a.SocketIDs([]string{"big"}, nil); len(got) != 0 {
		t.Fatalf("empty room still has %v", got)
	}
}
