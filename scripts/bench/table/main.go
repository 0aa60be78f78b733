// Command table turns the JSON results of several load runs (load -json)
// into markdown tables with the median of each figure over the runs.
//
//	table go=run1-go.json,run2-go.json node=run1-node.json,run2-node.json
//	table -only overload go=long-go.json node=long-node.json
//
// Each argument is a server label and its result files; rows follow the
// argument order, so the servers of one point sit next to each other.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// result mirrors the fields of the load generator's JSON output that the
// tables show.
type result struct {
	Clients        int     `json:"clients"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectPerSec  float64 `json:"connects_per_second"`
	RSSBeforeKB    float64 `json:"rss_before_kb"`
	RSSAfterKB     float64 `json:"rss_after_kb"`
	RSSPerConnKB   float64 `json:"rss_per_conn_kb"`
	Rooms          int     `json:"rooms"`
	Subscribers    int     `json:"subscribers"`
	EchoClients    int     `json:"echo_clients"`
	EchoRate       float64 `json:"echo_per_second"`
	EchoP50ms      float64 `json:"echo_p50_ms"`
	EchoP99ms      float64 `json:"echo_p99_ms"`
	Points         []struct {
		Rate          float64 `json:"rate"`
		DeliveredRate float64 `json:"delivered_per_second"`
		LossPercent   float64 `json:"loss_percent"`
		P50ms         float64 `json:"p50_ms"`
		P99ms         float64 `json:"p99_ms"`
		CPUPercent    float64 `json:"server_cpu_percent"`
		RSSKB         float64 `json:"rss_kb"`
	} `json:"points"`
	Overload *struct {
		Slow          int     `json:"slow"`
		Fast          int     `json:"fast"`
		Rate          float64 `json:"rate"`
		PayloadBytes  int     `json:"payload_bytes"`
		Published     float64 `json:"published"`
		FastExpected  float64 `json:"fast_expected"`
		FastDelivered float64 `json:"fast_delivered"`
		RSSBeforeKB   float64 `json:"rss_before_kb"`
		RSSPeakKB     float64 `json:"rss_peak_kb"`
		RSSEndKB      float64 `json:"rss_end_kb"`
		SlowClosed    float64 `json:"slow_closed"`
		CPUPercent    float64 `json:"server_cpu_percent"`
	} `json:"overload"`
}

// server is one label and its runs.
type server struct {
	label string
	runs  []result
}

func main() {
	only := flag.String("only", "", "print only this table: connect, fanout, echo or overload (empty: all)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: table [-only TABLE] label=file.json[,file.json...] ...")
		os.Exit(2)
	}
	var servers []server
	for _, arg := range flag.Args() {
		label, files, ok := strings.Cut(arg, "=")
		if !ok || label == "" || files == "" {
			fmt.Fprintf(os.Stderr, "table: bad argument %q, want label=file,...\n", arg)
			os.Exit(2)
		}
		s := server{label: label}
		for f := range strings.SplitSeq(files, ",") {
			r, err := load(f)
			if err != nil {
				// A failed run is reported and left out rather than
				// sinking the whole table.
				fmt.Fprintf(os.Stderr, "table: %s: %v (run left out)\n", f, err)
				continue
			}
			s.runs = append(s.runs, r)
		}
		servers = append(servers, s)
	}
	write(os.Stdout, servers, *only)
}

func load(path string) (result, error) {
	var r result
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	// The JSON object is the last line; earlier lines are ignored.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("no JSON result: %w", err)
	}
	return r, nil
}

// median of the values f picks from the runs that have them (ok true).
func median(runs []result, f func(r result) (float64, bool)) (float64, int) {
	var v []float64
	for _, r := range runs {
		if x, ok := f(r); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2], n
	}
	return (v[n/2-1] + v[n/2]) / 2, n
}

// spread formats the median with the min–max of the runs.
func spread(runs []result, format string, f func(r result) (float64, bool)) string {
	m, n := median(runs, f)
	if n == 0 {
		return "–"
	}
	lo, hi := m, m
	for _, r := range runs {
		if x, ok := f(r); ok {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	if n == 1 || lo == hi {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", m, lo, hi)
}

func write(w io.Writer, servers []server, only string) {
	show := func(table string) bool { return only == "" || only == table }
	all := func(f func(r result) float64) func(r result) (float64, bool) {
		return func(r result) (float64, bool) { return f(r), true }
	}
	if show("connect") {
		writeConnect(w, servers, all)
	}
	if show("fanout") {
		writeFanout(w, servers)
	}
	if show("echo") {
		writeEcho(w, servers, all)
	}
	if show("overload") {
		writeOverload(w, servers)
	}
}

func writeConnect(w io.Writer, servers []server, all func(f func(r result) float64) func(r result) (float64, bool)) {
	fmt.Fprintln(w, "Connect:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | runs | clients | connect time (s) | connects/s | RSS before (MiB) | RSS after (MiB) | RSS per connection (KiB) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range servers {
		if len(s.runs) == 0 {
			fmt.Fprintf(w, "| %s | 0 | – | – | – | – | – | – |\n", s.label)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s | %s |\n", s.label, len(s.runs), s.runs[0].Clients,
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.ConnectSeconds })),
			spread(s.runs, "%.0f", all(func(r result) float64 { return r.ConnectPerSec })),
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.RSSBeforeKB / 1024 })),
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.RSSAfterKB / 1024 })),
			// The load generator's kB are KiB (the kernel's unit).
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.RSSPerConnKB })))
	}

}

func writeFanout(w io.Writer, servers []server) {
	var rates []float64
	for _, s := range servers {
		for _, r := range s.runs {
			for _, p := range r.Points {
				if !slices.Contains(rates, p.Rate) {
					rates = append(rates, p.Rate)
				}
			}
		}
	}
	slices.Sort(rates)
	if len(rates) > 0 {
		subs, rooms := 0, 0
		for _, s := range servers {
			if len(s.runs) > 0 {
				subs, rooms = s.runs[0].Subscribers, s.runs[0].Rooms
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Fan-out (%d subscribers in %d rooms, one publisher per room):\n\n", subs, rooms)
		fmt.Fprintln(w, "| publishes/s | offered deliveries/s | server | delivered msg/s | p50 (ms) | p99 (ms) | loss (%) | server CPU (% of a core) | delivered per server CPU-second |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, rate := range rates {
			for _, s := range servers {
				pick := func(f func(i int, r result) float64) func(r result) (float64, bool) {
					return func(r result) (float64, bool) {
						for i, p := range r.Points {
							if p.Rate == rate {
								return f(i, r), true
							}
						}
						return 0, false
					}
				}
				offered := rate
				if rooms > 0 {
					offered = rate * float64(subs) / float64(rooms)
				}
				fmt.Fprintf(w, "| %g | %.0f | %s | %s | %s | %s | %s | %s | %s |\n", rate, offered, s.label,
					spread(s.runs, "%.0f", pick(func(i int, r result) float64 { return r.Points[i].DeliveredRate })),
					spread(s.runs, "%.1f", pick(func(i int, r result) float64 { return r.Points[i].P50ms })),
					spread(s.runs, "%.1f", pick(func(i int, r result) float64 { return r.Points[i].P99ms })),
					spread(s.runs, "%.2f", pick(func(i int, r result) float64 { return r.Points[i].LossPercent })),
					spread(s.runs, "%.0f", pick(func(i int, r result) float64 { return r.Points[i].CPUPercent })),
					// Throughput per unit of CPU the server actually got:
					// the figure least disturbed by other processes on a
					// shared machine.
					spread(s.runs, "%.0f", pick(func(i int, r result) float64 {
						if r.Points[i].CPUPercent <= 0 {
							return 0
						}
						return r.Points[i].DeliveredRate / (r.Points[i].CPUPercent / 100)
					})))
			}
		}
	}

}

func writeEcho(w io.Writer, servers []server, all func(f func(r result) float64) func(r result) (float64, bool)) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Echo with ack (one round trip outstanding per client):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | clients | round trips/s | p50 (ms) | p99 (ms) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, s := range servers {
		if len(s.runs) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", s.label, s.runs[0].EchoClients,
			spread(s.runs, "%.0f", all(func(r result) float64 { return r.EchoRate })),
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.EchoP50ms })),
			spread(s.runs, "%.1f", all(func(r result) float64 { return r.EchoP99ms })))
	}

}

func writeOverload(w io.Writer, servers []server) {
	ov := func(f func(r result) float64) func(r result) (float64, bool) {
		return func(r result) (float64, bool) {
			if r.Overload == nil {
				return 0, false
			}
			return f(r), true
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Overload (stalled clients stop reading while one publisher keeps sending to them and to reading clients):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | stalled / reading clients | publishes/s × bytes | published | reading clients got (%) | RSS before (MiB) | RSS peak (MiB) | RSS end (MiB) | stalled clients closed by server | server CPU (%) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range servers {
		var o *struct {
			slow, fast, payload int
			rate                float64
		}
		for _, r := range s.runs {
			if r.Overload != nil {
				o = &struct {
					slow, fast, payload int
					rate                float64
				}{r.Overload.Slow, r.Overload.Fast, r.Overload.PayloadBytes, r.Overload.Rate}
			}
		}
		if o == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %d / %d | %g × %d | %s | %s | %s | %s | %s | %s | %s |\n", s.label, o.slow, o.fast, o.rate, o.payload,
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.Published })),
			spread(s.runs, "%.1f", ov(func(r result) float64 {
				if r.Overload.FastExpected == 0 {
					return 0
				}
				return 100 * r.Overload.FastDelivered / r.Overload.FastExpected
			})),
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.RSSBeforeKB / 1024 })),
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.RSSPeakKB / 1024 })),
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.RSSEndKB / 1024 })),
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.SlowClosed })),
			spread(s.runs, "%.0f", ov(func(r result) float64 { return r.Overload.CPUPercent })))
	}
}
