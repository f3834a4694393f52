#!/bin/bash
# Two namespaces joined by a veth pair, IMPL_A in one, IMPL_B in the other,
# configured with stock wg + ip. Inner IPv4/IPv6 ping, what `wg show`
# reports, iperf3 both ways, and a second tunnel over IPv6 outer endpoints.
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
PORT_A=51820
PORT_B=51821

wg_dev "$NS_A" "$IF_A" "$IMPL_A" a $PORT_A 10.10.0.1/24 fd10::1/64
wg_dev "$NS_B" "$IF_B" "$IMPL_B" b $PORT_B 10.10.0.2/24 fd10::2/64
# A device daemon loads no other role's libraries (the controller's
# stores and HTTP server, the agent's HTTP client: GnuTLS, Kerberos, ...).
if [ "$IMPL_A" = spokewire ]; then
	maps=$(grep -oE 'lib(pq|sqlite3|curl|microhttpd|gnutls|krb5|ldap|qrencode)[^/ ]*' "/proc/${T_PID[$IF_A]}/maps" | sort -u | tr '\n' ' ')
	if [ -z "$maps" ]; then pass device-loads-only-its-libraries; else fail device-loads-only-its-libraries "$maps"; fi
fi
wg_peer "$NS_A" "$IF_A" b 10.10.0.2/32,fd10::2/128 "$(outer4 1 2):$PORT_B"
wg_peer "$NS_B" "$IF_B" a 10.10.0.1/32,fd10::1/128 "$(outer4 1 1):$PORT_A"

# --- inner ping, both families, both directions
check ping4-a-to-b ping_wait "$NS_A" 10 10.10.0.2
check ping4-b-to-a ping_wait "$NS_B" 5 10.10.0.1
check ping6-a-to-b ping_wait "$NS_A" 5 fd10::2
check ping6-b-to-a ping_wait "$NS_B" 5 fd10::1
# a bigger packet that needs the full inner MTU (1420 - 28 = 1392)
check ping4-mtu-sized ping_ok "$NS_A" -M "do" -s 1392 10.10.0.2

# --- what wg show reports, on both sides
show_ok() { # NS IFACE PEERKEY
	local out hs rx tx
	out=$(nsx "$1" wg show "$2") || return 1
	grep -q 'latest handshake:' <<<"$out" || { echo "no 'latest handshake' in: $out"; return 1; }
	grep -q 'transfer:' <<<"$out" || { echo "no 'transfer' in: $out"; return 1; }
	hs=$(latest_handshake "$1" "$2" "$3")
	read -r rx tx <<<"$(transfer "$1" "$2" "$3")"
	if [ "${hs:-0}" -gt 0 ] && [ "${rx:-0}" -gt 0 ] && [ "${tx:-0}" -gt 0 ]; then
		return 0
	fi
	echo "handshake=$hs rx=$rx tx=$tx"
	return 1
}
check wg-show-a show_ok "$NS_A" "$IF_A" b
check wg-show-b show_ok "$NS_B" "$IF_B" a
check endpoint-shown-a test "$(endpoint_of "$NS_A" "$IF_A" b)" = "$(outer4 1 2):$PORT_B"
check listen-port-shown-a test "$(nsx "$NS_A" wg show "$IF_A" listen-port)" = $PORT_A
check public-key-shown-a test "$(nsx "$NS_A" wg show "$IF_A" public-key)" = "$(pub a)"

# --- iperf3, 3 s each way, through the tunnel
nsx "$NS_B" iperf3 -s -B 10.10.0.2 -p 5201 >"$T_DIR/iperf3-server.out" 2>&1 &
listening() { nsx "$NS_B" ss -Hltn 'sport = :5201' | grep -q 5201; }
wait_until 5 listening || fail iperf3-server "iperf3 -s did not start"
mbits() { # JSON file -> receiver Mbit/s (0 if unparsable)
	python3 -c 'import json,sys
try: print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception: print("0")' "$1"
}
for dir in a-to-b b-to-a; do
	args=()
	label="$IMPL_A sends, $IMPL_B receives"
	if [ $dir = b-to-a ]; then
		args=(-R)
		label="$IMPL_B sends, $IMPL_A receives"
	fi
	out="$T_DIR/iperf3-$dir.json"
	timeout 20 ip netns exec "$NS_A" iperf3 -c 10.10.0.2 -p 5201 -t 3 -J "${args[@]}" >"$out" 2>&1
	m=$(mbits "$out")
	info "iperf3 $dir ($label): $m Mbit/s"
	if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$m"; then
		pass "iperf3-$dir"
	else
		fail "iperf3-$dir" "no throughput: $(head -c 300 "$out")"
	fi
done

# --- a second tunnel whose endpoints are IPv6 outer addresses
IF_A6=$(ifname a6)
IF_B6=$(ifname b6)
wg_dev "$NS_A" "$IF_A6" "$IMPL_A" a 51830 10.11.0.1/24 fd11::1/64
wg_dev "$NS_B" "$IF_B6" "$IMPL_B" b 51831 10.11.0.2/24 fd11::2/64
wg_peer "$NS_A" "$IF_A6" b 10.11.0.2/32,fd11::2/128 "[$(outer6 1 2)]:51831"
wg_peer "$NS_B" "$IF_B6" a 10.11.0.1/32,fd11::1/128 "[$(outer6 1 1)]:51830"
check v6-outer-ping4 ping_wait "$NS_A" 10 10.11.0.2
check v6-outer-ping6 ping_wait "$NS_B" 5 fd11::1
check v6-outer-endpoint-a test "$(endpoint_of "$NS_A" "$IF_A6" b)" = "[$(outer6 1 2)]:51831"
check v6-outer-endpoint-b test "$(endpoint_of "$NS_B" "$IF_B6" a)" = "[$(outer6 1 1)]:51830"
check v6-outer-handshake handshake_done "$NS_A" "$IF_A6" b
# the IPv4-endpoint tunnel is unaffected
check v4-tunnel-still-up ping_ok "$NS_A" 10.10.0.2
