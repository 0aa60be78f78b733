# The two commands README.md gives for a fresh machine are `make run` and
# `make test`; everything else here serves them.

GO      ?= go
NPM     ?= npm
ADDR    ?= :8080
DATA    ?= ./data

# npm folders whose dependencies the tests need; each has its own lockfile.
NPM_DIRS := $(patsubst %/package-lock.json,%,$(wildcard sio/testdata/*/package-lock.json web/package-lock.json))

.PHONY: run test build npm-deps web clean

# The embedded broker takes 1883 unless another broker (a board's Mosquitto)
# already has it; then it moves to 1884.
MQTT    ?= $(shell bash -c '(exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && echo :1884 || echo :1883')
# SIM=N adds a simulator publishing N devices of each convention (a demo).
SIM     ?= 0

## run: build and start gatewayd with the embedded MQTT broker on $(MQTT), a
## SQLite file under $(DATA) and the dashboard on $(ADDR).
run: build
	./bin/gatewayd -listen $(ADDR) -data-dir $(DATA) -mqtt.mode embedded -mqtt.listen $(MQTT) -simulate.devices $(SIM)

build: web
	$(GO) build -o bin/gatewayd ./cmd/gatewayd

## web: the dashboard bundle that the binary embeds (web/dist).
web: npm-deps web/dist/app.js

web/dist/app.js: web/build.mjs web/package-lock.json $(wildcard web/src/*)
	cd web && node build.mjs

## test: every test, with the race detector, including the interop tests that
## drive the official socket.io-client from Node.js.
test: web
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

npm-deps:
	@for d in $(NPM_DIRS); do \
		if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "npm ci in $$d"; (cd $$d && $(NPM) ci --no-audit --no-fund) || exit 1; \
		fi; \
	done

clean:
	rm -rf bin

# Cross-builds, ARM tests under qemu and packages live in their own file.
-include scripts/dist.mk
