package convention_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gatewayd/devices"
	"gatewayd/devices/mqtt/convention"
)

// now is the fixed clock of the table tests.
var now = time.Date(2024, 2, 24, 21, 30, 0, 0, time.UTC)

const nowS = "2024-02-24T21:30:00Z"

// step is one received message and the normalised output it must produce,
// one line per update or error, in any order:
//
//	R <dev> <key>=<number> <unit> @<time>
//	S <dev> <key>=<text> @<time>
//	P <dev> online|offline <reason>
//	M <dev> name=<n> model=<m> fw=<f> units=<k:u,...> cmds=<c,...>
//	B <dev> <reason>
//	NOTMINE
type step struct {
	topic, payload string
	want           []string
}

func render(ups []devices.Update, err error) []string {
	var out []string
	for _, u := range ups {
		switch {
		case u.Reading != nil:
			r := u.Reading
			if r.IsState {
				out = append(out, fmt.Sprintf("S %s %s=%s @%s", r.Device, r.Key, r.Text, r.Time.Format(time.RFC3339)))
			} else {
				out = append(out, fmt.Sprintf("R %s %s=%g %s @%s", r.Device, r.Key, r.Value, r.Unit, r.Time.Format(time.RFC3339)))
			}
			if r.Time.Location() != time.UTC {
				out = append(out, "NOT-UTC "+r.Key)
			}
		case u.Presence != nil:
			p := u.Presence
			st := "offline"
			if p.Online {
				st = "online"
			}
			out = append(out, fmt.Sprintf("P %s %s %s", p.Device, st, p.Reason))
		case u.Meta != nil:
			m := u.Meta
			var units []string
			for k, v := range m.Units {
				units = append(units, k+":"+v)
			}
			sort.Strings(units)
			cmds := slices.Clone(m.Commands)
			sort.Strings(cmds)
			out = append(out, fmt.Sprintf("M %s name=%s model=%s fw=%s units=%s cmds=%s", m.Device, m.Name, m.Model, m.Firmware, strings.Join(units, ","), strings.Join(cmds, ",")))
		}
	}
	if errors.Is(err, convention.ErrNotMine) {
		out = append(out, "NOTMINE")
	} else if err != nil {
		bps := convention.BadPayloads(err)
		if len(bps) == 0 {
			out = append(out, "ERR "+err.Error())
		}
		for _, b := range bps {
			out = append(out, fmt.Sprintf("B %s %s", b.Device, b.Reason))
		}
	}
	sort.Strings(out)
	return out
}

func runSteps(t *testing.T, c convention.Convention, steps []step) {
	t.Helper()
	for i, s := range steps {
		ups, err := c.Handle(s.topic, []byte(s.payload), now)
		got := render(ups, err)
		want := slices.Clone(s.want)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("step %d %s %q:\n got  %q\n want %q", i, s.topic, s.payload, got, want)
		}
	}
}

type cmdCase struct {
	dev, name, args string
	topic, payload  string
	err             error
}

func runCommands(t *testing.T, c convention.Convention, cases []cmdCase) {
	t.Helper()
	for _, cc := range cases {
		var args []byte
		if cc.args != "" {
			args = []byte(cc.args)
		}
		m, err := c.Command(devices.Command{Device: cc.dev, Name: cc.name, Args: args})
		if cc.err != nil {
			if !errors.Is(err, cc.err) {
				t.Errorf("Command(%s %s %s): err %v, want %v", cc.dev, cc.name, cc.args, err, cc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Command(%s %s %s): %v", cc.dev, cc.name, cc.args, err)
			continue
		}
		if m.Topic != cc.topic || string(m.Payload) != cc.payload || m.Retain || m.QoS != 1 {
			t.Errorf("Command(%s %s %s) = %s %q retain=%v qos=%d, want %s %q", cc.dev, cc.name, cc.args, m.Topic, m.Payload, m.Retain, m.QoS, cc.topic, cc.payload)
		}
	}
}

func TestMatchTopic(t *testing.T) {
	cases := []struct {
		f, t string
		want bool
	}{
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/status", "x/status", true},
		{"+/status", "x/y/status", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/+", "a", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/b", "a/b/c", false},
		{"+/+/+/state", "n/sensor/t/state", true},
		{"+", "", true},
	}
	for _, c := range cases {
		if got := convention.MatchTopic(c.f, c.t); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v", c.f, c.t, got)
		}
	}
}
