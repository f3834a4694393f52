#!/bin/bash
# wg-quick drives IMPL_A: `wg-quick up CONF` inside a namespace with
# WG_QUICK_USERSPACE_IMPLEMENTATION=IMPL_A (there is no kernel module, so
# wg-quick falls back to it and the implementation daemonises itself), then
# `wg-quick down CONF` must delete the interface, and the daemon must notice,
# remove its socket and exit. Twice, to show a clean restart.
# AllowedIPs are specific prefixes, so wg-quick sets no DNS, fwmark or
# policy routing.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_A=$PFX-a
NS_B=$PFX-b
ns_new "$NS_A"
ns_new "$NS_B"
veth_link "$NS_A" "$NS_B" 1
genkey a
genkey b
IF_A=$(ifname a)
IF_B=$(ifname b)

wg_dev "$NS_B" "$IF_B" "$IMPL_B" b 51830 10.40.0.2/24 fd40::2/64 10.41.7.1/24
wg_peer "$NS_B" "$IF_B" a 10.40.0.1/32,fd40::1/128 "$(outer4 1 1):51820"

CONF_DIR=$T_DIR/wgquick
mkdir -m 700 "$CONF_DIR"
CONF=$CONF_DIR/$IF_A.conf
(
	umask 077
	cat >"$CONF" <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile a)")
ListenPort = 51820
Address = 10.40.0.1/24, fd40::1/64
MTU = 1380

[Peer]
PublicKey = $(pub b)
AllowedIPs = 10.40.0.2/32, fd40::2/128, 10.41.0.0/16
Endpoint = $(outer4 1 2):51830
PersistentKeepalive = 25
EOF
)

wgq() { # up|down: run wg-quick in A's namespace, output to a log file (a
	# daemon may inherit wg-quick's stdout, so never read it through a pipe)
	timeout 30 ip netns exec "$NS_A" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_A" \
		wg-quick "$1" "$CONF" >>"$T_DIR/wg-quick.log" 2>&1 </dev/null 8>&- 9>&-
}
link_up() { ip -n "$NS_A" link show "$IF_A" 2>/dev/null | grep -q ',UP'; }
link_gone() { ! ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1; }
sock_gone() { [ ! -e "$WG_RUN/$IF_A.sock" ]; }
has_addr() { ip -n "$NS_A" addr show dev "$IF_A" | grep -q "inet6\? $1 "; }
has_route() { ip -n "$NS_A" route show dev "$IF_A" | grep -q "^$1 "; }
mtu_is() { ip -n "$NS_A" link show "$IF_A" | grep -q "mtu $1 "; }
all_gone() { local p; for p in "$@"; do pid_gone "$p" || return 1; done; }

for round in 1 2; do
	r=r$round
	echo "== wg-quick round $round" >>"$T_DIR/wg-quick.log"
	if ! wgq up; then
		fail "$r-up" "wg-quick up failed: $(tail -n 5 "$T_DIR/wg-quick.log")"
		break
	fi
	pass "$r-up"
	dpids=$(ns_daemon_pids "$NS_A" "$IMPL_A")
	check "$r-daemon-running" test -n "$dpids"
	check "$r-link-up" link_up
	check "$r-socket" test -S "$WG_RUN/$IF_A.sock"
	check "$r-addr4" has_addr 10.40.0.1/24
	check "$r-addr6" has_addr fd40::1/64
	check "$r-mtu" mtu_is 1380
	check "$r-route" has_route 10.41.0.0/16
	check "$r-wg-listen-port" test "$(nsx "$NS_A" wg show "$IF_A" listen-port)" = 51820
	check "$r-wg-peer" test "$(nsx "$NS_A" wg show "$IF_A" peers)" = "$(pub b)"
	check "$r-wg-keepalive" test "$(nsx "$NS_A" wg show "$IF_A" persistent-keepalive | awk '{print $2}')" = 25
	check "$r-ping4" ping_wait "$NS_A" 10 10.40.0.2
	check "$r-ping6" ping_wait "$NS_A" 5 fd40::2
	check "$r-ping-routed" ping_ok "$NS_A" 10.41.7.1
	check "$r-ping-back" ping_ok "$NS_B" 10.40.0.1

	if ! wgq down; then
		fail "$r-down" "wg-quick down failed: $(tail -n 5 "$T_DIR/wg-quick.log")"
		break
	fi
	pass "$r-down"
	check "$r-down-link-gone" wait_until 5 link_gone
	check "$r-down-socket-gone" wait_until 5 sock_gone
	# shellcheck disable=SC2086
	check "$r-down-daemon-exited" wait_until 5 all_gone $dpids
	check "$r-down-not-listed" test -z "$(wg show interfaces | tr ' ' '\n' | grep -x "$IF_A")"
done
