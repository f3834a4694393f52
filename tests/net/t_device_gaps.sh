#!/bin/bash
# Where a userspace device used to differ from WireGuard (issue 17):
#   reply-*   on a host with two addresses on one link and an address on a
#             second link, IPv4 and IPv6, IMPL_A answers from the address
#             the peer dialled, so the peer's endpoint for it stays that
#             address; when the address is removed IMPL_A falls back to a
#             working one and the tunnel keeps passing traffic.
#   move-*    IMPL_A started in one namespace, its interface moved into
#             another: traffic from there, `wg show` from the first, and
#             `ip link del` there ends the daemon and removes its socket.
#   mtu-*     an MTU change followed at once by a ping with DF at the new
#             size.
# The peers are Debian's wireguard-go (IMPL_B).
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_X=$PFX-x
NS_P=$PFX-p
NS_Q=$PFX-q
ns_new "$NS_X"
ns_new "$NS_P"
ns_new "$NS_Q"
veth_link "$NS_X" "$NS_P" 1
veth_link "$NS_X" "$NS_Q" 2
# Secondary addresses on link 1: 10.200.1.3 and fd00:200:1::3. The kernel
# answers from 10.200.1.1 (the primary) and from fd00:200:1::3 (the newest
# IPv6 address): the peers dial the other ones.
ip -n "$NS_X" addr add 10.200.1.3/24 dev vl1
ip -n "$NS_X" addr add fd00:200:1::3/64 dev vl1 nodad
# Q reaches link 1's addresses across link 2.
ip -n "$NS_Q" route add 10.200.1.0/24 via "$(outer4 2 1)"
genkey x
genkey p
genkey p6
genkey q
IF_X=$(ifname x)
IF_P=$(ifname p)
IF_P6=$(ifname p6)
IF_Q=$(ifname q)
wg_dev "$NS_X" "$IF_X" "$IMPL_A" x 51820 10.40.0.1/24
wg_dev "$NS_P" "$IF_P" "$IMPL_B" p 51830 10.40.0.2/32
wg_dev "$NS_P" "$IF_P6" "$IMPL_B" p6 51831 10.40.0.3/32
wg_dev "$NS_Q" "$IF_Q" "$IMPL_B" q 51832 10.40.0.4/32
wg_peer "$NS_X" "$IF_X" p 10.40.0.2/32
wg_peer "$NS_X" "$IF_X" p6 10.40.0.3/32
wg_peer "$NS_X" "$IF_X" q 10.40.0.4/32
# Each peer dials an address that is not X's default source towards it.
wg_peer "$NS_P" "$IF_P" x 10.40.0.0/24 10.200.1.3:51820
wg_peer "$NS_P" "$IF_P6" x 10.40.0.0/24 "[$(outer6 1 1)]:51820"
wg_peer "$NS_Q" "$IF_Q" x 10.40.0.0/24 10.200.1.3:51820
# (P's second interface is reached with ping -I)
ip -n "$NS_P" route add 10.40.0.1/32 dev "$IF_P"
ip -n "$NS_Q" route add 10.40.0.0/24 dev "$IF_Q"

# ---- reply from the address contacted
check reply-v4-ping ping_wait "$NS_P" 10 10.40.0.1
check reply-v6-ping ping_wait "$NS_P" 10 -I "$IF_P6" 10.40.0.1
check reply-other-link-ping ping_wait "$NS_Q" 10 10.40.0.1
# Traffic both ways for a while: a wrong source would have moved them.
for ns_if in "$NS_P $IF_P" "$NS_P $IF_P6" "$NS_Q $IF_Q"; do
	read -r ns ifc <<<"$ns_if"
	nsx "$ns" ping -q -n -c 5 -i 0.1 -I "$ifc" 10.40.0.1 >/dev/null 2>&1
done
nsx "$NS_X" ping -q -n -c 3 -i 0.1 10.40.0.2 >/dev/null 2>&1
nsx "$NS_X" ping -q -n -c 3 -i 0.1 10.40.0.4 >/dev/null 2>&1
ep=$(endpoint_of "$NS_P" "$IF_P" x)
if [ "$ep" = 10.200.1.3:51820 ]; then pass reply-v4-secondary-kept; else fail reply-v4-secondary-kept "endpoint $ep"; fi
ep=$(endpoint_of "$NS_P" "$IF_P6" x)
if [ "$ep" = "[$(outer6 1 1)]:51820" ]; then pass reply-v6-dialled-kept; else fail reply-v6-dialled-kept "endpoint $ep"; fi
ep=$(endpoint_of "$NS_Q" "$IF_Q" x)
if [ "$ep" = 10.200.1.3:51820 ]; then pass reply-other-link-kept; else fail reply-other-link-kept "endpoint $ep"; fi

# ---- the address goes: X falls back and the tunnel keeps working
ip -n "$NS_X" addr del 10.200.1.3/24 dev vl1
ip -n "$NS_X" addr del "$(outer6 1 1)/64" dev vl1
# X speaks first (the peers still dial the removed address): its packets
# now leave from a working address and the peers roam to it.
check reply-v4-after-removal ping_wait "$NS_X" 10 10.40.0.2
# (P's replies for its second interface would route out of its first: X's
# keepalives carry this one over)
nsx "$NS_X" wg set "$IF_X" peer "$(pub p6)" persistent-keepalive 1
check reply-v6-peer-roamed wait_until 10 bash -c "ip netns exec $NS_P wg show $IF_P6 endpoints | grep -q '\[fd00:200:1::3\]:51820'"
check reply-v6-after-removal ping_ok "$NS_P" -I "$IF_P6" 10.40.0.1
check reply-other-link-after-removal ping_wait "$NS_X" 10 10.40.0.4
check reply-v4-peer-roamed bash -c "ip netns exec $NS_P wg show $IF_P endpoints | grep -q '$(outer4 1 1):51820'"
check reply-back-v4 ping_ok "$NS_P" 10.40.0.1
check reply-back-other-link ping_ok "$NS_Q" 10.40.0.1

# ---- an MTU change applies at once: the device knows it as soon as `ip`
# returns, and a DF ping at the new size goes through right after
for mtu in 1380 1440; do
	ip -n "$NS_X" link set "$IF_X" mtu $mtu
	if [ "$IMPL_A" = spokewire ]; then
		got=$(nsx "$NS_X" "$SPOKEWIRE" status "$IF_X" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["datapath"]["mtu"])')
		if [ "$got" = $mtu ]; then pass "mtu-$mtu-at-once"; else fail "mtu-$mtu-at-once" "device says $got"; fi
	fi
	check "mtu-$mtu-df-ping" nsx "$NS_X" ping -n -c 1 -W 2 -M do -s $((mtu - 28)) 10.40.0.2
done

# ---- the interface moves to another namespace
NS_M=$PFX-m
ns_new "$NS_M"
IF_M=$(ifname m)
genkey m
wg_dev "$NS_X" "$IF_M" "$IMPL_A" m 51840
MPID=${T_PID[$IF_M]}
nsx "$NS_X" wg set "$IF_M" peer "$(pub p)" allowed-ips 10.41.0.2/32 endpoint "$(outer4 1 2):51850"
IF_PM=$(ifname pm)
wg_dev "$NS_P" "$IF_PM" "$IMPL_B" p 51850 10.41.0.2/32
wg_peer "$NS_P" "$IF_PM" m 10.41.0.0/24 "$(outer4 1 1):51840"
ip -n "$NS_P" route add 10.41.0.0/24 dev "$IF_PM"
ip -n "$NS_X" link set "$IF_M" netns "$NS_M"
ip -n "$NS_M" addr add 10.41.0.1/24 dev "$IF_M"
ip -n "$NS_M" link set "$IF_M" up
sleep 1.5 # past the daemon's once-a-second look at its interface
check move-daemon-alive kill -0 "$MPID"
check move-ping-from-new-ns ping_wait "$NS_M" 10 10.41.0.2
check move-wg-show-from-old nsx "$NS_X" wg show "$IF_M" latest-handshakes
check move-handshake handshake_done "$NS_X" "$IF_M" p
ip -n "$NS_M" link del "$IF_M"
check move-del-ends-daemon wait_until 5 pid_gone "$MPID"
check move-socket-removed bash -c "[ ! -e $WG_RUN/$IF_M.sock ]"
