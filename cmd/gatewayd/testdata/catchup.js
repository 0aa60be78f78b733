// A dashboard for the catch-up test: the official socket.io-client (from
// the interop test's node_modules) subscribes to one device, reports on
// stdout what it sees, and exits when told on stdin or after 60 s.
//
// Usage: node catchup.js <url> <device>
// stdout lines: "connected <recovered>", "reading <offset> <value>",
// "disconnected <reason>".
"use strict";
const path = require("node:path");
const { io } = require(path.join(__dirname, "../../../sio/testdata/interop/node_modules/socket.io-client"));

const [url, device] = process.argv.slice(2);
const socket = io(url, {
  transports: ["websocket"],
  reconnectionDelay: 200,
  reconnectionDelayMax: 1000,
});
socket.on("connect", () => {
  console.log(`connected ${socket.recovered}`);
  if (!socket.recovered) socket.emit("subscribe", { devices: [device] }, () => console.log("subscribed"));
});
socket.on("disconnect", (reason) => console.log(`disconnected ${reason}`));
socket.on("reading", (r) => console.log(`reading ${r.o} ${r.v}`));
socket.on("gap", (g) => console.log(`gap ${JSON.stringify(g)}`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(3), 60000);
