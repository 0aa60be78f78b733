package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"gatewayd/store"
)

// makeReadOnly makes path unwritable and returns a function that undoes it.
// Root ignores file modes, so for root it sets the immutable attribute
// (which needs a filesystem that supports it, or the test is skipped).
func makeReadOnly(t *testing.T, path string) (undo func()) {
	t.Helper()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return func() { os.Chmod(path, 0o644) }
	}
	const (
		fsIocGetflags = 0x80086601
		fsIocSetflags = 0x40086602
		immutable     = 0x10
	)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flags int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		skipOrFail(t, "running as root and cannot read file attributes here (%v): no way to make the file read-only", e)
	}
	set := flags | immutable
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&set))); e != 0 {
		skipOrFail(t, "running as root and cannot set the immutable attribute here (%v): no way to make the file read-only", e)
	}
	undo = func() {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		clear := flags &^ immutable
		syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&clear)))
		os.Chmod(path, 0o644)
	}
	t.Cleanup(undo) // never leave an undeletable temp file behind
	return undo
}

// TestReadOnlyFileRecovers makes the database file read-only under a running
// store, checks that Append keeps working while Flush and Health report the
// cause, then makes it writable and waits for the writer to catch up.
func TestReadOnlyFileRecovers(t *testing.T) {
	var healthCalls atomic.Int32
	s, path := openT(t, &store.Options{FlushInterval: 20 * time.Millisecond, QueueSize: 60,
		OnHealth: func(error) { healthCalls.Add(1) }})
	ctx := context.Background()
	mustAppend(t, s, num("a", "t", t0, 1))
	flush(t, s)

	undo := makeReadOnly(t, path)
	s.ForceReopen()
	var last int64
	for i := range 50 {
		last = mustAppend(t, s, num("a", "t", t0.Add(time.Duration(i+1)*time.Second), float64(i)))
	}
	err := s.Flush(ctx)
	if err == nil {
		t.Fatal("Flush succeeded on a read-only file")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(strings.ToLower(err.Error()), "readonly") {
		t.Fatalf("Flush error %q should name the file and say it is read-only", err)
	}
	t.Logf("Flush error while read-only: %v", err)
	if h := s.Health(); h == nil || !strings.Contains(h.Error(), path) {
		t.Fatalf("Health() = %v while failing", h)
	}
	if s.Committed() >= last {
		t.Fatalf("Committed %d claims readings that cannot be on disk (last %d)", s.Committed(), last)
	}
	// Append keeps handing out offsets until QueueSize readings wait, then
	// says so instead of blocking or dropping silently.
	for i := 50; i < 60; i++ {
		last = mustAppend(t, s, num("a", "t", t0.Add(time.Duration(i+1)*time.Second), float64(i)))
	}
	if _, err := s.Append(num("a", "t", t0, 0)); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("Append with a full queue on a failing disk = %v, want ErrQueueFull", err)
	}
	// Queries still answer from what is on disk.
	if got, err := s.After(ctx, nil, 0, 100); err != nil || len(got) != 1 {
		t.Fatalf("After while failing = %d samples, %v", len(got), err)
	}

	undo()
	waitFor(t, 10*time.Second, func() bool { return s.Health() == nil && s.Committed() == last })
	got, err := s.After(ctx, nil, 0, 100)
	if err != nil || len(got) != 61 {
		t.Fatalf("after recovery After = %d samples, %v; want 61", len(got), err)
	}
	if n := healthCalls.Load(); n < 2 {
		t.Fatalf("OnHealth called %d times, want a failure and a recovery", n)
	}
}

// TestDiskFullRecovers fills the database to a page limit, so commits fail
// with SQLite's disk-full error, and checks nothing queued is lost when the
// writer retries on a fresh connection.
func TestDiskFullRecovers(t *testing.T) {
	// A batch size above the test's volume makes Flush the first attempt.
	s, path := openT(t, &store.Options{FlushInterval: -1, BatchSize: 100000})
	ctx := context.Background()
	mustAppend(t, s, num("a", "t", t0, 1))
	flush(t, s)
	if err := s.LimitPages(0); err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 5000 {
		last = mustAppend(t, s, num("a", "t", t0.Add(time.Duration(i)*time.Millisecond), float64(i)))
	}
	err := s.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "full") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Flush on a full database = %v, want a disk-full error naming the file", err)
	}
	t.Logf("Flush error on a full database: %v", err)
	waitFor(t, 10*time.Second, func() bool { return s.Health() == nil && s.Committed() == last })
	got, err := s.After(ctx, nil, 0, 10000)
	if err != nil || len(got) != 5001 {
		t.Fatalf("after recovery %d samples, %v; want 5001", len(got), err)
	}
}

func TestCorruptFileGivesClearError(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not sqlite ", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(garbage, nil)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), garbage) {
		t.Fatalf("Open(garbage) = %v, want ErrCorrupt naming the file", err)
	}

	// A real database whose pages after the header were overwritten.
	damaged := filepath.Join(dir, "damaged.db")
	s, err := store.Open(damaged, &store.Options{FlushInterval: -1, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		mustAppend(t, s, num("a", "t", t0.Add(time.Duration(i)*time.Second), float64(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(damaged, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = store.Open(damaged, nil)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), damaged) {
		t.Fatalf("Open(damaged) = %v, want ErrCorrupt naming the file", err)
	}
}

// skipOrFail skips, or fails when GATEWAYD_STRICT=1 (CI) asks that nothing
// be skipped.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("GATEWAYD_STRICT") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
