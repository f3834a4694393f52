#!/bin/bash
# Spoke to spoke through a hub (issue 18): one TCP flow (iperf3) from spoke a
# to spoke c through a userspace-mode hub run as uid 65534, which routes
# inside the daemon, against the same flow through a TUN-mode hub with the
# kernel forwarding, in the same run (target: ratio >= 0.8). The configs
# come from one topology file; the hub's two modes share its key, so the
# spokes (spokewire in TUN mode) stay up and re-handshake with whichever
# hub runs. Rounds alternate the two hubs; medians are compared.
#   ROUNDS=3 SECONDS_PER_TEST=10 BUILD=build bench/hub.sh
# Not part of the test suite. Needs root.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s -j"$(nproc)" BUILD="$BUILD" all || exit 1
export SPOKEWIRE=$PWD/$BUILD/spokewire
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_TEST:-10}
# shellcheck source=../tests/net/lib.sh
source tests/net/lib.sh
# shellcheck source=../tests/net/userspace.sh
source tests/net/userspace.sh
T_NAME=bench

# shellcheck source=lib.sh
source bench/lib.sh
iperf_mbps() {
	nsx "$1" timeout $((DUR + 20)) iperf3 -c "$2" -t "$DUR" -J 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null || echo 0
}

NS_H=$PFX-h
NS_A=$PFX-a
NS_C=$PFX-c
ns_new "$NS_H"
ns_new "$NS_A"
ns_new "$NS_C"
veth_link "$NS_H" "$NS_A" 1
veth_link "$NS_H" "$NS_C" 2
ip -n "$NS_C" route add "$(outer4 1 0)/24" via "$(outer4 2 1)"
IF=$(ifname b)
cat >"$T_DIR/bench.topology" <<EOF
[Network]
Name = bench
Address = 10.70.0.0/24
ListenPort = 51820
SpokeToSpoke = all
Interface = $IF

[Hub]
Name = hub
Endpoint = $(outer4 1 1):51820

[Spoke]
Name = a

[Spoke]
Name = c
EOF
"$SPOKEWIRE" topology "$T_DIR/bench.topology" --out "$T_DIR/out" >/dev/null || die "topology"
chmod 755 "$T_DIR" "$T_DIR/out"
mkdir -m 755 "$T_DIR/us"
# The same hub in userspace mode: Mode after its [Interface] line.
sed 's/^\[Interface\]$/[Interface]\nMode = userspace/' "$T_DIR/out/hub/$IF.conf" >"$T_DIR/us/$IF.conf"
chmod 600 "$T_DIR/us/$IF.conf"
chown 65534:65534 "$T_DIR/us/$IF.conf"
C_IP=$(awk '$1 == "c" { print $3 }' "$T_DIR/out/summary.txt")
nsx "$NS_C" iperf3 -s >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")

# stop_all: every daemon in the three namespaces, and wait for them to go.
stop_all() {
	local ns p
	for ns in "$NS_H" "$NS_A" "$NS_C"; do
		for p in $(ns_daemon_pids "$ns" spokewire); do kill "$p"; done
	done
	for ns in "$NS_H" "$NS_A" "$NS_C"; do
		wait_until 10 bash -c "[ -z \"\$(ns_daemon_pids $ns spokewire)\" ]" 2>/dev/null || sleep 2
	done
}
# measure HUB-UP CONF: the spokes and that hub fresh, then one flow a -> c.
measure() {
	"$1" "$NS_H" "$2" || die "hub up ($2)"
	up_root_own "$NS_A" "$T_DIR/out/a/$IF.conf" || die "spoke a up"
	up_root_own "$NS_C" "$T_DIR/out/c/$IF.conf" || die "spoke c up"
	ping_wait "$NS_A" 20 "$C_IP" || die "a cannot reach c through the hub ($2)"
	iperf_mbps "$NS_A" "$C_IP"
	stop_all
}
export -f ns_daemon_pids impl_comm

tun_r="" us_r=""
for round in $(seq "$ROUNDS"); do
	r=$(measure up_root "$T_DIR/out/hub/$IF.conf")
	u=$(measure up_nobody "$T_DIR/us/$IF.conf")
	tun_r+=" $r"
	us_r+=" $u"
	echo "round $round: TUN hub $r Mbit/s, userspace hub $u Mbit/s"
done
tun=$(median <<<"$tun_r")
us=$(median <<<"$us_r")
r=$(ratio "$us" "$tun")
echo "[Hub] spoke to spoke, one TCP flow, median of $ROUNDS x ${DUR}s:"
echo "  TUN hub (kernel forwarding) $tun Mbit/s, userspace hub (uid 65534) $us Mbit/s: ratio $r (target >= 0.8: $(verdict "$r" 0.8))"
