// Package sio is a Socket.IO v5 server (over Engine.IO v4) that speaks to
// the official JavaScript socket.io-client.
//
// Start with three doors:
//
//   - Server: NewServer(opts) is an http.Handler to mount at "/socket.io/";
//     Of, OfRegexp and OfFunc give namespaces; Close and Shutdown end it.
//   - Namespace: Use adds connection middleware, OnConnection receives each
//     Socket, and To/Except/Emit broadcast through a Broadcast value.
//   - Socket: On and Event handle incoming events and acks, Emit and
//     EmitWithAck send, Join/Leave manage rooms, Disconnect ends it.
//
// Rooms live in an Adapter (in memory by default). A broadcast is encoded
// once and the same bytes are queued on every recipient's connection. Each
// connection has a bounded send queue (Options.MaxQueuedBytes): a socket
// that cannot keep up is disconnected with ReasonSlowClient rather than
// slowing the others, and volatile packets are simply dropped for it.
//
// The examples are the best documentation of the API.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. The handlers of one
// client (connection middleware, connection handlers, event middleware,
// event handlers) run one at a time, in arrival order, on a goroutine of
// that client's connection; acknowledgements from the client are processed
// apart, so a handler may block in EmitWithAck. Disconnect handlers run in
// the goroutine that caused the disconnect.
//
// # Lock order
//
// A goroutine holding more than one lock takes them in this order, and
// never holds any while calling application handlers or a session's Send
// or Close:
//
//	Server.mu → Namespace.mu → conn.mu → Socket.mu → Adapter (internal)
//
// In practice only two pairs nest: Server.mu → Namespace.mu (creating a
// dynamic child namespace) and Socket.mu → Adapter (Socket.Join, so that a
// join cannot race with the socket leaving all its rooms on disconnect).
package sio
