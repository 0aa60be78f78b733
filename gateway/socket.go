package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatewayd/devices"
	"gatewayd/sio"
	"gatewayd/store"
)

// alertMsg is one item of the `alerts` result.
type alertMsg struct {
	Rule    string `json:"rule"`
	Device  string `json:"device"`
	Metric  string `json:"metric,omitempty"`
	Since   int64  `json:"since"`
	Text    string `json:"text"`
	AckedBy string `json:"ackedBy,omitempty"`
}

// eventAlertAcked is the event kind of an acknowledged alert.
const eventAlertAcked = "alert.acked"

// socketPusher pushes to rooms of the dashboard namespace.
type socketPusher struct{ nsp *sio.Namespace }

func (p socketPusher) Occupied(room string) bool {
	return len(p.nsp.Adapter().SocketIDs([]string{room}, nil)) > 0
}

func (p socketPusher) Push(event string, payload any, offset int64, rooms ...string) {
	b := p.nsp.To(rooms...)
	if offset > 0 {
		b = b.Offset(strconv.FormatInt(offset, 10))
	}
	// Emit only queues: a dashboard that stops reading is dropped by the
	// Socket.IO server's per-connection cap, never waited for.
	b.Emit(event, payload)
}

// maxSubscribe bounds the device ids of one subscribe request.
const maxSubscribe = 1000

func (g *Gateway) newSocketServer() pusher {
	so := g.cfg.Socket
	if so == nil {
		so = &SocketOptions{}
	}
	opts := &sio.Options{
		PingInterval: so.PingInterval,
		PingTimeout:  so.PingTimeout,
		// Room for a full replay of ReplayLimit readings (about 110 bytes
		// each) on reconnection; a dashboard that stops reading is still
		// cut off at this cap.
		MaxQueuedBytes: max(4<<20, g.cfg.ReplayLimit*256),
		Recovery: &sio.RecoveryOptions{
			MaxDisconnectionDuration: g.cfg.SessionKeep,
			// A resumed dashboard shows its token again: a revoked or
			// expired login does not come back through recovery.
			RunMiddlewares: true,
			Store:          g.sessions,
		},
		Logger: g.log.With("component", "sio"),
	}
	if len(so.CORSOrigins) > 0 {
		opts.CORS = &sio.CORS{Origins: so.CORSOrigins, Credentials: true}
	}
	g.sio = sio.NewServer(opts)
	nsp := g.sio.Of("/")
	nsp.Use(func(s *sio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = s.Handshake().AuthInto(&auth) // a malformed auth object is the same as none
		id, err := g.authenticate(&http.Request{Header: s.Handshake().Headers}, auth.Token)
		if err != nil {
			return &sio.ConnectError{Message: "unauthorized", Data: map[string]string{"code": "unauthorized"}}
		}
		s.SetData(id)
		return nil
	})
	nsp.OnConnection(g.onDashboard)
	g.met.gauge("gatewayd_dashboards_connected", "Dashboards connected over Socket.IO.",
		func() float64 { return float64(len(nsp.FetchSockets())) })
	return socketPusher{nsp}
}

// socketHandler serves the Socket.IO endpoint.
func (g *Gateway) socketHandler() http.Handler { return g.sio }

// Shutdown tells every dashboard the server is shutting down and closes the
// Socket.IO server; call it next to http.Server.Shutdown, which does not
// wait for websockets.
func (g *Gateway) Shutdown(ctx context.Context) error { return g.sio.Shutdown(ctx) }

// reply acknowledges ev with res, or with the protocol's error object.
func reply(ev *sio.Event, res any, err error) {
	if !ev.HasAck() {
		return
	}
	if err != nil {
		ev.Ack(map[string]any{"error": asAPIError(err)})
		return
	}
	ev.Ack(res)
}

// decode reads the single request object of ev into v.
func decode(ev *sio.Event, v any) error {
	if ev.Args.Len() == 0 {
		return nil
	}
	if err := ev.Args.Decode(v); err != nil {
		return errBadRequest("%s: the request must be an object as docs/protocol.md says: %v", ev.Name, err)
	}
	return nil
}

func (g *Gateway) onDashboard(s *sio.Socket) {
	id, _ := s.Data().(identity)
	switch err := s.RecoveryFailure(); {
	case s.Recovered():
		g.met.resumes.WithLabelValues("hit").Inc()
	case errors.Is(err, sio.ErrRecoveryUnknownSession):
		g.met.resumes.WithLabelValues("miss_unknown").Inc()
	case errors.Is(err, sio.ErrRecoveryExpired):
		g.met.resumes.WithLabelValues("miss_expired").Inc()
	case errors.Is(err, sio.ErrRecoveryOffsetGone):
		g.met.resumes.WithLabelValues("miss_offset").Inc()
	case err != nil:
		g.met.resumes.WithLabelValues("miss_other").Inc()
	}
	// Requests that may wait (queries, commands) run in their own
	// goroutine, so a slow history query never holds up the socket's reads;
	// room changes run at once, in the order the dashboard sent them, so an
	// unsubscribe followed by a subscribe of the same room ends subscribed.
	on := func(name string, role Role, inline bool, fn func(ctx context.Context, ev *sio.Event) (any, error)) {
		s.On(name, func(ev *sio.Event) {
			if !id.Role.Can(role) {
				reply(ev, nil, errForbidden)
				return
			}
			run := func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res, err := fn(ctx, ev)
				reply(ev, res, err)
			}
			if inline {
				run()
			} else {
				go run()
			}
		})
	}
	handle := func(name string, role Role, fn func(ctx context.Context, ev *sio.Event) (any, error)) {
		on(name, role, false, fn)
	}
	type devicesReq struct {
		Devices []string `json:"devices"`
		Alerts  bool     `json:"alerts"`
		Fleet   bool     `json:"fleet"`
	}
	rooms := func(ev *sio.Event) ([]string, []string, error) {
		var req devicesReq
		if err := decode(ev, &req); err != nil {
			return nil, nil, err
		}
		if len(req.Devices) > maxSubscribe || (len(req.Devices) == 0 && !req.Alerts && !req.Fleet) {
			return nil, nil, errBadRequest("devices: expected 1 to %d device ids, or [\"*\"], or alerts: true, or fleet: true", maxSubscribe)
		}
		var rs []string
		if req.Alerts {
			rs = append(rs, roomAlerts)
		}
		if req.Fleet {
			rs = append(rs, roomFleet)
		}
		for _, d := range req.Devices {
			if d == "*" {
				rs = append(rs, roomAllDevices, roomFleet)
				continue
			}
			if _, ok := g.lookup(d); !ok {
				return nil, nil, errUnknownDevice(d)
			}
			rs = append(rs, deviceRoom(d))
		}
		return req.Devices, rs, nil
	}
	on("subscribe", RoleViewer, true, func(_ context.Context, ev *sio.Event) (any, error) {
		ids, rs, err := rooms(ev)
		if err != nil {
			return nil, err
		}
		s.Join(rs...)
		return map[string]any{"devices": ids}, nil
	})
	on("unsubscribe", RoleViewer, true, func(_ context.Context, ev *sio.Event) (any, error) {
		var req devicesReq
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		if req.Alerts {
			s.Leave(roomAlerts)
		}
		if req.Fleet {
			s.Leave(roomFleet)
		}
		for _, d := range req.Devices {
			if d == "*" {
				s.Leave(roomAllDevices)
				s.Leave(roomFleet)
			} else {
				s.Leave(deviceRoom(d))
			}
		}
		return map[string]any{"devices": req.Devices}, nil
	})
	handle("fleet", RoleViewer, func(context.Context, *sio.Event) (any, error) {
		return map[string]any{"devices": g.fleet()}, nil
	})
	handle("history", RoleViewer, func(ctx context.Context, ev *sio.Event) (any, error) {
		var req historyReq
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		return g.history(ctx, req)
	})
	handle("latest", RoleViewer, func(_ context.Context, ev *sio.Event) (any, error) {
		var req struct {
			Device string `json:"device"`
		}
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		d, ok := g.lookup(req.Device)
		if !ok {
			return nil, errUnknownDevice(req.Device)
		}
		return map[string]any{"device": d.ID, "values": d.Latest}, nil
	})
	handle("events", RoleViewer, func(ctx context.Context, ev *sio.Event) (any, error) {
		var req eventsReq
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		evs, err := g.events(ctx, req)
		if err != nil {
			return nil, err
		}
		return map[string]any{"events": evs}, nil
	})
	handle("alerts", RoleViewer, func(context.Context, *sio.Event) (any, error) {
		active := []alertMsg{}
		for _, al := range g.alerts.Active() {
			active = append(active, alertMsg{Rule: al.Rule, Device: al.Device, Metric: al.Metric, Since: al.Time.UnixMilli(),
				Text: al.Text, AckedBy: al.AckedBy})
		}
		return map[string]any{"active": active}, nil
	})
	handle("ack_alert", RoleOperator, func(_ context.Context, ev *sio.Event) (any, error) {
		var req struct {
			Rule   string `json:"rule"`
			Device string `json:"device"`
		}
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		if !g.alerts.Ack(req.Rule, req.Device, id.Subject) {
			return nil, errBadRequest("no active alert %s on %s", req.Rule, req.Device)
		}
		g.recordEvent(store.Event{Time: g.now(), Kind: eventAlertAcked, Device: req.Device,
			Message: req.Rule + ": acknowledged by " + id.Subject})
		return map[string]any{"ok": true}, nil
	})
	handle("alert_rules", RoleViewer, func(context.Context, *sio.Event) (any, error) {
		return map[string]any{"rules": g.alertRuleList()}, nil
	})
	handle("put_alert_rule", RoleOperator, func(ctx context.Context, ev *sio.Event) (any, error) {
		var req struct {
			Rule json.RawMessage `json:"rule"`
		}
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		r, err := parseRule(req.Rule, "rule", "")
		if err != nil {
			return nil, err
		}
		if err := g.putAlertRule(ctx, id.Subject, r); err != nil {
			return nil, err
		}
		return map[string]any{"ok": true}, nil
	})
	handle("delete_alert_rule", RoleOperator, func(ctx context.Context, ev *sio.Event) (any, error) {
		var req struct {
			Name string `json:"name"`
		}
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		if err := g.deleteAlertRule(ctx, id.Subject, req.Name); err != nil {
			return nil, err
		}
		return map[string]any{"ok": true}, nil
	})
	handle("command", RoleOperator, func(ctx context.Context, ev *sio.Event) (any, error) {
		var req struct {
			Device string          `json:"device"`
			Name   string          `json:"name"`
			Args   json.RawMessage `json:"args"`
		}
		if err := decode(ev, &req); err != nil {
			return nil, err
		}
		d, ok := g.lookup(req.Device)
		if !ok {
			return nil, errUnknownDevice(req.Device)
		}
		if len(d.Commands) > 0 && !slices.Contains(d.Commands, req.Name) {
			return nil, &apiError{Code: "unknown_command", Message: "the device accepts " + strings.Join(d.Commands, ", ")}
		}
		err := g.Command(ctx, id.Subject, devices.Command{Device: req.Device, Name: req.Name, Args: req.Args})
		result := "ok"
		if err != nil {
			result = "error"
		}
		g.met.commands.WithLabelValues(result).Inc()
		if err != nil {
			return nil, err
		}
		return map[string]any{"ok": true}, nil
	})
}
