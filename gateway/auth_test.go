package gateway_test

import (
	"strings"
	"testing"
	"time"

	"gatewayd/gateway"
)

func TestPasswordHash(t *testing.T) {
	h, err := gateway.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sha256$") {
		t.Fatalf("hash %q lacks its scheme", h)
	}
	h2, _ := gateway.HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		got, err := gateway.CheckPassword(h, pw)
		if err != nil || got != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "pbkdf2-sha256$x$a$b", "pbkdf2-sha256$1000$!!$b", "md5$1000$a$b", "pbkdf2-sha256$99999999999$a$b"} {
		if ok, err := gateway.CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	key := []byte(strings.Repeat("k", 32))
	tok, err := gateway.NewTokens(key, clock)
	if err != nil {
		t.Fatal(err)
	}
	s, exp := tok.Issue("admin", gateway.RoleOperator, time.Hour)
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expires %v", exp)
	}
	sub, role, err := tok.Check(s)
	if err != nil || sub != "admin" || role != gateway.RoleOperator {
		t.Fatalf("Check = %q %q %v", sub, role, err)
	}
	other, _ := gateway.NewTokens([]byte(strings.Repeat("o", 32)), clock)
	if _, _, err := other.Check(s); err == nil {
		t.Fatal("a token signed with another key passed")
	}
	tampered := strings.Replace(s, s[:4], "eyJy", 1)
	if tampered != s {
		if _, _, err := tok.Check(tampered); err == nil {
			t.Fatal("a tampered token passed")
		}
	}
	for _, bad := range []string{"", ".", "abc", s + "x"} {
		if _, _, err := tok.Check(bad); err == nil {
			t.Errorf("Check(%q) passed", bad)
		}
	}
	now = now.Add(time.Hour)
	if _, _, err := tok.Check(s); err == nil {
		t.Fatal("an expired token passed")
	}
	if _, err := gateway.NewTokens([]byte("short"), clock); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestRoleCan(t *testing.T) {
	cases := []struct {
		have, want gateway.Role
		ok         bool
	}{
		{gateway.RoleOperator, gateway.RoleViewer, true},
		{gateway.RoleOperator, gateway.RoleOperator, true},
		{gateway.RoleViewer, gateway.RoleViewer, true},
		{gateway.RoleViewer, gateway.RoleOperator, false},
		{"", gateway.RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.have.Can(c.want); got != c.ok {
			t.Errorf("%q.Can(%q) = %v", c.have, c.want, got)
		}
	}
}
