#!/bin/bash
# Tunnel throughput and latency: spokewire<->spokewire against
# wireguard-go<->wireguard-go on the same machine, in the same run.
# Two namespaces over veth; the implementations alternate for ROUNDS rounds
# and the medians are compared.
#   ROUNDS=3 SECONDS_PER_TEST=5 bench/throughput.sh
# Not part of the test suite. Needs root; builds build/spokewire first.
set -u
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" || exit 1
export SPOKEWIRE=$PWD/build/spokewire
export WG_LOG_LEVEL=error
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_TEST:-5}
# shellcheck source=../tests/net/lib.sh
source tests/net/lib.sh
T_NAME=bench

declare -A R=() # "impl metric" -> space-separated samples

sample() { R["$1 $2"]="${R["$1 $2"]:-} $3"; }

median() {
	tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "nan"; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# iperf_mbps NS_CLIENT DEST [iperf3 args]: receiver-side Mbit/s.
iperf_mbps() {
	local ns=$1 dst=$2
	shift 2
	nsx "$ns" timeout $((DUR + 15)) iperf3 -c "$dst" -t "$DUR" -J "$@" 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null || echo 0
}

run_round() {
	local impl=$1 a b ifa ifb
	a="$PFX-a$impl" b="$PFX-b$impl"
	a=${a:0:30} b=${b:0:30}
	ns_new "$a"
	ns_new "$b"
	veth_link "$a" "$b" 1
	ifa=$(ifname a) ifb=$(ifname b)
	genkey ka
	genkey kb
	wg_dev "$a" "$ifa" "$impl" ka 51820 10.77.0.1/24
	wg_dev "$b" "$ifb" "$impl" kb 51820 10.77.0.2/24
	wg_peer "$a" "$ifa" kb 10.77.0.2/32 "$(outer4 1 2):51820"
	wg_peer "$b" "$ifb" ka 10.77.0.1/32 "$(outer4 1 1):51820"
	ping_wait "$a" 10 10.77.0.2 || die "$impl tunnel did not come up"
	nsx "$b" iperf3 -s -D -p 5201 >/dev/null 2>&1
	sleep 0.3
	sample "$impl" "tcp_up_mbps" "$(iperf_mbps "$a" 10.77.0.2)"
	sample "$impl" "tcp_down_mbps" "$(iperf_mbps "$a" 10.77.0.2 -R)"
	sample "$impl" "rtt_ms" "$(nsx "$a" ping -q -n -c 50 -i 0.02 10.77.0.2 |
		awk -F/ '/^rtt/ { print $5 }')"
	pkill -f "iperf3 -s -D -p 5201" 2>/dev/null
	stop_wg "$ifa"
	stop_wg "$ifb"
	ip netns del "$a"
	ip netns del "$b"
}

echo "rounds: $ROUNDS, $DUR s per iperf3 run, $(nproc) cores"
for ((i = 1; i <= ROUNDS; i++)); do
	for impl in wireguard-go spokewire; do
		echo "round $i/$ROUNDS: $impl ..." >&2
		run_round "$impl"
	done
done

printf '\n%-16s %14s %14s %8s\n' metric wireguard-go spokewire ratio
for m in tcp_up_mbps tcp_down_mbps rtt_ms; do
	g=$(echo "${R["wireguard-go $m"]}" | median)
	s=$(echo "${R["spokewire $m"]}" | median)
	printf '%-16s %14s %14s %8s\n' "$m" "$g" "$s" \
		"$(awk -v s="$s" -v g="$g" 'BEGIN { if (g > 0) printf "%.2f", s / g; else print "nan" }')"
done
echo "(ratio = spokewire / wireguard-go; higher is better for Mbit/s, lower for rtt)"
