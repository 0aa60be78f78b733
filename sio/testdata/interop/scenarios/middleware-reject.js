// Scenario 2: the "/" middleware rejects auth.token "bad" with data {code: 401}.
"use strict";
const { scenario } = require("../lib");

scenario("middleware-reject", {}, async (t) => {
  t.step("connect with a bad token");
  const s = t.socket("/", { auth: { token: "bad" } });
  let connects = 0;
  s.on("connect", () => connects++);
  const errP = t.waitFor(s, "connect_error");
  s.connect();
  const [err] = await errP;
  t.ok("connect_error carries an Error", err instanceof Error, `got ${err}`);
  t.eq("err.message", err.message, "unauthorized");
  t.eq("err.data", err.data, { code: 401 });
  t.ok("socket is not connected", !s.connected);
  t.ok("socket.active is false (no retry after a middleware error)", s.active === false);
  await t.sleep(300);
  t.eq("no connect event afterwards", connects, 0);

  t.step("a good token still connects");
  const ok = t.socket("/", { auth: { token: "fine" } });
  await t.connected(ok);
  t.ok("good token connects", ok.connected);
});
