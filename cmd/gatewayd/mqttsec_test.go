package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
	"gatewayd/gateway"
)

func TestCheckConfigMQTTSecurity(t *testing.T) {
	hash, err := mqtt.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	check := func(src string) (int, string) {
		path := filepath.Join(dir, "gw.yaml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-config", path, "-check-config"}, nil, nil, &stderr, nil)
		return code, stderr.String()
	}

	good := "mqtt:\n  mode: embedded\n  listen: \"off\"\n  tls_listen: \":8883\"\n  tls_cert: c.pem\n  tls_key: k.pem\n" +
		"  allow_anonymous: false\n  users:\n    - username: esp32-kitchen\n      password_hash: \"" + hash + "\"\n" +
		"    - username: z2m\n      password_hash: \"" + hash + "\"\n      publish: [\"zigbee2mqtt/#\"]\n      subscribe: [\"zigbee2mqtt/+/set\"]\n"
	if code, out := check(good); code != 0 {
		t.Fatalf("good config: exit %d: %s", code, out)
	}
	cfg := defaultConfig()
	if err := decodeYAML("gw.yaml", []byte(good), cfg); err != nil {
		t.Fatal(err)
	}
	o := mqttOptions(cfg, slog.New(slog.DiscardHandler))
	if o.Listen != mqtt.ListenOff || o.TLSListen != ":8883" || o.TLSCert != "c.pem" || o.TLSKey != "k.pem" ||
		len(o.Users) != 2 || o.Users[1].Username != "z2m" || o.Users[1].Publish[0] != "zigbee2mqtt/#" || o.Users[0].PasswordHash != hash {
		t.Fatalf("options not mapped: %+v", o)
	}

	for _, tc := range []struct{ src, key, has string }{
		{"mqtt:\n  users:\n    - username: a\n      password_hash: plain\n", "mqtt.users[0].password_hash", "gatewayd hash-password"},
		{"mqtt:\n  users:\n    - username: a/b\n      password_hash: \"" + hash + "\"\n", "mqtt.users[0].username", "without '/'"},
		{"mqtt:\n  users:\n    - username: a\n      password_hash: \"" + hash + "\"\n      publish: [\"a/#/b\"]\n", "mqtt", "invalid topic filter"},
		{"mqtt:\n  users:\n    - username: a\n      password_hash: 3\n      publish: x\n", "mqtt.users[0].publish", "expected a list"},
		{"mqtt:\n  tls_listen: \":8883\"\n", "mqtt.tls_listen", "go together"},
		{"mqtt:\n  listen: \"off\"\n", "mqtt.listen", "tls_listen"},
		{"mqtt:\n  allow_anonymous: perhaps\n", "mqtt.allow_anonymous", "true or false"},
	} {
		code, out := check(tc.src)
		if code != 2 || !strings.Contains(out, tc.key) || !strings.Contains(out, tc.has) {
			t.Errorf("%q: exit %d, want 2 with %q and %q: %s", tc.src, code, tc.key, tc.has, out)
		}
	}
}

// TestHashPasswordServesMQTTUsers: `gatewayd hash-password` (the dashboard's
// hash) is what mqtt.users takes, so a device logs in with it.
func TestHashPasswordServesMQTTUsers(t *testing.T) {
	hash, err := gateway.HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	src, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeEmbedded, Listen: "127.0.0.1:0", GatewayID: "t",
		Logger: slog.New(slog.DiscardHandler), Users: []mqtt.User{{Username: "dev", PasswordHash: hash}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(devices.Update) {}) }()
	defer func() { cancel(); <-done }()
	select {
	case <-src.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"s3cret", true}, {"wrong", false}} {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + src.BrokerAddr()).SetClientID("dev").
			SetUsername("dev").SetPassword(tc.pass).SetConnectRetry(false).SetAutoReconnect(false))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatal("connect timed out")
		}
		if (tok.Error() == nil) != tc.ok {
			t.Errorf("password %q: connect error %v, want success %v", tc.pass, tok.Error(), tc.ok)
		}
		c.Disconnect(50)
	}
}
