package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gatewayd/devices/mqtt"
	"gatewayd/gateway"
)

// Config is gatewayd's configuration: the YAML file, then GATEWAYD_*
// variables, then flags, over the defaults of defaultConfig. An example
// with every key is scripts/gatewayd.yaml (installed as
// /etc/gatewayd/gatewayd.yaml).
type Config struct {
	// Listen is the address of the dashboard, REST API and Socket.IO.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and the session key.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json; empty means json under systemd, else text.
	LogFormat string `yaml:"log_format"`

	TLS struct {
		// Cert and Key are PEM files; both set serves HTTPS.
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
		// SelfSigned serves HTTPS with a certificate generated on first
		// start and kept in DataDir, when Cert and Key are empty.
		SelfSigned bool `yaml:"self_signed"`
	} `yaml:"tls"`

	MQTT struct {
		// Mode is auto, embedded or external.
		Mode string `yaml:"mode"`
		// Listen is the embedded broker's TCP address; "off" disables plain
		// MQTT (then tls_listen or websocket_listen must be set).
		Listen string `yaml:"listen"`
		// TLSListen adds an MQTT-over-TLS listener to the embedded broker
		// (e.g. ":8883"), serving the PEM files TLSCert and TLSKey.
		TLSListen string `yaml:"tls_listen"`
		TLSCert   string `yaml:"tls_cert"`
		TLSKey    string `yaml:"tls_key"`
		// Users are the embedded broker's accounts; when set, clients must
		// log in as one of them unless AllowAnonymous is true.
		Users          []MQTTUser `yaml:"users"`
		AllowAnonymous bool       `yaml:"allow_anonymous"`
		// WebsocketListen adds a websocket listener to the embedded broker.
		WebsocketListen string `yaml:"websocket_listen"`
		// Broker is the external broker's URL.
		Broker   string `yaml:"broker"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
		// GatewayID names this gateway in its status topic.
		GatewayID string `yaml:"gateway_id"`
		// TasmotaZone is the time zone of Tasmota devices that send local
		// time without an offset (an IANA name such as Europe/Berlin).
		TasmotaZone string `yaml:"tasmota_zone"`
		// RateLimit is the messages per second accepted from one device.
		RateLimit float64 `yaml:"rate_limit"`
		// Conventions switches each built-in convention.
		Conventions struct {
			Generic       bool `yaml:"generic"`
			Tasmota       bool `yaml:"tasmota"`
			Zigbee2MQTT   bool `yaml:"zigbee2mqtt"`
			Shelly        bool `yaml:"shelly"`
			Homie         bool `yaml:"homie"`
			ESPHome       bool `yaml:"esphome"`
			HomeAssistant bool `yaml:"homeassistant"`
		} `yaml:"conventions"`
	} `yaml:"mqtt"`

	Store struct {
		// FlushInterval bounds what a crash can lose.
		FlushInterval   time.Duration `yaml:"flush_interval"`
		RawRetention    time.Duration `yaml:"raw_retention"`
		MinuteRetention time.Duration `yaml:"minute_retention"`
		HourRetention   time.Duration `yaml:"hour_retention"`
	} `yaml:"store"`

	Auth struct {
		// Enabled requires a login; turning it off is for a lab bench.
		Enabled bool `yaml:"enabled"`
		// PasswordHash is from `gatewayd hash-password`. Empty means a
		// password generated on first start and kept hashed in DataDir.
		PasswordHash string `yaml:"password_hash"`
		// SessionTTL is how long a login lasts.
		SessionTTL time.Duration      `yaml:"session_ttl"`
		APITokens  []gateway.APIToken `yaml:"api_tokens"`
	} `yaml:"auth"`

	Socket struct {
		// CORSOrigins lists other origins allowed to connect.
		CORSOrigins  []string      `yaml:"cors_origins"`
		PingInterval time.Duration `yaml:"ping_interval"`
		PingTimeout  time.Duration `yaml:"ping_timeout"`
	} `yaml:"socketio"`

	System struct {
		// Enabled reports the board's own CPU temperature, load and memory.
		Enabled  bool          `yaml:"enabled"`
		Device   string        `yaml:"device"`
		Interval time.Duration `yaml:"interval"`
	} `yaml:"system"`

	GPIO struct {
		// Device is the id of the board's GPIO device.
		Device    string       `yaml:"device"`
		AllowPins []string     `yaml:"allow_pins"`
		Inputs    []GPIOInput  `yaml:"inputs"`
		Outputs   []GPIOOutput `yaml:"outputs"`
	} `yaml:"gpio"`

	Alerts []gateway.AlertRule `yaml:"alerts"`

	Simulate struct {
		// Devices starts a simulator publishing this many devices of each
		// convention to the gateway's broker (a demo); zero means none.
		Devices  int           `yaml:"devices"`
		Interval time.Duration `yaml:"interval"`
		Seed     uint64        `yaml:"seed"`
	} `yaml:"simulate"`
}

// MQTTUser is one account of the embedded MQTT broker: its password hash
// (from `gatewayd hash-password`) and the topic filters it may publish and
// subscribe to ("%u" is the username; empty lists mean its own topics).
type MQTTUser struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"password_hash"`
	Publish      []string `yaml:"publish"`
	Subscribe    []string `yaml:"subscribe"`
}

// GPIOInput is one input line in the configuration.
type GPIOInput struct {
	Name     string        `yaml:"name"`
	Pin      string        `yaml:"pin"`
	Pull     string        `yaml:"pull"`
	Invert   bool          `yaml:"invert"`
	Debounce time.Duration `yaml:"debounce"`
	Active   string        `yaml:"active"`
	Inactive string        `yaml:"inactive"`
	Counter  bool          `yaml:"counter"`
	Edge     string        `yaml:"edge"`
	Interval time.Duration `yaml:"interval"`
	Scale    float64       `yaml:"scale"`
	Unit     string        `yaml:"unit"`
}

// GPIOOutput is one output line (a relay) in the configuration.
type GPIOOutput struct {
	Name    string `yaml:"name"`
	Pin     string `yaml:"pin"`
	Invert  bool   `yaml:"invert"`
	Initial string `yaml:"initial"`
	Safe    string `yaml:"safe"`
}

// defaultConfig is what gatewayd does with no configuration at all:
// embedded broker (or the board's own on 1883), SQLite under ./data,
// dashboard on :8080, every convention on, login required.
func defaultConfig() *Config {
	c := &Config{Listen: ":8080", DataDir: "./data", LogLevel: "info"}
	c.MQTT.Mode = "auto"
	c.MQTT.Listen = ":1883"
	cv := &c.MQTT.Conventions
	cv.Generic, cv.Tasmota, cv.Zigbee2MQTT, cv.Shelly, cv.Homie, cv.ESPHome, cv.HomeAssistant = true, true, true, true, true, true, true
	c.Auth.Enabled = true
	c.System.Enabled = true
	c.System.Device = "gateway"
	c.GPIO.Device = "gpio"
	return c
}

// validate checks what the decoder cannot: allowed values and combinations.
func (c *Config) validate() error {
	bad := func(key, msg string) error { return &ConfigError{Source: "configuration", Key: key, Msg: msg} }
	switch c.MQTT.Mode {
	case "auto", "embedded", "external":
	default:
		return bad("mqtt.mode", fmt.Sprintf("expected auto, embedded or external, got %q", c.MQTT.Mode))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", fmt.Sprintf("expected debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return bad("log_format", fmt.Sprintf("expected text or json, got %q", c.LogFormat))
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return bad("tls", "cert and key go together")
	}
	if c.Listen == "" || c.DataDir == "" {
		return bad("listen/data_dir", "must not be empty")
	}
	if c.TasmotaZoneLocation() == nil {
		return bad("mqtt.tasmota_zone", fmt.Sprintf("unknown time zone %q", c.MQTT.TasmotaZone))
	}
	if err := c.validateMQTT(); err != nil {
		return err
	}
	for i, a := range c.Alerts {
		if err := a.Validate(); err != nil {
			return bad(fmt.Sprintf("alerts[%d]", i), err.Error())
		}
	}
	for i, t := range c.Auth.APITokens {
		if len(t.SHA256) != 64 || !gateway.Role(t.Role).Can(gateway.RoleViewer) {
			return bad(fmt.Sprintf("auth.api_tokens[%d]", i), "expected name, sha256 (64 hex digits) and role viewer or operator")
		}
	}
	return nil
}

// validateMQTT checks the embedded broker's listeners and accounts.
func (c *Config) validateMQTT() error {
	bad := func(key, msg string) error { return &ConfigError{Source: "configuration", Key: key, Msg: msg} }
	m := &c.MQTT
	if (m.TLSCert == "") != (m.TLSKey == "") || (m.TLSListen != "") != (m.TLSCert != "") {
		return bad("mqtt.tls_listen", "tls_listen, tls_cert and tls_key go together")
	}
	if m.Listen == "" || (m.Listen == mqtt.ListenOff && m.TLSListen == "" && m.WebsocketListen == "") {
		return bad("mqtt.listen", `must be an address, or "off" when tls_listen or websocket_listen is set`)
	}
	seen := map[string]bool{}
	for i, u := range m.Users {
		key := fmt.Sprintf("mqtt.users[%d]", i)
		if u.Username == "" || strings.ContainsAny(u.Username, "/+#") || seen[u.Username] {
			return bad(key+".username", fmt.Sprintf("expected a unique name without '/', '+' or '#', got %q", u.Username))
		}
		seen[u.Username] = true
		if err := mqtt.CheckHash(u.PasswordHash); err != nil {
			return bad(key+".password_hash", "expected the output of `gatewayd hash-password` (pbkdf2-sha256$<iterations>$<salt>$<key>): "+strings.TrimPrefix(err.Error(), "mqtt: "))
		}
	}
	if m.Mode != "external" {
		// The source checks the topic filters too; report them here with the key.
		o := mqttOptions(c, slog.New(slog.DiscardHandler))
		o.Mode = mqtt.ModeEmbedded
		if _, err := mqtt.New(o); err != nil {
			return bad("mqtt", err.Error())
		}
	}
	return nil
}

// TasmotaZoneLocation returns the configured Tasmota zone, time.Local when
// none is set, or nil when the name is unknown.
func (c *Config) TasmotaZoneLocation() *time.Location {
	if c.MQTT.TasmotaZone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(c.MQTT.TasmotaZone)
	if err != nil {
		return nil
	}
	return loc
}
