// Package browsertest drives the embedded dashboard in headless Chromium
// against a real gateway (SQLite store, embedded MQTT broker, Socket.IO) and
// asserts what a person sees. It holds tests only; they skip when Chromium
// (/usr/bin/chromium) or the built dashboard is missing, unless
// GATEWAYD_STRICT is set, and write docs/screenshots/*.png when
// GATEWAYD_SCREENSHOTS is set.
package browsertest
