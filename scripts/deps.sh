#!/bin/sh
# Installs the Debian 12 packages spokewire builds, tests and demos with.
# Safe to rerun: apt-get skips what is already there.
set -eu
PKGS="build-essential pkg-config clang
libsodium-dev libb2-dev libgmp-dev libssl-dev libjansson-dev libmicrohttpd-dev
libcurl4-openssl-dev libsqlite3-dev libpq-dev libqrencode-dev
iproute2 iputils-ping procps nftables wireguard-tools wireguard-go iperf3
postgresql nginx curl python3 psmisc prometheus python3-jsonschema
node-llhttp wrk python3-websockets openssl libnginx-mod-stream"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
