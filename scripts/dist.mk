# Release builds, ARM tests under qemu-user, .deb packages and checks of the
# systemd unit. Included by the root Makefile; the work is in scripts/dist.sh.
#
#   make dist            static gatewayd for linux amd64, arm64, armv7 in dist/
#   make test-arm        store/ and sio/... tests for arm64 and armv7 under qemu
#   make deb             dist/gatewayd_VERSION_{amd64,arm64,armhf}.deb
#   make check-deb       inspect the amd64 .deb and unpack it into a scratch root
#   make check-unit      systemd-analyze verify scripts/gatewayd.service
#   make check-systemd   boot systemd in a container and start the packaged unit
#   make check-systemd-fake  the same with a stand-in that sends READY=1
#   make check-dist      all of the above checks
#
# DIST_ARCHES=amd64 limits the architectures; VERSION overrides the stamp.
# TEST_ARM_FLAGS=-short skips store's crash test, the bulk of test-arm's
# time under qemu (about 20 s instead of 100 s for both architectures).

DIST_ARCHES ?= amd64 arm64 armv7
TEST_ARCHES ?= arm64 armv7
# Computed once per make run (not per use), and only for these targets.
DIST_GOALS := dist deb check-deb check-systemd check-systemd-fake check-dist
ifneq ($(filter $(DIST_GOALS),$(MAKECMDGOALS)),)
ifeq ($(origin VERSION),undefined)
VERSION := $(shell scripts/dist.sh version)
endif
export VERSION
endif
export GO

.PHONY: dist test-arm deb check-deb check-unit check-systemd check-systemd-fake check-dist dist-clean

dist: web
	scripts/dist.sh build $(DIST_ARCHES)

# npm-deps: sio's interop tests drive the Node.js client from its lockfile.
test-arm: npm-deps
	scripts/dist.sh test-arm $(TEST_ARCHES)

deb: dist
	scripts/dist.sh deb $(DIST_ARCHES)

check-deb: deb
	scripts/dist.sh check-deb

check-unit:
	scripts/dist.sh check-unit

check-systemd: deb
	scripts/dist.sh check-systemd

check-systemd-fake:
	scripts/dist.sh check-systemd-fake

check-dist: check-unit check-deb test-arm check-systemd check-systemd-fake

dist-clean:
	rm -rf dist
