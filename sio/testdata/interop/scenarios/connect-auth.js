// Scenario 1: connecting with auth; `welcome` carries the auth and socket id.
"use strict";
const { scenario } = require("../lib");

scenario("connect-auth", {}, async (t) => {
  t.step("connect with auth");
  const auth = { token: "good", user: "ünïcødé ✓", n: 7, nested: { list: [1, "two", null] } };
  const s = t.socket("/", { auth });
  const welcome = t.waitFor(s, "welcome");
  await t.connected(s);
  t.ok("socket.connected is true", s.connected === true);
  t.ok("socket.id is a non-empty string", typeof s.id === "string" && s.id.length > 0, `got ${s.id}`);
  const [w] = await welcome;
  t.eq("welcome.id equals socket.id", w.id, s.id);
  t.eq("welcome.auth equals the auth sent", w.auth, auth);
  t.eq("welcome.nsp is /", w.nsp, "/");
  const [rooms] = await t.ack(s, "rooms");
  t.eq("rooms holds only the socket's own room", rooms, [s.id]);

  t.step("connect without auth");
  const s2 = t.socket("/");
  const welcome2 = t.waitFor(s2, "welcome");
  await t.connected(s2);
  const [w2] = await welcome2;
  t.eq("welcome.auth is {} without auth", w2.auth, {});
  t.eq("second welcome.id equals its socket.id", w2.id, s2.id);
  t.ok("two sockets get distinct ids", s.id !== s2.id, `both ${s.id}`);

  t.step("client disconnect");
  const reason = t.waitFor(s, "disconnect");
  s.disconnect();
  const [r] = await reason;
  t.eq("client-side disconnect reason", r, "io client disconnect");
  t.ok("second socket still connected", s2.connected);
  const [echo] = await t.ack(s2, "echo", "still here");
  t.eq("second socket still answers", echo, "still here");
});
