// The gatewayd dashboard: a fleet view, a device view with live charts and
// commands, and an events view, all over the gateway's Socket.IO protocol
// (docs/protocol.md). No framework: the DOM is small and updates are local.
import { io } from "socket.io-client";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

const $ = (sel, root = document) => root.querySelector(sel);
const view = $("#view");
const connEl = $("#conn");

// Devices by id, as the gateway describes them (docs/protocol.md "Device").
const devices = new Map();
// The signed-in role ("viewer" or "operator"), once /api/session has said.
let role = null;
// The view being shown; each has render() and optional reading()/close().
let current = null;

// The session token lives in an HttpOnly cookie set by /api/login, so page
// scripts never see it; the websocket and polling requests carry it.
const socket = io({ path: "/socket.io/", withCredentials: true, autoConnect: false });

// ---- connection state -------------------------------------------------------

// socket.io-client draws each reconnect delay from its backoff; wrapping
// duration() is the only way to learn when the next attempt will be made.
let nextTry = 0;
const backoff = socket.io.backoff;
if (backoff && typeof backoff.duration === "function") {
  const duration = backoff.duration.bind(backoff);
  backoff.duration = () => {
    const d = duration();
    nextTry = Date.now() + d;
    return d;
  };
}
let connState = "connecting";
// The state is announced (aria-live); the countdown beside it ticks every
// second and is hidden from screen readers so it does not chatter.
const connText = el("span", {}), connWait = el("span", { "aria-hidden": "true" });
connEl.replaceChildren(connText, connWait);
function showConn(state, text, wait = "") {
  connState = state;
  connEl.dataset.state = state;
  if (connText.textContent !== text) connText.textContent = text;
  if (connWait.textContent !== wait) connWait.textContent = wait;
}
function showRetry() {
  const n = backoff?.attempts || 1;
  const wait = Math.ceil((nextTry - Date.now()) / 1000);
  if (wait > 0) showConn("retry", `reconnecting (attempt ${n})`, ` in ${wait} s`);
  else showConn("retry", `reconnecting (attempt ${n})…`);
}
socket.on("connect", async () => {
  nextTry = 0;
  showConn("up", "connected");
  showApp();
  await resubscribe();
  current?.reconnected?.();
});
socket.on("disconnect", (reason) => {
  if (reason === "io client disconnect") showConn("off", "offline");
  else showConn("retry", navigator.onLine === false ? "offline (no network)" : "reconnecting…");
});
socket.io.on("reconnect_attempt", showRetry);
socket.io.on("reconnect_failed", () => showConn("off", "offline"));
socket.on("connect_error", (err) => {
  if (err.message === "unauthorized") {
    showConn("off", "signed out");
    showLogin();
    return;
  }
  if (navigator.onLine === false) showConn("off", "offline (no network)");
  else showRetry();
});
window.addEventListener("offline", () => { if (!socket.connected) showConn("off", "offline (no network)"); });

// request emits a protocol request and resolves with its result, rejecting
// with the protocol's error object.
function request(event, payload = {}, timeout = 10000) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeout).emit(event, payload, (err, res) => {
      if (err) reject({ code: "timeout", message: `${event}: no answer` });
      else if (res && res.error) reject(res.error);
      else resolve(res);
    });
  });
}

// Subscriptions survive reconnects: the set of devices, and which of the
// alerts room (alert rule pushes) and the fleet room (presence, events and
// the newest values once a second) are wanted, are replayed on every
// connect. The gateway applies subscribe and unsubscribe in the order sent.
const subscribed = new Set();
const rooms = { alerts: false, fleet: false };
async function subscribe(ids, want = {}) {
  ids.forEach((id) => subscribed.add(id));
  for (const k in want) if (want[k]) rooms[k] = true;
  if (socket.connected) await request("subscribe", { devices: ids, ...want });
}
async function unsubscribe(ids, leave = {}) {
  ids.forEach((id) => subscribed.delete(id));
  for (const k in leave) if (leave[k]) rooms[k] = false;
  if (socket.connected) await request("unsubscribe", { devices: ids, ...leave });
}
async function resubscribe() {
  if (subscribed.size || rooms.alerts || rooms.fleet) await request("subscribe", { devices: [...subscribed], ...rooms }).catch(() => {});
}

// ---- pushes --------------------------------------------------------------------

// noteValue keeps v as device d's newest value of key k unless a newer one
// is already there.
function noteValue(d, k, v) {
  d.latest ||= {};
  const old = d.latest[k];
  if (!old || old.t <= v.t) d.latest[k] = v;
  d.lastSeen = Math.max(d.lastSeen || 0, v.t);
}

socket.on("reading", (r) => {
  const d = devices.get(r.d);
  if (d) noteValue(d, r.k, { t: r.t, v: r.v, s: r.s, u: r.u });
  current?.reading?.(r);
});
socket.on("presence", (p) => {
  const d = devices.get(p.device);
  if (d) {
    d.online = p.online;
    d.since = p.t;
  }
  current?.presence?.(p);
});
// The fleet room's newest values, once a second for the devices that sent
// readings: an overview of many devices without every reading.
socket.on("fleet_update", (m) => {
  for (const u of m.devices) {
    const d = devices.get(u.id);
    if (!d) continue;
    for (const [k, v] of Object.entries(u.latest)) noteValue(d, k, v);
    d.lastSeen = Math.max(d.lastSeen || 0, u.lastSeen);
  }
  current?.fleetUpdate?.(m.devices);
});
socket.on("device", (d) => {
  const old = devices.get(d.id);
  devices.set(d.id, { ...old, ...d });
  current?.device?.(d);
});
socket.on("event", (e) => current?.event?.(e));
socket.on("alert_rules", (m) => current?.alertRules?.(m.rules));
// More readings were missed than the gateway replays one by one: fetch the
// range as history instead (docs/protocol.md, "Catching up").
socket.on("gap", () => current?.reconnected?.());

// ---- login ------------------------------------------------------------------------

const loginPage = $("#login-page");
const app = $("#app");
function showLogin() {
  app.hidden = true;
  loginPage.hidden = false;
  document.title = "Sign in · gatewayd";
  $("#password").focus();
}
function showApp() {
  if (!loginPage.hidden) {
    loginPage.hidden = true;
    app.hidden = false;
    route();
  }
  // "Sign out" only where signing in is in use; what the role may do is
  // offered only to that role.
  fetch("/api/session").then((r) => r.json()).then((m) => {
    $("#logout").hidden = !m.auth;
    role = m.role || null;
    current?.session?.();
  }).catch(() => {});
}
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const errEl = $("#login-error");
  const btn = $("#login-form button");
  btn.disabled = true;
  errEl.textContent = "";
  try {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: $("#password").value }),
    });
    if (!res.ok) {
      errEl.textContent = res.status === 401 ? "Wrong password." : `Sign-in failed (HTTP ${res.status}).`;
      $("#password").select();
      return;
    }
    $("#password").value = "";
    showConn("connecting", "connecting…");
    socket.disconnect().connect();
  } catch (e) {
    errEl.textContent = "Cannot reach the gateway.";
  } finally {
    btn.disabled = false;
  }
});
$("#logout").addEventListener("click", async () => {
  await fetch("/api/logout", { method: "POST" }).catch(() => {});
  socket.disconnect();
  showConn("off", "signed out");
  showLogin();
});

// ---- formatting --------------------------------------------------------------

function fmtNum(v) {
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : v.toFixed(2);
}
function fmtValue(v) {
  if (!v) return "–";
  if (v.s !== undefined && v.s !== null) return v.s;
  if (typeof v.v !== "number") return "–";
  return v.u ? `${fmtNum(v.v)} ${v.u}` : fmtNum(v.v);
}
function fmtAgo(t) {
  if (!t) return "never";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}
function fmtTime(t) {
  return new Date(t).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}
// ago returns an element whose text says how long ago t was; the ticker
// below keeps every such element current.
function ago(t, prefix = "") {
  return el("span", { "data-ago": t || 0, "data-prefix": prefix, title: t ? fmtTime(t) : "" }, prefix + fmtAgo(t));
}
setInterval(() => {
  for (const e of document.querySelectorAll("[data-ago]")) {
    const txt = e.dataset.prefix + fmtAgo(Number(e.dataset.ago));
    if (e.textContent !== txt) e.textContent = txt;
  }
  if (connState === "retry" && nextTry) showRetry();
}, 1000);

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined && k !== false) e.append(k.nodeType ? k : String(k));
  return e;
}
const SVG = "http://www.w3.org/2000/svg";
function sparkline(points, label) {
  const w = 200, h = 40;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label ? `${label}, last hour, ${points.length} points` : "no data");
  if (points.length < 2) return svg;
  let t0 = Infinity, t1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (const [t, v] of points) { t0 = Math.min(t0, t); t1 = Math.max(t1, t); v0 = Math.min(v0, v); v1 = Math.max(v1, v); }
  const x = (t) => ((t - t0) / (t1 - t0 || 1)) * w;
  const y = (v) => h - 3 - ((v - v0) / (v1 - v0 || 1)) * (h - 6);
  const pl = document.createElementNS(SVG, "polyline");
  pl.setAttribute("points", points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  pl.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(pl);
  return svg;
}
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
// Colours for the states of a timeline, picked by a hash of the state text.
const STATE_COLORS = ["--s0", "--s1", "--s2", "--s3", "--s4", "--s5"];
function stateColor(s) {
  const on = /^(on|true|open|online|1|yes)$/i, off = /^(off|false|closed|offline|0|no)$/i;
  if (on.test(s)) return "var(--ok)";
  if (off.test(s)) return "var(--muted)";
  let h = 0;
  for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) | 0;
  return `var(${STATE_COLORS[Math.abs(h) % STATE_COLORS.length]})`;
}

// ---- fleet view -------------------------------------------------------------------

const SPARK_SPAN = 3600e3;

function fleetView() {
  let filter = "", sort = "name", only = "all";
  const spark = new Map(); // device → {key, points: [[t, v]]} of its first numeric metric, last hour
  const grid = el("div", { class: "grid", id: "fleet", "aria-live": "off" });
  const count = el("p", { class: "count", "aria-live": "polite" });
  const search = el("input", { type: "search", placeholder: "Filter by name or id", "aria-label": "Filter devices",
    oninput: (e) => { filter = e.target.value.toLowerCase(); draw(); } });
  const sorter = el("select", { "aria-label": "Sort devices", onchange: (e) => { sort = e.target.value; draw(); } },
    el("option", { value: "name" }, "Sort by name"),
    el("option", { value: "online" }, "Offline first"),
    el("option", { value: "alerts" }, "Alerts first"),
    el("option", { value: "seen" }, "Recently seen"));
  const shown = el("select", { "aria-label": "Show devices", onchange: (e) => { only = e.target.value; draw(); } },
    el("option", { value: "all" }, "All devices"),
    el("option", { value: "online" }, "Online only"),
    el("option", { value: "offline" }, "Offline only"),
    el("option", { value: "alerts" }, "With alerts"));

  function sparkKey(d) {
    const ks = Object.keys(d.latest || {}).filter((k) => typeof d.latest[k].v === "number").sort();
    return ks[0];
  }
  function card(d) {
    const keys = Object.keys(d.latest || {}).filter((k) => !k.startsWith("reply.")).sort().slice(0, 4);
    const sp = spark.get(d.id);
    return el("a", { class: `card${d.alerts ? " has-alert" : ""}`, href: `#/device/${encodeURIComponent(d.id)}`, "data-device": d.id },
      el("div", { class: "card-head" },
        el("span", { class: "name" }, d.name || d.id),
        d.alerts ? el("span", { class: "badge alert", "data-alerts": d.alerts }, `⚠ ${d.alerts} alert${d.alerts > 1 ? "s" : ""}`) : null,
        el("span", { class: `badge ${d.online ? "on" : "off"}`, "data-online": String(!!d.online) },
          d.online ? "● online" : "○ offline")),
      el("div", { class: "since" }, d.since ? ago(d.since, d.online ? "online since " : "offline since ") : ago(d.lastSeen, "last seen ")),
      keys.length ? el("dl", { class: "values" }, keys.map((k) => [el("dt", {}, k), el("dd", { "data-key": k }, fmtValue(d.latest[k]))]))
        : el("p", { class: "empty" }, "no readings yet"),
      sparkline(sp?.points || [], sp?.key),
      sp?.points.length > 1 ? el("div", { class: "spark-label", "aria-hidden": "true" }, `${sp.key}, last hour`) : null);
  }
  function visible() {
    return [...devices.values()].filter((d) =>
      (!filter || (d.name || "").toLowerCase().includes(filter) || d.id.toLowerCase().includes(filter)) &&
      (only === "all" || (only === "online" && d.online) || (only === "offline" && !d.online) || (only === "alerts" && d.alerts > 0)));
  }
  function draw() {
    const list = visible();
    const byName = (a, b) => (a.name || a.id).localeCompare(b.name || b.id);
    list.sort((a, b) => sort === "online" ? (a.online - b.online) || byName(a, b)
      : sort === "alerts" ? (b.alerts || 0) - (a.alerts || 0) || byName(a, b)
      : sort === "seen" ? (b.lastSeen || 0) - (a.lastSeen || 0)
      : byName(a, b));
    // Rebuilding the cards would drop keyboard focus; put it back.
    const focused = document.activeElement?.closest?.("[data-device]")?.dataset.device;
    grid.replaceChildren(...(list.length ? list.map(card)
      : [el("p", { class: "empty" }, devices.size ? "No device matches." : "No devices yet. Point an MQTT device at this gateway (see docs/devices.md).")]));
    if (focused) grid.querySelector(`[data-device="${CSS.escape(focused)}"]`)?.focus();
    const on = [...devices.values()].filter((d) => d.online).length;
    count.textContent = `${devices.size} device${devices.size === 1 ? "" : "s"}, ${on} online` +
      (list.length !== devices.size ? `, ${list.length} shown` : "");
  }
  async function loadSpark(d, now) {
    const key = sparkKey(d);
    if (!key) return;
    const h = await request("history", { device: d.id, metrics: [key], from: now - SPARK_SPAN, to: now, points: 60 }).catch(() => null);
    const s = h?.series?.[key];
    if (s) spark.set(d.id, { key, points: s.t.map((t, i) => [t, s.avg[i]]) });
  }
  async function load() {
    const res = await request("fleet");
    devices.clear();
    for (const d of res.devices) devices.set(d.id, d);
    draw();
    const now = Date.now();
    await Promise.all(res.devices.map((d) => loadSpark(d, now)));
    draw();
  }
  let pending = false;
  const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } };
  let refetch = 0;
  return {
    title: "Devices",
    render() {
      view.replaceChildren(el("h1", { class: "vh" }, "Devices"),
        el("div", { class: "toolbar" }, search, shown, sorter, count), grid);
      subscribe([], { fleet: true }).catch(() => {});
      if (socket.connected) load().catch(showError);
    },
    close() { unsubscribe([], { fleet: true }).catch(() => {}); },
    reconnected() { load().catch(showError); },
    // The sparklines grow by the newest value of each update.
    fleetUpdate(us) {
      for (const u of us) {
        for (const [k, v] of Object.entries(u.latest)) {
          if (typeof v.v !== "number") continue;
          let s = spark.get(u.id);
          if (!s) {
            s = { key: k, points: [] };
            spark.set(u.id, s);
          }
          if (s.key !== k) continue;
          const last = s.points[s.points.length - 1];
          if (!last || v.t > last[0]) s.points.push([v.t, v.v]);
          while (s.points.length && s.points[0][0] < v.t - SPARK_SPAN) s.points.shift();
        }
      }
      redraw();
    },
    presence: redraw,
    device: redraw,
    // Alert counts live in the fleet; fetch it again when alerts change.
    event(e) {
      if (kindOf(e.kind)[0] !== "alert" && kindOf(e.kind)[0] !== "alert_cleared") return;
      clearTimeout(refetch);
      refetch = setTimeout(async () => {
        const res = await request("fleet").catch(() => null);
        if (!res) return;
        for (const d of res.devices) devices.set(d.id, { ...devices.get(d.id), ...d });
        redraw();
      }, 300);
    },
  };
}

// ---- device view -------------------------------------------------------------------

const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };

function deviceView(id) {
  let range = "1h";
  let from = 0, to = 0, live = true, zoomed = null;
  const charts = new Map(); // metric → {plot, data, box}
  const states = new Map(); // state key → {t: [], s: [], box}
  let lastT = 0; // newest reading time held, for catching up after a reconnect
  const body = el("div", { class: "device" });
  let csv = null, resetBtn = null, cmdBox = null;
  let cmdResult = ["", ""];
  let held = null, chartsBox = null, statesBox = null;
  let resizeObs = null;

  function numericKeys(d) {
    return Object.keys({ ...(d.units || {}), ...(d.latest || {}) })
      .filter((k) => !d.latest?.[k] || typeof d.latest[k].v === "number").sort();
  }
  function stateKeys(d) {
    return Object.keys(d.latest || {}).filter((k) => d.latest[k].s !== undefined && d.latest[k].s !== null).sort();
  }
  function chartWidth() {
    return Math.max(Math.min(body.clientWidth || view.clientWidth - 32, 1200) - 26, 240);
  }
  function chartFor(key, unit, series) {
    const data = [series.t.map((t) => t / 1000), series.avg.slice(), series.min.slice(), series.max.slice()];
    const box = el("figure", { class: "chart", "data-metric": key },
      el("figcaption", {}, unit ? `${key} (${unit})` : key, " ", el("span", { class: "latest", "aria-live": "off" })));
    const fg = cssVar("--muted"), grid = cssVar("--line"), accent = cssVar("--accent");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot({
      width: chartWidth(), height: window.innerWidth < 600 ? 160 : 200,
      series: [{},
        { label: key, stroke: accent, width: 2, value: (u, v) => (v == null ? "–" : fmtNum(v) + (unit ? " " + unit : "")) },
        { label: "min", stroke: fg, width: 1, dash: [3, 3], show: false },
        { label: "max", stroke: fg, width: 1, dash: [3, 3], show: false }],
      axes: [axis, { ...axis, size: 70 }],
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false, setScale: true } },
      hooks: {
        // A drag on one chart zooms every chart of the device to that span.
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          const min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
          zoom(min, max);
        }],
      },
    }, data, box);
    box.uplot = plot; // for tests and the console
    charts.set(key, { plot, data, box });
    showLatest(key);
    return box;
  }
  function showLatest(key) {
    const c = charts.get(key);
    const n = c.data[0].length;
    c.box.dataset.points = String(n);
    // The last point may be a bucket's average; the latest reading is exact.
    const lv = devices.get(id)?.latest?.[key];
    const v = typeof lv?.v === "number" ? lv.v : n ? c.data[1][n - 1] : null;
    c.box.querySelector(".latest").textContent = v === null ? "no data in range" : `now ${fmtNum(v)}`;
  }
  function zoom(min, max) {
    zoomed = [min, max];
    for (const c of charts.values()) {
      c.plot.setScale("x", { min, max });
      c.plot.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    }
    resetBtn.hidden = false;
    updateCsv();
  }
  function resetZoom() {
    zoomed = null;
    for (const c of charts.values()) c.plot.setData(c.data, true);
    if (live) {
      for (const c of charts.values()) c.plot.setScale("x", { min: from / 1000, max: Math.max(to, Date.now()) / 1000 });
    }
    resetBtn.hidden = true;
    updateCsv();
  }
  function shownRange() {
    if (zoomed) return [Math.round(zoomed[0] * 1000), Math.round(zoomed[1] * 1000)];
    return [Math.round(from), Math.round(live ? Date.now() : to)];
  }
  function updateCsv() {
    if (!csv) return;
    const [f, t] = shownRange();
    csv.href = `/api/devices/${encodeURIComponent(id)}/export.csv?from=${f}&to=${t}`;
    csv.setAttribute("download", `${id}-${new Date(f).toISOString().slice(0, 16)}.csv`);
  }
  function timeline(key, s) {
    const box = el("section", { class: "state", "data-state": key });
    states.set(key, { t: s.t.slice(), s: s.s.slice(), box });
    drawTimeline(key);
    return box;
  }
  function drawTimeline(key) {
    const st = states.get(key);
    const [f, t] = [from, live ? Date.now() : to];
    const span = t - f || 1;
    const bar = el("div", { class: "tl-bar", role: "img", "aria-label": `${key} over the range shown` });
    for (let i = 0; i < st.t.length; i++) {
      const a = Math.max(st.t[i], f), b = Math.min(i + 1 < st.t.length ? st.t[i + 1] : t, t);
      if (b <= a) continue;
      bar.append(el("span", { style: `left:${((a - f) / span) * 100}%;width:${((b - a) / span) * 100}%;background:${stateColor(st.s[i])}`,
        title: `${st.s[i]} from ${fmtTime(st.t[i])}` }));
    }
    const recent = st.t.map((tt, i) => [tt, st.s[i]]).slice(-20).reverse();
    st.box.replaceChildren(el("h3", {}, key, " ", el("span", { class: "now" }, st.s.length ? st.s[st.s.length - 1] : "–")), bar,
      el("details", {}, el("summary", {}, `Changes (${st.t.length})`),
        el("ol", { class: "timeline" }, recent.map(([tt, s]) => el("li", {}, el("time", { datetime: new Date(tt).toISOString() }, fmtTime(tt)), " ", el("b", {}, s))))));
  }
  async function load() {
    let d = devices.get(id);
    if (!d) {
      d = (await request("fleet")).devices.find((x) => x.id === id);
      if (d) devices.set(id, d);
    }
    if (!d) { body.replaceChildren(el("p", { class: "error" }, `Unknown device ${id}.`)); return; }
    if (live) { to = Date.now(); from = to - RANGES[range]; }
    zoomed = null;
    const keys = numericKeys(d), skeys = stateKeys(d);
    // Live readings that come while history loads wait in held; those
    // newer than the history's end are appended after it.
    held = [];
    let h;
    try {
      h = keys.length + skeys.length
        ? await request("history", { device: id, metrics: [...keys, ...skeys], from, to, points: 500 })
        : { series: {} };
    } finally {
      const late = held;
      held = null;
      queueMicrotask(() => late.filter((r) => r.t > to).forEach((r) => this_.reading(r)));
    }
    for (const c of charts.values()) c.plot.destroy();
    charts.clear();
    states.clear();
    lastT = 0;
    const chartEls = keys.map((k) => {
      // Empty fields are left out of the answer.
      const s = { t: [], avg: [], min: [], max: [], ...h.series[k] };
      if (s.t.length) lastT = Math.max(lastT, s.t[s.t.length - 1]);
      return chartFor(k, d.units?.[k], s);
    });
    const stateEls = skeys.map((k) => {
      const s = { t: [], s: [], ...h.series[k] };
      // A state that just arrived may not be committed yet; the latest
      // value the gateway holds completes the series.
      const lv = d.latest?.[k];
      if (lv && lv.t >= from && (!s.t.length || lv.t > s.t[s.t.length - 1])) { s.t.push(lv.t); s.s.push(lv.s); }
      if (s.t.length) lastT = Math.max(lastT, s.t[s.t.length - 1]);
      return timeline(k, s);
    });
    // History buckets cover everything up to `to`: catching up starts there.
    if (live) lastT = Math.max(lastT, to);
    cmdBox = commands(d);
    chartsBox = el("div", { class: "charts" }, chartEls.length ? chartEls : el("p", { class: "empty" }, "No numeric metrics yet."));
    statesBox = el("section", { class: "states", hidden: !stateEls.length }, el("h2", {}, "States"), stateEls);
    body.replaceChildren(header(d), controls(), cmdBox || "", chartsBox, statesBox, meta(d));
    updateCsv();
  }
  function header(d) {
    return el("div", { class: "device-head" },
      el("h1", {}, d.name || d.id),
      el("span", { class: `badge ${d.online ? "on" : "off"}`, id: "dev-online", "data-online": String(!!d.online) }, d.online ? "● online" : "○ offline"),
      el("span", { class: "since", id: "dev-since" }, ago(d.since || d.lastSeen, "since ")),
      d.alerts ? el("span", { class: "badge alert" }, `⚠ ${d.alerts} alert${d.alerts > 1 ? "s" : ""}`) : null);
  }
  function controls() {
    const btns = Object.keys(RANGES).map((r) =>
      el("button", { type: "button", class: r === range && live ? "on" : "", "aria-pressed": String(r === range && live),
        onclick: () => { range = r; live = true; load().catch(showError); } }, r));
    const local = (t) => new Date(t - new Date(t).getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
    const f = el("input", { type: "datetime-local", "aria-label": "From", value: local(from || Date.now() - 3600e3) });
    const t = el("input", { type: "datetime-local", "aria-label": "To", value: local(to || Date.now()) });
    const custom = el("form", { class: "custom", onsubmit: (ev) => {
      ev.preventDefault();
      const a = new Date(f.value).getTime(), b = new Date(t.value).getTime();
      if (!(a < b)) { showError({ message: "The start of the range must be before its end." }); return; }
      from = a; to = b; live = false;
      load().catch(showError);
    } }, el("button", { type: "button", class: !live ? "on" : "", "aria-pressed": String(!live), onclick: () => custom.classList.toggle("open") }, "Custom"),
    el("span", { class: "custom-fields" }, f, t, el("button", { type: "submit" }, "Show")));
    if (!live) custom.classList.add("open");
    resetBtn = el("button", { type: "button", hidden: true, onclick: resetZoom }, "Reset zoom");
    csv = el("a", { class: "button", href: "#" }, "⤓ Export CSV");
    return el("div", { class: "toolbar" },
      el("span", { role: "group", "aria-label": "Time range", class: "seg" }, btns), custom, resetBtn,
      el("span", { class: "hint" }, "Drag across a chart to zoom."), csv);
  }
  function commands(d) {
    if (!d.commands?.length) return null;
    const out = el("output", { id: "cmd-result", role: "status", "aria-live": "polite", "data-state": cmdResult[0] }, cmdResult[1]);
    // The view may be rebuilt while a command runs (its reply can be a new
    // state metric), so the result goes to whichever output is current.
    const show = (state, text) => {
      cmdResult = [state, text];
      const o = $("#cmd-result");
      if (o) { o.dataset.state = state; o.textContent = text; }
    };
    const send = async (name, arg, btn) => {
      show("pending", `${name} ${arg}: sending…`);
      btn.disabled = true;
      try {
        await request("command", { device: id, name, args: arg }, 20000);
        show("done", `${name} ${arg}: done`);
      } catch (e) {
        show("failed", `${name} ${arg}: failed — ${e.message || e.code}`);
      } finally {
        btn.disabled = false;
      }
    };
    return el("section", { class: "commands" }, el("h2", {}, "Commands"),
      el("div", { class: "cmds" }, d.commands.map((c) => el("span", { class: "cmd", role: "group", "aria-label": `Command ${c}` }, el("b", {}, c),
        ["ON", "OFF", "TOGGLE"].map((a) => el("button", { type: "button", "data-command": c, "data-arg": a,
          onclick: (ev) => send(c, a, ev.currentTarget) }, a))))),
      out);
  }
  function meta(d) {
    const rows = [["id", d.id], ["name", d.name], ["source", d.source], ["model", d.model], ["firmware", d.firmware],
      ["commands", (d.commands || []).join(", ")],
      ["units", Object.entries(d.units || {}).map(([k, u]) => `${k}: ${u}`).join(", ")],
      ["last seen", d.lastSeen ? ago(d.lastSeen) : null]].filter(([, v]) => v);
    return el("section", { class: "meta" }, el("h2", {}, "Device"),
      el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }
  function append(k, t, v) {
    const c = charts.get(k);
    if (!c) return;
    const ts = t / 1000;
    const xs = c.data[0];
    // Readings arrive in time order per device; anything not newer than
    // the last point is already drawn (a live push and a catch-up overlap).
    if (xs.length && ts <= xs[xs.length - 1]) return;
    c.data[0].push(ts); c.data[1].push(v); c.data[2].push(v); c.data[3].push(v);
    lastT = Math.max(lastT, t);
    const cut = (Date.now() - RANGES[range]) / 1000;
    while (c.data[0].length > 1 && c.data[0][0] < cut) c.data.forEach((a) => a.shift());
    c.plot.setData(c.data, !zoomed);
    showLatest(k);
  }
  function appendState(k, t, s) {
    const st = states.get(k);
    if (!st || (st.t.length && t <= st.t[st.t.length - 1])) return;
    st.t.push(t); st.s.push(s);
    lastT = Math.max(lastT, t);
    drawTimeline(k);
  }
  const this_ = {
    title: id,
    render() {
      view.replaceChildren(el("p", { class: "back" }, el("a", { href: "#/" }, "← All devices")), body);
      subscribe([id]).catch(() => {});
      if (socket.connected) load().catch(showError);
      resizeObs = new ResizeObserver(() => { for (const c of charts.values()) c.plot.setSize({ width: chartWidth(), height: c.plot.height }); });
      resizeObs.observe(view);
    },
    close() {
      resizeObs?.disconnect();
      for (const c of charts.values()) c.plot.destroy();
      unsubscribe([id]).catch(() => {});
    },
    // After a reconnect, fetch what arrived while away and append it, so the
    // charts continue without a hole; append drops what is already there.
    async reconnected() {
      if (!live || !lastT || !charts.size) return load().catch(showError);
      const keys = [...charts.keys(), ...states.keys()];
      const h = await request("history", { device: id, metrics: keys, from: lastT + 1, to: Date.now() + 1000, points: 100000 }).catch(() => null);
      if (!h) return load().catch(showError);
      for (const k of keys) {
        const s = h.series[k];
        if (!s) continue;
        if (states.has(k)) s.t.forEach((t, i) => appendState(k, t, s.s?.[i]));
        else s.t.forEach((t, i) => append(k, t, s.avg?.[i]));
      }
    },
    reading(r) {
      if (r.d !== id || !live) return;
      if (held) { held.push(r); return; }
      if (!chartsBox) return;
      // A metric seen for the first time gets its chart or timeline now;
      // its history is this one reading.
      if (typeof r.v === "number") {
        if (!charts.has(r.k)) {
          chartsBox.querySelector(".empty")?.remove();
          chartsBox.append(chartFor(r.k, r.u || devices.get(id)?.units?.[r.k], { t: [], avg: [], min: [], max: [] }));
        }
        append(r.k, r.t, r.v);
      } else if (r.s !== undefined) {
        if (!states.has(r.k)) {
          statesBox.hidden = false;
          statesBox.append(timeline(r.k, { t: [], s: [] }));
        }
        appendState(r.k, r.t, r.s);
      }
    },
    presence(p) {
      if (p.device !== id) return;
      const b = $("#dev-online");
      if (b) { b.className = `badge ${p.online ? "on" : "off"}`; b.textContent = p.online ? "● online" : "○ offline"; b.dataset.online = String(p.online); }
      $("#dev-since")?.replaceChildren(ago(p.t, "since "));
    },
    device(d) {
      if (d.id !== id || !cmdBox === !d.commands?.length) return;
      const next = commands(devices.get(id));
      if (cmdBox && next) cmdBox.replaceWith(next);
      else if (next) body.querySelector(".toolbar")?.after(next);
      else cmdBox?.remove();
      cmdBox = next;
    },
  };
  return this_;
}

// ---- events view -------------------------------------------------------------------

// Event kinds of docs/protocol.md, with their category and label.
const KIND = {
  "alert.raised": ["alert", "⚠ alert"],
  "alert.cleared": ["alert_cleared", "✓ alert cleared"], "alert.acked": ["alert_cleared", "✓ alert acknowledged"],
  "alert.rule_set": ["alert_rule", "✎ rule set"], "alert.rule_deleted": ["alert_rule", "✕ rule deleted"],
  "command.sent": ["command", "▶ command sent"], "command.result": ["command", "↩ command result"],
  online: ["online", "● online"], offline: ["offline", "○ offline"],
};
const kindOf = (k) => KIND[k] || [String(k).split(".")[0], k];

function eventsView() {
  let kind = "all";
  const list = el("ol", { class: "events", id: "events", "aria-live": "polite", "aria-relevant": "additions" });
  const picker = el("select", { "aria-label": "Show events", onchange: (e) => { kind = e.target.value; filterRows(); } },
    el("option", { value: "all" }, "All events"),
    el("option", { value: "alert" }, "Alerts"),
    el("option", { value: "presence" }, "Online / offline"),
    el("option", { value: "command" }, "Commands"));
  const match = (k) => kind === "all" || (kind === "alert" && k.startsWith("alert")) ||
    (kind === "presence" && (k === "online" || k === "offline")) || k === kind;
  function filterRows() {
    for (const li of list.querySelectorAll("li[data-kind]")) li.hidden = !match(li.dataset.kind);
  }
  const row = (e) => { const [k, label] = kindOf(e.kind); return el("li", { class: `ev ${k}`, "data-kind": k, hidden: !match(k) },
    el("span", { class: "kind" }, label),
    e.device ? el("a", { class: "dev", href: `#/device/${encodeURIComponent(e.device)}` }, devices.get(e.device)?.name || e.device)
      : el("span", { class: "dev muted" }, "–"),
    el("span", { class: "text" }, e.text || ""),
    el("time", { datetime: new Date(e.t).toISOString(), title: fmtTime(e.t) }, fmtTime(e.t))); };
  // Active alerts, each with an Acknowledge button until someone has.
  const active = el("ul", { class: "active-alerts", id: "active-alerts", "aria-live": "polite" });
  const activeRow = (a) => el("li", { class: "ev alert", "data-rule": a.rule, "data-device": a.device },
    el("span", { class: "kind" }, "Alert"),
    el("a", { class: "dev", href: `#/device/${encodeURIComponent(a.device)}` }, devices.get(a.device)?.name || a.device),
    el("span", { class: "text" }, `${a.rule}: ${a.text}`),
    el("time", { datetime: new Date(a.since).toISOString(), title: fmtTime(a.since) }, `since ${fmtTime(a.since)}`),
    a.ackedBy ? el("span", { class: "acked" }, `acknowledged by ${a.ackedBy}`)
      : el("button", { type: "button", onclick: async (ev) => {
        ev.target.disabled = true;
        try { await request("ack_alert", { rule: a.rule, device: a.device }); await loadActive(); }
        catch (e) { showError(e); ev.target.disabled = false; }
      } }, "Acknowledge"));
  async function loadActive() {
    const res = await request("alerts");
    active.replaceChildren(...(res.active.length ? res.active.map(activeRow) : [el("li", { class: "empty" }, "No active alerts.")]));
  }
  const rules = alertRules();
  async function load() {
    const now = Date.now();
    const res = await request("events", { from: now - 7 * 86400e3, to: now + 1000, limit: 200 });
    list.replaceChildren(...(res.events.length ? res.events.map(row) : [el("li", { class: "empty" }, "No events in the last 7 days.")]));
    await Promise.all([loadActive(), rules.load()]);
  }
  return {
    title: "Events",
    render() {
      view.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "Events"), picker),
        el("h2", {}, "Active alerts"), active, el("h2", { id: "rules-title" }, "Rules"), rules.box, el("h2", {}, "History"), list);
      subscribe([], { alerts: true, fleet: true }).catch(() => {});
      if (socket.connected) load().catch(showError);
    },
    close() { unsubscribe([], { alerts: true, fleet: true }).catch(() => {}); },
    reconnected() { load().catch(showError); },
    alertRules: rules.draw,
    session: rules.redraw,
    event(e) {
      list.querySelector(".empty")?.remove();
      list.prepend(row(e));
      if (e.kind.startsWith("alert")) loadActive().catch(() => {});
    },
  };
}

// ---- alert rules ---------------------------------------------------------------------

// describeRule says in words what a rule (docs/protocol.md "Alert rules")
// watches.
function describeRule(r) {
  const held = r.for && r.for !== "0s" ? ` for ${r.for}` : "";
  const on = r.device && r.device !== "*" ? ` on ${devices.get(r.device)?.name || r.device}` : " on every device";
  if (r.kind === "above" || r.kind === "below") {
    // toFixed drops float noise (0.3 - 0.1 is 0.19999999999999998).
    const clears = r.kind === "above" ? `below ${+(r.threshold - r.hysteresis).toFixed(6)}` : `above ${+(r.threshold + r.hysteresis).toFixed(6)}`;
    return `${r.metric} ${r.kind} ${r.threshold}${held}${on}${r.hysteresis ? `, clears ${clears}` : ""}`;
  }
  return `${r.kind === "nodata" ? "no data" : r.kind}${held}${on}`;
}

// alertRules is the Rules section of the events view: the rules in force,
// the configuration's marked read-only, and for operators a form that adds
// or replaces a runtime rule and a Delete button per runtime rule.
function alertRules() {
  let shown = [];
  const list = el("ul", { class: "rules", id: "alert-rules", "aria-live": "polite" });
  const status = el("output", { id: "rule-result", role: "status", "aria-live": "polite" });
  const say = (state, text) => { status.dataset.state = state; status.textContent = text; };
  const input = (name, attrs = {}) => el("input", { name, autocomplete: "off", ...attrs });
  const f = {
    name: input("name", { required: true, maxlength: 256 }),
    device: input("device", { placeholder: "* (every device)" }),
    kind: el("select", { name: "kind", onchange: () => showKind() },
      el("option", { value: "above" }, "above a threshold"), el("option", { value: "below" }, "below a threshold"),
      el("option", { value: "offline" }, "offline"), el("option", { value: "nodata" }, "no data")),
    metric: input("metric"),
    threshold: input("threshold", { type: "number", step: "any", value: "0" }),
    hysteresis: input("hysteresis", { type: "number", step: "any", min: "0", value: "0" }),
    for: input("for", { placeholder: "30s, 5m, 1h" }),
  };
  // A hint is the field's description, not part of its name.
  const field = (label, ctl, hint) => {
    ctl.id = `rule-${ctl.name}`;
    if (hint) ctl.setAttribute("aria-describedby", `${ctl.id}-hint`);
    return el("div", { class: "field" }, el("label", { for: ctl.id }, label), ctl,
      hint ? el("small", { id: `${ctl.id}-hint` }, hint) : null);
  };
  const thresholdOnly = [field("Metric", f.metric), field("Threshold", f.threshold), field("Hysteresis", f.hysteresis, "how far back to clear")];
  const thresholdKind = () => f.kind.value === "above" || f.kind.value === "below";
  function showKind() {
    for (const fl of thresholdOnly) fl.hidden = !thresholdKind();
    f.metric.required = thresholdKind();
  }
  const save = el("button", { type: "submit", class: "primary" }, "Save rule");
  const form = el("form", { class: "rule-form", "aria-labelledby": "rule-form-title", onsubmit: async (ev) => {
    ev.preventDefault();
    const rule = { name: f.name.value.trim(), device: f.device.value.trim(), kind: f.kind.value, for: f.for.value.trim() };
    if (thresholdKind()) {
      rule.metric = f.metric.value.trim();
      rule.threshold = Number(f.threshold.value);
      rule.hysteresis = Number(f.hysteresis.value || 0);
    }
    save.disabled = true;
    say("pending", `Saving rule ${rule.name}…`);
    try {
      // The list comes back by itself: the alerts room gets it pushed.
      await request("put_alert_rule", { rule });
      say("done", `Rule ${rule.name} saved.`);
    } catch (e) {
      say("failed", `Rule ${rule.name} not saved: ${e.message || e.code}`);
    } finally {
      save.disabled = false;
    }
  } },
  el("h3", { id: "rule-form-title" }, "Add or replace a rule"),
  field("Name", f.name, "an existing runtime rule of this name is replaced"), field("Device", f.device), field("Kind", f.kind),
  thresholdOnly, field("For", f.for, "how long before it raises"),
  el("div", { class: "actions" }, save), status);
  showKind();
  // Edit copies a runtime rule into the form, to change and save again.
  function edit(r) {
    for (const k of ["name", "device", "metric", "threshold", "hysteresis"]) f[k].value = r[k] ?? "";
    f.kind.value = r.kind;
    f.for.value = r.for === "0s" ? "" : r.for;
    showKind();
    f.name.focus();
  }
  async function remove(r, btn) {
    btn.disabled = true;
    say("pending", `Deleting rule ${r.name}…`);
    try {
      await request("delete_alert_rule", { name: r.name });
      say("done", `Rule ${r.name} deleted.`);
    } catch (e) {
      say("failed", `Rule ${r.name} not deleted: ${e.message || e.code}`);
      btn.disabled = false;
    }
  }
  const operator = () => role === "operator";
  const row = (r) => el("li", { "data-rule": r.name, "data-source": r.source },
    el("b", { class: "rule-name" }, r.name),
    el("span", { class: "text" }, describeRule(r)),
    r.source === "config"
      ? el("span", { class: "badge ro", title: "Change it in the configuration file, then reload the gateway" }, "config · read-only")
      : el("span", { class: "by" }, "set", r.updatedBy ? ` by ${r.updatedBy}` : "", " ", ago(r.updated)),
    r.source === "runtime" && operator() ? el("span", { class: "rule-actions" },
      el("button", { type: "button", "aria-label": `Edit rule ${r.name}`, onclick: () => edit(r) }, "Edit"),
      el("button", { type: "button", "data-delete": r.name, "aria-label": `Delete rule ${r.name}`,
        onclick: (ev) => remove(r, ev.currentTarget) }, "Delete")) : null);
  function draw(rules) {
    shown = rules;
    list.replaceChildren(...(rules.length ? rules.map(row) : [el("li", { class: "empty" }, "No alert rules.")]));
    form.hidden = !operator();
  }
  async function load() { draw((await request("alert_rules")).rules); }
  return { box: el("section", { class: "rules-box", "aria-labelledby": "rules-title" }, list, form), load, draw, redraw: () => draw(shown) };
}

// ---- routing ------------------------------------------------------------------------

function showError(e) {
  const msg = e?.message || e?.code || String(e);
  view.querySelector(".error.flash")?.remove();
  const p = el("p", { class: "error flash", role: "alert" }, msg, " ",
    el("button", { type: "button", class: "linkish", "aria-label": "Dismiss", onclick: () => p.remove() }, "✕"));
  view.prepend(p);
}
function route() {
  current?.close?.();
  const hash = location.hash.slice(1) || "/";
  const m = hash.match(/^\/device\/(.+)$/);
  current = m ? deviceView(decodeURIComponent(m[1])) : hash === "/events" ? eventsView() : fleetView();
  document.title = `${current.title} · gatewayd`;
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const here = m ? a.dataset.nav === "fleet" : (a.dataset.nav === "events") === (hash === "/events");
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  current.render();
}
window.addEventListener("hashchange", () => { route(); view.focus({ preventScroll: true }); });
// Charts draw on canvas with colours read from CSS; redraw on a theme switch.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { if (!app.hidden) route(); });
route();
socket.connect();
