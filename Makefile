# The two commands README.md gives for a fresh machine are `make run` and
# `make test`; everything else here serves them.

GO      ?= go
NPM     ?= npm
ADDR    ?= :8080
DATA    ?= ./data

# npm folders whose dependencies the tests need; each has its own lockfile.
NPM_DIRS := $(patsubst %/package-lock.json,%,$(wildcard sio/testdata/*/package-lock.json web/package-lock.json))

.PHONY: run test build npm-deps web clean

## run: build and start gatewayd with the embedded MQTT broker, a SQLite file
## under $(DATA) and the dashboard on $(ADDR).
run: build
	./bin/gatewayd -listen $(ADDR) -data-dir $(DATA)

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
