package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

// need skips the test when a tool is missing, or fails it under
// GATEWAYD_STRICT.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		toolPath(t, tool)
	}
}

// toolPath returns where tool is on PATH; when it is missing it skips the
// test, or fails it under GATEWAYD_STRICT, as need does.
func toolPath(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("GATEWAYD_STRICT") != "" {
			t.Fatalf("%s is missing (GATEWAYD_STRICT is set)", tool)
		}
		t.Skipf("%s is missing; scripts/ci-deps.sh installs it", tool)
	}
	return p
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeDeb packages a stand-in binary for arch and returns the .deb's path
// and the binary's bytes.
func fakeDeb(t *testing.T, arch string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatewayd")
	body := []byte("#!/bin/sh\necho gatewayd " + arch + "\n")
	if err := os.WriteFile(bin, body, 0o755); err != nil {
		t.Fatal(err)
	}
	deb, err := Build(Options{Arch: arch, Version: "1.2.3+4.gabcdef0", Root: root, Bin: bin, OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return deb, body
}

func TestBuildRefusesUnknownArch(t *testing.T) {
	_, err := Build(Options{Arch: "mips", Version: "1.0.0", Root: root, Bin: "x", OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "armv7") {
		t.Fatalf("err = %v, want ErrArch", err)
	}
}

func TestBuildNamesPackagesByDebianArch(t *testing.T) {
	for arch, want := range map[string]string{"amd64": "amd64", "arm64": "arm64", "armv7": "armhf"} {
		deb, _ := fakeDeb(t, arch)
		if got := filepath.Base(deb); got != "gatewayd_1.2.3+4.gabcdef0_"+want+".deb" {
			t.Errorf("%s: package named %s", arch, got)
		}
	}
}

// TestDebFake checks a package built around a stand-in binary, so the
// packaging is checked even before make dist has run.
func TestDebFake(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	deb, bin := fakeDeb(t, "amd64")
	checkDeb(t, deb, "amd64", bin)
}

// TestDebDist checks the package make deb built (GATEWAYD_DEB, and the
// binary it should hold in GATEWAYD_DEB_BIN); make check-deb sets both.
func TestDebDist(t *testing.T) {
	deb := os.Getenv("GATEWAYD_DEB")
	if deb == "" {
		t.Skip("GATEWAYD_DEB is unset; make check-deb sets it to the amd64 package in dist/")
	}
	need(t, "dpkg-deb", "dpkg")
	var bin []byte
	if p := os.Getenv("GATEWAYD_DEB_BIN"); p != "" {
		bin = readFile(t, p)
	}
	dir := checkDeb(t, deb, "amd64", bin)

	// The unit's ExecStart flags must exist in the binary it starts.
	unit := string(readFile(t, filepath.Join(dir, "lib/systemd/system/gatewayd.service")))
	m := regexp.MustCompile(`(?m)^ExecStart=\S+(.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("unit has no ExecStart")
	}
	help, _ := exec.Command(filepath.Join(dir, "usr/bin/gatewayd"), "-h").CombinedOutput()
	for _, f := range regexp.MustCompile(`\s(-[a-z][a-z0-9-]*)`).FindAllStringSubmatch(m[1], -1) {
		if !strings.Contains(string(help), "  "+f[1]+" ") && !strings.Contains(string(help), "  "+f[1]+"\n") {
			msg := "the unit passes " + f[1] + " but gatewayd -h does not list it:\n" + string(help)
			if os.Getenv("GATEWAYD_STRICT") != "" {
				t.Error(msg)
			} else {
				t.Log("SKIP: " + msg)
			}
		}
	}
}

// checkDeb inspects deb with dpkg-deb, unpacks it into a scratch root with
// its own dpkg database, and returns the directory it extracted it to.
func checkDeb(t *testing.T, deb, arch string, bin []byte) string {
	t.Helper()
	info := sh(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{
		"Package: gatewayd", "Architecture: " + arch, "conffiles", "postinst", "prerm", "postrm",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if v := strings.TrimSpace(sh(t, "dpkg-deb", "--field", deb, "Version")); v == "" || !regexp.MustCompile(`^[0-9]`).MatchString(v) {
		t.Errorf("Version %q does not start with a digit", v)
	}

	contents := sh(t, "dpkg-deb", "--contents", deb)
	for path, mode := range map[string]string{
		"./usr/bin/gatewayd":                    "-rwxr-xr-x root/root",
		"./lib/systemd/system/gatewayd.service": "-rw-r--r-- root/root",
		"./etc/gatewayd/gatewayd.yaml":          "-rw-r--r-- root/root",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + `\s.*\s` + regexp.QuoteMeta(path) + `$`).MatchString(contents) {
			t.Errorf("dpkg-deb --contents lacks %s %s:\n%s", mode, path, contents)
		}
	}

	ctrl := t.TempDir()
	sh(t, "dpkg-deb", "-e", deb, ctrl)
	if got := string(readFile(t, filepath.Join(ctrl, "conffiles"))); got != "/etc/gatewayd/gatewayd.yaml\n" {
		t.Errorf("conffiles = %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctrl, s)
		if !bytes.Equal(readFile(t, p), readFile(t, filepath.Join(root, "scripts/deb", s))) {
			t.Errorf("%s differs from scripts/deb/%s", s, s)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable: %v", s, err)
		}
		sh(t, "sh", "-n", p)
	}

	dir := t.TempDir()
	sh(t, "dpkg-deb", "-x", deb, dir)
	for dst, src := range map[string]string{
		"lib/systemd/system/gatewayd.service": "scripts/gatewayd.service",
		"etc/gatewayd/gatewayd.yaml":          "scripts/gatewayd.yaml",
	} {
		if !bytes.Equal(readFile(t, filepath.Join(dir, dst)), readFile(t, filepath.Join(root, src))) {
			t.Errorf("%s differs from %s", dst, src)
		}
	}
	if bin != nil && !bytes.Equal(readFile(t, filepath.Join(dir, "usr/bin/gatewayd")), bin) {
		t.Error("usr/bin/gatewayd differs from the binary packaged")
	}

	// Install into a scratch root with its own dpkg database. --unpack runs
	// no maintainer script here (there is no preinst), so nothing touches
	// this machine; TestMaintainerScripts covers the scripts.
	if arch == hostDebArch(t) {
		sr := t.TempDir()
		for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
			if err := os.MkdirAll(filepath.Join(sr, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
			if err := os.WriteFile(filepath.Join(sr, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sh(t, "dpkg", "--root="+sr, "--log=/dev/null", "--no-triggers", "--unpack", deb)
		st := sh(t, "dpkg", "--root="+sr, "-s", "gatewayd")
		if !strings.Contains(st, "Status: install ok unpacked") ||
			!regexp.MustCompile(`(?m)^Conffiles:\n /etc/gatewayd/gatewayd.yaml `).MatchString(st) {
			t.Errorf("dpkg -s in the scratch root:\n%s", st)
		}
		if fi, err := os.Stat(filepath.Join(sr, "usr/bin/gatewayd")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("scratch root usr/bin/gatewayd: %v %v", fi, err)
		}
	}
	return dir
}

func hostDebArch(t *testing.T) string {
	return strings.TrimSpace(sh(t, "dpkg", "--print-architecture"))
}
