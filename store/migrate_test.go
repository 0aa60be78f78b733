package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gatewayd/store"
)

// TestMigrateFromEveryVersion builds a file at each earlier schema version,
// puts data in it as that version would have, and opens it with the store.
func TestMigrateFromEveryVersion(t *testing.T) {
	latest := store.SchemaVersion()
	if latest < 3 {
		t.Fatalf("SchemaVersion = %d, want at least 3", latest)
	}
	for v := 0; v < latest; v++ {
		path := filepath.Join(t.TempDir(), "old.db")
		if v > 0 {
			if err := store.MigrateTo(path, v); err != nil {
				t.Fatalf("MigrateTo(%d): %v", v, err)
			}
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			exec := func(q string, args ...any) {
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatalf("v%d: %s: %v", v, q, err)
				}
			}
			exec("INSERT INTO series (id, device, key, unit) VALUES (1, 'a', 'temp', 'C')")
			for i := range 10 {
				exec("INSERT INTO readings (off, series, ts, value) VALUES (?, 1, ?, ?)", i+1, t0.Add(time.Duration(i)*time.Second).UnixMilli(), i)
			}
			exec("UPDATE meta SET value = 10 WHERE key = 'last_offset'")
			if v >= 2 {
				exec("INSERT INTO devices (id, name, first_seen, last_seen) VALUES ('a', 'Kitchen', 1, 1)")
				exec("INSERT INTO events (ts, kind, device) VALUES (?, 'online', 'a')", t0.UnixMilli())
			}
			db.Close()
		}
		s := openPath(t, path, nil)
		var have int
		if err := rawDB(t, path).QueryRow("PRAGMA user_version").Scan(&have); err != nil || have != latest {
			t.Fatalf("from v%d: user_version %d (%v), want %d", v, have, err, latest)
		}
		ctx := context.Background()
		got, err := s.After(ctx, nil, 0, 100)
		if err != nil {
			t.Fatalf("from v%d: After: %v", v, err)
		}
		want := 0
		if v > 0 {
			want = 10
		}
		if len(got) != want {
			t.Fatalf("from v%d: %d readings after migration, want %d", v, len(got), want)
		}
		if v > 0 {
			if got[9].Value != 9 || got[9].Unit != "C" {
				t.Fatalf("from v%d: reading came back as %+v", v, got[9])
			}
			// Rollups did not exist before v3: downsampling rebuilds them.
			b, err := s.Downsample(ctx, "a", "temp", t0, t0.Add(time.Minute), 1)
			if err != nil || len(b) != 1 || b[0].Count != 10 {
				t.Fatalf("from v%d: Downsample = %+v, %v", v, b, err)
			}
			if off := mustAppend(t, s, num("a", "temp", t0, 1)); off != 11 {
				t.Fatalf("from v%d: next offset %d, want 11", v, off)
			}
		}
		// Runtime alert rules did not exist before v5: the table starts empty.
		if rs, err := s.AlertRules(ctx); err != nil || len(rs) != 0 {
			t.Fatalf("from v%d: AlertRules = %+v, %v", v, rs, err)
		}
		if v >= 2 {
			d, err := s.Device(ctx, "a")
			if err != nil || d.Name != "Kitchen" {
				t.Fatalf("from v%d: Device = %+v, %v", v, d, err)
			}
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	if err := store.MigrateTo(path, 0); err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("sqlite3", "file:"+path)
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := store.Open(path, nil)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file: %v, want ErrSchemaTooNew", err)
	}
}
