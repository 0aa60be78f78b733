#!/usr/bin/env bash
# Cross-builds, ARM tests under qemu-user, and checks of the systemd unit and
# the .deb packages. scripts/dist.mk calls it; run it from the repository root:
#
#   scripts/dist.sh version                 print the version stamped into builds
#   scripts/dist.sh build ARCH...           build dist/gatewayd_linux_ARCH (amd64 arm64 armv7)
#   scripts/dist.sh test-arm ARCH...        go test store/ and sio/... for ARCH under qemu-user
#   scripts/dist.sh deb ARCH...             package dist/gatewayd_*_ARCH.deb
#   scripts/dist.sh check-deb               inspect and unpack the amd64 .deb
#   scripts/dist.sh check-unit              systemd-analyze verify the unit
#   scripts/dist.sh check-systemd           boot systemd in a container and start the unit
#
# A missing cross compiler, qemu or systemd tool makes test-arm and the
# checks skip with a message, or fail when GATEWAYD_STRICT is set.
set -euo pipefail

GO=${GO:-go}
DIST=${DIST:-dist}
# Static glibc binaries: no NSS or dlopen (netgo, osusergo, no SQLite
# extension loading), so the same file runs on any glibc or none.
TAGS=${DIST_TAGS:-netgo,osusergo,sqlite_omit_load_extension}

die() { echo "dist: $*" >&2; exit 1; }

# skip reports a missing prerequisite: a note without GATEWAYD_STRICT, an
# error with it. It returns 0 when the caller should skip.
skip() {
	if [ -n "${GATEWAYD_STRICT:-}" ]; then
		die "$* (GATEWAYD_STRICT is set)"
	fi
	echo "dist: SKIP: $*" >&2
}

# arch_env ARCH sets GOARCH, GOARM, CC, QEMU, LDPREFIX and DEBARCH for one
# target.
arch_env() {
	GOARM=
	case $1 in
	amd64) GOARCH=amd64 CC=${CC_AMD64:-gcc} QEMU='' LDPREFIX='' DEBARCH=amd64 ;;
	arm64) GOARCH=arm64 CC=${CC_ARM64:-aarch64-linux-gnu-gcc} QEMU=qemu-aarch64-static LDPREFIX=/usr/aarch64-linux-gnu DEBARCH=arm64 ;;
	armv7) GOARCH=arm GOARM=7 CC=${CC_ARMV7:-arm-linux-gnueabihf-gcc} QEMU=qemu-arm-static LDPREFIX=/usr/arm-linux-gnueabihf DEBARCH=armhf ;;
	*) die "unknown architecture $1 (want amd64, arm64 or armv7)" ;;
	esac
}

# version prints a version dpkg and semver both order correctly: the last
# vX.Y.Z tag (0.0.0 without one), then +N.gHASH for N commits since it.
version() {
	local desc base n hash dirty=
	if ! desc=$(git describe --tags --long --match 'v[0-9]*' --dirty 2>/dev/null); then
		base=0.0.0
		n=$(git rev-list --count HEAD 2>/dev/null || echo 0)
		hash=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
		git diff --quiet HEAD 2>/dev/null || dirty=.dirty
	else
		case $desc in *-dirty) dirty=.dirty desc=${desc%-dirty} ;; esac
		hash=${desc##*-g}
		desc=${desc%-g*}
		n=${desc##*-}
		base=${desc%-*}
		base=${base#v}
	fi
	if [ "$n" = 0 ] && [ -z "$dirty" ] && [ "$base" != 0.0.0 ]; then
		echo "$base"
	else
		echo "$base+$n.g$hash$dirty"
	fi
}

# ldflags prints the linker flags: stripped, statically linked, and the
# version stamped into main.version when cmd/gatewayd declares that variable
# (-X on a missing variable is silently ignored, so guard to tell the truth).
ldflags() {
	local f="-s -w -linkmode external -extldflags -static"
	if grep -Eqs '^(var[[:space:]]+)?[[:space:]]*version[[:space:]]*(=|string)' cmd/gatewayd/*.go; then
		f="$f -X main.version=${VERSION:-$(version)}"
	fi
	echo "$f"
}

build() {
	[ $# -gt 0 ] || set -- amd64 arm64 armv7
	mkdir -p "$DIST"
	local a out lf
	lf=$(ldflags)
	for a in "$@"; do
		arch_env "$a"
		command -v "$CC" >/dev/null || die "C cross compiler $CC for $a is missing (scripts/ci-deps.sh installs it)"
		out=$DIST/gatewayd_linux_$a
		echo "dist: building $out ($CC, tags $TAGS)"
		CGO_ENABLED=1 GOOS=linux GOARCH=$GOARCH GOARM=$GOARM CC=$CC \
			"$GO" build -trimpath -tags "$TAGS" -ldflags "$lf" -o "$out" ./cmd/gatewayd
		if file "$out" 2>/dev/null | grep -q dynamically; then
			die "$out is dynamically linked"
		fi
		printf 'dist: %s %s bytes\n' "$out" "$(stat -c %s "$out")"
	done
}

# test_pkgs lists the packages of store/ and sio/ (with subpackages) that
# exist in this tree and have tests.
test_pkgs() {
	local dirs=()
	[ -d store ] && dirs+=(./store/...)
	[ -d sio ] && dirs+=(./sio/...)
	[ ${#dirs[@]} -gt 0 ] || return 0
	"$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${dirs[@]}"
}

# binfmt_exec ARCH CMD... runs CMD with qemu registered for ARCH in a
# private binfmt_misc (called inside a new user and mount namespace, so
# this machine's binfmt settings are untouched). Test binaries that re-exec
# themselves, such as store's crash test, then run their ARM child too.
binfmt_exec() {
	arch_env "$1"
	shift
	local name=${QEMU%-static} f magic mask
	f=/usr/share/binfmts/$name
	magic=$(sed -n 's/^magic //p' "$f")
	mask=$(sed -n 's/^mask //p' "$f")
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	# F: qemu is opened now, so it works whatever the child's mounts.
	printf '%s' ":$name:M:0:$magic:$mask:$(command -v "$QEMU"):F" >/proc/sys/fs/binfmt_misc/register
	exec "$@"
}

# binfmt_ok ARCH says whether binfmt_exec can work here.
binfmt_ok() {
	arch_env "$1"
	[ -r "/usr/share/binfmts/${QEMU%-static}" ] && command -v unshare >/dev/null &&
		unshare --user --map-root-user --mount --fork "$0" _binfmt-exec "$1" true 2>/dev/null
}

test_arm() {
	[ $# -gt 0 ] || set -- arm64 armv7
	local a pkgs wrap flags
	pkgs=$(test_pkgs)
	if [ -z "$pkgs" ]; then
		echo "dist: no store/ or sio/ tests to run"
		return 0
	fi
	for a in "$@"; do
		arch_env "$a"
		if ! command -v "$CC" >/dev/null || ! command -v "$QEMU" >/dev/null; then
			skip "test-arm $a needs $CC and $QEMU (scripts/ci-deps.sh installs them)"
			continue
		fi
		wrap=()
		flags=${TEST_ARM_FLAGS:-}
		if binfmt_ok "$a"; then
			wrap=(unshare --user --map-root-user --mount --fork "$0" _binfmt-exec "$a")
		else
			# Without binfmt a test binary cannot exec itself under qemu
			# ("exec format error"); those tests skip under -short.
			echo "dist: no private binfmt_misc for $QEMU here; running with -short" >&2
			flags="$flags -short"
		fi
		echo "dist: testing $(echo "$pkgs" | wc -l) packages for $a under $QEMU"
		# The same tags and static linking as the release build, so the
		# tests share its compiled SQLite and exercise what ships.
		# QEMU_LD_PREFIX only matters if a binary ends up dynamic.
		# shellcheck disable=SC2086 # flags and pkgs are word lists
		# GATEWAYD_STRICT is left out: the strict run is make test on the
		# host, and inside the private user namespace some setups cannot
		# be made (store's read-only file test needs chattr +i), so those
		# tests skip here instead of failing.
		env -u GATEWAYD_STRICT CGO_ENABLED=1 GOOS=linux GOARCH=$GOARCH GOARM=$GOARM CC=$CC QEMU_LD_PREFIX=$LDPREFIX \
			"${wrap[@]}" "$GO" test -count=1 -timeout "${TEST_ARM_TIMEOUT:-20m}" $flags \
			-tags "$TAGS" -ldflags '-linkmode external -extldflags -static' \
			-exec "$QEMU" $pkgs
	done
}

# pkg_tool builds the packager (its own module, see scripts/pkg/go.mod)
# once and prints its path.
pkg_tool() {
	local tool
	mkdir -p "$DIST"
	tool=$(realpath "$DIST")/.pkg
	(cd scripts/pkg && "$GO" build -o "$tool" .) >&2
	echo "$tool"
}

deb() {
	[ $# -gt 0 ] || set -- amd64 arm64 armv7
	local a tool
	tool=$(pkg_tool)
	for a in "$@"; do
		arch_env "$a"
		# One package per architecture in dist/: drop other versions'.
		rm -f "$DIST"/gatewayd_*_"$DEBARCH".deb
		[ -x "$DIST/gatewayd_linux_$a" ] || die "$DIST/gatewayd_linux_$a is missing; run make dist first"
		SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
			"$tool" -arch "$a" -version "${VERSION:-$(version)}" -root . -bin "$DIST/gatewayd_linux_$a" -out "$DIST"
	done
}

check_deb() {
	command -v dpkg-deb >/dev/null || { skip "check-deb needs dpkg-deb"; return 0; }
	local deb
	deb=$DIST/gatewayd_${VERSION:-$(version)}_amd64.deb
	[ -f "$deb" ] || die "no $deb; run make deb first"
	echo "dist: checking $deb"
	GATEWAYD_DEB=$(realpath "$deb") GATEWAYD_DEB_BIN=$(realpath "$DIST/gatewayd_linux_amd64") \
		sh -c 'cd scripts/pkg && exec "$0" test -count=1 -v ./...' "$GO"
}

# unit_copy DIR BIN writes DIR/gatewayd.service with ExecStart pointing at
# BIN, so checks run against a real executable without installing it.
unit_copy() {
	sed "s|^ExecStart=/usr/bin/gatewayd|ExecStart=$2|" scripts/gatewayd.service >"$1/gatewayd.service"
}

check_unit() {
	command -v systemd-analyze >/dev/null || { skip "check-unit needs systemd-analyze"; return 0; }
	local tmp bin out
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	bin=$DIST/gatewayd_linux_amd64
	if [ ! -x "$bin" ]; then
		bin=$tmp/gatewayd
		CGO_ENABLED=1 "$GO" build -o "$bin" ./cmd/gatewayd
	fi
	bin=$(realpath "$bin")
	unit_copy "$tmp" "$bin"
	# verify exits 0 on unknown keys and bad values, so any output fails.
	out=$(systemd-analyze verify "$tmp/gatewayd.service" 2>&1) || { echo "$out" >&2; die "systemd-analyze verify failed"; }
	if [ -n "$out" ]; then
		echo "$out" >&2
		die "systemd-analyze verify printed warnings"
	fi
	echo "dist: systemd-analyze verify: clean"
	systemd-analyze security --offline=yes "$tmp/gatewayd.service" 2>/dev/null | tail -1 || true
}

# check_systemd_fake runs check-systemd.sh on a package holding
# scripts/pkg/internal/fakegatewayd, which sends READY=1 and feeds the
# watchdog, so the unit is tested under real systemd before gatewayd can.
check_systemd_fake() {
	local d tool
	d=$(realpath "$DIST")/.fake
	mkdir -p "$d"
	tool=$(pkg_tool)
	(cd scripts/pkg && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -o "$d/gatewayd" ./internal/fakegatewayd)
	"$tool" -arch amd64 -version 0.0.0 -root . -bin "$d/gatewayd" -out "$d"
	GATEWAYD_REQUIRE_READY=1 GATEWAYD_EXPECT_STATUS="sandbox ok" \
		"$(dirname "$0")/check-systemd.sh" "$d/gatewayd_0.0.0_amd64.deb"
}

case ${1:-} in
version) version ;;
build) shift; build "$@" ;;
test-arm) shift; test_arm "$@" ;;
deb) shift; deb "$@" ;;
check-deb) check_deb ;;
check-unit) check_unit ;;
check-systemd) shift; exec "$(dirname "$0")/check-systemd.sh" "$@" ;;
check-systemd-fake) check_systemd_fake ;;
_binfmt-exec) shift; binfmt_exec "$@" ;;
*) die "usage: $0 version|build|test-arm|deb|check-deb|check-unit|check-systemd [ARCH...]" ;;
esac
