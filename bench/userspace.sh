#!/bin/bash
# Userspace mode against the issue's targets, all in one run. Two namespaces
# over veth; a hub in TUN mode; on the client side one TUN-mode interface
# (kernel TCP) and one userspace-mode interface whose [Forward] carries the
# same traffic through our stack. Our UDP relay (tests/net/relay.py) adds
# delay and loss between the client and the hub.
#   1. 10,000 idle connections through a forward: RSS per connection of the
#      userspace daemon, fresh (target <= 16 KiB);
#   2. new connections per second through a forward, sustained for
#      CONN_SECONDS (target 1,000/s);
#   3. no added delay: one TCP flow through the [Forward] vs the TUN path
#      (target >= 70%);
#   4. 50 ms RTT through the relay: the same vs the kernel's TCP over the
#      same relay (target >= 80%), and with 1% loss (target >= 50%);
#   5. into a slow receiver: one flow from a userspace [Expose] down to
#      Debian's wireguard-go in TUN mode (default socket buffers), against
#      the same flow served by kernel TCP over a TUN-mode spokewire to the
#      same wireguard-go: throughput (target >= 80%) and retransmitted
#      segments (target <= 2x the kernel's, per segment sent).
#   ROUNDS=3 SECONDS_PER_TEST=10 BUILD=build bench/userspace.sh
# Not part of the test suite. Needs root.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s -j"$(nproc)" BUILD="$BUILD" all || exit 1
export SPOKEWIRE=$PWD/$BUILD/spokewire
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_TEST:-10}
IDLE_CONNS=${IDLE_CONNS:-10000}
CONN_RATE=${CONN_RATE:-1000}
CONN_SECONDS=${CONN_SECONDS:-10}
# shellcheck source=../tests/net/lib.sh
source tests/net/lib.sh
# shellcheck source=../tests/net/userspace.sh
source tests/net/userspace.sh
T_NAME=bench
ulimit -n "$(ulimit -Hn)"

# shellcheck source=lib.sh
source bench/lib.sh

# iperf_mbps NS DEST PORT [IPERF-ARGS...]: receiver-side Mbit/s of one
# flow (one retry when a run fails to start).
iperf_once() {
	local ns=$1 dest=$2 port=$3
	shift 3
	nsx "$ns" timeout $((DUR + 20)) iperf3 -c "$dest" -p "$port" -t "$DUR" -J "$@" 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null || echo 0
}
iperf_mbps() {
	local r
	r=$(iperf_once "$@")
	if [ "${r%.*}" = 0 ]; then
		sleep 2
		r=$(iperf_once "$@")
	fi
	echo "$r"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

NS_A=$PFX-a
NS_B=$PFX-b
ns_new "$NS_A"
ns_new "$NS_B"
veth_link "$NS_A" "$NS_B" 1
genkey hub
genkey tun
genkey us
IF_H=$(ifname h)
IF_T=$(ifname t)
IF_U=$(ifname u)
HUB=$(outer4 1 2)

HUB_CONF=$(conf_write "$IF_H" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16
ListenPort = 51820
[Peer]
PublicKey = $(pub tun)
AllowedIPs = 10.50.3.10/32
[Peer]
PublicKey = $(pub us)
AllowedIPs = 10.50.3.11/32
EOF
)
TUN_CONF=$(conf_write "$IF_T" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile tun)")
Address = 10.50.3.10/32
[Peer]
PublicKey = $(pub hub)
Endpoint = $HUB:51820
AllowedIPs = 10.50.0.1/32
EOF
)
US_CONF=$(conf_write "$IF_U" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile us)")
Address = 10.50.3.11/32
ListenPort = 51823
Mode = userspace
[Peer]
PublicKey = $(pub hub)
Endpoint = $HUB:51820
AllowedIPs = 10.50.0.1/32
[Forward]
Listen = 127.0.0.1:15201
Target = 10.50.0.1:5201
[Forward]
Listen = 127.0.0.1:15300
Target = 10.50.0.1:5300
[Forward]
Listen = 127.0.0.1:15301
Target = 10.50.0.1:5301
EOF
)
up_root "$NS_B" "$HUB_CONF" || die "hub up"
up_root "$NS_A" "$TUN_CONF" || die "tun up"
up_root "$NS_A" "$US_CONF" || die "userspace up"
US_PID=$(for p in $(ns_daemon_pids "$NS_A" spokewire); do
	grep -q "$IF_U" "/proc/$p/cmdline" && echo "$p"; done | head -1)
[ -n "$US_PID" ] || die "userspace daemon not found"

nsx "$NS_B" iperf3 -s -p 5201 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
nsx "$NS_B" python3 bench/userspace_conns.py hold-server 10.50.0.1 5300 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
nsx "$NS_B" python3 bench/userspace_conns.py echo-server 10.50.0.1 5301 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
# Relays in the client's namespace: 25 ms each way, without and with loss.
nsx "$NS_A" python3 tests/net/relay.py --listen 127.0.0.1:40001 --target "$HUB:51820" \
	--delay-ms 25 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
nsx "$NS_A" python3 tests/net/relay.py --listen 127.0.0.1:40002 --target "$HUB:51820" \
	--delay-ms 25 --loss 1 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
ping_wait "$NS_A" 10 10.50.0.1 || die "no path through the TUN interface"
wait_until 10 port_open "$NS_A" 127.0.0.1 15301 || die "forward not listening"
sleep 1

# endpoint HOST:PORT: both client interfaces reach the hub through it. A
# packet from the hub's old path can roam a client back before the hub
# has learnt the new one, so send through both and check, a few times.
endpoint_is() { [ "$(nsx "$NS_A" wg show "$1" endpoints | awk '{ print $2 }')" = "$2" ]; }
endpoint() {
	local i
	for i in 1 2 3 4 5; do
		nsx "$NS_A" wg set "$IF_T" peer "$(pub hub)" endpoint "$1"
		nsx "$NS_A" wg set "$IF_U" peer "$(pub hub)" endpoint "$1"
		ping_wait "$NS_A" 10 10.50.0.1
		port_open "$NS_A" 127.0.0.1 15301
		sleep 1
		endpoint_is "$IF_T" "$1" && endpoint_is "$IF_U" "$1" && return 0
	done
	echo "  warning: endpoints did not settle on $1"
}

# flows NAME: ROUNDS alternating rounds of TUN and forward; prints medians.
declare -A MED=()
flows() {
	local t="" u="" i
	for ((i = 0; i < ROUNDS; i++)); do
		t+=" $(iperf_mbps "$NS_A" 10.50.0.1 5201)"
		u+=" $(iperf_mbps "$NS_A" 127.0.0.1 15201)"
	done
	MED["$1 tun"]=$(echo "$t" | median)
	MED["$1 us"]=$(echo "$u" | median)
	echo "  $1: kernel TCP over TUN:$t Mbit/s; [Forward]:$u Mbit/s"
}

# Connections first, on a fresh daemon: after the throughput phase its RSS
# high-water mark would hide what they cost.
echo "== $IDLE_CONNS idle connections through a [Forward]"
before=$(rss_kib "$US_PID")
coproc HOLD { nsx "$NS_A" python3 bench/userspace_conns.py hold-client 127.0.0.1 15300 "$IDLE_CONNS" 2>&1; }
read -r -t 300 ready held failed <&"${HOLD[0]}"
sleep 2
after=$(rss_kib "$US_PID")
per_kib=$(awk -v a="$after" -v b="$before" -v n="${held:-0}" 'BEGIN { if (n > 0) printf "%.2f", (a - b) / n; else print "nan" }')
echo "  held ${held:-0} (failed ${failed:-?}): RSS $before KiB -> $after KiB, $per_kib KiB per connection"
eval "exec ${HOLD[1]}>&-"
wait "$HOLD_PID" 2>/dev/null
sleep 5 # let the held connections finish closing

echo "== new connections through a [Forward]: $CONN_RATE/s for ${CONN_SECONDS}s"
rate_json=$(nsx "$NS_A" python3 bench/userspace_conns.py rate-client 127.0.0.1 15301 "$CONN_RATE" "$CONN_SECONDS")
echo "  $rate_json"
read -r ok failed sustained p99 <<<"$(echo "$rate_json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["ok"], d["failed"], "%.0f" % d["completed_rate"], "%.1f" % (d["p99_ms"] or 0))')"

echo "== throughput: one TCP flow, $ROUNDS rounds of ${DUR}s, medians"
endpoint "$HUB:51820"
flows direct
endpoint 127.0.0.1:40001
flows rtt50
endpoint 127.0.0.1:40002
flows rtt50loss1
endpoint "$HUB:51820"

# ---- 5: into Debian's wireguard-go (a receiver with small buffers)
NS_C=$PFX-c
ns_new "$NS_C"
veth_link "$NS_A" "$NS_C" 2
genkey wgo
genkey kern
genkey exp
IF_W=$(ifname w)
IF_K=$(ifname k)
IF_E=$(ifname e)
WGO=$(outer4 2 2)
wg_dev "$NS_C" "$IF_W" wireguard-go wgo 51820 10.70.0.3/24
wg_peer "$NS_C" "$IF_W" kern 10.70.0.1/32
wg_peer "$NS_C" "$IF_W" exp 10.70.0.2/32
K_CONF=$(conf_write "$IF_K" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile kern)")
Address = 10.70.0.1/32
ListenPort = 51821
[Peer]
PublicKey = $(pub wgo)
Endpoint = $WGO:51820
AllowedIPs = 10.70.0.3/32
PersistentKeepalive = 25
EOF
)
E_CONF=$(conf_write "$IF_E" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile exp)")
Address = 10.70.0.2/32
ListenPort = 51822
Mode = userspace
[Peer]
PublicKey = $(pub wgo)
Endpoint = $WGO:51820
AllowedIPs = 10.70.0.3/32
PersistentKeepalive = 25
[Expose]
Listen = 5210
Target = 127.0.0.1:5211
EOF
)
up_root "$NS_A" "$K_CONF" || die "kernel-side interface up"
LOG_LEVEL=verbose up_root "$NS_A" "$E_CONF" || die "expose interface up"
E_PID=$(for p in $(ns_daemon_pids "$NS_A" spokewire); do
	grep -q "$IF_E" "/proc/$p/cmdline" && echo "$p"; done | head -1)
nsx "$NS_A" iperf3 -s -B 10.70.0.1 -p 5210 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
nsx "$NS_A" iperf3 -s -B 127.0.0.1 -p 5211 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
ping_wait "$NS_C" 30 10.70.0.1 || die "no handshake between wireguard-go and the TUN interface"
ping_wait "$NS_C" 30 10.70.0.2 || die "no handshake between wireguard-go and the userspace node"

permille() { awk -v r="$1" -v o="$2" 'BEGIN { if (o > 0) printf "%.1f", 1000 * r / o; else print "nan" }'; }
kt="" ut="" kr="" ur=""
for ((i = 0; i < ROUNDS; i++)); do
	o0=$(nstat_get "$NS_A" TcpOutSegs)
	r0=$(nstat_get "$NS_A" TcpRetransSegs)
	kt+=" $(iperf_mbps "$NS_C" 10.70.0.1 5210 -R)"
	kr+=" $(permille $(($(nstat_get "$NS_A" TcpRetransSegs) - r0)) $(($(nstat_get "$NS_A" TcpOutSegs) - o0)))"
	read -r o0 r0 <<<"$(tcp_counters "$E_PID" "$E_CONF")"
	ut+=" $(iperf_mbps "$NS_C" 10.70.0.2 5210 -R)"
	read -r o1 r1 <<<"$(tcp_counters "$E_PID" "$E_CONF")"
	ur+=" $(permille $((r1 - r0)) $((o1 - o0)))"
done
echo "  into wireguard-go: kernel TCP over TUN:$kt Mbit/s, retransmitted per 1000 sent:$kr"
echo "  into wireguard-go: [Expose]:$ut Mbit/s, retransmitted per 1000 sent:$ur"
MED["wgo tun"]=$(echo "$kt" | median)
MED["wgo us"]=$(echo "$ut" | median)
MED["wgo tun rx"]=$(echo "$kr" | median)
MED["wgo us rx"]=$(echo "$ur" | median)

echo
echo "== summary"
r1=$(ratio "${MED[direct us]}" "${MED[direct tun]}")
r2=$(ratio "${MED[rtt50 us]}" "${MED[rtt50 tun]}")
r3=$(ratio "${MED[rtt50loss1 us]}" "${MED[rtt50loss1 tun]}")
printf '%-44s %10s %10s %6s %6s %s\n' "" forward kernel ratio target ""
printf '%-44s %10s %10s %6s %6s %s\n' "one flow, no added delay (Mbit/s)" "${MED[direct us]}" "${MED[direct tun]}" "$r1" 0.70 "$(verdict "$r1" 0.70)"
printf '%-44s %10s %10s %6s %6s %s\n' "one flow, 50 ms RTT (Mbit/s)" "${MED[rtt50 us]}" "${MED[rtt50 tun]}" "$r2" 0.80 "$(verdict "$r2" 0.80)"
printf '%-44s %10s %10s %6s %6s %s\n' "one flow, 50 ms RTT, 1% loss (Mbit/s)" "${MED[rtt50loss1 us]}" "${MED[rtt50loss1 tun]}" "$r3" 0.50 "$(verdict "$r3" 0.50)"
r4=$(ratio "${MED[wgo us]}" "${MED[wgo tun]}")
r5=$(ratio "${MED[wgo us rx]}" "${MED[wgo tun rx]}")
printf '%-44s %10s %10s %6s %6s %s\n' "[Expose] into wireguard-go (Mbit/s)" "${MED[wgo us]}" "${MED[wgo tun]}" "$r4" 0.80 "$(verdict "$r4" 0.80)"
printf '%-44s %10s %10s %6s %6s %s\n' "  retransmitted per 1000 segments sent" "${MED[wgo us rx]}" "${MED[wgo tun rx]}" "$r5" "<=2" "$(awk -v r="$r5" 'BEGIN { print (r <= 2) ? "ok" : "MISSED" }')"
printf '%-44s %10s %10s %6s %6s %s\n' "idle connections: KiB each ($held held)" "$per_kib" "" "" "<=16" "$(awk -v v="$per_kib" 'BEGIN { print (v <= 16) ? "ok" : "MISSED" }')"
printf '%-44s %10s %10s %6s %6s %s\n' "new connections/s (failed $failed, p99 ${p99} ms)" "$sustained" "" "" ">=$CONN_RATE" "$(awk -v v="$sustained" -v f="$failed" -v t="$CONN_RATE" 'BEGIN { print (v >= t * 0.99 && f == 0) ? "ok" : "MISSED" }')"
