package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time a process has used, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces: fields count from
	// after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("e2e: malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("e2e: short /proc stat")
	}
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11], f[12].
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("e2e: bad cpu times in /proc stat")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// memKB returns VmRSS and VmHWM (peak RSS) of a process in KiB.
func memKB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

// loadAvg returns the 1-minute load average of the machine (0 if unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// pinSelf restricts every thread of this process to CPU core, with taskset;
// it reports whether that worked. Threads started later inherit the mask.
func pinSelf(core int) bool {
	if runtime.NumCPU() < 2 {
		return false
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return false
	}
	return exec.Command(ts, "-a", "-p", "-c", strconv.Itoa(core), strconv.Itoa(os.Getpid())).Run() == nil
}

// gatewayProc is a gatewayd process started by the benchmark.
type gatewayProc struct {
	cmd     *exec.Cmd
	httpURL string
	mqtt    string
	pinned  bool
	logPath string
	done    chan struct{}
	err     error
}

// startGateway starts bin on free loopback ports with an embedded broker,
// authentication, the system device and the per-device rate limit off, and
// waits until it answers /healthz and MQTT. It pins the process to core 0
// with taskset when possible. extra arguments are appended to the command line.
func startGateway(ctx context.Context, bin, dataDir string, extra []string, pin bool) (*gatewayProc, error) {
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	mqttAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	// An explicit, empty configuration file keeps a system-wide one out.
	cfgPath := filepath.Join(dataDir, "e2e.yaml")
	if err := os.WriteFile(cfgPath, []byte("# every setting comes from flags\n"), 0o600); err != nil {
		return nil, err
	}
	args := []string{
		"-config", cfgPath,
		"-listen", httpAddr,
		"-data-dir", dataDir,
		"-mqtt.mode", "embedded",
		"-mqtt.listen", mqttAddr,
		"-auth.enabled=false",
		"-system.enabled=false",
		"-mqtt.rate-limit", "-1",
		"-log-level", "warn",
	}
	args = append(args, extra...)
	name := bin
	g := &gatewayProc{httpURL: "http://" + httpAddr, mqtt: mqttAddr, done: make(chan struct{})}
	if pin && runtime.NumCPU() >= 2 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", "0", bin}, args...)
			name = ts
			g.pinned = true
		}
	}
	g.logPath = filepath.Join(dataDir, "gatewayd.log")
	logf, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	g.cmd = exec.Command(name, args...)
	g.cmd.Stdout = logf
	g.cmd.Stderr = logf
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("e2e: start gatewayd: %w", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		logf.Close()
		close(g.done)
	}()
	if err := waitReady(ctx, g.httpURL, g.mqtt, g.done); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, tail(g.logPath))
	}
	return g, nil
}

// pid returns the gateway's process id (taskset execs it in place).
func (g *gatewayProc) pid() int { return g.cmd.Process.Pid }

// stop asks the gateway to shut down (SIGINT), and kills it after 10 s.
func (g *gatewayProc) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// waitReady polls /healthz and an MQTT TCP connect until both answer, the
// process exits, or 30 s pass.
func waitReady(ctx context.Context, httpURL, mqttAddr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(httpURL + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", mqttAddr, time.Second); err == nil {
					c.Close()
					return nil
				}
			}
		}
		select {
		case <-exited:
			return errors.New("e2e: gatewayd exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("e2e: gatewayd not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// committedOffset reads gatewayd_store_committed_offset from /metrics.
func committedOffset(ctx context.Context, httpURL string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "gatewayd_store_committed_offset "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("e2e: bad committed offset %q", v)
			}
			return int64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("e2e: gatewayd_store_committed_offset not in /metrics")
}

// runqWait returns how long the threads of a process have waited on a run
// queue, runnable but not running (second field of
// /proc/<pid>/task/<tid>/schedstat, summed over the live threads). Its
// growth over a phase shows CPU contention, which CPU time cannot.
func runqWait(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		sum += n
	}
	return time.Duration(sum), nil
}
