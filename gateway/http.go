package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionCookie carries the dashboard's session token. It is HttpOnly so
// page scripts (and anything injected into them) never see it.
const sessionCookie = "gatewayd_session"

// identity is who made a request.
type identity struct {
	Subject string
	Role    Role
}

// authenticate finds the caller's identity in a bearer token or the session
// cookie; with auth disabled everyone is an operator.
func (g *Gateway) authenticate(r *http.Request, token string) (identity, error) {
	if g.cfg.Auth.Disabled {
		return identity{Subject: "anonymous", Role: RoleOperator}, nil
	}
	if token == "" {
		if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = strings.TrimSpace(h)
		}
	}
	if token == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
	}
	if token == "" {
		return identity{}, ErrUnauthorized
	}
	if id, ok := g.apiToken(token); ok {
		return id, nil
	}
	sub, role, err := g.tokens.Check(token)
	if err != nil {
		return identity{}, err
	}
	return identity{Subject: sub, Role: role}, nil
}

func (g *Gateway) apiToken(token string) (identity, bool) {
	sum := sha256.Sum256([]byte(token))
	for _, t := range g.cfg.Auth.APITokens {
		want, err := hex.DecodeString(t.SHA256)
		if err == nil && subtle.ConstantTimeCompare(sum[:], want) == 1 {
			return identity{Subject: "token:" + t.Name, Role: t.Role}, true
		}
	}
	return identity{}, false
}

// Handler returns the gateway's HTTP handler: the dashboard at /, the
// Socket.IO endpoint at /socket.io/, the REST API under /api/, /healthz and
// /metrics.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", g.socketHandler())
	mux.HandleFunc("POST /api/login", g.handleLogin)
	mux.HandleFunc("POST /api/logout", g.handleLogout)
	mux.HandleFunc("GET /api/session", g.handleSession)
	mux.HandleFunc("GET /api/devices", g.authed(RoleViewer, func(w http.ResponseWriter, r *http.Request, _ identity) {
		writeJSON(w, http.StatusOK, g.fleet())
	}))
	mux.HandleFunc("GET /api/devices/{id}", g.authed(RoleViewer, func(w http.ResponseWriter, r *http.Request, _ identity) {
		d, ok := g.lookup(r.PathValue("id"))
		if !ok {
			writeError(w, errUnknownDevice(r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, d)
	}))
	mux.HandleFunc("GET /api/devices/{id}/history", g.authed(RoleViewer, g.handleHistory))
	mux.HandleFunc("GET /api/devices/{id}/export.csv", g.authed(RoleViewer, g.handleExport))
	mux.HandleFunc("GET /api/events", g.authed(RoleViewer, g.handleEvents))
	mux.HandleFunc("GET /api/alerts/rules", g.authed(RoleViewer, func(w http.ResponseWriter, r *http.Request, _ identity) {
		writeJSON(w, http.StatusOK, g.alertRuleList())
	}))
	mux.HandleFunc("PUT /api/alerts/rules/{name}", g.authed(RoleOperator, g.handlePutRule))
	mux.HandleFunc("DELETE /api/alerts/rules/{name}", g.authed(RoleOperator, func(w http.ResponseWriter, r *http.Request, id identity) {
		if err := g.deleteAlertRule(r.Context(), id.Subject, r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := g.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", g.met.handler())
	if g.cfg.Web != nil {
		mux.Handle("/", http.FileServerFS(g.cfg.Web))
	}
	return securityHeaders(mux)
}

// securityHeaders sets headers that keep the dashboard from being framed or
// sniffed; the dashboard loads nothing from other origins.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/socket.io/") {
			hd.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'")
		}
		h.ServeHTTP(w, r)
	})
}

func (g *Gateway) authed(role Role, fn func(http.ResponseWriter, *http.Request, identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := g.authenticate(r, "")
		if err != nil {
			writeError(w, &apiError{Code: "unauthorized", Message: "log in or send a valid bearer token"})
			return
		}
		if !id.Role.Can(role) {
			writeError(w, errForbidden)
			return
		}
		fn(w, r, id)
	}
}

func (g *Gateway) handleLogin(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Auth.Disabled {
		writeJSON(w, http.StatusOK, map[string]any{"role": RoleOperator, "token": "", "expires": 0})
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, errBadRequest("expected {\"password\": \"...\"}"))
		return
	}
	ok := false
	if g.cfg.Auth.PasswordHash != "" {
		var err error
		ok, err = CheckPassword(g.cfg.Auth.PasswordHash, req.Password)
		if err != nil {
			g.log.Error("the configured password hash is malformed", "err", err)
		}
	}
	if !ok {
		g.met.logins.WithLabelValues("rejected").Inc()
		writeError(w, &apiError{Code: "unauthorized", Message: "wrong password"})
		return
	}
	g.met.logins.WithLabelValues("ok").Inc()
	token, exp := g.tokens.Issue("admin", RoleOperator, g.cfg.Auth.SessionTTL)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "role": RoleOperator, "expires": exp.UnixMilli()})
}

func (g *Gateway) handleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

// handleSession tells the dashboard whether login is required and who it
// is logged in as, so it knows whether to offer "Sign out".
func (g *Gateway) handleSession(w http.ResponseWriter, r *http.Request) {
	res := map[string]any{"auth": !g.cfg.Auth.Disabled}
	if id, err := g.authenticate(r, ""); err == nil {
		res["role"] = id.Role
		res["subject"] = id.Subject
	}
	writeJSON(w, http.StatusOK, res)
}

// queryMillis parses a time query parameter in Unix milliseconds or RFC 3339.
func queryMillis(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, errBadRequest("%s: expected Unix milliseconds or an RFC 3339 time, got %q", name, s)
	}
	return t.UnixMilli(), nil
}

func (g *Gateway) handleHistory(w http.ResponseWriter, r *http.Request, _ identity) {
	req := historyReq{Device: r.PathValue("id")}
	var err error
	if req.From, err = queryMillis(r, "from"); err != nil {
		writeError(w, err)
		return
	}
	if req.To, err = queryMillis(r, "to"); err != nil {
		writeError(w, err)
		return
	}
	if p := r.URL.Query().Get("points"); p != "" {
		if req.Points, err = strconv.Atoi(p); err != nil {
			writeError(w, errBadRequest("points: expected a whole number, got %q", p))
			return
		}
	}
	if m := r.URL.Query().Get("metric"); m != "" {
		req.Metrics = strings.Split(m, ",")
	}
	res, err := g.history(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (g *Gateway) handleExport(w http.ResponseWriter, r *http.Request, _ identity) {
	id := r.PathValue("id")
	if _, ok := g.lookup(id); !ok {
		writeError(w, errUnknownDevice(id))
		return
	}
	from, err := queryMillis(r, "from")
	if err != nil {
		writeError(w, err)
		return
	}
	to, err := queryMillis(r, "to")
	if err != nil {
		writeError(w, err)
		return
	}
	if to == 0 {
		to = g.now().UnixMilli() + 1
	}
	if from == 0 {
		from = to - 24*time.Hour.Milliseconds()
	}
	var keys []string
	if m := r.URL.Query().Get("metric"); m != "" {
		keys = strings.Split(m, ",")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFilename(id)+`.csv"`)
	if err := g.store.ExportCSV(r.Context(), w, id, keys, time.UnixMilli(from), time.UnixMilli(to)); err != nil {
		// Headers are gone by now; the truncated body and the log say it.
		g.log.Warn("csv export", "device", id, "err", err)
	}
}

func safeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r == '/' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request, _ identity) {
	req := eventsReq{Device: r.URL.Query().Get("device")}
	var err error
	if req.From, err = queryMillis(r, "from"); err != nil {
		writeError(w, err)
		return
	}
	if req.To, err = queryMillis(r, "to"); err != nil {
		writeError(w, err)
		return
	}
	evs, err := g.events(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

// maxRuleBody bounds the body of PUT /api/alerts/rules/{name}; a rule is a
// few hundred bytes.
const maxRuleBody = 64 << 10

func (g *Gateway) handlePutRule(w http.ResponseWriter, r *http.Request, id identity) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRuleBody+1))
	if err != nil {
		writeError(w, errBadRequest("body: %v", err))
		return
	}
	if len(body) > maxRuleBody {
		writeError(w, errBadRequest("body: over %d bytes", maxRuleBody))
		return
	}
	rule, err := parseRule(body, "body", r.PathValue("name"))
	if err == nil {
		err = g.putAlertRule(r.Context(), id.Subject, rule)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	ae := asAPIError(err)
	status := http.StatusInternalServerError
	switch ae.Code {
	case "bad_request":
		status = http.StatusBadRequest
	case "unauthorized":
		status = http.StatusUnauthorized
	case "forbidden":
		status = http.StatusForbidden
	case "unknown_device", "unknown_rule":
		status = http.StatusNotFound
	case "conflict", "read_only":
		status = http.StatusConflict
	case "timeout":
		status = http.StatusGatewayTimeout
	case "unavailable":
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"error": ae})
}
