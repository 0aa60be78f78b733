// A Node.js socket.io server with connection state recovery on, for the Go
// client's recovery tests. It uses the socket.io package installed for the
// interop tests (sio/testdata/interop).
//
// Usage: node recovery-server.js   Prints {"port":N} once listening on
// 127.0.0.1 and exits when stdin closes.
"use strict";

const path = require("node:path");
const http = require("node:http");
const { Server } = require(path.join(__dirname, "../../testdata/interop/node_modules/socket.io"));

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: 300,
  pingTimeout: 200,
  connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true },
});

io.on("connection", (socket) => {
  socket.emit("hello", { recovered: socket.recovered, id: socket.id });
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack("joined");
  });
  // Cut the transport under the client, then, once the server has seen the
  // socket go, broadcast n events to the room while the client is away.
  socket.on("drop-and-burst", (room, n) => {
    socket.once("disconnect", () => {
      for (let i = 0; i < n; i++) io.to(room).emit("burst", i);
    });
    socket.conn.close();
  });
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
