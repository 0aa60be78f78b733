// Scenario 6: rooms and broadcast with three clients; two join the room.
"use strict";
const crypto = require("node:crypto");
const { scenario } = require("../lib");

// collect records every `event` a socket gets.
function collect(s, event) {
  const got = [];
  s.on(event, (p) => got.push(p));
  return got;
}

scenario("rooms", {}, async (t) => {
  // A unique room name keeps parallel runs against one server apart.
  const room = "r-" + crypto.randomBytes(4).toString("hex");
  const a = t.socket("/");
  const b = t.socket("/");
  const c = t.socket("/");
  await Promise.all([t.connected(a), t.connected(b), t.connected(c)]);

  const hello = { a: collect(a, "hello"), b: collect(b, "hello"), c: collect(c, "hello") };
  const other = { a: collect(a, "other"), b: collect(b, "other"), c: collect(c, "other") };
  const after = { a: collect(a, "after"), b: collect(b, "after"), c: collect(c, "after") };

  t.step("join");
  t.eq("a joins", await t.ack(a, "join", room), ["joined"]);
  t.eq("b joins", await t.ack(b, "join", room), ["joined"]);
  const [roomsA] = await t.ack(a, "rooms");
  t.eq("a's rooms", roomsA, [a.id, room].sort());
  const [roomsC] = await t.ack(c, "rooms");
  t.eq("c's rooms", roomsC, [c.id]);

  t.step("to-room");
  a.emit("to-room", room, "hello", { from: "a", n: 1 });
  t.ok("a (sender, member) gets hello", await t.until(() => hello.a.length > 0), "nothing");
  t.ok("b (member) gets hello", await t.until(() => hello.b.length > 0), "nothing");
  await t.sleep(250);
  t.eq("a got exactly one hello", hello.a, [{ from: "a", n: 1 }]);
  t.eq("b got exactly one hello", hello.b, [{ from: "a", n: 1 }]);
  t.eq("c (not a member) got no hello", hello.c, []);

  t.step("to-room from a non-member");
  c.emit("to-room", room, "hello", { from: "c" });
  t.ok("members get a non-member's broadcast", await t.until(() => hello.a.length === 2 && hello.b.length === 2));
  await t.sleep(150);
  t.eq("c still got none", hello.c, []);

  t.step("to-others");
  a.emit("to-others", room, "other", ["x", { y: 2 }]);
  t.ok("b (other member) gets other", await t.until(() => other.b.length > 0), "nothing");
  await t.sleep(250);
  t.eq("b got it once", other.b, [["x", { y: 2 }]]);
  t.eq("a (sender) got none", other.a, []);
  t.eq("c (not a member) got none", other.c, []);

  t.step("leave");
  t.eq("b leaves", await t.ack(b, "leave", room), ["left"]);
  const [roomsB] = await t.ack(b, "rooms");
  t.eq("b's rooms after leaving", roomsB, [b.id]);
  a.emit("to-room", room, "after", 3);
  t.ok("a still gets the room broadcast", await t.until(() => after.a.length > 0), "nothing");
  await t.sleep(250);
  t.eq("a got it once", after.a, [3]);
  t.eq("b (left) got none", after.b, []);
  t.eq("c got none", after.c, []);

  t.step("a member's disconnect leaves the room");
  a.disconnect();
  await t.ack(b, "join", room);
  c.emit("to-room", room, "hello", { from: "c", n: 2 });
  t.ok("b gets the broadcast", await t.until(() => hello.b.length === 3));
  await t.sleep(150);
  t.eq("disconnected a got nothing more", hello.a.length, 2);
});
