// Scenario 5: binary both ways, nested in objects and arrays.
"use strict";
const crypto = require("node:crypto");
const { scenario } = require("../lib");

scenario("binary", {}, async (t) => {
  const s = t.socket("/");
  await t.connected(s);

  t.step("echo of nested binary");
  const random = crypto.randomBytes(64 * 1024);
  const payload = {
    file: Buffer.from([0, 1, 2, 254, 255]),
    meta: { name: "x", parts: [Uint8Array.from([9, 8, 7]), "s", { deep: Buffer.from("deep ✓") }] },
    empty: Buffer.alloc(0),
    big: random,
  };
  const res = await t.ack(s, "echo", payload, Buffer.from("top-level"), "text", [Buffer.from([42])]);
  t.eq("binary echo matches byte for byte", res, [payload, Buffer.from("top-level"), "text", [Buffer.from([42])]]);
  t.ok("file came back as binary", t.isBinary(res[0].file), `got ${typeof res[0].file}`);
  t.ok("nested part came back as binary", t.isBinary(res[0].meta.parts[0]));
  t.ok("empty buffer came back as binary", t.isBinary(res[0].empty));
  t.ok("top-level argument came back as binary", t.isBinary(res[1]));

  t.step("get-binary");
  const bin = t.waitFor(s, "bin");
  let binFirst = false;
  s.once("bin", () => (binFirst = true));
  const [sent] = await t.ack(s, "get-binary");
  t.ok("bin arrived before the ack", binFirst);
  const [b] = await bin;
  t.eq("ack is 'sent'", sent, "sent");
  t.ok("bin.data is binary", t.isBinary(b.data), `got ${typeof b.data}`);
  t.eq("bin.data is 1,2,3", b.data, Buffer.from([1, 2, 3]));
  t.ok("bin.list[0] is binary", t.isBinary(b.list[0]));
  t.eq("bin.list is [<4,5>, 'x']", b.list, [Buffer.from([4, 5]), "x"]);
  t.eq("bin has exactly data and list", Object.keys(b).sort(), ["data", "list"]);
});
