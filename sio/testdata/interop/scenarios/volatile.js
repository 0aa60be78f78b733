// Scenario 7: volatile emits may be dropped but never duplicated or reordered.
"use strict";
const { scenario } = require("../lib");

scenario("volatile", {}, async (t) => {
  const s = t.socket("/");
  await t.connected(s);
  await t.upgraded(s);

  const got = [];
  let ackSeen = false;
  let afterAck = 0;
  s.on("v", (i) => {
    got.push(i);
    if (ackSeen) afterAck++;
  });
  t.step("volatile n=50");
  const [n] = await t.ack(s, "volatile", 50);
  ackSeen = true;
  t.eq("ack carries n", n, 50);
  await t.sleep(200);
  console.log(`# received ${got.length} of 50 volatile packets`);
  t.ok("at most 50 received", got.length <= 50, `got ${got.length}`);
  t.ok("all are integers in [0,50)", got.every((i) => Number.isInteger(i) && i >= 0 && i < 50), JSON.stringify(got));
  t.ok("strictly increasing (in order, no duplicates)", got.every((v, i) => i === 0 || v > got[i - 1]), JSON.stringify(got));
  t.eq("none arrived after the ack", afterAck, 0);
  if (t.mode === "websocket") t.ok("some arrived over websocket", got.length > 0);

  t.step("connection still usable");
  t.eq("echo after volatile burst", await t.ack(s, "echo", "ok"), ["ok"]);
});
