package gateway_test

import (
	"strings"
	"testing"
	"time"

	"gatewayd/gateway"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func mustAlerts(t *testing.T, rules ...gateway.AlertRule) *gateway.Alerts {
	t.Helper()
	a, err := gateway.NewAlerts(rules)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAlertAboveWithDurationAndHysteresis(t *testing.T) {
	a := mustAlerts(t, gateway.AlertRule{Name: "hot", Metric: "temperature", Kind: gateway.AlertAbove,
		Threshold: 30, Hysteresis: 2, For: 10 * time.Second})
	steps := []struct {
		sec  int
		v    float64
		want string // "", "raise" or "clear"
	}{
		{0, 25, ""},
		{1, 31, ""},       // above, pending
		{5, 29, ""},       // dipped: pending resets
		{6, 31, ""},       // pending again from 6
		{15, 32, ""},      // 9 s held
		{16, 31, "raise"}, // 10 s held
		{17, 40, ""},      // already raised: once only
		{18, 29, ""},      // below threshold but inside hysteresis: stays raised
		{19, 27.9, "clear"},
		{20, 27, ""},
	}
	for _, s := range steps {
		got := a.Reading("dev1", "temperature", at(s.sec), s.v)
		switch {
		case s.want == "" && len(got) != 0:
			t.Fatalf("at %ds value %v: unexpected %+v", s.sec, s.v, got)
		case s.want != "" && len(got) != 1:
			t.Fatalf("at %ds value %v: want one %s, got %+v", s.sec, s.v, s.want, got)
		case s.want == "raise" && !got[0].Raised, s.want == "clear" && got[0].Raised:
			t.Fatalf("at %ds: want %s, got %+v", s.sec, s.want, got[0])
		}
	}
	if n := a.ActiveCount()["dev1"]; n != 0 {
		t.Fatalf("active after clear: %d", n)
	}
}

func TestAlertBelowRaisedByTick(t *testing.T) {
	a := mustAlerts(t, gateway.AlertRule{Name: "cold", Device: "fridge", Metric: "t", Kind: gateway.AlertBelow,
		Threshold: 2, For: time.Minute})
	if got := a.Reading("other", "t", at(0), -5); len(got) != 0 {
		t.Fatalf("rule for fridge fired on other: %+v", got)
	}
	a.Reading("fridge", "t", at(0), 1)
	if got := a.Tick(at(59)); len(got) != 0 {
		t.Fatalf("raised early: %+v", got)
	}
	got := a.Tick(at(60))
	if len(got) != 1 || !got[0].Raised || got[0].Device != "fridge" || !strings.Contains(got[0].Text, "below") {
		t.Fatalf("Tick(60) = %+v", got)
	}
	if a.ActiveCount()["fridge"] != 1 {
		t.Fatal("not counted as active")
	}
}

func TestAlertOffline(t *testing.T) {
	a := mustAlerts(t, gateway.AlertRule{Name: "gone", Kind: gateway.AlertOffline, For: 30 * time.Second})
	a.Presence("d", false, at(0))
	a.Presence("d", false, at(10)) // a repeated offline keeps the first time
	if got := a.Tick(at(29)); len(got) != 0 {
		t.Fatalf("early: %+v", got)
	}
	if got := a.Tick(at(30)); len(got) != 1 || !got[0].Raised {
		t.Fatalf("Tick(30) = %+v", got)
	}
	if got := a.Tick(at(40)); len(got) != 0 {
		t.Fatalf("raised twice: %+v", got)
	}
	if got := a.Presence("d", true, at(41)); len(got) != 1 || got[0].Raised {
		t.Fatalf("online: %+v", got)
	}
	// A short outage never raises.
	a.Presence("d", false, at(50))
	a.Presence("d", true, at(55))
	if got := a.Tick(at(200)); len(got) != 0 {
		t.Fatalf("short outage raised: %+v", got)
	}
}

func TestAlertNoData(t *testing.T) {
	a := mustAlerts(t, gateway.AlertRule{Name: "quiet", Kind: gateway.AlertNoData, For: time.Minute})
	a.Reading("d", "x", at(0), 1)
	if got := a.Tick(at(61)); len(got) != 1 || !got[0].Raised {
		t.Fatalf("Tick = %+v", got)
	}
	if got := a.Reading("d", "x", at(62), 1); len(got) != 1 || got[0].Raised {
		t.Fatalf("data again = %+v", got)
	}
}

func TestAlertRuleValidation(t *testing.T) {
	bad := []gateway.AlertRule{
		{},
		{Name: "x", Kind: "sideways"},
		{Name: "x", Kind: gateway.AlertAbove},
		{Name: "x", Kind: gateway.AlertOffline},
		{Name: "x", Kind: gateway.AlertAbove, Metric: "m", Hysteresis: -1},
	}
	for _, r := range bad {
		if _, err := gateway.NewAlerts([]gateway.AlertRule{r}); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	dup := gateway.AlertRule{Name: "x", Kind: gateway.AlertAbove, Metric: "m"}
	if _, err := gateway.NewAlerts([]gateway.AlertRule{dup, dup}); err == nil {
		t.Error("duplicate names accepted")
	}
}

func TestAlertSetRulesClearsChangedAndRemovedRules(t *testing.T) {
	hot := gateway.AlertRule{Name: "hot", Metric: "t", Kind: gateway.AlertAbove, Threshold: 30}
	wet := gateway.AlertRule{Name: "wet", Metric: "h", Kind: gateway.AlertAbove, Threshold: 80}
	a := mustAlerts(t, hot, wet)
	a.Reading("d", "t", at(0), 35)
	a.Reading("e", "t", at(0), 35)
	a.Reading("d", "h", at(0), 90)
	if a.ActiveCount()["d"] != 2 || a.ActiveCount()["e"] != 1 {
		t.Fatalf("not raised: %v", a.ActiveCount())
	}
	cleared, err := a.SetRules([]gateway.AlertRule{hot, wet}, at(1))
	if err != nil || len(cleared) != 0 || a.ActiveCount()["d"] != 2 {
		t.Fatalf("an unchanged reload cleared %+v (%v), active %v", cleared, err, a.ActiveCount())
	}
	// A changed rule forgets its alerts and clears them; the untouched
	// rule keeps its own.
	hot.Threshold = 50
	cleared, err = a.SetRules([]gateway.AlertRule{hot, wet}, at(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(cleared) != 2 || cleared[0].Device != "d" || cleared[1].Device != "e" {
		t.Fatalf("clears of the changed rule: %+v", cleared)
	}
	for _, c := range cleared {
		if c.Raised || c.Rule != "hot" || c.Metric != "t" || !c.Time.Equal(at(2)) || c.Text != "rule changed" {
			t.Fatalf("clear %+v", c)
		}
	}
	if n := a.ActiveCount(); n["d"] != 1 || n["e"] != 0 {
		t.Fatalf("active after the change: %v", n)
	}
	// A removed rule clears too, and says so.
	cleared, _ = a.SetRules([]gateway.AlertRule{hot}, at(3))
	if len(cleared) != 1 || cleared[0].Rule != "wet" || cleared[0].Text != "rule removed" {
		t.Fatalf("clears of the removed rule: %+v", cleared)
	}
	if len(a.Active()) != 0 {
		t.Fatalf("still active: %+v", a.Active())
	}
	// An invalid set changes nothing.
	a.Reading("d", "t", at(4), 60)
	if _, err := a.SetRules([]gateway.AlertRule{{Name: "bad"}}, at(5)); err == nil || len(a.Active()) != 1 {
		t.Fatalf("invalid set: %v, active %+v", err, a.Active())
	}
}
