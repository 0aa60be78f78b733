package main

import (
	"os/exec"
	"strings"
	"testing"
)

// depRule says what one package (and its sub-packages) may depend on,
// beyond the standard library: the layout of DEVELOPERS.md made executable.
type depRule struct {
	pkg     string   // import path pattern for go list
	allowed []string // import path prefixes allowed outside the standard library
}

var depRules = []depRule{
	{"gatewayd/sio/internal/parser", nil},
	{"gatewayd/sio/internal/eio", []string{"github.com/coder/websocket"}},
	{"gatewayd/sio", []string{"github.com/coder/websocket"}},
	{"gatewayd/sio/sioclient", []string{"gatewayd/sio/internal/parser", "github.com/coder/websocket"}},
	{"gatewayd/store", []string{"github.com/mattn/go-sqlite3"}},
	{"gatewayd/web", nil},
	{"gatewayd/devices/...", []string{"gatewayd/devices", "github.com/", "periph.io/", "go.yaml.in/", "golang.org/x/", "gopkg.in/"}},
	{"gatewayd/gateway", []string{"gatewayd/sio", "gatewayd/devices", "gatewayd/store", "github.com/", "go.yaml.in/", "golang.org/x/", "google.golang.org/", "gopkg.in/"}},
}

// TestDependencyArrows fails when a package imports across the layout:
// the leaves (sio, devices, store, web) never import each other, and sio
// and store pull in nothing but their one chosen library.
func TestDependencyArrows(t *testing.T) {
	for _, r := range depRules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", r.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			self := strings.TrimSuffix(r.pkg, "/...")
			ok := dep == self || strings.HasPrefix(dep, self+"/")
			for _, a := range r.allowed {
				if dep == a || strings.HasPrefix(dep, a+"/") || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)) {
					ok = true
				}
			}
			// internal packages of an allowed module come with it
			if strings.HasPrefix(dep, "github.com/coder/websocket/") {
				ok = ok || contains(r.allowed, "github.com/coder/websocket")
			}
			if !ok {
				t.Errorf("%s depends on %s, which the layout does not allow", r.pkg, dep)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
