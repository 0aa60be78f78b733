package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gatewayd/store"
)

// The live path: append, send the reading with its offset at once, and let
// recovery page through what is committed.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "gw.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	now := time.Now()
	off, _ := s.Append(store.Reading{Device: "plug1", Key: "power", Time: now, Value: 42.5, Unit: "W"})
	s.Append(store.Reading{Device: "plug1", Key: "relay", Time: now, Text: "ON", IsState: true})
	fmt.Println("first offset:", off) // send it live now; it is on disk once Committed() >= off

	ctx := context.Background()
	if err := s.Flush(ctx); err != nil { // the gateway calls Close on SIGTERM
		fmt.Println(err)
		return
	}
	page, _ := s.After(ctx, []string{"plug1"}, 0, 100)
	for _, smp := range page {
		fmt.Println(smp.Offset, smp.Key, smp.Value, smp.Text, smp.Unit)
	}
	// Output:
	// first offset: 1
	// 1 power 42.5  W
	// 2 relay 0 ON
}
