#!/bin/bash
# Stack-level benchmark for userspace mode: one TCP flow through spokewire's
# netstack against the Linux kernel's own TCP over the same emulated path.
#
#   kernel -> kernel:  ns C (10.68.0.1) -TUN- relay -TUN- ns S (10.68.0.2)
#   kernel -> stack:   ns C (10.69.0.1) -TUN- harness stack (10.69.0.2)
#   stack -> kernel:   the same, the harness sending
#
# The relay and the harness apply the same one-way delay (half the RTT) and
# random loss in both directions (netstack-harness --relay /
# --delay-ms / --loss; this machine has no netem). Each case runs one flow
# for SECONDS and reports the receiver's rate; the kernel runs with its
# default congestion control and with cubic (TCP_CONGESTION per socket).
#
# Usage: bench/netstack.sh [SECONDS]   (root; HARNESS=path/to/netstack-harness,
# default build/netstack-harness, a non-sanitizer build, made here)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-10}
if [ -z "${HARNESS:-}" ]; then
	make -s -j"$(nproc)" build/netstack-harness || exit 1
	HARNESS=$ROOT/build/netstack-harness
fi
PEER="python3 $ROOT/tests/netstack/peer.py"
P="swnb$$"
C="$P-c"
S="$P-s"
R="$P-r"
TMP=$(mktemp -d "/tmp/$P.XXXXXX")
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for ns in "$C" "$S" "$R"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p"; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$HARNESS" ] || { echo "no $HARNESS"; exit 1; }
for ns in "$C" "$S" "$R"; do
	ip netns add "$ns" || exit 1
	ip -n "$ns" link set lo up
done

# start_bg LOG CMD...: background command, its pid remembered.
start_bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	PIDS+=("$!")
}
wait_for() { # FILE PATTERN
	local i
	for i in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "timeout waiting for $2 in $1"
	cat "$1"
	return 1
}

# path DELAY_MS_ONE_WAY LOSS_PCT: (re)starts relay and harness.
path() {
	local d=$1 l=$2 p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	PIDS=()
	for ns in "$C" "$S" "$R"; do
		for p in $(ip -n "$ns" -o link show | awk -F': ' '/swnb/ {print $2}'); do
			ip -n "$ns" link del "${p%@*}" 2>/dev/null
		done
	done
	# Kernel <-> kernel through the relay: the TUNs are made in R, the
	# relay attaches, then each end moves to its namespace.
	ip -n "$R" tuntap add dev "${P}a" mode tun
	ip -n "$R" tuntap add dev "${P}b" mode tun
	start_bg "$TMP/relay.log" ip netns exec "$R" "$HARNESS" \
		--tun "${P}a" --relay "${P}b" --delay-ms "$d" --loss "$l" --seed 11
	wait_for "$TMP/relay.log" READY || exit 1
	ip -n "$R" link set "${P}a" netns "$C"
	ip -n "$R" link set "${P}b" netns "$S"
	ip -n "$C" addr add 10.68.0.1/24 dev "${P}a"
	ip -n "$S" addr add 10.68.0.2/24 dev "${P}b"
	# Long TUN queues on every hop: the relay and the harness are one
	# thread each, and the default 500 packets overflow on bursts.
	ip -n "$C" link set "${P}a" mtu 1420 txqueuelen 10000 up
	ip -n "$S" link set "${P}b" mtu 1420 txqueuelen 10000 up
	# Kernel <-> stack.
	ip -n "$C" tuntap add dev "${P}c" mode tun
	ip -n "$C" addr add 10.69.0.1/24 dev "${P}c"
	ip -n "$C" link set "${P}c" mtu 1420 txqueuelen 10000 up
	start_bg "$TMP/stack.log" ip netns exec "$C" "$HARNESS" \
		--tun "${P}c" --addr 10.69.0.2 --delay-ms "$d" --loss "$l" \
		--seed 13 --sink 5001 --source 5002:0 ${NETSTACK_CC:+--cc $NETSTACK_CC}
	wait_for "$TMP/stack.log" READY || exit 1
}

kv() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

# kernel_flow CC: one flow C -> S, rate at the receiver.
kernel_flow() {
	start_bg "$TMP/sink.out" ip netns exec "$S" $PEER sinkserve 7000
	wait_for "$TMP/sink.out" LISTENING || return
	ip netns exec "$C" $PEER send 10.68.0.2 7000 0 --seconds "$SECS" \
		--cc "$1" >/dev/null 2>&1
	wait_for "$TMP/sink.out" MBPS >/dev/null || return
	kv "$TMP/sink.out" MBPS
}

stack_rx() { # kernel -> stack sink
	local before after
	before=$(grep -c '^CONN' "$TMP/stack.log")
	ip netns exec "$C" $PEER send 10.69.0.2 5001 0 --seconds "$SECS" \
		--cc "$1" >/dev/null 2>&1
	for _ in $(seq 100); do
		after=$(grep -c '^CONN' "$TMP/stack.log")
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	grep '^CONN' "$TMP/stack.log" | tail -n 1 | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.1f\n", v["rx_bytes"] * 8 / v["ms"] / 1000 }'
}

stack_tx() { # stack source -> kernel
	ip netns exec "$C" $PEER recv 10.69.0.2 5002 --seconds "$SECS" \
		>"$TMP/recv.out" 2>&1
	kv "$TMP/recv.out" MBPS
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }

DEFCC=$(ip netns exec "$C" sysctl -n net.ipv4.tcp_congestion_control)
echo "netstack bench: $SECS s per flow, MTU 1420, kernel default cc $DEFCC, $(nproc) cores"
printf '%-22s %12s %12s %12s %12s %8s %8s\n' path "kernel/$DEFCC" kernel/cubic \
	"kernel->stk" "stk->kernel" "rx/kern" "tx/kern"
for spec in "0 0" "25 0" "25 1"; do
	set -- $spec
	path "$1" "$2"
	kd=$(kernel_flow "$DEFCC")
	kc=$(kernel_flow cubic)
	sr=$(stack_rx "$DEFCC")
	st=$(stack_tx)
	best=$(awk -v a="$kd" -v b="$kc" 'BEGIN { print (a > b ? a : b) }')
	printf '%-22s %12s %12s %12s %12s %8s %8s\n' \
		"rtt $((2 * $1)) ms loss $2%" "$kd" "$kc" "$sr" "$st" \
		"$(ratio "$sr" "$best")" "$(ratio "$st" "$best")"
done
echo "(Mbit/s at the receiver; ratios against the better kernel run)"

# Connections: 10,000 idle ones held against the harness echo port (its
# RSS before and after), and sequential connect/echo/close cycles.
path 0 0
kill "${PIDS[-1]}" 2>/dev/null
wait "${PIDS[-1]}" 2>/dev/null
start_bg "$TMP/echo.log" ip netns exec "$C" "$HARNESS" \
	--tun "${P}c" --addr 10.69.0.2 --echo 5003
wait_for "$TMP/echo.log" READY || exit 1
hp=$(pgrep -f "netstack-harness --tun ${P}c --addr 10.69.0.2 --echo" | head -n 1)
ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$hp/status")
start_bg "$TMP/hold.out" ip netns exec "$C" $PEER hold 10.69.0.2 5003 10000 --seconds 3
wait_for "$TMP/hold.out" HELD || exit 1
sleep 1
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$hp/status")
echo "10000 idle connections: opened in $(kv "$TMP/hold.out" OPEN_S) s, harness RSS $rss0 -> $rss1 KiB, $(( (rss1 - rss0) * 1024 / 10000 )) bytes each"
sleep 3
ip netns exec "$C" $PEER churn 10.69.0.2 5003 --seconds "$SECS" >"$TMP/churn.out" 2>&1
echo "connect/echo/close, one at a time: $(kv "$TMP/churn.out" PER_S) connections/s"
