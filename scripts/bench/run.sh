#!/usr/bin/env bash
# Runs the Socket.IO benchmark matrix against the Go bench server
# (scripts/bench/goserver) and the Node.js one (scripts/bench/node-server.js)
# in the same session, each server pinned to CPU 0 and the load generator to
# CPU 1, and prints markdown tables with the medians over the runs.
#
#   scripts/bench/run.sh                      # defaults below
#   RUNS=3 CLIENTS=5000 scripts/bench/run.sh
#
# Settings (environment):
#   RUNS      runs of the whole matrix (default 2; servers alternate order)
#   CLIENTS   websocket clients connected (default 10000)
#   ROOMS     fan-out rooms (default 100), SUBS subscribers (default 1000)
#   RATES     publish rates, comma-separated (default 100,500,1000,2000,4000,8000)
#   DURATION  publishing time per fan-out point (default 5s)
#   ECHO      echo clients (default 100), ECHO_DURATION (default 5s)
#   SLOW, FAST, OV_RATE, OV_PAYLOAD, OV_DURATION   overload phase
#             (defaults 50, 50, 500, 2048, 10s)
#   LONG_OVERLOAD  length of a second overload point on a fresh server
#             (SLOW stalled + 10 reading clients, 1000 × 2 KiB readings/s;
#             default 30s, 0 skips it): long enough for an unbounded queue
#             to show in RSS, short of the 45 s heartbeat timeout
#   OUT       directory for the raw results (default: a new temporary one)
#
# Loopback only; every server is started and stopped by its PID, and every
# load run is bounded by -timeout and by timeout(1).
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-2}
CLIENTS=${CLIENTS:-10000}
ROOMS=${ROOMS:-100}
SUBS=${SUBS:-1000}
RATES=${RATES:-100,500,1000,2000,4000,8000}
DURATION=${DURATION:-5s}
ECHO=${ECHO:-100}
ECHO_DURATION=${ECHO_DURATION:-5s}
SLOW=${SLOW:-50}
FAST=${FAST:-50}
OV_RATE=${OV_RATE:-500}
OV_PAYLOAD=${OV_PAYLOAD:-2048}
OV_DURATION=${OV_DURATION:-10s}
LONG_OVERLOAD=${LONG_OVERLOAD:-30s}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

# Each end of a loopback connection is a descriptor in its own process, so
# the server and the load generator each need CLIENTS plus a few.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < CLIENTS + 100 )); then
	echo "run.sh: open-file limit $(ulimit -n) is below CLIENTS+100; lower CLIENTS" >&2
	exit 1
fi
if [[ ! -f sio/testdata/interop/node_modules/socket.io/package.json ]]; then
	echo "run.sh: run 'make npm-deps' first (socket.io for the Node.js server)" >&2
	exit 1
fi

go build -o "$OUT/goserver" ./scripts/bench/goserver
go build -o "$OUT/load" ./scripts/bench/load
go build -o "$OUT/table" ./scripts/bench/table

SERVER_PID=
# start_server NAME CMD... starts the server on CPU 0 with its stdin on a
# FIFO held open by descriptor 3, and sets PORT and SERVER_PID.
start_server() {
	local name=$1
	shift
	rm -f "$OUT/$name.in"
	mkfifo "$OUT/$name.in"
	taskset -c 0 "$@" <"$OUT/$name.in" >"$OUT/$name.out" 2>"$OUT/$name.err" &
	SERVER_PID=$!
	exec 3>"$OUT/$name.in"
	PORT=
	for _ in $(seq 100); do
		if PORT=$(grep -o '"port":[0-9]*' "$OUT/$name.out" 2>/dev/null | cut -d: -f2) && [[ -n $PORT ]]; then
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: $name did not start:" >&2
	cat "$OUT/$name.err" >&2
	stop_server
	return 1
}

# stop_server closes the server's stdin (its signal to exit), then sends
# SIGTERM and finally SIGKILL to that PID if it lingers.
stop_server() {
	exec 3>&-
	[[ -n $SERVER_PID ]] || return 0
	for sig in "" TERM KILL; do
		for _ in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break 2
			sleep 0.1
		done
		[[ -n $sig ]] && kill -s "$sig" "$SERVER_PID" 2>/dev/null || true
	done
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}
trap stop_server EXIT

# bench NAME RUN CMD... measures one server once.
bench() {
	local name=$1 run=$2
	shift 2
	start_server "$name" "$@"
	echo "== run $run: $name (pid $SERVER_PID, port $PORT), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	timeout 900 taskset -c 1 "$OUT/load" -json -timeout 14m \
		-url "http://127.0.0.1:$PORT" -pid "$SERVER_PID" \
		-clients "$CLIENTS" -concurrency 64 \
		-rooms "$ROOMS" -subs "$SUBS" -rates "$RATES" -duration "$DURATION" \
		-echo "$ECHO" -echo-duration "$ECHO_DURATION" \
		-slow "$SLOW" -fast "$FAST" -overload-rate "$OV_RATE" \
		-overload-payload "$OV_PAYLOAD" -overload-duration "$OV_DURATION" \
		>"$OUT/$name-$run.json" 2>"$OUT/$name-$run.log" || echo "run.sh: load against $name failed (run $run): $(tail -n 1 "$OUT/$name-$run.log")" >&2
	cat "$OUT/$name-$run.log" >&2
	echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	stop_server
	[[ $LONG_OVERLOAD == 0 ]] && return 0
	start_server "$name" "$@"
	echo "== run $run: $name long overload (pid $SERVER_PID), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	timeout 300 taskset -c 1 "$OUT/load" -json -timeout 4m \
		-url "http://127.0.0.1:$PORT" -pid "$SERVER_PID" \
		-clients $((SLOW + 11)) -rooms 0 -echo 0 \
		-slow "$SLOW" -fast 10 -overload-rate 1000 \
		-overload-payload 2048 -overload-duration "$LONG_OVERLOAD" \
		>"$OUT/$name-$run-long.json" 2>"$OUT/$name-$run-long.log" || echo "run.sh: long overload against $name failed (run $run): $(tail -n 1 "$OUT/$name-$run-long.log")" >&2
	cat "$OUT/$name-$run-long.log" >&2
	stop_server
}

GO_FILES= NODE_FILES= GO_LONG= NODE_LONG=
for run in $(seq "$RUNS"); do
	# Alternate which server goes first so drift in the machine's load
	# does not always favour the same one.
	if (( run % 2 )); then order="go node"; else order="node go"; fi
	for s in $order; do
		case $s in
		go) bench go "$run" "$OUT/goserver" ;;
		node) bench node "$run" node scripts/bench/node-server.js 0 ;;
		esac
	done
	GO_FILES+="${GO_FILES:+,}$OUT/go-$run.json"
	NODE_FILES+="${NODE_FILES:+,}$OUT/node-$run.json"
	GO_LONG+="${GO_LONG:+,}$OUT/go-$run-long.json"
	NODE_LONG+="${NODE_LONG:+,}$OUT/node-$run-long.json"
done

echo "Versions: $(go version | cut -d' ' -f3), Node.js $(node --version), socket.io $(grep -o '"version": *"[^"]*"' sio/testdata/interop/node_modules/socket.io/package.json | cut -d'"' -f4)"
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Raw results: $OUT"
echo
"$OUT/table" "gatewayd sio=$GO_FILES" "Node.js socket.io=$NODE_FILES"
if [[ $LONG_OVERLOAD != 0 ]]; then
	echo
	echo "Long overload ($LONG_OVERLOAD, fresh server):"
	echo
	"$OUT/table" -only overload "gatewayd sio=$GO_LONG" "Node.js socket.io=$NODE_LONG"
fi
