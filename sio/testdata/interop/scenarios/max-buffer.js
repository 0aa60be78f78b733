// Scenario 11: maxHttpBufferSize is 1e6: a 10 KB payload works, a 1 MiB one
// makes the server close the connection.
"use strict";
const { scenario } = require("../lib");

scenario("max-buffer", {}, async (t) => {
  const s = t.socket("/");
  await t.connected(s);

  t.step("10 KB payload");
  const small = "s".repeat(10 * 1024);
  const [back] = await t.ack(s, "echo", small);
  t.ok("10 KB echoed", back === small, `length ${back && back.length}`);

  t.step("1 MiB payload");
  const d = t.waitFor(s, "disconnect", 5000);
  let acked = false;
  s.emit("echo", "b".repeat(1048576), () => (acked = true));
  const [reason] = await d;
  t.ok("connection closed: transport close/error", reason === "transport close" || reason === "transport error", `got ${JSON.stringify(reason)}`);
  t.ok("the oversized emit was never acked", !acked);

  t.step("a new connection still works");
  const s2 = t.socket("/");
  await t.connected(s2);
  const [back2] = await t.ack(s2, "echo", small);
  t.ok("10 KB echoed on a new connection", back2 === small);
});
