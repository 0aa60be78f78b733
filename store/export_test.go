package store

import (
	"context"
	"fmt"
)

// MigrateTo brings the file at path to schema version v (tests build every
// earlier version with it).
func MigrateTo(path string, v int) error {
	db, err := openDB(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(context.Background(), db, v)
}

// SetPageSize sets the page size of files created from now on.
func SetPageSize(n int) { pageSize = n }

// onWriter runs fn on the writer goroutine and waits for it.
func (s *Store) onWriter(fn func(*writer)) {
	done := make(chan struct{})
	s.ctl <- func(w *writer) { fn(w); close(done) }
	<-done
}

// ForceReopen makes the writer reopen its connection before the next
// commit, as it does after a failure, so a permission change takes effect.
func (s *Store) ForceReopen() {
	s.onWriter(func(w *writer) {
		if !w.failing {
			w.failing = true
			w.backoff = 0
		}
	})
}

// LimitPages caps the writer connection's database size in pages, so the
// next growing commit fails with SQLite's "database or disk is full".
func (s *Store) LimitPages(n int) error {
	var err error
	s.onWriter(func(w *writer) {
		var cur int
		if err = s.writeDB().QueryRow("PRAGMA page_count").Scan(&cur); err == nil {
			_, err = s.writeDB().Exec(fmt.Sprintf("PRAGMA max_page_count = %d", cur+n))
		}
	})
	return err
}
