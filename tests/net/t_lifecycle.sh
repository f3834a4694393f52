#!/bin/bash
# The daemon's life cycle as wg-quick and init scripts rely on it, for
# IMPL_A only (no second side needed):
#   `IMPL IFACE` (no -f) daemonises: returns 0 once the device is usable
#   and keeps running; SIGTERM, SIGINT and deleting the interface each make
#   it remove its UAPI socket and exit (status 0 on a signal); a second
#   instance for a name whose socket is alive must not steal that socket.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_A=$PFX-a
NS_A2=$PFX-a2
ns_new "$NS_A"
ns_new "$NS_A2"

sock_gone() { [ ! -e "$WG_RUN/$1.sock" ]; }
link_gone() { ! ip -n "$NS_A" link show "$1" >/dev/null 2>&1; }
all_gone() { local p; for p in "$@"; do pid_gone "$p" || return 1; done; }
alive() { ! pid_gone "$1"; }
empty_device() { # IFACE: a fresh device answers wg show: no key, no peers
	[ "$(nsx "$NS_A" wg show "$1" private-key)" = "(none)" ] &&
		[ -z "$(nsx "$NS_A" wg show "$1" peers)" ]
}

# ------------------------------------------------------------ daemon mode
IF_D=$(ifname d)
log=$T_DIR/$IF_D.log
if [ "$IMPL_A" = wireguard-go ]; then
	cmd=(env -u WG_PROCESS_FOREGROUND wireguard-go "$IF_D")
else
	cmd=("$SPOKEWIRE" "$IF_D")
fi
start=$(now_ms)
timeout 15 ip netns exec "$NS_A" "${cmd[@]}" >"$log" 2>&1 </dev/null 8>&- 9>&-
rc=$?
info "daemonising took $(($(now_ms) - start)) ms"
check daemon-returns-0 test $rc = 0
check daemon-socket test -S "$WG_RUN/$IF_D.sock"
check daemon-link ip -n "$NS_A" link show "$IF_D"
dpids=$(ns_daemon_pids "$NS_A" "$IMPL_A")
check daemon-running test -n "$dpids"
check daemon-answers-uapi empty_device "$IF_D"
ip -n "$NS_A" link del "$IF_D"
# shellcheck disable=SC2086
check daemon-exits-on-link-delete wait_until 5 all_gone $dpids
check daemon-socket-removed wait_until 5 sock_gone "$IF_D"

# ------------------------------------------------------------ signals, -f
for sig in TERM INT; do
	ifc=$(ifname "${sig:0:1}")
	start_wg "$NS_A" "$ifc" "$IMPL_A"
	check "fg-$sig-answers-uapi" empty_device "$ifc"
	ip -n "$NS_A" link set "$ifc" up
	if stop_wg "$ifc" "$sig"; then
		pass "fg-$sig-exits"
		check "fg-$sig-exit-status-0" test "$WG_EXIT_STATUS" = 0
	else
		fail "fg-$sig-exits" "still running 5 s after SIG$sig"
	fi
	check "fg-$sig-socket-removed" wait_until 2 sock_gone "$ifc"
	check "fg-$sig-link-removed" wait_until 2 link_gone "$ifc"
done

# ------------------------------------------------------------ link deletion, -f
IF_L=$(ifname l)
start_wg "$NS_A" "$IF_L" "$IMPL_A"
ip -n "$NS_A" link del "$IF_L"
check fg-linkdel-exits wait_until 5 pid_gone "${T_PID[$IF_L]}"
check fg-linkdel-socket-removed wait_until 2 sock_gone "$IF_L"

# ------------------------------------------------------------ socket in use
# Same name in a second namespace while the first daemon is alive: the TUN
# can be created there, but the (shared) socket must stay the first one's.
IF_S=$(ifname s)
start_wg "$NS_A" "$IF_S" "$IMPL_A"
nsx "$NS_A" wg set "$IF_S" listen-port 51999
read -ra cmd2 <<<"$(impl_cmd "$IMPL_A")"
timeout 10 ip netns exec "$NS_A2" "${cmd2[@]}" -f "$IF_S" >"$T_DIR/$IF_S-second.log" 2>&1 </dev/null 8>&- 9>&- &
second=$!
# the second one either exits with an error or (allowed) keeps running
# without the socket; give it a moment either way.
wait_until 3 pid_gone $second
check socket-in-use-kept test "$(nsx "$NS_A" wg show "$IF_S" listen-port)" = 51999
check socket-in-use-first-alive alive "${T_PID[$IF_S]}"
kill "$second" 2>/dev/null
wait "$second" 2>/dev/null
# and the second one's exit did not unlink the first one's socket
check socket-in-use-kept-after test "$(nsx "$NS_A" wg show "$IF_S" listen-port)" = 51999
