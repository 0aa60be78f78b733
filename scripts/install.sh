#!/bin/sh
# Installs gatewayd on a board without the .deb: the binary in
# /usr/local/bin, the systemd unit in /etc/systemd/system, a default
# /etc/gatewayd/gatewayd.yaml (an existing one is kept), the gatewayd system
# user in the gpio and i2c groups; then enables and (re)starts the service.
#
#   sudo scripts/install.sh [--bin FILE]        install or upgrade
#   sudo scripts/install.sh --uninstall         remove binary and unit, keep config and data
#   sudo scripts/install.sh --uninstall --purge also delete /etc/gatewayd and /var/lib/gatewayd
#
# --bin defaults to dist/gatewayd_linux_ARCH for this machine (make dist).
# --root DIR installs the files under DIR only, for building images and for
# tests: it creates no user and calls no systemctl.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=
bin=
uninstall=
purge=

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--bin) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
	--bin=*) bin=${1#--bin=}; shift ;;
	--root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
	--root=*) root=${1#--root=}; shift ;;
	--uninstall) uninstall=1; shift ;;
	--purge) purge=1; shift ;;
	-h | --help) usage ;;
	*) echo "install.sh: unknown argument $1" >&2; usage ;;
	esac
done

prefix=$root/usr/local/bin
unitdir=$root/etc/systemd/system
confdir=$root/etc/gatewayd
statedir=$root/var/lib/gatewayd

# live is true when acting on this machine with systemd running.
live() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (sudo), or use --root DIR" >&2
	exit 1
fi

if [ -n "$uninstall" ]; then
	if live; then
		systemctl disable --now gatewayd.service 2>/dev/null || true
	fi
	rm -f "$unitdir/gatewayd.service" "$prefix/gatewayd"
	if live; then
		systemctl daemon-reload
		systemctl reset-failed gatewayd.service 2>/dev/null || true
	fi
	if [ -n "$purge" ]; then
		rm -rf "$confdir" "$statedir"
		echo "install.sh: removed gatewayd with its configuration and data (the gatewayd user stays)"
	else
		echo "install.sh: removed gatewayd; kept $confdir and $statedir (--purge deletes them)"
	fi
	exit 0
fi

if [ -z "$bin" ]; then
	case $(uname -m) in
	x86_64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	armv7l | armv8l) arch=armv7 ;;
	*) echo "install.sh: no build for $(uname -m); pass --bin" >&2; exit 1 ;;
	esac
	bin=$here/../dist/gatewayd_linux_$arch
fi
if [ ! -f "$bin" ]; then
	echo "install.sh: $bin not found (run make dist, or pass --bin FILE)" >&2
	exit 1
fi

mkdir -p "$prefix" "$unitdir" "$confdir"
# Install under a temporary name and rename, so a running gatewayd keeps
# its old file and an interrupted copy never leaves half a binary.
install -m 0755 "$bin" "$prefix/.gatewayd.new"
mv -f "$prefix/.gatewayd.new" "$prefix/gatewayd"
sed 's|^ExecStart=/usr/bin/gatewayd|ExecStart=/usr/local/bin/gatewayd|' \
	"$here/gatewayd.service" >"$unitdir/.gatewayd.service.new"
chmod 0644 "$unitdir/.gatewayd.service.new"
mv -f "$unitdir/.gatewayd.service.new" "$unitdir/gatewayd.service"
if [ -e "$confdir/gatewayd.yaml" ]; then
	echo "install.sh: keeping the existing $confdir/gatewayd.yaml"
else
	install -m 0644 "$here/gatewayd.yaml" "$confdir/gatewayd.yaml"
fi

if [ -n "$root" ]; then
	echo "install.sh: installed under $root (no user created, systemd untouched)"
	exit 0
fi

if ! getent passwd gatewayd >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/gatewayd --no-create-home \
		--shell /usr/sbin/nologin gatewayd
fi
# The unit's SupplementaryGroups needs both groups to exist (systemd fails
# with status 216/GROUP otherwise); Raspberry Pi OS has them already.
for g in gpio i2c; do
	getent group "$g" >/dev/null || groupadd --system "$g"
	usermod -a -G "$g" gatewayd
done

if live; then
	systemctl daemon-reload
	systemctl enable gatewayd.service
	# restart, not start: an upgrade must run the new binary.
	if ! systemctl restart gatewayd.service; then
		systemctl --no-pager --lines=20 status gatewayd.service || true
		echo "install.sh: gatewayd is installed but did not start; see journalctl -u gatewayd" >&2
		exit 1
	fi
	systemctl --no-pager --lines=5 status gatewayd.service || true
else
	systemctl enable gatewayd.service 2>/dev/null || true
	echo "install.sh: systemd is not running; gatewayd is enabled for the next boot"
fi
