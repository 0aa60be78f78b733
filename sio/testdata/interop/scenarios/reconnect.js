// Scenario 10: the server drops the Engine.IO connection; the client
// reconnects on its own and works again.
"use strict";
const { scenario } = require("../lib");

scenario("reconnect", {}, async (t) => {
  const s = t.socket("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, auth: { token: "again" } });
  const welcomes = [];
  s.on("welcome", (w) => welcomes.push(w));
  await t.connected(s);
  await t.until(() => welcomes.length === 1);
  const firstId = s.id;
  t.eq("first welcome", welcomes[0], { id: firstId, auth: { token: "again" }, nsp: "/" });
  await t.upgraded(s);

  t.step("drop-me");
  const d = t.waitFor(s, "disconnect");
  const reconnected = t.waitFor(s.io, "reconnect", 5000);
  s.emit("drop-me");
  const [reason] = await d;
  t.ok("disconnect reason is transport close/error", reason === "transport close" || reason === "transport error", `got ${JSON.stringify(reason)}`);
  t.ok("socket stays active (will reconnect)", s.active === true);

  t.step("automatic reconnection");
  const [attempt] = await reconnected;
  t.ok("manager reports a reconnect attempt", Number.isInteger(attempt) && attempt >= 1, `got ${attempt}`);
  t.ok("socket connected again", await t.until(() => s.connected));
  t.ok("second welcome arrives", await t.until(() => welcomes.length === 2), `welcomes: ${welcomes.length}`);
  t.eq("second welcome", welcomes[1], { id: s.id, auth: { token: "again" }, nsp: "/" });
  t.ok("new session id after reconnection", s.id !== firstId, `same id ${s.id}`);
  t.eq("echo works again", await t.ack(s, "echo", "again", 2), ["again", 2]);
  s.disconnect();

  t.step("a multiplexed manager reconnects every namespace");
  const m = t.manager({ reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300 });
  const main = t.track(m.socket("/"));
  const cust = t.track(m.socket("/custom", { auth: { ns: "c" } }));
  const cw = [];
  cust.on("welcome", (w) => cw.push(w));
  main.connect();
  cust.connect();
  await Promise.all([t.connected(main), t.connected(cust)]);
  await t.until(() => cw.length === 1);
  const oldCustId = cust.id;
  const dm = t.waitFor(main, "disconnect");
  const dc = t.waitFor(cust, "disconnect");
  main.emit("drop-me");
  const [[rm], [rc]] = await Promise.all([dm, dc]);
  t.ok("/ lost the transport", rm === "transport close" || rm === "transport error", `got ${rm}`);
  t.ok("/custom lost the transport too", rc === "transport close" || rc === "transport error", `got ${rc}`);
  t.ok("both reconnect", await t.until(() => main.connected && cust.connected, 5000), `main ${main.connected} custom ${cust.connected}`);
  t.ok("/custom welcomed again", await t.until(() => cw.length === 2), `welcomes ${cw.length}`);
  t.eq("/custom second welcome", cw[1], { id: cust.id, auth: { ns: "c" }, nsp: "/custom" });
  t.ok("/custom has a new id", cust.id !== oldCustId);
  const [e1, e2] = await Promise.all([t.ack(main, "echo", "m"), t.ack(cust, "echo", "c")]);
  t.eq("/ echo after reconnect", e1, ["m"]);
  t.eq("/custom echo after reconnect", e2, ["c"]);
});
