// Scenario 3: emit with ack; the server acks with every argument it got.
"use strict";
const { scenario } = require("../lib");

scenario("echo-ack", {}, async (t) => {
  const s = t.socket("/");
  await t.connected(s);

  t.step("echo of many JSON arguments");
  const args = [
    "hello",
    42,
    -7,
    3.14159,
    1e21,
    0,
    true,
    false,
    null,
    "",
    "ünïcödé ✓ 日本語 🚀 \u2028 \"quoted\" \\ back\nslash",
    { nested: { a: [1, 2, { b: "c" }], empty: {}, list: [] }, "key with spaces": "v", "ключ": "значение" },
    [1, "two", { three: 3 }, [4, [5]]],
  ];
  const res = await t.ack(s, "echo", ...args);
  t.eq("ack carries all arguments back", res, args);

  t.step("echo with no arguments");
  const none = await t.ack(s, "echo");
  t.eq("ack with no arguments", none, []);

  t.step("single argument");
  const one = await s.emitWithAck("echo", { x: 1 });
  t.eq("emitWithAck resolves with the first argument", one, { x: 1 });

  t.step("20 concurrent acks are matched to their emits");
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.ack(s, "echo", i, `s${i}`)));
  t.eq("each ack matches its emit", results, Array.from({ length: 20 }, (_, i) => [i, `s${i}`]));

  t.step("a 10 KB string");
  const big = "x".repeat(10 * 1024) + "é";
  const [bigBack] = await t.ack(s, "echo", big);
  t.ok("10 KB string echoed intact", bigBack === big, `length ${bigBack && bigBack.length}`);
});
