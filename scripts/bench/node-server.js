// Benchmark app on the official Node.js socket.io server, the reference the
// Go server's bench app is measured against. It uses the socket.io package
// installed for the interop tests (npm ci in sio/testdata/interop).
//
//   join    (room)            put the socket in room (one room per socket;
//                             a later join replaces it)
//   publish (payload)         broadcast "reading" with payload to the
//                             socket's room, excluding the sender
//   echo    (payload, ack)    ack(payload)
//
// Usage: node node-server.js [port]   (0 = random). Prints
// {"port":N,"pid":N} on stdout once listening; exits when stdin closes.
"use strict";

const http = require("node:http");
const path = require("node:path");
const { Server } = require(path.join(__dirname, "../../sio/testdata/interop/node_modules/socket.io"));

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`node-server.js: bad port ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}

const httpServer = http.createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });

io.on("connection", (socket) => {
  let room = null;
  socket.on("join", (name) => {
    if (typeof name !== "string") return;
    if (room !== null) socket.leave(room);
    room = name;
    socket.join(room);
  });
  socket.on("publish", (payload) => {
    if (room !== null) socket.to(room).emit("reading", payload);
  });
  socket.on("echo", (payload, ack) => {
    if (typeof ack === "function") ack(payload);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port, pid: process.pid }) + "\n");
});

function shutdown() {
  io.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
}
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.stdin.resume();
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
