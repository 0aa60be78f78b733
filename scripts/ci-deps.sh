#!/bin/sh
# Installs the Debian packages that make dist, test-arm, deb and the checks
# need, skipping those already present (so a warm machine runs no apt at
# all). Run as root. Prints what it installs. ARM tests call qemu through
# go test -exec, so binfmt-support is not needed; dpkg-deb comes with dpkg.
#
#   scripts/ci-deps.sh            everything below
#   scripts/ci-deps.sh --print    only list the missing packages
set -eu

# package:command pairs; the command (or, when it starts with /, the file)
# shows the package is installed. The cross C libraries are only recommended
# by the cross compilers, which --no-install-recommends leaves out.
want="
gcc-aarch64-linux-gnu:aarch64-linux-gnu-gcc
gcc-arm-linux-gnueabihf:arm-linux-gnueabihf-gcc
libc6-dev-arm64-cross:/usr/aarch64-linux-gnu/include/stdio.h
libc6-dev-armhf-cross:/usr/arm-linux-gnueabihf/include/stdio.h
qemu-user-static:qemu-aarch64-static
systemd-container:systemd-nspawn
shellcheck:shellcheck
file:file
"

missing=
for pc in $want; do
	check=${pc#*:}
	case $check in
	/*) [ -e "$check" ] || missing="$missing ${pc%%:*}" ;;
	*) command -v "$check" >/dev/null 2>&1 || missing="$missing ${pc%%:*}" ;;
	esac
done

if [ "${1:-}" = --print ]; then
	echo "${missing# }"
	exit 0
fi
if [ -z "$missing" ]; then
	exit 0
fi
echo "ci-deps: installing$missing"
apt-get update -qq
# shellcheck disable=SC2086 # $missing is a list of package names
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
