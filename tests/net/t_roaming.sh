#!/bin/bash
# Endpoint roaming: a peer's outer address changes and the other side
# follows it, learning the new endpoint from authenticated packets only,
# with no reconfiguration.
#   roam-b-*    IMPL_B's namespace moves (IPv4); IMPL_A must follow.
#   spoof-*     a replayed data packet / garbage from another address must
#               not move IMPL_A's endpoint for B.
#   roam-a-*    IMPL_A's namespace moves; IMPL_A must keep sending from its
#               new address, IMPL_B follows.
#   roam6-b-*   IMPL_B moves over IPv6 outer endpoints.
# Debian's wireguard-go keeps a sticky source address; when it is the mover
# it is made to rebind by changing its listen port (the kernel module and
# newer implementations do not need this). SWT_ROAM_REBIND=always|never
# overrides that choice for experiments.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_A=$PFX-a
NS_B=$PFX-b
ns_new "$NS_A"
ns_new "$NS_B"
veth_link "$NS_A" "$NS_B" 1
for ns in "$NS_A" "$NS_B"; do
	nsx "$ns" sysctl -qw net.ipv4.conf.vl1.promote_secondaries=1
done
genkey a
genkey b

# rebind_if_needed NS IFACE NEWPORT: change the listen port of a mover that
# keeps a sticky source address. Echoes the port the mover now listens on.
rebind_if_needed() {
	local impl=${T_IMPL[$2]} mode=${SWT_ROAM_REBIND:-auto}
	if [ "$mode" = always ] || { [ "$mode" = auto ] && [ "$impl" = wireguard-go ]; }; then
		nsx "$1" wg set "$2" listen-port "$3" || fail rebind "wg set listen-port failed"
		echo "$3"
	else
		nsx "$1" wg show "$2" listen-port
	fi
}
# ping_keep NS DEST SECONDS: ping in the background (drives the roam).
ping_keep() {
	nsx "$1" ping -q -n -i 0.2 -w "$3" "$2" >/dev/null 2>&1 &
}
endpoint_is() { [ "$(endpoint_of "$1" "$2" "$3")" = "$4" ]; }

IF_A=$(ifname a)
IF_B=$(ifname b)
wg_dev "$NS_A" "$IF_A" "$IMPL_A" a 51820 10.30.0.1/24
wg_dev "$NS_B" "$IF_B" "$IMPL_B" b 51830 10.30.0.2/24
wg_peer "$NS_A" "$IF_A" b 10.30.0.2/32 "$(outer4 1 2):51830"
wg_peer "$NS_B" "$IF_B" a 10.30.0.1/32 "$(outer4 1 1):51820"
check before-ping ping_wait "$NS_A" 10 10.30.0.2
check before-endpoint endpoint_is "$NS_A" "$IF_A" b "$(outer4 1 2):51830"

# ------------------------------------------------------------ B moves
ip -n "$NS_B" addr add 10.200.1.12/24 dev vl1
ip -n "$NS_B" addr del "$(outer4 1 2)/24" dev vl1
port_b=$(rebind_if_needed "$NS_B" "$IF_B" 51831)
ping_keep "$NS_B" 10.30.0.1 10
check roam-b-traffic-resumes ping_wait "$NS_B" 10 10.30.0.1
check roam-b-endpoint-learned wait_until 5 endpoint_is "$NS_A" "$IF_A" b "10.200.1.12:$port_b"
check roam-b-a-reaches-b ping_ok "$NS_A" 10.30.0.2
info "A sees B at $(endpoint_of "$NS_A" "$IF_A" b)"

# ------------------------------------------------------------ spoofing does not move it
# From yet another address of B's namespace: replay a real data packet of
# B's, forge one, send garbage. A must stay pointed at B's real endpoint.
ip -n "$NS_B" addr add 10.200.1.99/24 dev vl1
ping_keep "$NS_B" 10.30.0.1 3
out=$(nsx "$NS_B" python3 "$(dirname "$0")/replay.py" vl1 "$(outer4 1 1)" 51820 10.200.1.99 5)
check spoof-replay-sent grep -q replayed <<<"$out"
sleep 0.5 # the spoofed packets are in flight for a moment; nothing to poll for
check spoof-endpoint-unchanged endpoint_is "$NS_A" "$IF_A" b "10.200.1.12:$port_b"
check spoof-still-works ping_ok "$NS_A" 10.30.0.2
check spoof-endpoint-still-unchanged endpoint_is "$NS_A" "$IF_A" b "10.200.1.12:$port_b"
ip -n "$NS_B" addr del 10.200.1.99/24 dev vl1

# ------------------------------------------------------------ A moves
ip -n "$NS_A" addr add 10.200.1.11/24 dev vl1
ip -n "$NS_A" addr del "$(outer4 1 1)/24" dev vl1
port_a=$(rebind_if_needed "$NS_A" "$IF_A" 51821)
ping_keep "$NS_A" 10.30.0.2 10
check roam-a-traffic-resumes ping_wait "$NS_A" 10 10.30.0.2
check roam-a-endpoint-learned wait_until 5 endpoint_is "$NS_B" "$IF_B" a "10.200.1.11:$port_a"
check roam-a-b-reaches-a ping_ok "$NS_B" 10.30.0.1

# ------------------------------------------------------------ B moves, IPv6 outer
IF_A6=$(ifname a6)
IF_B6=$(ifname b6)
wg_dev "$NS_A" "$IF_A6" "$IMPL_A" a 51840 10.31.0.1/24
wg_dev "$NS_B" "$IF_B6" "$IMPL_B" b 51850 10.31.0.2/24
wg_peer "$NS_A" "$IF_A6" b 10.31.0.2/32 "[$(outer6 1 2)]:51850"
wg_peer "$NS_B" "$IF_B6" a 10.31.0.1/32 "[$(outer6 1 1)]:51840"
check roam6-before-ping ping_wait "$NS_A" 10 10.31.0.2
ip -n "$NS_B" addr add fd00:200:1::12/64 dev vl1 nodad
ip -n "$NS_B" addr del "$(outer6 1 2)/64" dev vl1
port_b6=$(rebind_if_needed "$NS_B" "$IF_B6" 51851)
ping_keep "$NS_B" 10.31.0.1 10
check roam6-b-traffic-resumes ping_wait "$NS_B" 10 10.31.0.1
check roam6-b-endpoint-learned wait_until 5 endpoint_is "$NS_A" "$IF_A6" b "[fd00:200:1::12]:$port_b6"
check roam6-b-a-reaches-b ping_ok "$NS_A" 10.31.0.2
