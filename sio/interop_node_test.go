package sio_test

import (
	"net/http/httptest"
	"testing"
)

// TestInteropNodeClient runs every interop scenario with the official Node.js
// socket.io-client against our server running the interop test app.
func TestInteropNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("interop scenarios take about a minute; skipped with -short")
	}
	node := requireInterop(t)
	srv := newInteropApp(t)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	runInteropScenarios(t, node, ts.URL)
}
