// Scenario 8: custom and dynamic namespaces, an unknown namespace, and
// multiplexing two namespaces over one manager (one Engine.IO connection).
"use strict";
const { scenario } = require("../lib");

scenario("namespaces", {}, async (t) => {
  t.step("/custom");
  const auth = { token: "bad", who: "custom" }; // "/" middleware must not apply here
  const custom = t.socket("/custom", { auth });
  const cw = t.waitFor(custom, "welcome");
  await t.connected(custom);
  const [w] = await cw;
  t.eq("custom welcome", w, { id: custom.id, auth, nsp: "/custom" });
  t.eq("custom echo", await t.ack(custom, "echo", "c", { n: [1] }), ["c", { n: [1] }]);
  const bin = await t.ack(custom, "echo", { b: Buffer.from([7, 8, 9]) }, [Buffer.from("é")]);
  t.eq("custom echo with binary (namespaced binary packets)", bin, [{ b: Buffer.from([7, 8, 9]) }, [Buffer.from("é")]]);
  t.ok("namespaced binary came back as binary", t.isBinary(bin[0].b));

  t.step("/dyn-42");
  const dyn = t.socket("/dyn-42");
  const dw = t.waitFor(dyn, "welcome");
  await t.connected(dyn);
  t.eq("dynamic welcome", (await dw)[0], { nsp: "/dyn-42" });

  t.step("/nope");
  const nope = t.socket("/nope");
  const errP = t.waitFor(nope, "connect_error");
  nope.connect();
  const [err] = await errP;
  t.eq("unknown namespace error", err && err.message, "Invalid namespace");
  t.ok("unknown namespace not connected", !nope.connected);

  t.step("/dyn-x does not match the dynamic pattern");
  const dynx = t.socket("/dyn-x");
  const errX = t.waitFor(dynx, "connect_error");
  dynx.connect();
  t.eq("non-matching dynamic name is unknown", (await errX)[0].message, "Invalid namespace");

  t.step("multiplexing / and /custom on one manager");
  const m = t.manager();
  const main = t.track(m.socket("/", { auth: { token: "m" } }));
  const cust = t.track(m.socket("/custom", { auth: { token: "c" } }));
  const mw = t.waitFor(main, "welcome");
  const cw2 = t.waitFor(cust, "welcome");
  main.connect();
  cust.connect();
  await Promise.all([t.connected(main), t.connected(cust)]);
  const [mwel] = await mw;
  const [cwel] = await cw2;
  t.eq("main welcome", mwel, { id: main.id, auth: { token: "m" }, nsp: "/" });
  t.eq("custom welcome", cwel, { id: cust.id, auth: { token: "c" }, nsp: "/custom" });
  t.ok("one engine for both", main.io === cust.io && main.io.engine === cust.io.engine);
  t.ok("namespace sockets have distinct ids", main.id !== cust.id);
  const [r1, r2] = await Promise.all([t.ack(main, "echo", "main"), t.ack(cust, "echo", "custom")]);
  t.eq("main echo", r1, ["main"]);
  t.eq("custom echo", r2, ["custom"]);

  t.step("a server-side disconnect of / keeps /custom on the shared connection");
  const m2 = t.manager();
  const main2 = t.track(m2.socket("/"));
  const cust2 = t.track(m2.socket("/custom"));
  main2.connect();
  cust2.connect();
  await Promise.all([t.connected(main2), t.connected(cust2)]);
  const engine2 = m2.engine;
  const gone = t.waitFor(main2, "disconnect");
  main2.emit("disconnect-me");
  t.eq("/ got io server disconnect", (await gone)[0], "io server disconnect");
  await t.sleep(100);
  t.ok("/custom still connected", cust2.connected);
  t.ok("same engine connection", m2.engine === engine2 && engine2.readyState === "open", `readyState ${engine2.readyState}`);
  t.eq("/custom echo after / was disconnected", await t.ack(cust2, "echo", "still"), ["still"]);
  cust2.disconnect();

  t.step("leaving one namespace keeps the other");
  cust.disconnect();
  await t.sleep(100);
  t.ok("main still connected", main.connected);
  t.eq("main echo after custom left", await t.ack(main, "echo", 1), [1]);
  t.step("a failed namespace on a shared manager does not break the others");
  const bad = t.track(m.socket("/nope"));
  const badErr = t.waitFor(bad, "connect_error");
  bad.connect();
  t.eq("multiplexed unknown namespace error", (await badErr)[0].message, "Invalid namespace");
  t.eq("main echo after the failed namespace", await t.ack(main, "echo", 2), [2]);
});
