// Scenario 12: handshake values and heartbeats. With pingInterval 400 ms and
// pingTimeout 1000 ms the connection must stay up for 2 s, and in upgrade mode
// the transport must really switch to WebSocket.
"use strict";
const { scenario } = require("../lib");

scenario("heartbeat", {}, async (t) => {
  const s = t.socket("/");
  s.connect();
  // socket.connect() opened the manager, so the engine exists now and its
  // handshake has not arrived yet.
  const engine = s.io.engine;
  t.ok("engine created", !!engine);
  const hsP = t.waitFor(engine, "handshake");
  await t.connected(s);
  const [hs] = await hsP;
  t.ok("handshake sid is a string", typeof hs.sid === "string" && hs.sid.length > 0);
  t.eq("pingInterval", hs.pingInterval, 400);
  t.eq("pingTimeout", hs.pingTimeout, 1000);
  t.eq("maxPayload", hs.maxPayload, 1000000);
  t.eq("upgrades", hs.upgrades, t.mode === "websocket" ? [] : ["websocket"]);
  await t.upgraded(s);

  t.step("stay connected 2 s");
  let pings = 0;
  let disconnects = 0;
  engine.on("ping", () => pings++);
  const onDisconnect = (r) => {
    disconnects++;
    console.log(`# unexpected disconnect: ${r}`);
  };
  s.on("disconnect", onDisconnect);
  const started = Date.now();
  await t.sleep(2000);
  s.off("disconnect", onDisconnect);
  t.eq("no disconnect in 2 s", disconnects, 0);
  t.ok("still connected", s.connected);
  // 300 ms apart ideally; with no ping timeout they were at most 500 ms apart.
  t.ok("at least 3 pings in 2 s", pings >= 3, `got ${pings} in ${Date.now() - started} ms`);
  t.eq("engine id unchanged", engine.id, hs.sid);
  const want = t.mode === "polling" ? "polling" : "websocket";
  t.eq("transport", s.io.engine.transport.name, want);
  t.eq("echo after 2 s", await t.ack(s, "echo", "alive"), ["alive"]);
});
