#!/bin/bash
# Peer management and the checks that keep strangers out: a peer added and
# removed live, preshared keys (matching / mismatched), a wrong public key,
# and allowed-IPs source filtering on receive.
# Namespace A (IMPL_A) is linked to B (link 1) and C (link 2); B and C run
# IMPL_B. Each subtest uses its own pair of interfaces and inner subnet.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_A=$PFX-a
NS_B=$PFX-b
NS_C=$PFX-c
for ns in "$NS_A" "$NS_B" "$NS_C"; do ns_new "$ns"; done
veth_link "$NS_A" "$NS_B" 1
veth_link "$NS_A" "$NS_C" 2
for k in a b c bx; do genkey $k; done
genpsk p1
genpsk p2

# no_handshake_for SECONDS NS IFACE PEERKEY: latest-handshake stays 0 while
# both ends keep pinging (the pings run in the background meanwhile).
handshake_stays_zero() { # NS IFACE PEERKEY
	local hs
	hs=$(latest_handshake "$@")
	[ "${hs:-0}" = 0 ] || { echo "latest handshake $hs on $2"; return 1; }
}
# try_both SECONDS NS1 DEST1 NS2 DEST2: ping both ways for SECONDS; fails
# if any echo was answered.
ping_both_none() {
	local c=$(($1 * 4))
	nsx "$2" ping -q -n -c $c -i 0.25 -W 1 "$3" >/dev/null 2>&1 &
	local p1=$!
	nsx "$4" ping -q -n -c $c -i 0.25 -W 1 "$5" >/dev/null 2>&1 &
	local p2=$!
	wait $p1
	local r1=$?
	wait $p2
	local r2=$?
	[ $r1 -ne 0 ] && [ $r2 -ne 0 ]
}

# ------------------------------------------------------------ live add/remove
IF_A=$(ifname a)
IF_B=$(ifname b)
IF_C=$(ifname c)
wg_dev "$NS_A" "$IF_A" "$IMPL_A" a 51820 10.20.0.1/24
wg_dev "$NS_B" "$IF_B" "$IMPL_B" b 51830 10.20.0.2/24
wg_dev "$NS_C" "$IF_C" "$IMPL_B" c 51840 10.20.0.3/24
wg_peer "$NS_A" "$IF_A" b 10.20.0.2/32 "$(outer4 1 2):51830"
wg_peer "$NS_B" "$IF_B" a 10.20.0.0/24 "$(outer4 1 1):51820"
wg_peer "$NS_C" "$IF_C" a 10.20.0.0/24 "$(outer4 2 1):51820"
check base-ping-b ping_wait "$NS_B" 10 10.20.0.1
check not-yet-peer-c ping_none "$NS_C" 10.20.0.1

# C joins while A is running and talking to B
wg_peer "$NS_A" "$IF_A" c 10.20.0.3/32 "$(outer4 2 2):51840"
check add-peers-count test "$(nsx "$NS_A" wg show "$IF_A" peers | wc -l)" = 2
check add-ping-c-to-a ping_wait "$NS_C" 10 10.20.0.1
check add-ping-a-to-c ping_ok "$NS_A" 10.20.0.3
check add-b-unaffected ping_ok "$NS_B" 10.20.0.1

# C is removed live
nsx "$NS_A" wg set "$IF_A" peer "$(pub c)" remove
peers_only_b() { [ "$(nsx "$NS_A" wg show "$IF_A" peers)" = "$(pub b)" ]; }
check remove-peers-list peers_only_b
check remove-ping-c-fails ping_none "$NS_C" 10.20.0.1
check remove-ping-a-to-c-fails ping_none "$NS_A" 10.20.0.3
check remove-b-unaffected ping_ok "$NS_B" 10.20.0.1

# and re-added: A starts a fresh handshake (C still holds the old session,
# which A forgot; C alone would only notice after ~15 s without replies)
wg_peer "$NS_A" "$IF_A" c 10.20.0.3/32 "$(outer4 2 2):51840"
check readd-ping-a-to-c ping_wait "$NS_A" 10 10.20.0.3
check readd-ping-c-to-a ping_ok "$NS_C" 10.20.0.1

# ------------------------------------------------------------ preshared keys
IF_A2=$(ifname a2)
IF_B2=$(ifname b2)
wg_dev "$NS_A" "$IF_A2" "$IMPL_A" a 51822 10.22.0.1/24
wg_dev "$NS_B" "$IF_B2" "$IMPL_B" b 51832 10.22.0.2/24
wg_peer "$NS_A" "$IF_A2" b 10.22.0.2/32 "$(outer4 1 2):51832" preshared-key "$(pskfile p1)"
wg_peer "$NS_B" "$IF_B2" a 10.22.0.1/32 "$(outer4 1 1):51822" preshared-key "$(pskfile p1)"
check psk-match-ping ping_wait "$NS_A" 10 10.22.0.2
check psk-match-ping-back ping_ok "$NS_B" 10.22.0.1
psk_shown() { [ "$(nsx "$NS_A" wg show "$IF_A2" preshared-keys | awk '{print $2}')" = "$(cat "$(pskfile p1)")" ]; }
check psk-shown psk_shown

IF_A3=$(ifname a3)
IF_B3=$(ifname b3)
wg_dev "$NS_A" "$IF_A3" "$IMPL_A" a 51823 10.23.0.1/24
wg_dev "$NS_B" "$IF_B3" "$IMPL_B" b 51833 10.23.0.2/24
wg_peer "$NS_A" "$IF_A3" b 10.23.0.2/32 "$(outer4 1 2):51833" preshared-key "$(pskfile p1)"
wg_peer "$NS_B" "$IF_B3" a 10.23.0.1/32 "$(outer4 1 1):51823" preshared-key "$(pskfile p2)"
check psk-mismatch-no-ping ping_both_none 3 "$NS_A" 10.23.0.2 "$NS_B" 10.23.0.1
check psk-mismatch-no-handshake-a handshake_stays_zero "$NS_A" "$IF_A3" b
check psk-mismatch-no-handshake-b handshake_stays_zero "$NS_B" "$IF_B3" a

# ------------------------------------------------------------ wrong public key
# A believes B's key is bx; B has A's right key. Neither side may ever
# complete a handshake.
IF_A4=$(ifname a4)
IF_B4=$(ifname b4)
wg_dev "$NS_A" "$IF_A4" "$IMPL_A" a 51824 10.24.0.1/24
wg_dev "$NS_B" "$IF_B4" "$IMPL_B" b 51834 10.24.0.2/24
wg_peer "$NS_A" "$IF_A4" bx 10.24.0.2/32 "$(outer4 1 2):51834"
wg_peer "$NS_B" "$IF_B4" a 10.24.0.1/32 "$(outer4 1 1):51824"
check wrongkey-no-ping ping_both_none 3 "$NS_A" 10.24.0.2 "$NS_B" 10.24.0.1
check wrongkey-no-handshake-a handshake_stays_zero "$NS_A" "$IF_A4" bx
check wrongkey-no-handshake-b handshake_stays_zero "$NS_B" "$IF_B4" a

# ------------------------------------------------------------ allowed-IPs source filter
# A allows only 10.25.0.2 / fd25::2 from B. B has a second address on its
# WireGuard interface and pings A from it: B encrypts and sends (its peer A
# covers the whole /24), A must drop the decrypted packets. nft counters in
# A's namespace see what A's interface delivers to the stack.
IF_A5=$(ifname a5)
IF_B5=$(ifname b5)
wg_dev "$NS_A" "$IF_A5" "$IMPL_A" a 51825 10.25.0.1/24 fd25::1/64
wg_dev "$NS_B" "$IF_B5" "$IMPL_B" b 51835 10.25.0.2/24 10.25.0.22/24 fd25::2/64 fd25::22/64
wg_peer "$NS_A" "$IF_A5" b 10.25.0.2/32,fd25::2/128 "$(outer4 1 2):51835"
wg_peer "$NS_B" "$IF_B5" a 10.25.0.0/24,fd25::/64 "$(outer4 1 1):51825"
nsx "$NS_A" nft -f - <<EOF || fail filter-nft-setup "nft failed"
table inet swt_filter {
	counter good4 {}
	counter bad4 {}
	counter good6 {}
	counter bad6 {}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname "$IF_A5" ip saddr 10.25.0.2 counter name good4
		iifname "$IF_A5" ip saddr 10.25.0.22 counter name bad4
		iifname "$IF_A5" ip6 saddr fd25::2 counter name good6
		iifname "$IF_A5" ip6 saddr fd25::22 counter name bad6
	}
}
EOF
nft_packets() { nsx "$NS_A" nft list counter inet swt_filter "$1" | awk '/packets/ { print $2 }'; }
b_tx() { transfer "$NS_B" "$IF_B5" a | awk '{ print $2 }'; }

check filter-allowed-src4 ping_wait "$NS_B" 10 -I 10.25.0.2 10.25.0.1
check filter-allowed-src6 ping_wait "$NS_B" 5 -I fd25::2 fd25::1
tx0=$(b_tx)
check filter-bad-src4-no-reply ping_none "$NS_B" -I 10.25.0.22 10.25.0.1
check filter-bad-src6-no-reply ping_none "$NS_B" -I fd25::22 fd25::1
tx1=$(b_tx)
# B really sent them through the tunnel (wireguard-go counts tx bytes)...
check filter-bad-src-was-sent test "${tx1:-0}" -gt "${tx0:-0}"
# ...and A delivered none of them, while the allowed source got through.
check filter-bad-src4-dropped test "$(nft_packets bad4)" = 0
check filter-bad-src6-dropped test "$(nft_packets bad6)" = 0
check filter-good-src4-delivered test "$(nft_packets good4)" -gt 0
check filter-good-src6-delivered test "$(nft_packets good6)" -gt 0
check filter-still-works ping_ok "$NS_B" -I 10.25.0.2 10.25.0.1
