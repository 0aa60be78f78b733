// Scenario 13: connectTimeout is 2 s: an Engine.IO connection that never
// connects to a namespace is closed by the server after about 2 s, while one
// that does stays open.
"use strict";
const { scenario } = require("../lib");

scenario("connect-timeout", {}, async (t) => {
  t.step("open a manager without any namespace");
  const m = t.manager();
  const opened = t.waitFor(m, "open");
  const closed = t.waitFor(m, "close", 6000);
  const started = Date.now();
  m.open();
  await opened;
  const openedAt = Date.now();
  const [reason] = await closed;
  const after = Date.now() - openedAt;
  t.ok("server closed the idle connection", reason === "transport close" || reason === "transport error", `got ${JSON.stringify(reason)}`);
  t.ok("after about connectTimeout (1.5 s to 4 s)", after >= 1500 && after <= 4000, `closed ${after} ms after open (${Date.now() - started} ms after start)`);

  t.step("a connected namespace keeps the connection past 2 s");
  const s = t.socket("/");
  await t.connected(s);
  await t.sleep(2500);
  t.ok("still connected after 2.5 s", s.connected);
  t.eq("echo after 2.5 s", await t.ack(s, "echo", "late"), ["late"]);
});
