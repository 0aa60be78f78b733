// Shared helpers for the scenario scripts in scenarios/. Each script is run as
//   node scenarios/<name>.js <server-url> [websocket|polling|upgrade]
// prints one line per check ("ok - …" or "not ok - …"), a final PASS/FAIL
// line, and exits 0 only when every check passed. A global timeout makes
// every script stop on its own.
"use strict";

const { io, Manager } = require("socket.io-client");
const { isDeepStrictEqual, inspect } = require("node:util");

const TRANSPORTS = ["websocket", "polling", "upgrade"];

// CheckFailure is a failed check or wait; printed tells whether its
// "not ok" line was already written.
class CheckFailure extends Error {
  constructor(message, printed = false) {
    super(message);
    this.printed = printed;
  }
}

// transportOptions maps a transport mode to socket.io-client options.
function transportOptions(mode) {
  switch (mode) {
    case "websocket":
      return { transports: ["websocket"] };
    case "polling":
      return { transports: ["polling"], upgrade: false };
    case "upgrade":
      return { transports: ["polling", "websocket"], upgrade: true };
    default:
      throw new Error(`unknown transport mode ${JSON.stringify(mode)}`);
  }
}

// normalize turns every binary value (Buffer, Uint8Array, ArrayBuffer) into
// {$bin: "<hex>"} so payloads compare the same whichever binary type the
// client decoded into, while a binary that arrived as anything else does not.
function normalize(v) {
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = normalize(v[k]);
    return out;
  }
  return v;
}

function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function show(v) {
  const s = inspect(v, { depth: 6, breakLength: Infinity, maxStringLength: 120, maxArrayLength: 20 });
  return s.length > 400 ? s.slice(0, 400) + "…" : s;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// scenario runs body(t) with a test context and exits the process with the
// outcome. opts.transports lists the modes the scenario supports.
function scenario(name, opts, body) {
  const url = process.argv[2];
  const mode = process.argv[3] || "upgrade";
  const timeoutMs = Number(process.env.INTEROP_TIMEOUT_MS || opts.timeoutMs || 15000);
  const supported = opts.transports || TRANSPORTS;
  if (!url || !/^https?:\/\//.test(url)) {
    console.error(`usage: node ${process.argv[1]} <server-url> [${supported.join("|")}]`);
    process.exit(2);
  }
  if (!supported.includes(mode)) {
    console.error(`${name}: transport ${JSON.stringify(mode)} not supported (use ${supported.join(", ")})`);
    process.exit(2);
  }
  const base = url.replace(/\/+$/, "");
  const sockets = [];
  let checks = 0;
  let step = "start";
  let finished = false;

  const finish = (code, line) => {
    if (finished) return;
    finished = true;
    for (const s of sockets) {
      try {
        s.disconnect();
      } catch {}
    }
    console.log(line);
    process.exit(code);
  };

  const t = {
    url: base,
    mode,
    // step names the phase a timeout will be reported against.
    step(s) {
      step = s;
      console.log(`# ${s}`);
    },
    ok(what, cond, detail) {
      if (!cond) {
        console.log(`not ok - ${what}${detail !== undefined ? ": " + detail : ""}`);
        throw new CheckFailure(what, true);
      }
      checks++;
      console.log(`ok - ${what}`);
    },
    eq(what, actual, expected) {
      t.ok(what, isDeepStrictEqual(normalize(actual), normalize(expected)), `got ${show(actual)}, want ${show(expected)}`);
    },
    // options returns client options for the chosen transport mode; reconnection
    // is off unless the scenario turns it on, so a broken server fails fast.
    options(extra = {}) {
      return { forceNew: true, reconnection: false, timeout: 5000, ...transportOptions(mode), ...extra };
    },
    // socket creates a socket for nsp (autoConnect off: listeners can be
    // attached before calling socket.connect()).
    socket(nsp = "/", extra = {}) {
      const s = io(base + nsp, t.options({ autoConnect: false, ...extra }));
      return t.track(s);
    },
    manager(extra = {}) {
      const m = new Manager(base, t.options({ autoConnect: false, ...extra }));
      return m;
    },
    // track registers s for cleanup and logs its disconnects, so a failure
    // caused by e.g. a missed heartbeat shows up in the output.
    track(s) {
      sockets.push(s);
      s.on("disconnect", (reason) => {
        if (!finished) console.log(`# socket on ${s.nsp} disconnected: ${reason}`);
      });
      return s;
    },
    // waitFor resolves with the arguments of the next `event` on emitter.
    waitFor(emitter, event, ms = 5000) {
      const p = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          emitter.off(event, handler);
          reject(new CheckFailure(`timed out after ${ms} ms waiting for "${event}"`));
        }, ms);
        const handler = (...args) => {
          clearTimeout(timer);
          resolve(args);
        };
        emitter.once(event, handler);
      });
      // Scenarios often start waiting before the action that triggers the
      // event; if a check fails in between, this rejection must not crash
      // the process as unhandled.
      p.catch(() => {});
      return p;
    },
    // connected connects s and resolves once "connect" fired; a
    // connect_error fails the check.
    connected(s, ms = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new CheckFailure(`timed out after ${ms} ms waiting for "connect" on ${s.nsp}`));
        }, ms);
        const onConnect = () => {
          cleanup();
          resolve();
        };
        const onError = (err) => {
          cleanup();
          reject(new CheckFailure(`connect_error on ${s.nsp}: ${err && err.message}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          s.off("connect", onConnect);
          s.off("connect_error", onError);
        };
        s.on("connect", onConnect);
        s.on("connect_error", onError);
        if (!s.connected && !s.active) s.connect();
      });
    },
    // ack emits event with args and resolves with the ack's arguments.
    ack(s, event, ...args) {
      return t.ackWithin(5000, s, event, ...args);
    },
    ackWithin(ms, s, event, ...args) {
      return new Promise((resolve, reject) => {
        s.timeout(ms).emit(event, ...args, (err, ...res) => {
          if (err) reject(new CheckFailure(`no ack for "${event}" within ${ms} ms`));
          else resolve(res);
        });
      });
    },
    // until polls cond every 20 ms and resolves true once it holds, or false
    // after ms.
    async until(cond, ms = 3000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (cond()) return true;
        await sleep(20);
      }
      return cond();
    },
    // upgraded waits, in upgrade mode, until the engine has switched to
    // WebSocket, and checks that it did.
    async upgraded(s) {
      if (mode !== "upgrade") return;
      const done = await t.until(() => s.io.engine && s.io.engine.transport && s.io.engine.transport.name === "websocket", 3000);
      t.ok("transport upgraded to websocket", done, `transport is ${s.io.engine && s.io.engine.transport && s.io.engine.transport.name}`);
    },
    sleep,
    isBinary,
  };

  const timer = setTimeout(() => {
    finish(1, `FAIL ${name} [${mode}]: overall timeout of ${timeoutMs} ms during step "${step}"`);
  }, timeoutMs);
  timer.unref();

  console.log(`# scenario ${name} [${mode}] against ${base}`);
  Promise.resolve()
    .then(() => body(t))
    .then(
      () => finish(0, `PASS ${name} [${mode}]: ${checks} checks`),
      (err) => {
        if (!(err instanceof CheckFailure)) console.log(`not ok - unexpected error: ${err && err.stack ? err.stack : err}`);
        else if (!err.printed) console.log(`not ok - ${err.message}`);
        finish(1, `FAIL ${name} [${mode}] in step "${step}": ${err && err.message}`);
      },
    );
}

module.exports = { scenario, normalize, isBinary, sleep, TRANSPORTS };
