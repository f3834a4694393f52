#!/bin/bash
# `make install` (issue 19): the binary, the man pages and the systemd
# units under PREFIX (and DESTDIR), the units naming the installed binary
# and passing `systemd-analyze verify`, hardened (no capabilities for the
# userspace-mode, controller units; only CAP_NET_ADMIN and
# CAP_NET_BIND_SERVICE for TUN mode), the man pages rendering without a
# warning, and `make uninstall` removing it all.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(realpath --relative-to="$ROOT" "$(dirname "$SPOKEWIRE")")
MK=(make -s -C "$ROOT" BUILD="$BUILD_DIR")
[[ $BUILD_DIR == build/test* ]] && MK+=(SAN=1 WERROR=1)
PFX_DIR=$T_DIR/prefix
check install "${MK[@]}" install PREFIX="$PFX_DIR"
check bin-0755 test "$(stat -c %a "$PFX_DIR/bin/spokewire")" = 755
check man8 test -f "$PFX_DIR/share/man/man8/spokewire.8"
check man5 test -f "$PFX_DIR/share/man/man5/spokewire.conf.5"
UNITS=$PFX_DIR/lib/systemd/system
for u in spokewire@ spokewire-userspace@ spokewire-controller spokewire-gateway; do
	check "unit-$u" test "$(stat -c %a "$UNITS/$u.service" 2>/dev/null)" = 644
done
check units-name-installed-binary grep -q "^ExecStart=$PFX_DIR/bin/spokewire up /etc/spokewire/%i.conf" "$UNITS/spokewire@.service"
check_not units-no-placeholder grep -rq '@BINDIR@' "$UNITS"
out=$(systemd-analyze verify --man=no "$UNITS"/*.service 2>&1)
if [ $? = 0 ] && [ -z "$out" ]; then pass systemd-analyze-verify; else fail systemd-analyze-verify "$out"; fi
check userspace-no-caps grep -qx 'CapabilityBoundingSet=' "$UNITS/spokewire-userspace@.service"
check controller-no-caps grep -qx 'CapabilityBoundingSet=' "$UNITS/spokewire-controller.service"
check tun-only-net-caps grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE' "$UNITS/spokewire@.service"
for u in "$UNITS"/*.service; do
	check "$(basename "$u")-hardened" grep -q '^NoNewPrivileges=yes' "$u"
	check "$(basename "$u")-protect-system" grep -q '^ProtectSystem=' "$u"
done
check reload-is-spokewire-reload grep -q "^ExecReload=$PFX_DIR/bin/spokewire reload" "$UNITS/spokewire@.service"
for m in "$PFX_DIR/share/man/man8/spokewire.8" "$PFX_DIR/share/man/man5/spokewire.conf.5"; do
	w=$(LC_ALL=C groff -man -ww -z "$m" 2>&1)
	if [ -z "$w" ]; then pass "$(basename "$m")-no-warnings"; else fail "$(basename "$m")-no-warnings" "$w"; fi
done
check man-renders bash -c "MANWIDTH=80 man -l '$PFX_DIR/share/man/man8/spokewire.8' 2>/dev/null | tr -s ' ' | grep -q 'spokewire - WireGuard overlay networks'"
check installed-binary-runs "$PFX_DIR/bin/spokewire" genkey
check uninstall "${MK[@]}" uninstall PREFIX="$PFX_DIR"
check_not nothing-left bash -c "find '$PFX_DIR' -type f | grep -q ."

D=$T_DIR/destdir
check destdir-install "${MK[@]}" install PREFIX=/usr DESTDIR="$D"
check destdir-bin test -x "$D/usr/bin/spokewire"
check destdir-unit-path grep -q '^ExecStart=/usr/bin/spokewire gateway' "$D/usr/lib/systemd/system/spokewire-gateway.service"
