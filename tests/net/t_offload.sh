#!/bin/bash
# The offload paths (TSO split on TUN reads, GRO-coalesced TUN writes, UDP
# GSO/GRO) against the kernel's TCP: transfers of odd sizes over IPv4 and
# IPv6 inner addresses arrive intact (SHA-256), packets at the MTU pass and
# one byte more with DF does not, and with several crypto workers datagrams
# of one flow arrive in order; fragmented UDP (IPv4 joined by the daemon,
# IPv6 and over-page datagrams by the kernel) arrives whole, also when its
# halves arrive in different socket reads. Runs spokewire
# on both sides (offloads on both ends), then against IMPL_B (wireguard-go).
source "$(dirname "$0")/lib.sh"

XFER="python3 $T_ROOT/tests/net/xfer.py"

tunnel() { # NAME IMPL_SECOND
	local tag=$1 implb=$2
	A="$PFX-$tag-a" B="$PFX-$tag-b"
	ns_new "$A"
	ns_new "$B"
	veth_link "$A" "$B" 1
	IFA=$(ifname "${tag}a") IFB=$(ifname "${tag}b")
	genkey "$tag-ka"
	genkey "$tag-kb"
	SPOKEWIRE_WORKERS=3 wg_dev "$A" "$IFA" spokewire "$tag-ka" 51820 10.61.0.1/24 fd61::1/64
	wg_dev "$B" "$IFB" "$implb" "$tag-kb" 51820 10.61.0.2/24 fd61::2/64
	wg_peer "$A" "$IFA" "$tag-kb" 10.61.0.2/32,fd61::2/128 "$(outer4 1 2):51820"
	wg_peer "$B" "$IFB" "$tag-ka" 10.61.0.1/32,fd61::1/128 "$(outer4 1 1):51820"
	ping_wait "$A" 10 10.61.0.2 || die "$tag: tunnel did not come up"
}

# xfer_check NAME FROM_NS TO_NS TO_ADDR SIZES...: each size sent once, the
# receiver's length and hash must match the sender's.
xfer_check() {
	local name=$1 from=$2 to=$3 addr=$4 port=$((20000 + RANDOM % 20000)) out
	shift 4
	out="$T_DIR/${name//\//-}.recv"
	nsx "$to" $XFER serve-tcp "$addr" "$port" $# >"$out" 2>&1 &
	wait_until 5 grep -q ready "$out" || { fail "$name" "server did not start"; return; }
	local i=1 size sent got ok=1
	for size in "$@"; do
		sent=$(nsx "$from" timeout 30 $XFER send-tcp "$addr" "$port" "$size" "$i")
		wait_until 10 test "$(grep -c . "$out")" -gt "$i"
		got=$(sed -n "$((i + 1))p" "$out")
		if [ "$sent" != "$got" ]; then
			ok=0
			info "$name size $size: sent '$sent' received '$got'"
		fi
		i=$((i + 1))
	done
	[ "$ok" = 1 ] && pass "$name" || fail "$name" "a transfer arrived damaged or short"
}

SIZES="1 1367 1368 1420 1421 65535 65536 1000003 4194309"

# reasm_oks NS: IPv4 datagrams the kernel of NS has reassembled so far.
reasm_oks() {
	nsx "$1" awk '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "ReasmOKs") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# udp_frag_check NAME FROM_NS TO_NS TO_ADDR ROUNDS SIZES...: UDP datagrams
# that leave as IP fragments arrive whole (contents checked); a few may be
# lost to load, none damaged.
udp_frag_check() {
	local name=$1 from=$2 to=$3 addr=$4 rounds=$5 port=$((20000 + RANDOM % 20000)) out n good damaged
	shift 5
	n=$((rounds * $#))
	out="$T_DIR/${name//\//-}.recv"
	nsx "$to" $XFER serve-udp-check "$addr" "$port" "$n" >"$out" 2>&1 &
	wait_until 5 grep -q ready "$out" || { fail "$name" "server did not start"; return; }
	nsx "$from" $XFER send-udp-sizes "$addr" "$port" "$rounds" "$@"
	wait_until 10 test "$(grep -c . "$out")" -gt 1
	read -r good damaged <<<"$(tail -1 "$out")"
	info "$name: $good of $n datagrams whole, ${damaged:-?} damaged"
	check "$name" test "${damaged:-1}" = 0 -a "${good:-0}" -ge $((n * 9 / 10))
}

# Fragmented UDP into spokewire (A): around the MTU, odd sizes, several
# fragments, and sizes only the kernel can join (over a page).
frag_checks() { # TAG
	local tag=$1 k0 k1 lo hi
	udp_frag_check "$tag/udp4-fragments" "$B" "$A" 10.61.0.1 10 1393 1400 1401 1407 1408 2001 2801 3905 8000 60000
	udp_frag_check "$tag/udp6-fragments" "$B" "$A" fd61::1 10 1373 1400 1401 1407 1408 2001 2801 3905 8000 60000
	# The daemon joins IPv4 fragments that arrive together, so the
	# kernel behind it reassembles few of 200 such datagrams.
	k0=$(reasm_oks "$A")
	udp_frag_check "$tag/udp4-fragments-burst" "$B" "$A" 10.61.0.1 50 1400 1401 2801 3000
	k1=$(reasm_oks "$A")
	info "$tag: the kernel reassembled $((k1 - k0)) of 200 IPv4 datagrams"
	check "$tag/udp4-joined-before-tun" test $((k1 - k0)) -lt 100
	# Paced, a datagram's fragments often arrive in two socket reads;
	# the daemon keeps the first half for the next read instead of
	# leaving it to the kernel. With A's kernel reassembly switched off
	# (no memory for it, as when it fills up with halves of datagrams
	# lost under load), they must still arrive.
	lo=$(nsx "$A" sysctl -n net.ipv4.ipfrag_low_thresh)
	hi=$(nsx "$A" sysctl -n net.ipv4.ipfrag_high_thresh)
	nsx "$A" sysctl -q -w net.ipv4.ipfrag_low_thresh=0 net.ipv4.ipfrag_high_thresh=0
	udp_frag_check "$tag/udp4-joined-across-reads" "$B" "$A" 10.61.0.1 100 1400 1401 2801
	nsx "$A" sysctl -q -w net.ipv4.ipfrag_high_thresh="$hi" net.ipv4.ipfrag_low_thresh="$lo"
}

run_pair() { # TAG IMPL_B
	local tag=$1 implb=$2
	tunnel "$tag" "$implb"
	xfer_check "$tag/tcp4-a-to-b" "$A" "$B" 10.61.0.2 $SIZES
	xfer_check "$tag/tcp4-b-to-a" "$B" "$A" 10.61.0.1 $SIZES
	xfer_check "$tag/tcp6-a-to-b" "$A" "$B" fd61::2 $SIZES
	xfer_check "$tag/tcp6-b-to-a" "$B" "$A" fd61::1 $SIZES
	# ICMP at the tunnel MTU (1420): 1392 + 28 fits, 1393 with DF does not
	check "$tag/ping-at-mtu4" nsx "$A" ping -q -n -c 2 -W 2 -M do -s 1392 10.61.0.2
	check "$tag/ping-at-mtu6" nsx "$A" ping -q -n -c 2 -W 2 -M do -s 1372 fd61::2
	check_not "$tag/ping-over-mtu4" nsx "$A" ping -q -n -c 1 -W 1 -M do -s 1393 10.61.0.2
	frag_checks "$tag"
}

run_pair ss spokewire

# udp_order NAME ADDR SIZES: 20,000 numbered datagrams of one flow from A
# to B, sizes in turn, must arrive in order.
udp_order() {
	local name=$1 addr=$2 sizes=$3 out="$T_DIR/udp-$1.recv" port=$((7000 + RANDOM % 1000)) got reordered
	nsx "$B" $XFER serve-udp "$addr" "$port" 6 >"$out" 2>&1 &
	wait_until 5 grep -q ready "$out" || die "udp server"
	nsx "$A" $XFER send-udp "$addr" "$port" 20000 "$sizes"
	wait_until 10 test "$(grep -c . "$out")" -gt 1
	read -r got reordered <<<"$(tail -1 "$out")"
	info "$name: $got of 20000 datagrams received, $reordered out of order"
	check "ss/$name" test "${reordered:-1}" = 0
	# How many arrive depends on the machine's load (UDP may drop); the
	# order check needs enough of them to mean something.
	check "ss/$name-enough" test "${got:-0}" -gt 1000
}
# With several workers; then fragmented datagrams (the sender holds their
# tails back, the receiver joins them), alone and between unfragmented ones
# of the same flow, over IPv4 and IPv6.
udp_order udp-order 10.61.0.2 1200
udp_order udp-order-fragments4 10.61.0.2 1400
udp_order udp-order-mixed4 10.61.0.2 1400,100,3000,1392,1393
udp_order udp-order-mixed6 fd61::2 1400,100,3000,1372,1373

run_pair sb "$IMPL_B"
