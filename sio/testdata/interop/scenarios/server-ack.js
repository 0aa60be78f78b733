// Scenario 4: server→client ack. `server-ask` makes the server emit `ask` with
// an ack; the answer comes back as the ack of `server-ask`.
"use strict";
const { scenario } = require("../lib");

scenario("server-ack", {}, async (t) => {
  const s = t.socket("/");
  await t.connected(s);

  t.step("client answers ask");
  let asked = null;
  s.on("ask", (q, cb) => {
    asked = q;
    if (typeof cb === "function") cb({ answer: 42, q, text: "réponse ✓" });
  });
  const [answer] = await t.ack(s, "server-ask");
  t.eq("ask carried 'question'", asked, "question");
  t.eq("server-ask acked with the client's answer", answer, { answer: 42, q: "question", text: "réponse ✓" });

  t.step("client never answers ask");
  s.off("ask");
  let askedAgain = false;
  s.on("ask", (q, cb) => {
    askedAgain = typeof cb === "function";
  });
  const [timeout] = await t.ackWithin(4000, s, "server-ask");
  t.ok("ask arrived with an ack callback", askedAgain);
  t.eq("server-ask acked with the timeout error", timeout, { error: "timeout" });
});
