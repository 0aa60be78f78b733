package mqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"gatewayd/devices/mqtt/convention"
)

// backend is a broker connection: embedded or external.
type backend interface {
	publish(ctx context.Context, m convention.Message) error
	// addFilters subscribes to topics learned at run time.
	addFilters(filters []string)
	addr() string
	close()
}

// hostPort extracts host:port from a broker URL such as tcp://127.0.0.1:1883.
func hostPort(broker string) string {
	if u, err := url.Parse(broker); err == nil && u.Host != "" {
		if u.Port() == "" {
			return net.JoinHostPort(u.Hostname(), "1883")
		}
		return u.Host
	}
	return broker
}

// probe checks that an MQTT broker answers at addr: it sends a CONNECT
// (MQTT 3.1.1, clean session, random client id) and expects a CONNACK.
func probe(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	id := fmt.Sprintf("gatewayd-probe-%d", time.Now().UnixNano()%1e9)
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, byte(len(id))}
	body = append(body, id...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	if _, err := conn.Write(pkt); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(bufio.NewReader(conn), ack[:]); err != nil {
		return fmt.Errorf("no CONNACK: %w", err)
	}
	if ack[0] != 0x20 {
		return fmt.Errorf("not an MQTT broker (first byte %#x)", ack[0])
	}
	_, _ = conn.Write([]byte{0xe0, 0}) // DISCONNECT
	// Any CONNACK proves a broker, even one refusing us (return code != 0).
	return nil
}

// embedded runs mochi-mqtt in-process: ingestHook reads what is published,
// and the inline client publishes the gateway's status and commands.
type embedded struct {
	s   *Source
	srv *mochi.Server
	tcp *listeners.TCP // nil with Listen "off"
	tls *listeners.TCP // nil without TLSListen
}

// clientWritesPending is how many messages the embedded broker queues for
// one client before it drops what that client cannot take.
const clientWritesPending = 1024

func startEmbedded(s *Source) (*embedded, error) {
	caps := mochi.NewDefaultServerCapabilities()
	// A hard guard for a small board's memory; Source.handle applies the
	// finer MaxPayload limit and counts the rejects.
	caps.MaximumPacketSize = uint32(min(2*s.o.MaxPayload, 256<<20))
	// A refused subscription must answer 0x80, the only failure code MQTT
	// 3.1.1 clients know, not v5's 0x87.
	caps.Compatibilities.ObscureNotAuthorized = true
	// mochi allocates each client's outbound queue at connect: its default
	// of 8,192 slots is 64 KiB per device, 64 MiB for 1,000 devices, that
	// the garbage collector scans on every cycle although devices receive
	// only commands. A subscriber that falls this far behind is dropped
	// messages (counted by the broker) rather than queued without end.
	caps.MaximumClientWritesPending = clientWritesPending
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: s.o.BrokerLogger, Capabilities: caps})
	// Even without users the hook guards sessions (see OnConnectAuthenticate).
	hook, err := newAuthHook(s.o.Users, len(s.o.Users) == 0 || s.o.AllowAnonymous)
	if err != nil {
		return nil, err
	}
	hook.clients = srv.Clients.Get
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	// Messages reach the router through a hook rather than an inline "#"
	// subscription: mochi copies the inline subscribers into fresh maps on
	// every publish (about 1.4 KB of garbage a reading), and the hook sees
	// a publish before the broker acknowledges it, so an acknowledged
	// reading has always been handed to the store.
	if err := srv.AddHook(&ingestHook{s: s}, nil); err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	e := &embedded{s: s, srv: srv}
	if s.o.Listen != ListenOff {
		e.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: s.o.Listen})
		if err := srv.AddListener(e.tcp); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: cannot listen on %s (%v); another MQTT broker probably runs there: set mqtt.mode to %q (Options.Mode = ModeExternal) to use it, or change mqtt.listen",
					ErrPortInUse, s.o.Listen, err, ModeExternal)
			}
			return nil, fmt.Errorf("mqtt: embedded broker: listen %s: %w", s.o.Listen, err)
		}
	}
	if s.o.TLSListen != "" {
		cfg, err := s.o.tlsConfig()
		if err != nil {
			_ = srv.Close()
			return nil, err
		}
		e.tls = listeners.NewTCP(listeners.Config{ID: "tls", Address: s.o.TLSListen, TLSConfig: cfg})
		if err := srv.AddListener(e.tls); err != nil {
			_ = srv.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: TLS listener %s: %v (change mqtt.tls_listen)", ErrPortInUse, s.o.TLSListen, err)
			}
			return nil, fmt.Errorf("mqtt: embedded broker: TLS listen %s: %w", s.o.TLSListen, err)
		}
	}
	if s.o.WebsocketListen != "" {
		// mochi's websocket listener binds only when it starts serving and
		// then merely logs a failure, so check the port here first.
		ln, err := net.Listen("tcp", s.o.WebsocketListen)
		if err != nil {
			_ = srv.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: websocket listener %s: %v (change mqtt.websocket_listen)", ErrPortInUse, s.o.WebsocketListen, err)
			}
			return nil, fmt.Errorf("mqtt: embedded broker: websocket listen %s: %w", s.o.WebsocketListen, err)
		}
		ln.Close()
		ws := listeners.NewWebsocket(listeners.Config{ID: "ws", Address: s.o.WebsocketListen})
		if err := srv.AddListener(ws); err != nil {
			_ = srv.Close()
			return nil, fmt.Errorf("mqtt: embedded broker: websocket listen %s: %w", s.o.WebsocketListen, err)
		}
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	if err := srv.Publish(s.o.StatusTopic, []byte("online"), true, 1); err != nil {
		s.log.Warn("mqtt: cannot publish gateway status", "err", err)
	}
	s.log.Info("mqtt: embedded broker started", "listen", e.addr(), "tls_listen", e.tlsAddr(), "websocket", s.o.WebsocketListen,
		"users", len(s.o.Users), "anonymous", len(s.o.Users) == 0 || s.o.AllowAnonymous, "status_topic", s.o.StatusTopic)
	return e, nil
}

// ingestHook hands every message published to the embedded broker, and
// every last will it sends, to the Source's router.
type ingestHook struct {
	mochi.HookBase
	s *Source
}

// ID names the hook in the broker's log.
func (h *ingestHook) ID() string { return "gatewayd-ingest" }

// Provides selects the events the hook takes.
func (h *ingestHook) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnWillSent
}

// OnPublish routes a publish that passed the ACL check; it runs before the
// broker acknowledges a QoS 1 or 2 message and never changes or refuses it.
func (h *ingestHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.route(pk)
	return pk, nil
}

// OnWillSent routes a last will, which the broker publishes without
// OnPublish.
func (h *ingestHook) OnWillSent(_ *mochi.Client, pk packets.Packet) { h.route(pk) }

func (h *ingestHook) route(pk packets.Packet) {
	// The gateway's own status, and $SYS topics, which "#" never matched.
	if pk.TopicName == h.s.o.StatusTopic || strings.HasPrefix(pk.TopicName, "$") {
		return
	}
	h.s.handle(pk.TopicName, pk.Payload, pk.FixedHeader.Retain)
}

func (e *embedded) publish(_ context.Context, m convention.Message) error {
	return e.srv.Publish(m.Topic, m.Payload, m.Retain, m.QoS)
}

func (e *embedded) addFilters([]string) {} // ingestHook already sees every topic

// addr is the plain listener's address, else the TLS one's.
func (e *embedded) addr() string {
	if e.tcp != nil {
		return e.tcp.Address()
	}
	return e.tlsAddr()
}

func (e *embedded) tlsAddr() string {
	if e.tls != nil {
		return e.tls.Address()
	}
	return ""
}

func (e *embedded) close() {
	_ = e.srv.Publish(e.s.o.StatusTopic, []byte("offline"), true, 1)
	_ = e.srv.Close()
	e.s.log.Info("mqtt: embedded broker stopped")
}
