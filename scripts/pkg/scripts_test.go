package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stubs are the commands the maintainer scripts may call that change the
// system; each records its arguments instead. getent and id answer from
// STUB_HAVE ("passwd:gatewayd group:gpio ...") and STUB_MEMBER_OF.
var stubs = []string{"getent", "id", "adduser", "addgroup", "useradd", "groupadd", "usermod", "chown", "systemctl"}

// safeTools are the only host commands the scripts get; nothing else on
// this machine is reachable through PATH.
var safeTools = []string{"tr", "grep", "mkdir", "chmod", "rm", "rmdir", "cat"}

type scriptEnv struct {
	root    string // DPKG_ROOT
	log     string
	env     []string
	noAdd   bool // leave adduser/addgroup out, as on a minimal system
	systemd bool // pretend systemd runs (DPKG_ROOT/run/systemd/system)
}

func newScriptEnv(t *testing.T, have, memberOf string, noAdd, systemd bool) *scriptEnv {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	e := &scriptEnv{root: filepath.Join(dir, "root"), log: filepath.Join(dir, "calls"), noAdd: noAdd, systemd: systemd}
	for _, d := range []string{bin, e.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stubs {
		if noAdd && (s == "adduser" || s == "addgroup") {
			continue
		}
		body := "#!/bin/sh\necho \"" + s + " $*\" >>\"$STUB_LOG\"\n"
		switch s {
		case "getent":
			body += "for x in $STUB_HAVE; do [ \"$x\" = \"$1:$2\" ] && exit 0; done\nexit 2\n"
		case "id":
			body += "echo \"$STUB_MEMBER_OF\"\n"
		}
		if err := os.WriteFile(filepath.Join(bin, s), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	linkTools(t, bin, safeTools...)
	if systemd {
		if err := os.MkdirAll(filepath.Join(e.root, "run/systemd/system"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.env = []string{"PATH=" + bin, "DPKG_ROOT=" + e.root, "STUB_LOG=" + e.log,
		"STUB_HAVE=" + have, "STUB_MEMBER_OF=" + memberOf}
	return e
}

// linkTools links each of tools into bin, the scratch PATH, skipping the
// test (or failing it under GATEWAYD_STRICT) when one is missing.
func linkTools(t *testing.T, bin string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if err := os.Symlink(toolPath(t, tool), filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs scripts/deb/name with args and returns the commands it called
// that change something (getent and id only look).
func (e *scriptEnv) run(t *testing.T, name string, args ...string) ([]string, error) {
	t.Helper()
	cmd := exec.Command(toolPath(t, "sh"), append([]string{filepath.Join(root, "scripts/deb", name)}, args...)...)
	cmd.Env = e.env
	out, runErr := cmd.CombinedOutput()
	if runErr != nil {
		t.Logf("%s %v: %s", name, args, out)
	}
	b, err := os.ReadFile(e.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(e.log)
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" && !strings.HasPrefix(l, "getent ") && !strings.HasPrefix(l, "id ") {
			calls = append(calls, l)
		}
	}
	return calls, runErr
}

func wantCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s called\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestPostinstFirstInstall(t *testing.T) {
	e := newScriptEnv(t, "", "gatewayd", false, true)
	calls, err := e.run(t, "postinst", "configure", "")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "postinst configure", calls, []string{
		"adduser --quiet --system --group --home /var/lib/gatewayd --no-create-home gatewayd",
		"addgroup --quiet --system gpio",
		"usermod -a -G gpio gatewayd",
		"addgroup --quiet --system i2c",
		"usermod -a -G i2c gatewayd",
		"chown gatewayd:gatewayd " + e.root + "/var/lib/gatewayd",
		"systemctl daemon-reload",
		"systemctl enable gatewayd.service",
		"systemctl start gatewayd.service",
	})
	st, err := os.Stat(filepath.Join(e.root, "var/lib/gatewayd"))
	if err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("state directory: %v %v", st, err)
	}
}

func TestPostinstWithoutAdduserOrSystemd(t *testing.T) {
	// Groups exist, the user is in gpio only; no adduser; systemd is not
	// running (an image build): enable offline, never start.
	e := newScriptEnv(t, "group:gpio group:i2c", "gatewayd gpio", true, false)
	calls, err := e.run(t, "postinst", "configure")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "postinst configure", calls, []string{
		"useradd --system --user-group --home-dir /var/lib/gatewayd --no-create-home --shell /usr/sbin/nologin gatewayd",
		"usermod -a -G i2c gatewayd",
		"chown gatewayd:gatewayd " + e.root + "/var/lib/gatewayd",
		"systemctl enable gatewayd.service",
	})
}

func TestPostinstUpgradeKeepsAdminChoice(t *testing.T) {
	e := newScriptEnv(t, "passwd:gatewayd group:gpio group:i2c", "gatewayd gpio i2c", false, true)
	calls, err := e.run(t, "postinst", "configure", "0.9.0")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "postinst configure 0.9.0", calls, []string{
		"chown gatewayd:gatewayd " + e.root + "/var/lib/gatewayd",
		"systemctl daemon-reload",
		"systemctl try-restart gatewayd.service",
	})
}

func TestPrermAndPostrm(t *testing.T) {
	e := newScriptEnv(t, "passwd:gatewayd", "gatewayd", false, true)
	calls, err := e.run(t, "prerm", "remove")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "prerm remove", calls, []string{"systemctl stop gatewayd.service", "systemctl disable gatewayd.service"})

	calls, err = e.run(t, "prerm", "upgrade", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "prerm upgrade", calls, nil)

	state := filepath.Join(e.root, "var/lib/gatewayd")
	if err := os.MkdirAll(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "gatewayd.db"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.root, "etc/gatewayd"), 0o755); err != nil {
		t.Fatal(err)
	}
	calls, err = e.run(t, "postrm", "remove")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "postrm remove", calls, []string{"systemctl daemon-reload", "systemctl reset-failed gatewayd.service"})
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("remove (not purge) deleted the state: %v", err)
	}

	calls, err = e.run(t, "postrm", "purge")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "postrm purge", calls, []string{"systemctl daemon-reload"})
	for _, p := range []string{state, filepath.Join(e.root, "etc/gatewayd")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("purge left %s: %v", p, err)
		}
	}
}

func TestScriptsRefuseUnknownArguments(t *testing.T) {
	e := newScriptEnv(t, "", "", false, false)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if _, err := e.run(t, s, "bogus"); err == nil {
			t.Errorf("%s bogus succeeded", s)
		}
	}
}

// TestInstallShRoot installs into a scratch root with install.sh --root and
// checks that it creates no user and calls no systemctl there, keeps an
// edited config on reinstall, and uninstalls with and without --purge.
func TestInstallShRoot(t *testing.T) {
	e := newScriptEnv(t, "", "", false, true)
	bin := filepath.Join(filepath.Dir(e.root), "bin")
	linkTools(t, bin, "install", "sed", "mv", "dirname", "uname")
	fake := filepath.Join(t.TempDir(), "gatewayd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", append([]string{filepath.Join(root, "scripts/install.sh"), "--root", e.root}, args...)...)
		cmd.Env = e.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("install.sh %v: %v\n%s", args, err, out)
		}
		if b, _ := os.ReadFile(e.log); len(b) > 0 {
			t.Fatalf("install.sh --root %v called system commands:\n%s", args, b)
		}
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(e.root, p)); return err == nil }

	sh("--bin", fake)
	unit := string(readFile(t, filepath.Join(e.root, "etc/systemd/system/gatewayd.service")))
	if !strings.Contains(unit, "\nExecStart=/usr/local/bin/gatewayd -config ") {
		t.Errorf("installed unit does not start /usr/local/bin/gatewayd:\n%s", unit)
	}
	if st, err := os.Stat(filepath.Join(e.root, "usr/local/bin/gatewayd")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v %v", st, err)
	}
	conf := filepath.Join(e.root, "etc/gatewayd/gatewayd.yaml")
	if string(readFile(t, conf)) != string(readFile(t, filepath.Join(root, "scripts/gatewayd.yaml"))) {
		t.Error("default config differs from scripts/gatewayd.yaml")
	}
	if err := os.WriteFile(conf, []byte("listen: \":9000\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh("--bin", fake)
	if got := string(readFile(t, conf)); got != "listen: \":9000\"\n" {
		t.Errorf("reinstall replaced the edited config with %q", got)
	}

	sh("--uninstall")
	if exists("usr/local/bin/gatewayd") || exists("etc/systemd/system/gatewayd.service") {
		t.Error("uninstall left the binary or the unit")
	}
	if !exists("etc/gatewayd/gatewayd.yaml") {
		t.Error("uninstall without --purge deleted the config")
	}
	sh("--uninstall", "--purge")
	if exists("etc/gatewayd") {
		t.Error("--purge left /etc/gatewayd")
	}
}
