package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gatewayd/store"
)

func TestStateIsTakenOnceAndExpires(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := store.Open(path, &store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.PutState(ctx, "a", []byte("one"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.PutState(ctx, "b", []byte("two"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.PutState(ctx, "", nil, now); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key: %v", err)
	}
	// Values survive a reopen.
	st.Close()
	if st, err = store.Open(path, &store.Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := st.TakeState(ctx, "a")
	if err != nil || string(v) != "one" {
		t.Fatalf("TakeState(a) = %q, %v", v, err)
	}
	if _, err := st.TakeState(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeState(a): %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := st.TakeState(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired TakeState(b): %v", err)
	}
}

func TestStatsCountTheQueue(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "q.db"), &store.Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 3 {
		if _, err := st.Append(store.Reading{Device: "d", Key: "k", Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if q := st.Stats().Queued; q != 3 {
		t.Fatalf("Queued = %d before the flush, want 3", q)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.Queued != 0 || s.LastCommit <= 0 {
		t.Fatalf("after the flush: %+v", s)
	}
}
