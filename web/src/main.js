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
// The view being shown; each has render() and optional reading()/close().
let current = null;

// The session token lives in an HttpOnly cookie set by /api/login, so page
// scripts never see it; the websocket and polling requests carry it.
const socket = io({ path: "/socket.io/", withCredentials: true, autoConnect: false });

// ---- connection state -------------------------------------------------------

let attempt = 0;
function showConn(state, text) {
  connEl.dataset.state = state;
  connEl.textContent = text;
}
socket.on("connect", async () => {
  attempt = 0;
  showConn("up", "connected");
  await resubscribe();
  current?.reconnected?.();
});
socket.on("disconnect", (reason) => {
  showConn("down", reason === "io client disconnect" ? "offline" : "reconnecting…");
});
socket.io.on("reconnect_attempt", (n) => {
  attempt = n;
  showConn("down", `reconnecting (attempt ${n})…`);
});
socket.io.on("reconnect_failed", () => showConn("down", "offline"));
socket.on("connect_error", (err) => {
  if (err.message === "unauthorized") {
    showConn("down", "signed out");
    showLogin();
    return;
  }
  showConn("down", attempt ? `reconnecting (attempt ${attempt})…` : "cannot reach the gateway");
});

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

// Subscriptions survive reconnects: the set is replayed on every connect.
const subscribed = new Set();
async function subscribe(ids) {
  ids.forEach((id) => subscribed.add(id));
  if (socket.connected) await request("subscribe", { devices: ids });
}
async function unsubscribe(ids) {
  ids.forEach((id) => subscribed.delete(id));
  if (socket.connected) await request("unsubscribe", { devices: ids });
}
async function resubscribe() {
  if (subscribed.size) await request("subscribe", { devices: [...subscribed] }).catch(() => {});
}

// ---- pushes --------------------------------------------------------------------

socket.on("reading", (r) => {
  const d = devices.get(r.d);
  if (d) {
    d.latest = d.latest || {};
    d.latest[r.k] = { t: r.t, v: r.v, s: r.s, u: r.u };
    d.lastSeen = Math.max(d.lastSeen || 0, r.t);
  }
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
socket.on("device", (d) => {
  const old = devices.get(d.id);
  devices.set(d.id, { ...old, ...d });
  current?.device?.(d);
});
socket.on("event", (e) => current?.event?.(e));

// ---- login ------------------------------------------------------------------------

const loginDlg = $("#login");
function showLogin() {
  if (!loginDlg.open) loginDlg.showModal();
  $("#password").focus();
}
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const res = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: $("#password").value }),
  });
  if (!res.ok) {
    $("#login-error").textContent = res.status === 401 ? "Wrong password." : `Login failed (${res.status}).`;
    return;
  }
  $("#login-error").textContent = "";
  $("#password").value = "";
  loginDlg.close();
  $("#logout").hidden = false;
  socket.connect();
});
$("#logout").addEventListener("click", async () => {
  await fetch("/api/logout", { method: "POST" });
  socket.disconnect();
  showLogin();
});

// ---- formatting --------------------------------------------------------------

function fmtValue(v) {
  if (!v) return "–";
  if (v.s !== undefined && v.s !== null) return v.s;
  const n = Math.abs(v.v) >= 100 ? v.v.toFixed(0) : Math.abs(v.v) >= 10 ? v.v.toFixed(1) : v.v.toFixed(2);
  return v.u ? `${n} ${v.u}` : n;
}
function fmtAgo(t) {
  if (!t) return "never";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined) e.append(k.nodeType ? k : String(k));
  return e;
}
function sparkline(points) {
  const w = 160, h = 36;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  if (points.length < 2) return svg;
  const ts = points.map((p) => p[0]), vs = points.map((p) => p[1]);
  const t0 = Math.min(...ts), t1 = Math.max(...ts), v0 = Math.min(...vs), v1 = Math.max(...vs);
  const x = (t) => ((t - t0) / (t1 - t0 || 1)) * w;
  const y = (v) => h - 2 - ((v - v0) / (v1 - v0 || 1)) * (h - 4);
  const pl = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  pl.setAttribute("points", points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  svg.append(pl);
  return svg;
}

// ---- fleet view -------------------------------------------------------------------

function fleetView() {
  let filter = "", sort = "name";
  const spark = new Map(); // device → [[t, v]] of its first numeric metric, last hour
  const grid = el("div", { class: "grid", id: "fleet" });
  const search = el("input", { type: "search", placeholder: "Filter devices", "aria-label": "Filter devices",
    oninput: (e) => { filter = e.target.value.toLowerCase(); draw(); } });
  const sorter = el("select", { "aria-label": "Sort devices", onchange: (e) => { sort = e.target.value; draw(); } },
    el("option", { value: "name" }, "Sort by name"),
    el("option", { value: "online" }, "Offline first"),
    el("option", { value: "seen" }, "Recently seen"));

  function card(d) {
    const keys = Object.keys(d.latest || {}).sort().slice(0, 4);
    return el("a", { class: "card", href: `#/device/${encodeURIComponent(d.id)}`, "data-device": d.id },
      el("div", { class: "card-head" },
        el("span", { class: "name" }, d.name || d.id),
        el("span", { class: `badge ${d.online ? "on" : "off"}`, "data-online": String(!!d.online) },
          d.online ? "online" : "offline")),
      el("div", { class: "since" }, `${d.online ? "online" : "offline"} since ${fmtAgo(d.since)}`),
      el("dl", { class: "values" }, keys.map((k) => [el("dt", {}, k), el("dd", { "data-key": k }, fmtValue(d.latest[k]))])),
      sparkline(spark.get(d.id) || []),
      d.alerts ? el("span", { class: "badge alert" }, `${d.alerts} alert${d.alerts > 1 ? "s" : ""}`) : null);
  }
  function draw() {
    let list = [...devices.values()].filter((d) =>
      !filter || (d.name || "").toLowerCase().includes(filter) || d.id.toLowerCase().includes(filter));
    list.sort((a, b) => sort === "online" ? (a.online - b.online) || a.id.localeCompare(b.id)
      : sort === "seen" ? (b.lastSeen || 0) - (a.lastSeen || 0)
      : (a.name || a.id).localeCompare(b.name || b.id));
    grid.replaceChildren(...(list.length ? list.map(card) : [el("p", { class: "empty" }, "No devices yet. Point an MQTT device at this gateway (see docs/devices.md).")]));
  }
  async function load() {
    const res = await request("fleet");
    devices.clear();
    for (const d of res.devices) devices.set(d.id, d);
    draw();
    const now = Date.now();
    await Promise.all(res.devices.map(async (d) => {
      const key = Object.keys(d.latest || {}).find((k) => typeof d.latest[k].v === "number");
      if (!key) return;
      const h = await request("history", { device: d.id, metrics: [key], from: now - 3600e3, to: now, points: 60 }).catch(() => null);
      const s = h?.series?.[key];
      if (s) spark.set(d.id, s.t.map((t, i) => [t, s.avg[i]]));
    }));
    draw();
  }
  let pending = false;
  const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } };
  return {
    title: "Devices",
    render() {
      view.replaceChildren(el("div", { class: "toolbar" }, search, sorter), grid);
      subscribe(["*"]).catch(() => {});
      if (socket.connected) load().catch(showError);
    },
    reconnected() { load().catch(showError); },
    reading(r) {
      const s = spark.get(r.d);
      if (s && typeof r.v === "number") s.push([r.t, r.v]);
      redraw();
    },
    presence: redraw,
    device: redraw,
  };
}

// ---- device view -------------------------------------------------------------------

const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };

function deviceView(id) {
  let range = "1h";
  let from = 0, to = 0, live = true;
  const charts = new Map(); // metric → {plot, data}
  const states = new Map(); // state key → list element
  let lastT = 0;
  const body = el("div", { class: "device" });

  function numericKeys(d) {
    return Object.keys({ ...(d.units || {}), ...(d.latest || {}) })
      .filter((k) => !d.latest?.[k] || typeof d.latest[k].v === "number").sort();
  }
  function stateKeys(d) {
    return Object.keys(d.latest || {}).filter((k) => d.latest[k].s !== undefined && d.latest[k].s !== null).sort();
  }
  function chartFor(key, unit, series) {
    const data = [series.t.map((t) => t / 1000), series.avg, series.min, series.max];
    const box = el("figure", { class: "chart", "data-metric": key },
      el("figcaption", {}, unit ? `${key} (${unit})` : key));
    const width = Math.min(view.clientWidth - 32, 900);
    const plot = new uPlot({
      width, height: 200,
      series: [{}, { label: key, stroke: "var(--accent)", width: 2 },
        { label: "min", stroke: "var(--muted)", dash: [4, 4] },
        { label: "max", stroke: "var(--muted)", dash: [4, 4] }],
      axes: [{ stroke: "var(--fg)" }, { stroke: "var(--fg)" }],
      cursor: { drag: { x: true, y: false } },
    }, data, box);
    charts.set(key, { plot, data });
    return box;
  }
  async function load() {
    const d = devices.get(id) || (await request("fleet")).devices.find((x) => x.id === id);
    if (!d) { body.replaceChildren(el("p", { class: "error" }, `Unknown device ${id}.`)); return; }
    devices.set(id, d);
    if (live) { to = Date.now(); from = to - RANGES[range]; }
    const keys = numericKeys(d), skeys = stateKeys(d);
    const h = await request("history", { device: id, metrics: [...keys, ...skeys], from, to, points: 500 });
    charts.clear();
    states.clear();
    lastT = 0;
    const chartEls = keys.map((k) => {
      const s = h.series[k] || { t: [], avg: [], min: [], max: [] };
      if (s.t.length) lastT = Math.max(lastT, s.t[s.t.length - 1]);
      return chartFor(k, d.units?.[k], s);
    });
    const stateEls = skeys.map((k) => {
      const s = h.series[k] || { t: [], s: [] };
      const list = el("ol", { class: "timeline", "data-state": k },
        s.t.map((t, i) => el("li", {}, el("time", {}, new Date(t).toLocaleString()), " ", s.s[i])).reverse());
      states.set(k, list);
      return el("section", {}, el("h3", {}, k), list);
    });
    body.replaceChildren(header(d), controls(), commands(d), ...chartEls, ...stateEls, meta(d));
  }
  function header(d) {
    return el("div", { class: "device-head" },
      el("h1", {}, d.name || d.id),
      el("span", { class: `badge ${d.online ? "on" : "off"}`, id: "dev-online", "data-online": String(!!d.online) }, d.online ? "online" : "offline"),
      el("span", { class: "since" }, `since ${fmtAgo(d.since)}`));
  }
  function controls() {
    const btns = Object.keys(RANGES).map((r) =>
      el("button", { class: r === range && live ? "on" : "", "aria-pressed": String(r === range && live),
        onclick: () => { range = r; live = true; load().catch(showError); } }, r));
    const f = el("input", { type: "datetime-local", "aria-label": "From" });
    const t = el("input", { type: "datetime-local", "aria-label": "To" });
    const apply = el("button", { onclick: () => {
      if (!f.value || !t.value) return;
      from = new Date(f.value).getTime(); to = new Date(t.value).getTime(); live = false;
      load().catch(showError);
    } }, "Show");
    const csv = el("a", { class: "button", href: `/api/devices/${encodeURIComponent(id)}/export.csv?from=${Math.round(from)}&to=${Math.round(to)}`, download: `${id}.csv` }, "Export CSV");
    return el("div", { class: "toolbar" }, el("span", { role: "group", "aria-label": "Range" }, btns), f, t, apply, csv);
  }
  function commands(d) {
    if (!d.commands?.length) return null;
    const out = el("output", { id: "cmd-result", "aria-live": "polite" });
    const send = async (name, args) => {
      out.textContent = `${name} ${JSON.stringify(args)}…`;
      try {
        await request("command", { device: id, name, args }, 15000);
        out.textContent = `${name} ${JSON.stringify(args)}: done`;
      } catch (e) {
        out.textContent = `${name}: ${e.message || e.code}`;
      }
    };
    return el("section", { class: "commands" }, el("h2", {}, "Commands"),
      d.commands.map((c) => el("span", { class: "cmd" }, el("b", {}, c),
        ["ON", "OFF", "TOGGLE"].map((a) => el("button", { "data-command": c, "data-arg": a, onclick: () => send(c, a) }, a)))),
      out);
  }
  function meta(d) {
    const rows = [["id", d.id], ["source", d.source], ["model", d.model], ["firmware", d.firmware], ["last seen", fmtAgo(d.lastSeen)]]
      .filter(([, v]) => v);
    return el("section", { class: "meta" }, el("h2", {}, "Device"),
      el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }
  return {
    title: id,
    render() {
      view.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← all devices")), body);
      subscribe([id]).catch(showError);
      if (socket.connected) load().catch(showError);
    },
    close() { unsubscribe([id]).catch(() => {}); },
    // After a reconnect, fetch what arrived while away and append it, so the
    // charts continue without a hole; readings are ordered by time per device.
    async reconnected() {
      if (!live || !lastT) return load().catch(showError);
      const keys = [...charts.keys()];
      const h = await request("history", { device: id, metrics: keys, from: lastT + 1, to: Date.now(), points: 100000 }).catch(() => null);
      if (!h) return;
      for (const k of keys) {
        const s = h.series[k];
        if (!s) continue;
        s.t.forEach((t, i) => append(k, t, s.avg[i]));
      }
    },
    reading(r) {
      if (r.d !== id) return;
      if (typeof r.v === "number") {
        if (!charts.has(r.k)) { load().catch(showError); return; }
        append(r.k, r.t, r.v);
      } else if (states.has(r.k)) {
        states.get(r.k).prepend(el("li", {}, el("time", {}, new Date(r.t).toLocaleString()), " ", r.s));
      }
    },
    presence(p) {
      if (p.device !== id) return;
      const b = $("#dev-online");
      if (b) { b.className = `badge ${p.online ? "on" : "off"}`; b.textContent = p.online ? "online" : "offline"; b.dataset.online = String(p.online); }
    },
  };
  function append(k, t, v) {
    if (!live) return;
    const c = charts.get(k);
    if (!c) return;
    const ts = t / 1000;
    const xs = c.data[0];
    if (xs.length && ts <= xs[xs.length - 1]) return; // already have it
    c.data[0].push(ts); c.data[1].push(v); c.data[2].push(v); c.data[3].push(v);
    lastT = Math.max(lastT, t);
    c.plot.setData(c.data);
  }
}

// ---- events view -------------------------------------------------------------------

function eventsView() {
  const list = el("ol", { class: "events", id: "events" });
  const row = (e) => el("li", { class: `ev ${e.kind}` }, el("time", {}, new Date(e.t).toLocaleString()), " ",
    el("b", {}, e.device), " ", el("span", { class: "kind" }, e.kind), " ", e.text || "");
  async function load() {
    const now = Date.now();
    const res = await request("events", { from: now - 7 * 86400e3, to: now, limit: 200 });
    list.replaceChildren(...(res.events.length ? res.events.map(row) : [el("li", { class: "empty" }, "No events in the last 7 days.")]));
  }
  return {
    title: "Events",
    render() { view.replaceChildren(el("h1", {}, "Events"), list); subscribe(["*"]).catch(() => {}); if (socket.connected) load().catch(showError); },
    reconnected() { load().catch(showError); },
    event(e) { list.querySelector(".empty")?.remove(); list.prepend(row(e)); },
  };
}

// ---- routing ------------------------------------------------------------------------

function showError(e) {
  const msg = e?.message || e?.code || String(e);
  view.prepend(el("p", { class: "error", role: "alert" }, msg));
}
function route() {
  current?.close?.();
  const hash = location.hash.slice(1) || "/";
  const m = hash.match(/^\/device\/(.+)$/);
  current = m ? deviceView(decodeURIComponent(m[1])) : hash === "/events" ? eventsView() : fleetView();
  document.title = `${current.title} · gatewayd`;
  document.querySelectorAll("[data-nav]").forEach((a) =>
    a.setAttribute("aria-current", String((a.dataset.nav === "events") === (hash === "/events") && !m)));
  current.render();
}
window.addEventListener("hashchange", route);
route();
socket.connect();
