// Command pkg builds the gatewayd .deb package for one architecture with
// nfpm used as a library: the static binary, the systemd unit, the default
// configuration as a conffile and the maintainer scripts under scripts/deb.
// It is its own module so the gateway's go.mod does not carry nfpm.
//
//	go run . -arch arm64 -version 1.2.3 -root ../.. -bin dist/gatewayd_linux_arm64 -out dist
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Options says what to package; Build fills zero fields with defaults.
type Options struct {
	// Arch is amd64, arm64 or armv7 (packaged as Debian's armhf).
	Arch string
	// Version is a semantic version such as 1.2.3 or 0.0.0+21.gabc1234.
	Version string
	// Root is the repository root; the unit, config and maintainer scripts
	// are read from Root/scripts. Default ".".
	Root string
	// Bin is the gatewayd binary to ship.
	Bin string
	// OutDir receives the .deb under its conventional name. Default ".".
	OutDir string
	// MTime stamps every file; zero means SOURCE_DATE_EPOCH, else now.
	MTime time.Time
}

// ErrArch is returned for an architecture the packages do not cover.
var ErrArch = errors.New("pkg: architecture must be amd64, arm64 or armv7")

// nfpmArch maps our architecture names to nfpm's (which map to Debian's).
var nfpmArch = map[string]string{"amd64": "amd64", "arm64": "arm64", "armv7": "arm7"}

// Info returns the nfpm description of the package for o.
func Info(o Options) (*nfpm.Info, error) {
	arch, ok := nfpmArch[o.Arch]
	if !ok {
		return nil, fmt.Errorf("%w, not %q", ErrArch, o.Arch)
	}
	if o.Version == "" || o.Bin == "" {
		return nil, errors.New("pkg: version and binary are required")
	}
	if o.Root == "" {
		o.Root = "."
	}
	s := func(name string) string { return filepath.Join(o.Root, "scripts", name) }
	mode := func(m os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: m}
	}
	info := &nfpm.Info{
		Name:        "gatewayd",
		Arch:        arch,
		Platform:    "linux",
		Version:     o.Version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "gatewayd maintainers <gatewayd@localhost>",
		Description: "IoT device monitoring gateway\nBridges MQTT and GPIO sensor readings into Socket.IO rooms, keeps\ntheir history in SQLite and serves a live dashboard.",
		License:     "Proprietary",
		MTime:       o.MTime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: o.Bin, Destination: "/usr/bin/gatewayd", FileInfo: mode(0o755)},
				{Source: s("gatewayd.service"), Destination: "/lib/systemd/system/gatewayd.service", FileInfo: mode(0o644)},
				// A conffile: dpkg keeps the admin's edits on upgrade and
				// asks before replacing them.
				{Source: s("gatewayd.yaml"), Destination: "/etc/gatewayd/gatewayd.yaml", Type: files.TypeConfig, FileInfo: mode(0o644)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: s("deb/postinst"),
				PreRemove:   s("deb/prerm"),
				PostRemove:  s("deb/postrm"),
			},
			// The binary is static; the scripts fall back to useradd when
			// adduser is missing, and passwd is essential on Debian.
			Recommends: []string{"adduser"},
		},
	}
	if info.MTime.IsZero() {
		info.MTime = sourceDate()
	}
	return nfpm.WithDefaults(info), nil
}

// sourceDate is SOURCE_DATE_EPOCH (for reproducible packages) or now.
func sourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Build writes the .deb for o into o.OutDir and returns its path.
func Build(o Options) (string, error) {
	info, err := Info(o)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("pkg: %w", err)
	}
	p, err := nfpm.Get("deb")
	if err != nil {
		return "", fmt.Errorf("pkg: %w", err)
	}
	if o.OutDir == "" {
		o.OutDir = "."
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, p.ConventionalFileName(info))
	tmp, err := os.CreateTemp(o.OutDir, ".deb-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := p.Package(info, tmp); err != nil {
		tmp.Close()
		return "", fmt.Errorf("pkg: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// Rename so a failed run never leaves a truncated package behind.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(tmp.Name(), out)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Arch, "arch", "amd64", "target: amd64, arm64 or armv7")
	fs.StringVar(&o.Version, "version", "", "package version (semver)")
	fs.StringVar(&o.Root, "root", ".", "repository root")
	fs.StringVar(&o.Bin, "bin", "", "gatewayd binary, relative to -root unless absolute")
	fs.StringVar(&o.OutDir, "out", "dist", "output directory, relative to -root unless absolute")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, p := range []*string{&o.Bin, &o.OutDir} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(o.Root, *p)
		}
	}
	out, err := Build(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	st, err := os.Stat(out)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "pkg: %s %d bytes\n", out, st.Size())
	return 0
}
