package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

type testRule struct {
	Name  string        `yaml:"name"`
	Limit float64       `yaml:"limit"`
	For   time.Duration `yaml:"for"`
}

type testConfig struct {
	Listen string `yaml:"listen"`
	MQTT   struct {
		Mode  string `yaml:"mode"`
		Port  int    `yaml:"port"`
		Debug bool   `yaml:"debug"`
	} `yaml:"mqtt"`
	Flush time.Duration `yaml:"flush_interval"`
	Rules []testRule    `yaml:"rules"`
}

func TestDecodeYAML(t *testing.T) {
	src := `
listen: ":9000"
mqtt:
  mode: external
  port: 1884
flush_interval: 2s
rules:
  - name: hot
    limit: 30.5
    for: 1m
`
	var c testConfig
	if err := decodeYAML("gw.yaml", []byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9000" || c.MQTT.Mode != "external" || c.MQTT.Port != 1884 || c.Flush != 2*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	if len(c.Rules) != 1 || c.Rules[0].Limit != 30.5 || c.Rules[0].For != time.Minute {
		t.Fatalf("rules %+v", c.Rules)
	}
}

func TestDecodeYAMLErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		src  string
		line int
		key  string
		has  string
	}{
		{"listen: x\nmqtt:\n  mdoe: auto\n", 3, "mqtt.mdoe", "unknown key; expected one of debug, mode, port"},
		{"mqtt:\n  port: lots\n", 2, "mqtt.port", "expected a whole number"},
		{"flush_interval: 5 minutes\n", 1, "flush_interval", "expected a duration"},
		{"mqtt: 3\n", 1, "mqtt", "expected a mapping"},
		{"rules:\n  - name: a\n  - name: b\n    for: soon\n", 4, "rules[1].for", "expected a duration"},
		{"listen: [\n", 0, "", "invalid YAML"},
		{"mqtt:\n  debug: maybe\n", 2, "mqtt.debug", "expected true or false"},
	}
	for _, c := range cases {
		var cfg testConfig
		err := decodeYAML("gw.yaml", []byte(c.src), &cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a ConfigError", c.src, err)
			continue
		}
		if ce.Source != "gw.yaml" || (c.line != 0 && ce.Line != c.line) || ce.Key != c.key || !strings.Contains(ce.Msg, c.has) {
			t.Errorf("%q: got %q (line %d key %q)", c.src, err, ce.Line, ce.Key)
		}
		if !strings.HasPrefix(err.Error(), "gw.yaml") {
			t.Errorf("%q: message %q does not start with the file", c.src, err)
		}
	}
}

func TestEnvAndFlagOverrides(t *testing.T) {
	var c testConfig
	c.MQTT.Port = 1883
	env := []string{"GATEWAYD_MQTT_MODE=embedded", "GATEWAYD_FLUSH_INTERVAL=250ms", "HOME=/x", "GATEWAYD_CONFIG=ignored"}
	if _, err := applyEnv(&c, env, map[string]bool{"GATEWAYD_CONFIG": true}); err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Mode != "embedded" || c.Flush != 250*time.Millisecond {
		t.Fatalf("after env: %+v", c)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addFlags(fs, &c)
	if err := fs.Parse([]string{"-mqtt.port", "1999", "-listen", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-mqtt.debug", "-listen", "127.0.0.1:1"}); err != nil || !c.MQTT.Debug {
		t.Fatalf("bare boolean flag: %v, debug %v", err, c.MQTT.Debug)
	}
	if c.MQTT.Port != 1999 || c.Listen != "127.0.0.1:1" {
		t.Fatalf("after flags: %+v", c)
	}
	if err := fs.Parse([]string{"-mqtt.port", "many"}); err == nil || !strings.Contains(err.Error(), "expected a whole number") {
		t.Fatalf("bad flag: %v", err)
	}
	unknown, err := applyEnv(&c, []string{"GATEWAYD_MQTT_MOOD=x"}, nil)
	if err != nil || len(unknown) != 1 || unknown[0] != "GATEWAYD_MQTT_MOOD" {
		t.Fatalf("unknown variable: %v %v", unknown, err)
	}
	if _, err := applyEnv(&c, []string{"GATEWAYD_MQTT_DEBUG=perhaps"}, nil); err == nil {
		t.Fatal("bad bool accepted")
	}
}

func FuzzDecodeYAML(f *testing.F) {
	f.Add("listen: x\n")
	f.Add("mqtt:\n  port: 3\nrules:\n  - name: a\n")
	f.Add("rules: {}\n")
	f.Add("&a x: *a\n")
	f.Fuzz(func(t *testing.T, src string) {
		var c testConfig
		err := decodeYAML("f.yaml", []byte(src), &c)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
		}
	})
}
