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
// # Connection state recovery
//
// With Options.Recovery set, the server implements socket.io's connection
// state recovery: the CONNECT reply carries a private session id ("pid"),
// and every event sent without ack and not volatile (broadcast or
// Socket.Emit) is first appended to a SessionStore and carries its offset
// as a last string argument. When a socket is lost involuntarily
// (transport close or error, ping timeout, forced close, server shutdown,
// slow client), its id, rooms and Data are saved; a client reconnecting
// within RecoveryOptions.MaxDisconnectionDuration with its pid and last
// offset gets the same socket, the CONNECT reply, then every packet it
// missed, and Socket.Recovered reports true. A client that comes back
// while the server still holds its old connection (a ping timeout not yet
// due, a close still in progress) proves with its pid that the old one is
// dead: that connection is closed, its session saved, then restored.
// Otherwise the client gets a new
// session and Socket.RecoveryFailure says why. The store is in memory by
// default; a durable one (see SessionStore) makes recovery survive a
// restart, and Broadcast.Offset lets the application use its own event
// numbers as offsets.
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
// never holds any while calling application handlers, nor any but
// Server.recMu while calling a session's Send or Close (which never call
// back into sio on the caller's goroutine):
//
//	Server.recMu → Server.mu → Namespace.mu → conn.mu → Socket.mu → Adapter (internal)
//
// Server.recMu, used only with recovery on, is held while a packet is
// appended to the SessionStore and fanned out, and while a session is
// restored; store calls and sends happen under it, handlers never do.
// Otherwise only two pairs nest: Server.mu → Namespace.mu (creating a
// dynamic child namespace) and Socket.mu → Adapter (Socket.Join, so that a
// join cannot race with the socket leaving all its rooms on disconnect).
package sio
