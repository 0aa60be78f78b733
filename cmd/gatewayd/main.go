// Command gatewayd is the IoT device monitoring gateway: it bridges MQTT and
// GPIO readings into Socket.IO rooms, keeps their history in SQLite and
// serves the dashboard.
//
//	gatewayd [-config file] [-check-config] [-<key> value ...]
//	gatewayd hash-password < password
//	gatewayd simulate [-broker url] [-devices n] [-interval d]
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"gatewayd/devices"
	"gatewayd/devices/gpio"
	"gatewayd/devices/mqtt"
	"gatewayd/devices/mqtt/convention"
	"gatewayd/devices/sim"
	"gatewayd/devices/system"
	"gatewayd/gateway"
	"gatewayd/store"
	"gatewayd/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stderr, hup)
	stop()
	os.Exit(code)
}

// configPath finds -config in args, or GATEWAYD_CONFIG; the file must be
// read before flags are applied over it.
func configPath(args, environ []string) (string, bool) {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GATEWAYD_CONFIG="); ok && v != "" {
			return v, true
		}
	}
	return "/etc/gatewayd/gatewayd.yaml", false
}

// loadConfig builds the configuration from defaults, file, environment and
// flags, in that order.
func loadConfig(args, environ []string, stderr io.Writer) (cfg *Config, check, showVersion bool, err error) {
	cfg = defaultConfig()
	path, explicit := configPath(args, environ)
	if err := loadFile(path, cfg, explicit); err != nil {
		return nil, false, false, err
	}
	reserved := map[string]bool{"GATEWAYD_CONFIG": true}
	unknown, err := applyEnv(cfg, environ, reserved)
	if err != nil {
		return nil, false, false, err
	}
	for _, name := range unknown {
		fmt.Fprintf(stderr, "gatewayd: warning: environment variable %s names no configuration key; ignored\n", name)
	}
	fs := flag.NewFlagSet("gatewayd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", path, "configuration file (or GATEWAYD_CONFIG)")
	fs.BoolVar(&check, "check-config", false, "check the configuration, explain any problem, and exit")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	addFlags(fs, cfg)
	if err := fs.Parse(args); err != nil {
		return nil, false, false, err
	}
	if fs.NArg() > 0 {
		return nil, false, false, fmt.Errorf("unexpected argument %q (options are -key value; see -help)", fs.Arg(0))
	}
	return cfg, check, showVersion, cfg.validate()
}

// run is gatewayd's whole life; it returns the process exit code.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stderr io.Writer, hup <-chan os.Signal) int {
	if len(args) > 0 && args[0] == "hash-password" {
		return hashPassword(stdin, stderr)
	}
	if len(args) > 0 && args[0] == "simulate" {
		return runSimulate(ctx, args[1:], stderr)
	}
	cfg, check, showVersion, err := loadConfig(args, environ, stderr)
	if showVersion {
		fmt.Fprintln(stderr, "gatewayd", version)
		return 0
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "gatewayd:", err)
		}
		return 2
	}
	if check {
		fmt.Fprintln(stderr, "gatewayd: configuration is valid")
		return 0
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	log := newLogger(cfg.LogFormat, level, stderr, environ)
	if err := serve(ctx, cfg, log, level, args, environ, hup); err != nil {
		log.Error("gatewayd stopped", "err", err)
		return 1
	}
	return 0
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(s))
	return l
}

// newLogger logs JSON to the journal under systemd, text elsewhere.
func newLogger(format string, level slog.Leveler, w io.Writer, environ []string) *slog.Logger {
	if format == "" {
		format = "text"
		for _, kv := range environ {
			if strings.HasPrefix(kv, "JOURNAL_STREAM=") {
				format = "json"
			}
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func hashPassword(stdin io.Reader, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if (err != nil && err != io.EOF) || pw == "" {
		fmt.Fprintln(stderr, "gatewayd hash-password: give the password on standard input")
		return 2
	}
	h, err := gateway.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, "gatewayd hash-password:", err)
		return 1
	}
	fmt.Fprintln(os.Stdout, h)
	return 0
}

// secretFile returns the contents of name in dir, creating it with make
// (mode 0600) when it does not exist.
func secretFile(dir, name string, make func() ([]byte, error)) ([]byte, bool, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return b, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	b, err = make()
	if err != nil {
		return nil, false, err
	}
	return b, true, os.WriteFile(path, b, 0o600)
}

// authConfig fills the gateway's authentication from cfg and the secrets in
// the data directory: the session signing key, and a generated password
// when none is configured.
func authConfig(cfg *Config, log *slog.Logger) (gateway.AuthConfig, error) {
	a := gateway.AuthConfig{Disabled: !cfg.Auth.Enabled, PasswordHash: cfg.Auth.PasswordHash,
		APITokens: cfg.Auth.APITokens, SessionTTL: cfg.Auth.SessionTTL}
	if a.Disabled {
		return a, nil
	}
	key, _, err := secretFile(cfg.DataDir, "session.key", func() ([]byte, error) {
		b := make([]byte, 32)
		rand.Read(b)
		return b, nil
	})
	if err != nil {
		return a, fmt.Errorf("session key: %w", err)
	}
	a.Key = key
	if a.PasswordHash == "" {
		var pw string
		hash, created, err := secretFile(cfg.DataDir, "password.hash", func() ([]byte, error) {
			b := make([]byte, 10)
			rand.Read(b)
			pw = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
			h, err := gateway.HashPassword(pw)
			return []byte(h), err
		})
		if err != nil {
			return a, fmt.Errorf("dashboard password: %w", err)
		}
		if created {
			log.Warn("no dashboard password was configured; generated one (shown once; set auth.password_hash from `gatewayd hash-password` to choose your own)",
				"password", pw, "stored", filepath.Join(cfg.DataDir, "password.hash"))
		}
		a.PasswordHash = strings.TrimSpace(string(hash))
	}
	return a, nil
}

func mqttOptions(cfg *Config, log *slog.Logger) *mqtt.Options {
	m := cfg.MQTT
	o := &mqtt.Options{
		Mode: mqtt.Mode(m.Mode), Listen: m.Listen, WebsocketListen: m.WebsocketListen, Broker: m.Broker,
		Username: m.Username, Password: m.Password, GatewayID: m.GatewayID, RateLimit: m.RateLimit,
		Logger:    log.With("component", "mqtt"),
		TLSListen: m.TLSListen, TLSCert: m.TLSCert, TLSKey: m.TLSKey, AllowAnonymous: m.AllowAnonymous,
	}
	for _, u := range m.Users {
		o.Users = append(o.Users, mqtt.User{Username: u.Username, PasswordHash: u.PasswordHash, Publish: u.Publish, Subscribe: u.Subscribe})
	}
	cv := &o.Conventions
	cv.Generic.Disabled = !m.Conventions.Generic
	cv.Tasmota = convention.TasmotaOptions{Disabled: !m.Conventions.Tasmota, Zone: cfg.TasmotaZoneLocation()}
	cv.Zigbee2MQTT.Disabled = !m.Conventions.Zigbee2MQTT
	cv.Shelly.Disabled = !m.Conventions.Shelly
	cv.Homie.Disabled = !m.Conventions.Homie
	cv.ESPHome.Disabled = !m.Conventions.ESPHome
	cv.HomeAssistant.Disabled = !m.Conventions.HomeAssistant
	return o
}

func gpioSource(cfg *Config, log *slog.Logger) (devices.Source, error) {
	g := cfg.GPIO
	if len(g.Inputs) == 0 && len(g.Outputs) == 0 {
		return nil, nil
	}
	o := &gpio.Options{Device: g.Device, AllowPins: g.AllowPins, Logger: log.With("component", "gpio")}
	for _, in := range g.Inputs {
		o.Inputs = append(o.Inputs, gpio.Input{Name: in.Name, Pin: in.Pin, Pull: in.Pull, Invert: in.Invert,
			Debounce: in.Debounce, Active: in.Active, Inactive: in.Inactive, Counter: in.Counter, Edge: in.Edge,
			Interval: in.Interval, Scale: in.Scale, Unit: in.Unit})
	}
	for _, out := range g.Outputs {
		o.Outputs = append(o.Outputs, gpio.Output{Name: out.Name, Pin: out.Pin, Invert: out.Invert,
			Initial: out.Initial, Safe: out.Safe})
	}
	return gpio.New(o)
}

// serve runs the gateway until ctx ends, then shuts down in order: tell
// systemd, refuse new requests, tell dashboards, stop the sources, flush
// the store.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, level *slog.LevelVar, args, environ []string, hup <-chan os.Signal) error {
	start := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "gatewayd.db")
	st, err := store.Open(dbPath, &store.Options{
		FlushInterval: cfg.Store.FlushInterval, RawRetention: cfg.Store.RawRetention,
		MinuteRetention: cfg.Store.MinuteRetention, HourRetention: cfg.Store.HourRetention,
		OnHealth: func(err error) {
			if err != nil {
				log.Error("store failing; live data continues, history is not being written", "err", err)
			} else {
				log.Info("store writing again")
			}
		},
	})
	if err != nil {
		return err
	}
	defer st.Close()

	auth, err := authConfig(cfg, log)
	if err != nil {
		return err
	}
	mq, err := mqtt.New(mqttOptions(cfg, log))
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	// The first failure of the MQTT source before it is ready (the embedded
	// broker's port taken) ends start-up with its error; later failures are
	// retried by the gateway.
	mqStart := &startWatch{Source: mq, errc: make(chan error, 1)}
	sources := []devices.Source{mqStart}
	if cfg.System.Enabled {
		sources = append(sources, system.New(&system.Options{Device: cfg.System.Device, Interval: cfg.System.Interval,
			Logger: log.With("component", "system")}))
	}
	gp, err := gpioSource(cfg, log)
	if err != nil {
		return fmt.Errorf("gpio: %w", err)
	}
	if gp != nil {
		sources = append(sources, gp)
	}
	var webFS fs.FS
	if web.Built() {
		webFS = web.FS()
	} else {
		log.Warn("the dashboard is not built into this binary; run `make` to build it")
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	gw, err := gateway.New(runCtx, gateway.Config{
		Store: st, Sources: sources, Web: webFS, Auth: auth, Alerts: cfg.Alerts, Logger: log,
		Socket: &gateway.SocketOptions{CORSOrigins: cfg.Socket.CORSOrigins, PingInterval: cfg.Socket.PingInterval,
			PingTimeout: cfg.Socket.PingTimeout},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (key listen): %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	tlsOn, err := configureTLS(cfg, srv, log)
	if err != nil {
		ln.Close()
		return err
	}
	httpErr := make(chan error, 1)
	go func() {
		if tlsOn {
			httpErr <- srv.ServeTLS(ln, "", "")
		} else {
			httpErr <- srv.Serve(ln)
		}
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(runCtx) }()

	// Ready once the broker answers (embedded started or external chosen).
	select {
	case <-mq.Ready():
	case <-ctx.Done():
	case err := <-mqStart.errc:
		stopRun()
		<-runErr
		return err
	case err := <-runErr:
		return err
	case <-time.After(30 * time.Second):
		log.Warn("the MQTT broker is not ready after 30s; going on")
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	log.Info("gatewayd ready", "version", version, "dashboard", scheme+"://"+ln.Addr().String()+"/",
		"mqtt_mode", mq.Mode(), "mqtt_broker", mq.BrokerAddr(), "database", dbPath, "startup", time.Since(start).Round(time.Millisecond))
	daemon.SdNotify(false, daemon.SdNotifyReady)

	if cfg.Simulate.Devices > 0 {
		go simulate(runCtx, cfg, mq.BrokerAddr(), log)
	}

	var watchdog <-chan time.Time
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		t := time.NewTicker(d / 2)
		defer t.Stop()
		watchdog = t.C
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case err := <-httpErr:
			return fmt.Errorf("http server: %w", err)
		case err := <-runErr:
			return err
		case <-watchdog:
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		case <-hup:
			reload(cfg, log, level, gw, args, environ)
		}
	}

	log.Info("shutting down")
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	gw.Shutdown(shutCtx)
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopRun()
	if err := <-runErr; err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	log.Info("stopped; every reading received is stored", "committed_offset", st.Committed())
	return nil
}

// startWatch passes on the first error of an MQTT source's Run, so that
// start-up can fail with it; the embedded pointer keeps the source's
// Commander and Health methods visible to the gateway.
type startWatch struct {
	*mqtt.Source
	errc chan error
}

func (w *startWatch) Run(ctx context.Context, emit func(devices.Update)) error {
	err := w.Source.Run(ctx, emit)
	if err != nil {
		select {
		case w.errc <- err:
		default:
		}
	}
	return err
}

// reload applies what may change while running (log level, alert rules) and
// refuses, by name, what needs a restart.
func reload(old *Config, log *slog.Logger, level *slog.LevelVar, gw *gateway.Gateway, args, environ []string) {
	cfg, _, _, err := loadConfig(args, environ, io.Discard)
	if err != nil {
		log.Error("reload refused: the configuration is invalid; keeping the running one", "err", err)
		return
	}
	for key, changed := range map[string]bool{
		"listen": cfg.Listen != old.Listen, "data_dir": cfg.DataDir != old.DataDir,
		"mqtt": fmt.Sprint(cfg.MQTT) != fmt.Sprint(old.MQTT), "tls": cfg.TLS != old.TLS,
	} {
		if changed {
			log.Warn("reload: this key changes only on restart", "key", key)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.SetAlertRules(ctx, cfg.Alerts); err != nil {
		log.Error("reload: alert rules refused", "err", err)
		return
	}
	level.Set(parseLevel(cfg.LogLevel))
	old.Alerts, old.LogLevel = cfg.Alerts, cfg.LogLevel
	log.Info("configuration reloaded", "log_level", cfg.LogLevel, "alert_rules", len(cfg.Alerts))
}

// simulate publishes simulated devices to the gateway's own broker.
func simulate(ctx context.Context, cfg *Config, addr string, log *slog.Logger) {
	pub, err := sim.DialPaho(ctx, &sim.PahoOptions{Broker: "tcp://" + loopback(addr), ClientID: "gatewayd-sim"})
	if err != nil {
		log.Error("simulator: connect", "err", err)
		return
	}
	n := cfg.Simulate.Devices
	s, err := sim.New(pub, &sim.Options{Generic: n, Tasmota: n, Zigbee: n, Shelly: n, ESPHome: n,
		Interval: cfg.Simulate.Interval, Seed: cfg.Simulate.Seed, DropoutProb: 0.002, Logger: log.With("component", "sim")})
	if err != nil {
		log.Error("simulator", "err", err)
		return
	}
	log.Info("simulator publishing", "devices", 5*n, "broker", addr)
	if err := s.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("simulator stopped", "err", err)
	}
}

// loopback turns ":1883" or "0.0.0.0:1883" into an address to dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
