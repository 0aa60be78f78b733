package mqtt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"gatewayd/devices"
	"gatewayd/devices/mqtt"
)

// testHash builds a password hash with crypto/pbkdf2 directly, at the lowest
// accepted work factor so the race detector stays quick.
func testHash(t testing.TB, password string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, password, salt, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", 1000, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths with a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatewayd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// dialOpts describes one test client connection.
type dialOpts struct {
	broker, id, user, pass string
	tls                    *tls.Config
	willTopic              string
	onMessage              paho.MessageHandler
}

// dial connects once, without retries, and returns the connect error.
func dial(t *testing.T, d dialOpts) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(d.broker).SetClientID(d.id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetUsername(d.user).SetPassword(d.pass).SetTLSConfig(d.tls).SetOrderMatters(false).
		SetStore(mqtt.NewCopyStore())
	if d.willTopic != "" {
		o.SetWill(d.willTopic, "offline", 1, true)
	}
	if d.onMessage != nil {
		o.SetDefaultPublishHandler(d.onMessage)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func TestTLSListener(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s, c := startSource(t, &mqtt.Options{Mode: mqtt.ModeEmbedded, GatewayID: "test",
		Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	tlsAddr := s.BrokerTLSAddr()
	if tlsAddr == "" || tlsAddr == s.BrokerAddr() {
		t.Fatalf("TLS address %q, plain address %q", tlsAddr, s.BrokerAddr())
	}

	dev, err := dial(t, dialOpts{broker: "ssl://" + tlsAddr, id: "tls-dev", tls: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	publish(t, dev, "devices/tlsdev/telemetry", false, `{"temperature": 21.5}`)
	c.waitFor(t, "reading over TLS", isReading("tlsdev", "temperature", 21.5))

	// The plain listener stays by default.
	plain, err := dial(t, dialOpts{broker: "tcp://" + s.BrokerAddr(), id: "plain-dev"})
	if err != nil {
		t.Fatalf("plain connect: %v", err)
	}
	publish(t, plain, "devices/plaindev/telemetry", false, `{"temperature": 7}`)
	c.waitFor(t, "reading over plain TCP", isReading("plaindev", "temperature", 7))

	// Plain MQTT on the TLS port gets nowhere.
	if _, err := dial(t, dialOpts{broker: "tcp://" + tlsAddr, id: "plain-on-tls"}); err == nil {
		t.Fatal("plain MQTT connected to the TLS port")
	}
	// A client that does not trust the certificate is refused by its own TLS.
	if _, err := dial(t, dialOpts{broker: "ssl://" + tlsAddr, id: "untrusting", tls: &tls.Config{}}); err == nil {
		t.Fatal("client without the CA accepted the self-signed certificate")
	}
}

func TestTLSOnlyWithConfig(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, c := startSource(t, &mqtt.Options{Mode: mqtt.ModeEmbedded, GatewayID: "test", Listen: mqtt.ListenOff,
		TLSListen: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if s.BrokerAddr() != s.BrokerTLSAddr() {
		t.Fatalf("with the plain listener off, BrokerAddr %q should be the TLS address %q", s.BrokerAddr(), s.BrokerTLSAddr())
	}
	dev, err := dial(t, dialOpts{broker: "ssl://" + s.BrokerTLSAddr(), id: "tls-dev", tls: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	publish(t, dev, "devices/tlsonly/telemetry", false, `{"x": 3}`)
	c.waitFor(t, "reading over TLS", isReading("tlsonly", "x", 3))
}

func TestSecurityOptionErrors(t *testing.T) {
	good := testHash(t, "pw")
	for _, tc := range []struct {
		name string
		o    mqtt.Options
		want error
	}{
		{"tls without cert", mqtt.Options{TLSListen: ":8883"}, mqtt.ErrNoTLSCert},
		{"cert without key", mqtt.Options{TLSListen: ":8883", TLSCert: "c.pem"}, mqtt.ErrNoTLSCert},
		{"cert without tls listen", mqtt.Options{TLSCert: "c.pem", TLSKey: "k.pem"}, mqtt.ErrNoTLSCert},
		{"no listener", mqtt.Options{Listen: mqtt.ListenOff}, mqtt.ErrNoListener},
		{"bad hash", mqtt.Options{Users: []mqtt.User{{Username: "a", PasswordHash: "plain"}}}, mqtt.ErrBadHash},
		{"weak hash", mqtt.Options{Users: []mqtt.User{{Username: "a", PasswordHash: strings.Replace(good, "$1000$", "$10$", 1)}}}, mqtt.ErrBadHash},
		{"wildcard username", mqtt.Options{Users: []mqtt.User{{Username: "a/#", PasswordHash: good}}}, mqtt.ErrBadUser},
		{"empty username", mqtt.Options{Users: []mqtt.User{{PasswordHash: good}}}, mqtt.ErrBadUser},
		{"duplicate", mqtt.Options{Users: []mqtt.User{{Username: "a", PasswordHash: good}, {Username: "a", PasswordHash: good}}}, mqtt.ErrBadUser},
		{"bad filter", mqtt.Options{Users: []mqtt.User{{Username: "a", PasswordHash: good, Publish: []string{"a/#/b"}}}}, mqtt.ErrBadUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Logger = quietLogger()
			if _, err := mqtt.New(&o); !errors.Is(err, tc.want) {
				t.Fatalf("New = %v, want %v", err, tc.want)
			}
		})
	}
	// External mode ignores the embedded broker's settings.
	if _, err := mqtt.New(&mqtt.Options{Mode: mqtt.ModeExternal, Listen: mqtt.ListenOff, Logger: quietLogger()}); err != nil {
		t.Fatalf("external mode: %v", err)
	}
}

// inbox collects the messages a test device receives.
type inbox struct {
	mu     sync.Mutex
	topics []string
}

func (b *inbox) handler(_ paho.Client, m paho.Message) {
	b.mu.Lock()
	b.topics = append(b.topics, m.Topic())
	b.mu.Unlock()
}

func (b *inbox) has(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.topics {
		if t == topic {
			return true
		}
	}
	return false
}

func TestBrokerUsers(t *testing.T) {
	users := []mqtt.User{
		{Username: "dev1", PasswordHash: testHash(t, "secret1")},
		{Username: "dev2", PasswordHash: testHash(t, "secret2")},
		// A Zigbee2MQTT bridge with its own, explicit rules.
		{Username: "z2m", PasswordHash: testHash(t, "secret3"), Publish: []string{"zigbee2mqtt/#"}, Subscribe: []string{"zigbee2mqtt/+/set"}},
	}
	s, c, broker := embeddedSource(t, &mqtt.Options{Users: users})

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "dev1", "secret2"},
		{"unknown user", "dev9", "secret1"},
		{"anonymous", "", ""},
		{"password without username", "", "secret1"},
	} {
		if _, err := dial(t, dialOpts{broker: broker, id: "refused", user: tc.user, pass: tc.pass}); err == nil {
			t.Errorf("%s: connected", tc.name)
		}
	}
	// A last will on another device's topic would let dev1 spoof dev2.
	if _, err := dial(t, dialOpts{broker: broker, id: "spoof-will", user: "dev1", pass: "secret1", willTopic: "devices/dev2/status"}); err == nil {
		t.Error("dev1 connected with a will on dev2's topic")
	}

	var in1 inbox
	dev1, err := dial(t, dialOpts{broker: broker, id: "dev1", user: "dev1", pass: "secret1", willTopic: "devices/dev1/status", onMessage: in1.handler})
	if err != nil {
		t.Fatalf("dev1 connect: %v", err)
	}
	publish(t, dev1, "devices/dev1/status", true, "online")
	publish(t, dev1, "devices/dev1/telemetry", false, `{"temperature": 20}`)
	c.waitFor(t, "dev1's reading", isReading("dev1", "temperature", 20))

	// A denied QoS 1 publish closes an MQTT 3.1.1 connection (it has no
	// negative PUBACK; MQTT-3.3.5-2 allows either closing or acknowledging).
	spoofer, err := dial(t, dialOpts{broker: broker, id: "dev1-spoofer", user: "dev1", pass: "secret1"})
	if err != nil {
		t.Fatalf("dev1 second connection: %v", err)
	}
	spoofer.Publish("devices/dev2/telemetry", 1, false, `{"temperature": 98}`).WaitTimeout(5 * time.Second)
	waitUntil(t, "the spoofing connection closes", func() bool { return !spoofer.IsConnectionOpen() })

	// Denied QoS 0 publishes are dropped: another device's topics and a
	// topic outside the rules. Publishes from one client are routed in
	// order, so once the marker arrives the denied ones have been dropped,
	// not merely delayed.
	publish0(t, dev1, "devices/dev2/telemetry", false, `{"temperature": 99}`)
	publish0(t, dev1, "devices/dev2/status", true, "offline")
	publish0(t, dev1, "tele/dev2/SENSOR", false, `{"Time":"2024-01-01T00:00:00","AM2301":{"Temperature":99}}`)
	publish0(t, dev1, "zigbee2mqtt/lamp", false, `{"brightness": 99}`)
	publish(t, dev1, "devices/dev1/telemetry", false, `{"marker": 1}`)
	c.waitFor(t, "dev1's marker", isReading("dev1", "marker", 1))
	for _, u := range c.snapshot() {
		if d := deviceOf(u); d != "dev1" && d != "" {
			t.Errorf("denied publish reached the gateway: %s", describe([]devices.Update{u}))
		}
	}

	// Subscriptions: its own commands yes, another device's no.
	tok := dev1.SubscribeMultiple(map[string]byte{"devices/dev1/commands/#": 1, "devices/dev2/commands/#": 1, "devices/+/telemetry": 1, "#": 1}, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	got := tok.(*paho.SubscribeToken).Result()
	want := map[string]byte{"devices/dev1/commands/#": 1, "devices/dev2/commands/#": 0x80, "devices/+/telemetry": 0x80, "#": 0x80}
	for f, code := range want {
		if got[f] != code {
			t.Errorf("SUBACK for %s = %#x, want %#x (all: %v)", f, got[f], code, got)
		}
	}

	// The gateway's own commands reach the device through the ACL.
	if err := s.SendCommand(context.Background(), devices.Command{Device: "dev1", Name: "relay", Args: json.RawMessage(`"on"`)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "dev1 receives its command", func() bool { return in1.has("devices/dev1/commands/relay") })

	// dev2 and the bridge work within their own rules.
	dev2, err := dial(t, dialOpts{broker: broker, id: "dev2", user: "dev2", pass: "secret2"})
	if err != nil {
		t.Fatalf("dev2 connect: %v", err)
	}
	publish(t, dev2, "devices/dev2/telemetry", false, `{"temperature": 21}`)
	c.waitFor(t, "dev2's reading", isReading("dev2", "temperature", 21))
	z, err := dial(t, dialOpts{broker: broker, id: "z2m", user: "z2m", pass: "secret3"})
	if err != nil {
		t.Fatalf("z2m connect: %v", err)
	}
	publish0(t, z, "devices/z2m/telemetry", false, `{"x": 1}`) // not in its explicit list
	publish(t, z, "zigbee2mqtt/lamp", false, `{"brightness": 120}`)
	c.waitFor(t, "the bridge's reading", isReading("z2m:lamp", "brightness", 120))
	if n := c.count(func(u devices.Update) bool { return deviceOf(u) == "z2m" }); n != 0 {
		t.Errorf("z2m published to devices/z2m/ outside its explicit rules: %d updates", n)
	}
	// The in-process client is never restricted: dev1's retained status
	// was read, and the gateway's status stays retained.
	c.waitFor(t, "dev1 online", isPresence("dev1", true, ""))
}

func TestBrokerUsersAllowAnonymous(t *testing.T) {
	_, c, broker := embeddedSource(t, &mqtt.Options{AllowAnonymous: true,
		Users: []mqtt.User{{Username: "dev1", PasswordHash: testHash(t, "secret1")}}})
	anon, err := dial(t, dialOpts{broker: broker, id: "anon"})
	if err != nil {
		t.Fatalf("anonymous connect: %v", err)
	}
	publish(t, anon, "devices/anything/telemetry", false, `{"v": 5}`)
	c.waitFor(t, "anonymous reading", isReading("anything", "v", 5))
	// A wrong password is still refused.
	if _, err := dial(t, dialOpts{broker: broker, id: "bad", user: "dev1", pass: "nope"}); err == nil {
		t.Fatal("wrong password accepted with AllowAnonymous")
	}
	// Users keep their restrictions.
	dev1, err := dial(t, dialOpts{broker: broker, id: "dev1", user: "dev1", pass: "secret1"})
	if err != nil {
		t.Fatal(err)
	}
	publish0(t, dev1, "devices/other/telemetry", false, `{"v": 6}`)
	publish(t, dev1, "devices/dev1/telemetry", false, `{"v": 7}`)
	c.waitFor(t, "dev1 reading", isReading("dev1", "v", 7))
	if n := c.count(isReading("other", "v", 6)); n != 0 {
		t.Fatal("dev1 published outside its topics")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	h, err := mqtt.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := mqtt.CheckHash(h); err != nil {
		t.Fatalf("CheckHash(%q) = %v", h, err)
	}
	for _, bad := range []string{"", "plain", "pbkdf2-sha256$x$a$b", "md5$1000$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"pbkdf2-sha256$99999999999$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "pbkdf2-sha256$1000$!!$AAAAAAAAAAAAAAAAAAAAAA",
		"pbkdf2-sha256$1000$AAAAAAAAAAA$AA"} {
		if err := mqtt.CheckHash(bad); !errors.Is(err, mqtt.ErrBadHash) {
			t.Errorf("CheckHash(%q) = %v, want ErrBadHash", bad, err)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		rule, filter string
		want         bool
	}{
		{"devices/a/#", "devices/a/telemetry", true},
		{"devices/a/#", "devices/a", true},
		{"devices/a/#", "devices/a/commands/#", true},
		{"devices/a/#", "devices/b/telemetry", false},
		{"devices/a/#", "devices/+/telemetry", false},
		{"devices/a/#", "devices/#", false},
		{"devices/a/#", "#", false},
		{"devices/+/telemetry", "devices/a/telemetry", true},
		{"devices/+/telemetry", "devices/+/telemetry", true},
		{"devices/+/telemetry", "devices/#", false},
		{"devices/+/telemetry", "devices/a/b/telemetry", false},
		{"devices/a", "devices/a/b", false},
		{"#", "anything/at/all", true},
		{"#", "$SYS/broker", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/broker", true},
	} {
		if got := mqtt.Covers(tc.rule, tc.filter); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.rule, tc.filter, got, tc.want)
		}
	}
}

// refCovers is a plain, allocating statement of the covering rule, to check
// the broker's level walk against.
func refCovers(r, f string) bool {
	if strings.HasPrefix(f, "$") && (strings.HasPrefix(r, "+") || strings.HasPrefix(r, "#")) {
		return false
	}
	rs, fs := strings.Split(r, "/"), strings.Split(f, "/")
	for i, rl := range rs {
		if rl == "#" {
			return true
		}
		if i >= len(fs) {
			return false
		}
		switch fl := fs[i]; {
		case rl == "+":
			if fl == "#" {
				return false
			}
		case fl != rl || fl == "+" || fl == "#":
			return false
		}
	}
	return len(fs) == len(rs)
}

// FuzzCovers checks that the ACL matcher never panics, agrees with
// refCovers, that every filter covers itself, and that a literal rule
// covers only itself.
func FuzzCovers(f *testing.F) {
	f.Add("devices/a/#", "devices/a/telemetry")
	f.Add("devices/+/x", "devices/#")
	f.Add("#", "$SYS")
	f.Add("", "")
	f.Add("a//b", "a/+/b")
	f.Fuzz(func(t *testing.T, rule, filter string) {
		got := mqtt.Covers(rule, filter)
		if want := refCovers(rule, filter); got != want {
			t.Fatalf("Covers(%q, %q) = %v, reference says %v", rule, filter, got, want)
		}
		if !strings.HasPrefix(filter, "$") && !mqtt.Covers(filter, filter) {
			t.Fatalf("%q does not cover itself", filter)
		}
		if got && !strings.ContainsAny(rule, "+#") && rule != filter {
			t.Fatalf("literal rule %q covers different filter %q", rule, filter)
		}
	})
}

// FuzzCheckHash feeds arbitrary text to the hash parser.
func FuzzCheckHash(f *testing.F) {
	f.Add(testHash(f, "pw"))
	f.Add("pbkdf2-sha256$1000$$")
	f.Add("$$$")
	f.Fuzz(func(t *testing.T, h string) {
		err := mqtt.CheckHash(h)
		if err != nil && !errors.Is(err, mqtt.ErrBadHash) {
			t.Fatalf("CheckHash(%q) = %v, not ErrBadHash", h, err)
		}
		if err == nil && !strings.HasPrefix(h, "pbkdf2-sha256$") {
			t.Fatalf("CheckHash accepted %q", h)
		}
	})
}

func deviceOf(u devices.Update) string {
	switch {
	case u.Reading != nil:
		return u.Reading.Device
	case u.Presence != nil:
		return u.Presence.Device
	case u.Meta != nil:
		return u.Meta.Device
	}
	return ""
}

func publish0(t *testing.T, c paho.Client, topic string, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, 0, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAutoModeWarnsSecurityUnused(t *testing.T) {
	_, _, broker := embeddedSource(t, nil)
	var logs lockedBuffer
	startSource(t, &mqtt.Options{Mode: mqtt.ModeAuto, Broker: broker, GatewayID: "second",
		Users:  []mqtt.User{{Username: "dev1", PasswordHash: testHash(t, "pw")}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if out := logs.String(); !strings.Contains(out, "users and topic rules do not apply") {
		t.Fatalf("no warning that the accounts are unused:\n%s", out)
	}
}

func BenchmarkCovers(b *testing.B) {
	for b.Loop() {
		mqtt.Covers("devices/esp32-kitchen/#", "devices/esp32-kitchen/commands/relay")
	}
}

// BenchmarkHashPassword measures one PBKDF2 run at the default work factor,
// which is also what verifying a login costs the broker.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := mqtt.HashPassword("secret"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSessionTakeoverRefused: a client may not take over the session of a
// client id held by another user, nor the gateway's own in-process client.
func TestSessionTakeoverRefused(t *testing.T) {
	for _, users := range [][]mqtt.User{nil, {{Username: "dev1", PasswordHash: testHash(t, "pw1")}, {Username: "dev2", PasswordHash: testHash(t, "pw2")}}} {
		_, c, broker := embeddedSource(t, &mqtt.Options{Users: users, AllowAnonymous: true})
		if _, err := dial(t, dialOpts{broker: broker, id: "inline"}); err == nil {
			t.Errorf("users %d: a network client took the in-process client's id", len(users))
		}
		dev, err := dial(t, dialOpts{broker: broker, id: "after-takeover"})
		if err != nil {
			t.Fatal(err)
		}
		publish(t, dev, "devices/alive/telemetry", false, fmt.Sprintf(`{"n": %d}`, len(users)))
		c.waitFor(t, "a reading after the takeover attempt", isReading("alive", "n", float64(len(users))))
		if len(users) == 0 {
			continue
		}
		if _, err := dial(t, dialOpts{broker: broker, id: "kitchen", user: "dev1", pass: "pw1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := dial(t, dialOpts{broker: broker, id: "kitchen", user: "dev2", pass: "pw2"}); err == nil {
			t.Error("dev2 took over dev1's session")
		}
		if _, err := dial(t, dialOpts{broker: broker, id: "kitchen"}); err == nil {
			t.Error("an anonymous client took over dev1's session")
		}
	}
}

// TestOpenBrokerAcceptsAnyone: without users the broker stays as open as
// before: any username and password, any topic.
func TestOpenBrokerAcceptsAnyone(t *testing.T) {
	_, c, broker := embeddedSource(t, nil)
	dev, err := dial(t, dialOpts{broker: broker, id: "tasmota", user: "DVES_USER", pass: "DVES_PASS"})
	if err != nil {
		t.Fatalf("connect with a username: %v", err)
	}
	publish(t, dev, "devices/open/telemetry", false, `{"v": 1}`)
	c.waitFor(t, "reading", isReading("open", "v", 1))
	retained := make(chan struct{}, 1)
	tok := dev.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			select {
			case retained <- struct{}{}:
			default:
			}
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.(*paho.SubscribeToken).Result()["#"] != 1 {
		t.Fatalf("subscribe # refused: %v %v", tok.Error(), tok.(*paho.SubscribeToken).Result())
	}
	// mochi scans its retained messages for a new subscription after the
	// SUBACK, without the lock a retained publish takes (the gateway's
	// status on shutdown): wait for the scan's delivery so the two never
	// overlap in this test.
	select {
	case <-retained:
	case <-time.After(10 * time.Second):
		t.Fatal("no retained message (the gateway status) after subscribing to #")
	}
	// The same client id may come back under another username.
	if _, err := dial(t, dialOpts{broker: broker, id: "tasmota", user: "other"}); err != nil {
		t.Fatalf("reconnect under another username: %v", err)
	}
}
