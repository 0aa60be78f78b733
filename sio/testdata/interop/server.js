// Reference implementation of the interop test app (see README.md) on the
// official Node.js socket.io server. The Go interop tests run the scenario
// scripts against it to keep them honest; our Go server must behave the same.
//
// Usage: node server.js [port]   (port 0 or absent = random; env PORT also works)
// Prints {"port":N} as one JSON line on stdout once listening, and exits when
// its stdin closes, so a parent process can never leak it.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.js: bad port ${JSON.stringify(process.argv[2] ?? process.env.PORT)}`);
  process.exit(2);
}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  path: "/socket.io/",
  pingInterval: 400,
  pingTimeout: 1000,
  maxHttpBufferSize: 1e6,
  connectTimeout: 2000,
  cors: { origin: "*" },
  transports: ["polling", "websocket"],
});

// splitAck splits an event's arguments from its trailing ack callback (a
// no-op when the client sent none, so a missing ack never throws).
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, () => {}];
}

io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  if (auth.token === "bad") {
    const err = new Error("unauthorized");
    err.data = { code: 401 };
    return next(err);
  }
  next();
});

io.on("connection", (socket) => {
  socket.emit("welcome", { id: socket.id, auth: socket.handshake.auth || {}, nsp: "/" });

  socket.on("echo", (...raw) => {
    const [args, ack] = splitAck(raw);
    ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack("joined");
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    if (typeof ack === "function") ack("left");
  });
  socket.on("to-room", (room, event, payload) => {
    io.to(room).emit(event, payload);
  });
  socket.on("to-others", (room, event, payload) => {
    socket.to(room).emit(event, payload);
  });
  socket.on("volatile", (n, ack) => {
    for (let i = 0; i < n; i++) socket.volatile.emit("v", i);
    if (typeof ack === "function") ack(n);
  });
  socket.on("server-ask", (ack) => {
    socket.timeout(2000).emit("ask", "question", (err, answer) => {
      if (typeof ack !== "function") return;
      ack(err ? { error: "timeout" } : answer);
    });
  });
  socket.on("get-binary", (ack) => {
    socket.emit("bin", { data: Buffer.from([1, 2, 3]), list: [Buffer.from([4, 5]), "x"] });
    if (typeof ack === "function") ack("sent");
  });
  socket.on("disconnect-me", () => {
    socket.disconnect();
  });
  socket.on("drop-me", () => {
    // Closes the Engine.IO connection itself: no Socket.IO DISCONNECT packet.
    socket.conn.close();
  });
  socket.on("rooms", (ack) => {
    if (typeof ack === "function") ack([...socket.rooms].sort());
  });
});

io.of("/custom").on("connection", (socket) => {
  socket.emit("welcome", { id: socket.id, auth: socket.handshake.auth || {}, nsp: "/custom" });
  socket.on("echo", (...raw) => {
    const [args, ack] = splitAck(raw);
    ack(...args);
  });
});

io.of(/^\/dyn-[0-9]+$/).on("connection", (socket) => {
  socket.emit("welcome", { nsp: socket.nsp.name });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

function shutdown() {
  io.close();
  httpServer.close();
  // Open keep-alive or long-polling requests must not keep us alive.
  setTimeout(() => process.exit(0), 200).unref();
}
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.stdin.on("error", shutdown);
process.stdin.resume();
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
