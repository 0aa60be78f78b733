// Command fakegatewayd stands in for gatewayd in make check-systemd-fake: it
// accepts the flags the unit passes, checks the sandbox from the inside,
// then sends READY=1 and feeds the watchdog like the real daemon will, so
// the unit can be tested under a real systemd before gatewayd speaks
// sd_notify. Standard library only, so it builds anywhere.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("gatewayd", flag.ExitOnError)
	config := fs.String("config", "", "configuration file")
	dataDir := fs.String("data-dir", "", "data directory")
	fs.String("listen", ":8080", "ignored")
	_ = fs.Parse(os.Args[1:])

	if err := sandboxed(*config, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "fakegatewayd:", err)
		os.Exit(1)
	}
	notify("READY=1\nSTATUS=sandbox ok")

	// Feed the watchdog at half its interval, as the real main loop does.
	tick := time.Hour
	if us, err := strconv.Atoi(os.Getenv("WATCHDOG_USEC")); err == nil && us > 0 {
		tick = time.Duration(us) * time.Microsecond / 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	t := time.NewTicker(tick)
	for {
		select {
		case <-t.C:
			notify("WATCHDOG=1")
		case <-sig:
			notify("STOPPING=1")
			return
		}
	}
}

// sandboxed checks what the unit promises: the config is readable, the
// data directory writable, and /usr and /etc read-only.
func sandboxed(config, dataDir string) error {
	if _, err := os.ReadFile(config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "probe"), []byte("ok"), 0o640); err != nil {
		return fmt.Errorf("data dir not writable: %w", err)
	}
	for _, p := range []string{"/usr/bin/gatewayd-probe", "/etc/gatewayd/probe"} {
		if err := os.WriteFile(p, nil, 0o600); err == nil {
			os.Remove(p)
			return fmt.Errorf("%s is writable; ProtectSystem=strict is not in force", p)
		}
	}
	return nil
}

func notify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegatewayd: notify:", err)
		return
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		fmt.Fprintln(os.Stderr, "fakegatewayd: notify:", err)
	}
}
