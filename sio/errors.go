package sio

import (
	"encoding/json"
	"errors"
)

// Errors returned by emits, acks and broadcasts.
var (
	// ErrDisconnected means the socket is no longer connected, or was
	// disconnected while an ack was awaited.
	ErrDisconnected = errors.New("sio: socket disconnected")
	// ErrAckTimeout means an ack did not arrive within the timeout set with
	// Timeout.
	ErrAckTimeout = errors.New("sio: ack timeout")
	// ErrSlowClient means a send went over Options.MaxQueuedBytes; the
	// connection is being closed with ReasonSlowClient.
	ErrSlowClient = errors.New("sio: slow client: send queue full")
	// ErrReservedEvent means an emit used a name the protocol reserves
	// ("connect", "connect_error", "disconnect", "disconnecting",
	// "newListener", "removeListener").
	ErrReservedEvent = errors.New("sio: reserved event name")
	// ErrNoAck means Event.Ack was called on an event the client sent
	// without asking for an acknowledgement.
	ErrNoAck = errors.New("sio: the client asked for no ack")
	// ErrAckSent means Event.Ack was called a second time.
	ErrAckSent = errors.New("sio: ack already sent")
	// ErrNoNamespace means a zero Broadcast or Emitter was used; get them
	// from a Namespace or a Socket.
	ErrNoNamespace = errors.New("sio: zero Broadcast or Emitter")
)

// ConnectError refuses a namespace connection from a middleware with a
// message and optional data; the client receives them in its
// "connect_error" event (err.message, err.data). A middleware may return any
// error: its Error() text becomes the message and the data is absent.
type ConnectError struct {
	Message string
	// Data is marshaled as JSON into the CONNECT_ERROR packet; nil omits it.
	Data any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// connectErrorPayload builds the CONNECT_ERROR payload for err.
func connectErrorPayload(err error) json.RawMessage {
	var payload struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	payload.Message = err.Error()
	var ce *ConnectError
	if errors.As(err, &ce) {
		payload.Message = ce.Message
		payload.Data = ce.Data
	}
	b, mErr := json.Marshal(payload)
	if mErr != nil {
		// Data that cannot be marshaled must not lose the refusal itself.
		payload.Data = nil
		b, _ = json.Marshal(payload)
	}
	return b
}

// Reason says why a socket was disconnected; the values are socket.io's
// wording, so logs and clients read the same strings.
type Reason = string

// Disconnect reasons passed to OnDisconnecting and OnDisconnect handlers.
const (
	// ReasonServerNamespaceDisconnect: Socket.Disconnect was called.
	ReasonServerNamespaceDisconnect Reason = "server namespace disconnect"
	// ReasonClientNamespaceDisconnect: the client left the namespace.
	ReasonClientNamespaceDisconnect Reason = "client namespace disconnect"
	// ReasonTransportClose: the client closed the connection.
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: the connection failed.
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: the client did not answer a ping in time.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonParseError: the client sent something the protocol forbids.
	ReasonParseError Reason = "parse error"
	// ReasonServerShutdown: the Server is closing.
	ReasonServerShutdown Reason = "server shutting down"
	// ReasonForcedClose: the Engine.IO connection was closed from the server
	// side without DISCONNECT packets (Socket.CloseTransport).
	ReasonForcedClose Reason = "forced close"
	// ReasonForcedServerClose: the connection was closed by Disconnect(true)
	// or for joining no namespace within ConnectTimeout.
	ReasonForcedServerClose Reason = "forced server close"
	// ReasonSlowClient: the connection's send queue went over
	// Options.MaxQueuedBytes.
	ReasonSlowClient Reason = "slow client"
)
