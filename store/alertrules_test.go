package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatewayd/store"
)

func TestAlertRulesArePutReplacedDeletedAndSurviveAReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.db")
	s := openPath(t, path, nil)
	ctx := context.Background()
	if rs, err := s.AlertRules(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("a new file has rules: %+v, %v", rs, err)
	}
	hot := store.AlertRule{Name: "hot", Spec: []byte(`{"kind":"above"}`), UpdatedBy: "ann", Updated: t0}
	cold := store.AlertRule{Name: "cold", Spec: []byte(`{"kind":"below"}`), UpdatedBy: "bob"}
	for _, r := range []store.AlertRule{hot, cold} {
		if err := s.PutAlertRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing keeps one row per name, with the newest spec and author.
	hot.Spec, hot.UpdatedBy, hot.Updated = []byte(`{"kind":"above","threshold":40}`), "cid", t0.Add(time.Minute)
	if err := s.PutAlertRule(ctx, hot); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openPath(t, path, nil)
	rs, err := s.AlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Name != "cold" || rs[1].Name != "hot" {
		t.Fatalf("after a reopen: %+v, want cold and hot in name order", rs)
	}
	if got := rs[1]; string(got.Spec) != string(hot.Spec) || got.UpdatedBy != "cid" || !got.Updated.Equal(hot.Updated) {
		t.Fatalf("hot came back as %+v, want %+v", got, hot)
	}
	// A zero Updated takes the store's clock.
	if got := rs[0]; got.UpdatedBy != "bob" || got.Updated.IsZero() {
		t.Fatalf("cold came back as %+v", got)
	}

	if ok, err := s.DeleteAlertRule(ctx, "cold"); err != nil || !ok {
		t.Fatalf("DeleteAlertRule(cold) = %v, %v", ok, err)
	}
	if ok, err := s.DeleteAlertRule(ctx, "cold"); err != nil || ok {
		t.Fatalf("second DeleteAlertRule(cold) = %v, %v; want false", ok, err)
	}
	s.Close()
	s = openPath(t, path, nil)
	if rs, err := s.AlertRules(ctx); err != nil || len(rs) != 1 || rs[0].Name != "hot" {
		t.Fatalf("after the delete and a reopen: %+v, %v", rs, err)
	}
}

func TestPutAlertRuleRefusesWhatItCannotKeep(t *testing.T) {
	s, _ := openT(t, nil)
	ctx := context.Background()
	for _, r := range []store.AlertRule{
		{Spec: []byte("{}")},
		{Name: strings.Repeat("n", 257), Spec: []byte("{}")},
		{Name: "empty"},
		{Name: "huge", Spec: make([]byte, 65<<10)},
	} {
		if err := s.PutAlertRule(ctx, r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutAlertRule(name %.10q, %d-byte spec) = %v, want ErrInvalid", r.Name, len(r.Spec), err)
		}
	}
	if rs, err := s.AlertRules(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("refused rules were kept: %+v, %v", rs, err)
	}
	s.Close()
	if err := s.PutAlertRule(ctx, store.AlertRule{Name: "late", Spec: []byte("{}")}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("PutAlertRule after Close = %v, want ErrClosed", err)
	}
}
