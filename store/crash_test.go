package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/store"

	_ "github.com/mattn/go-sqlite3"
)

const crashEnv = "STORE_CRASH_CHILD_DB"

// TestMain lets the test binary act as the crash child: with crashEnv set it
// ingests into that file until killed.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	before := runtime.NumGoroutine()
	code := m.Run()
	// Every store a test opened is closed by then: its writer and the
	// database/sql goroutines must be gone.
	deadline := time.Now().Add(5 * time.Second)
	for code == 0 && runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			code = 1
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Exit(code)
}

// crashChild appends readings forever and prints each committed offset as
// "C <offset>" on stdout.
func crashChild(path string) {
	commits := make(chan int64, 1024)
	s, err := store.Open(path, &store.Options{
		FlushInterval: 10 * time.Millisecond,
		QueueSize:     20000,
		OnCommit: func(c int64) {
			select {
			case commits <- c:
			default: // the parent only trusts what it was told
			}
		},
	})
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for c := range commits {
			fmt.Fprintf(w, "C %d\n", c)
			w.Flush()
		}
	}()
	for i := 0; ; i++ {
		r := store.Reading{Device: fmt.Sprintf("dev%d", i%20), Key: "temp", Time: time.Now(), Value: float64(i)}
		if i%7 == 0 {
			r = store.Reading{Device: r.Device, Key: "relay", Time: r.Time, Text: "ON", IsState: true}
		}
		if _, err := s.Append(r); errors.Is(err, store.ErrQueueFull) {
			time.Sleep(time.Millisecond)
		} else if err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
		if i%500 == 0 {
			time.Sleep(time.Millisecond) // let commits interleave with appends
		}
	}
}

// TestCrashKill9 kills an ingesting child process with SIGKILL and checks
// that the file opens cleanly with every offset the child reported as
// committed, and that offsets handed out afterwards never repeat.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := range 2 { // the second round crashes a reopened file
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var reported int64
		commits := 0
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(20 * time.Second)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "E ") {
				t.Fatalf("child: %s", line)
			}
			if c, ok := strings.CutPrefix(line, "C "); ok {
				reported, _ = strconv.ParseInt(c, 10, 64)
				commits++
			}
			// Kill mid-ingest, once a fair amount has been committed.
			if commits >= 20 && reported >= int64(5000*(round+1)) || time.Now().After(deadline) {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if reported == 0 {
			t.Fatal("child reported no commit before the deadline")
		}
		t.Logf("round %d: killed after %d commits, last reported offset %d", round, commits, reported)

		db, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		var check string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("integrity_check = %q, %v", check, err)
		}
		// Offsets are consecutive within a run; count the ones at or below
		// the last reported value from this run's first offset.
		var first, n, maxOff int64
		if err := db.QueryRow("SELECT COALESCE(MIN(off), 0) FROM readings WHERE off > ?", prevMax(t, round, path)).Scan(&first); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM readings WHERE off BETWEEN ? AND ?", first, reported).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT MAX(off) FROM readings").Scan(&maxOff); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if want := reported - first + 1; n != want {
			t.Fatalf("round %d: %d readings in [%d, %d], want %d: committed readings were lost", round, n, first, reported, want)
		}
		lastMax[path] = maxOff

		s, err := store.Open(path, &store.Options{FlushInterval: -1})
		if err != nil {
			t.Fatalf("Open after kill -9: %v", err)
		}
		if s.Committed() < maxOff {
			t.Fatalf("Committed after crash = %d, below the %d on disk", s.Committed(), maxOff)
		}
		off, err := s.Append(store.Reading{Device: "dev0", Key: "temp", Value: 1})
		if err != nil {
			t.Fatal(err)
		}
		// The child could have handed out up to QueueSize offsets it never
		// committed; none of them may come back.
		if off <= maxOff+20000 {
			t.Fatalf("offset after crash = %d, may repeat one handed out before (max on disk %d)", off, maxOff)
		}
		got, err := s.After(context.Background(), []string{"dev3"}, first-1, 5)
		if err != nil || len(got) == 0 {
			t.Fatalf("After on recovered file = %v, %v", got, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		lastMax[path] = off
	}
}

// lastMax remembers, per file, the highest offset of the previous round.
var lastMax = map[string]int64{}

func prevMax(t *testing.T, round int, path string) int64 {
	if round == 0 {
		return 0
	}
	return lastMax[path]
}
