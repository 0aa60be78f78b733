package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
)

// Configuration errors of the embedded broker's listeners.
var (
	// ErrNoTLSCert means TLSListen is set without TLSConfig or without both
	// TLSCert and TLSKey.
	ErrNoTLSCert = errors.New("mqtt: TLS listener needs a certificate and key")
	// ErrNoListener means Listen is "off" and no other listener is set, so
	// no device could reach the embedded broker.
	ErrNoListener = errors.New("mqtt: embedded broker has no listener")
)

// checkSecurity validates the embedded broker's listener and account
// options, so that New reports mistakes before anything starts. External
// mode ignores them.
func (o *Options) checkSecurity() error {
	if o.Mode == ModeExternal {
		return nil
	}
	if o.TLSListen != "" && o.TLSConfig == nil && (o.TLSCert == "" || o.TLSKey == "") {
		return fmt.Errorf("%w: set TLSCert and TLSKey (mqtt.tls_cert, mqtt.tls_key) or TLSConfig", ErrNoTLSCert)
	}
	if o.TLSListen == "" && (o.TLSCert != "" || o.TLSKey != "") {
		return fmt.Errorf("%w: TLSCert and TLSKey are set but TLSListen (mqtt.tls_listen) is not", ErrNoTLSCert)
	}
	if o.Listen == ListenOff && o.TLSListen == "" && o.WebsocketListen == "" {
		return fmt.Errorf("%w: Listen is %q; set TLSListen or WebsocketListen", ErrNoListener, ListenOff)
	}
	if len(o.Users) > 0 {
		if _, err := newAuthHook(o.Users, o.AllowAnonymous); err != nil {
			return err
		}
	}
	return nil
}

// tlsConfig returns the TLS listener's configuration: a clone of TLSConfig,
// or one serving the TLSCert/TLSKey pair.
func (o *Options) tlsConfig() (*tls.Config, error) {
	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("mqtt: embedded broker: TLS certificate: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg, nil
}

// BrokerTLSAddr returns the embedded broker's TLS listener address (useful
// with port 0); "" before Ready, without TLSListen, or with an external
// broker.
func (s *Source) BrokerTLSAddr() string {
	if !s.isReady() {
		return ""
	}
	if e, ok := s.be.Load().(*embedded); ok {
		return e.tlsAddr()
	}
	return ""
}

// warnUnusedSecurity says when auto mode picked an external broker although
// the embedded broker's TLS or accounts are configured: devices are then
// exactly as protected as that broker makes them.
func (o *Options) warnUnusedSecurity(log *slog.Logger) {
	if o.TLSListen != "" || len(o.Users) > 0 || o.Listen == ListenOff {
		log.Warn("mqtt: auto mode uses an external broker, so the embedded broker's TLS listener, users and topic rules do not apply; secure that broker, or set mode to embedded",
			"tls_listen", o.TLSListen, "users", len(o.Users))
	}
}
