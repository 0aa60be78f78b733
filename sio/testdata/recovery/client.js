// Connection state recovery client for the Go tests: the official
// socket.io-client connects, reports on stdout (one JSON object a line) and
// reconnects by itself when the server cuts it off. It exits once it has
// received n "burst" events.
//
// Usage: node client.js URL TRANSPORT N
"use strict";

const { io } = require("socket.io-client");

const [url, transport, n] = process.argv.slice(2);
const want = Number(n);
const report = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const socket = io(url, {
  transports: [transport],
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
});

const bursts = [];
socket.on("connect", () => report({ event: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => report({ event: "disconnect", reason }));
socket.on("connect_error", (err) => report({ event: "connect_error", message: err.message }));
socket.on("hello", () => {
  report({ event: "hello", id: socket.id });
  socket.emit("got-hello");
});
socket.on("burst", (i, offset) => {
  if (typeof offset !== "string") report({ event: "error", message: "burst without offset" });
  bursts.push(i);
  if (bursts.length === want) {
    report({ event: "done", id: socket.id, recovered: socket.recovered, bursts });
    socket.disconnect();
    process.exit(0);
  }
});
setTimeout(() => {
  report({ event: "timeout", bursts });
  process.exit(1);
}, 20000).unref();
