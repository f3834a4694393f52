#!/bin/bash
# spokewire minimal demo (`scripts/demo.sh --minimal`): two network namespaces joined by a veth pair, a spokewire
# device in each, configured with the stock wg(8) tool; pings across the
# tunnel, shows `wg show` on both sides, then tears everything down.
#
# Builds nothing: run `./scripts/deps.sh && make` first (needs root).
#   SPOKEWIRE=path          binary to run (default: build/spokewire)
#   DEMO_IMPL=wireguard-go  run Debian's wireguard-go instead, for comparison
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
IMPL=${DEMO_IMPL:-spokewire}
SPOKEWIRE=${SPOKEWIRE:-$ROOT/build/spokewire}
ID=$$
NS_A=swdemo$ID-a
NS_B=swdemo$ID-b
IF_A=swd${ID}a
IF_B=swd${ID}b
TMP=$(mktemp -d "/tmp/swdemo$ID.XXXXXX")
PIDS=()
NSS=()

say() { printf '\n== %s ==\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	say "tearing down"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in "${NSS[@]}"; do ip netns del "$p" 2>/dev/null && echo "deleted namespace $p"; done
	rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
	if [ "$rc" -ne 0 ]; then
		for p in "$TMP"/*.log; do
			[ -s "$p" ] && { echo "---- $(basename "$p")"; tail -n 20 "$p"; }
		done
	fi
	rm -rf "$TMP"
	[ "$rc" -eq 0 ] && echo "demo: OK" || echo "demo: FAILED"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for c in ip wg ping; do
	command -v "$c" >/dev/null || die "$c missing: run ./scripts/deps.sh"
done
case $IMPL in
spokewire)
	[ -x "$SPOKEWIRE" ] || die "$SPOKEWIRE not built: run make"
	RUN=("$SPOKEWIRE" -f)
	;;
wireguard-go)
	command -v wireguard-go >/dev/null || die "wireguard-go missing: run ./scripts/deps.sh"
	RUN=(env WG_PROCESS_FOREGROUND=1 wireguard-go -f)
	;;
*) die "DEMO_IMPL must be spokewire or wireguard-go" ;;
esac
echo "demo: implementation: $IMPL (${RUN[*]})"

say "creating namespaces $NS_A and $NS_B, joined by a veth pair"
for ns in "$NS_A" "$NS_B"; do
	ip netns add "$ns" || die "ip netns add $ns"
	NSS+=("$ns")
	ip -n "$ns" link set lo up
done
ip link add veth0 netns "$NS_A" type veth peer name veth0 netns "$NS_B" || die "veth"
ip -n "$NS_A" addr add 192.168.241.1/24 dev veth0
ip -n "$NS_B" addr add 192.168.241.2/24 dev veth0
ip -n "$NS_A" link set veth0 up
ip -n "$NS_B" link set veth0 up
echo "$NS_A: veth0 192.168.241.1    $NS_B: veth0 192.168.241.2"

say "starting $IMPL: $IF_A in $NS_A, $IF_B in $NS_B"
for side in A B; do
	ns_var=NS_$side if_var=IF_$side
	ns=${!ns_var} ifc=${!if_var}
	ip netns exec "$ns" "${RUN[@]}" "$ifc" >"$TMP/$ifc.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -S "/var/run/wireguard/$ifc.sock" ] && break
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	[ -S "/var/run/wireguard/$ifc.sock" ] || die "$IMPL did not start $ifc"
	echo "$ifc up (pid $!), control socket /var/run/wireguard/$ifc.sock"
done

say "generating keys with wg genkey / wg pubkey"
(umask 077 && wg genkey >"$TMP/a.key" && wg genkey >"$TMP/b.key") || die "wg genkey"
PUB_A=$(wg pubkey <"$TMP/a.key")
PUB_B=$(wg pubkey <"$TMP/b.key")
echo "A public key: $PUB_A"
echo "B public key: $PUB_B"

say "configuring both devices with wg set and ip"
ip netns exec "$NS_A" wg set "$IF_A" private-key "$TMP/a.key" listen-port 51820 \
	peer "$PUB_B" allowed-ips 10.99.0.2/32 endpoint 192.168.241.2:51821 || die "wg set $IF_A"
ip netns exec "$NS_B" wg set "$IF_B" private-key "$TMP/b.key" listen-port 51821 \
	peer "$PUB_A" allowed-ips 10.99.0.1/32 endpoint 192.168.241.1:51820 || die "wg set $IF_B"
ip -n "$NS_A" addr add 10.99.0.1/24 dev "$IF_A"
ip -n "$NS_B" addr add 10.99.0.2/24 dev "$IF_B"
ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" link set "$IF_B" up
echo "$IF_A: 10.99.0.1/24    $IF_B: 10.99.0.2/24"

say "ping 10.99.0.2 from $NS_A, through the tunnel"
ok=0
ip netns exec "$NS_A" ping -c 3 -i 0.3 -W 2 10.99.0.2 && ok=1

say "wg show in $NS_A"
ip netns exec "$NS_A" wg show "$IF_A"
say "wg show in $NS_B"
ip netns exec "$NS_B" wg show "$IF_B"

[ $ok = 1 ] || die "no ping reply through the tunnel"
