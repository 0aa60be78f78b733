package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example configuration shipped as /etc/gatewayd/gatewayd.yaml must
// stay true: with every key uncommented it decodes and validates, so no
// key in it is misspelt or out of date.
func TestExampleConfigIsValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "gatewayd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	keys := 0
	for _, line := range strings.Split(string(b), "\n") {
		// Keys are commented as "#key:" or "#  nested:"; prose as "# text".
		switch {
		case strings.HasPrefix(line, "#  "), len(line) > 1 && line[0] == '#' && line[1] != ' ':
			out = append(out, line[1:])
			keys++
		default:
			out = append(out, "")
		}
	}
	if keys < 50 {
		t.Fatalf("only %d commented keys found: is the example still written as #key: lines?", keys)
	}
	path := filepath.Join(t.TempDir(), "gatewayd.yaml")
	os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600)
	cfg := defaultConfig()
	if err := loadFile(path, cfg, true); err != nil {
		t.Fatalf("the uncommented example does not decode: %v", err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("the uncommented example is invalid: %v", err)
	}
	if len(cfg.Alerts) != 2 || len(cfg.GPIO.Inputs) != 2 || len(cfg.MQTT.Users) != 1 {
		t.Fatalf("lists not read: %d alerts, %d inputs, %d users", len(cfg.Alerts), len(cfg.GPIO.Inputs), len(cfg.MQTT.Users))
	}
}
