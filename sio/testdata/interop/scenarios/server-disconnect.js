// Scenario 9: the server disconnects the socket; the client must not reconnect.
"use strict";
const { scenario } = require("../lib");

scenario("server-disconnect", {}, async (t) => {
  const s = t.socket("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  await t.connected(s);
  let connects = 0;
  s.on("connect", () => connects++);

  t.step("disconnect-me");
  const d = t.waitFor(s, "disconnect");
  s.emit("disconnect-me");
  const [reason] = await d;
  t.eq("disconnect reason", reason, "io server disconnect");
  t.ok("socket not connected", !s.connected);
  t.ok("socket not active (no automatic reconnection)", s.active === false);
  await t.sleep(800);
  t.eq("no reconnection within 800 ms", connects, 0);

  t.step("manual reconnect");
  await t.connected(s);
  t.eq("echo after manual reconnect", await t.ack(s, "echo", "back"), ["back"]);
});
