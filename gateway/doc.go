// Package gateway wires the parts of gatewayd together: readings from
// devices go to the store and, at once, to the Socket.IO room of their
// device; dashboards subscribe, query history, catch up and send commands
// over the protocol written down in docs/protocol.md. It also serves the
// REST mirrors, authentication, alerts, metrics and health.
package gateway
