#!/bin/bash
# The offload paths (TSO split on TUN reads, GRO-coalesced TUN writes, UDP
# GSO/GRO) against the kernel's TCP: transfers of odd sizes over IPv4 and
# IPv6 inner addresses arrive intact (SHA-256), packets at the MTU pass and
# one byte more with DF does not, and with several crypto workers datagrams
# of one flow arrive in order. Runs spokewire on both sides (offloads on
# both ends), then against IMPL_B (wireguard-go).
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
}

run_pair ss spokewire

# UDP order with several workers: 20,000 numbered datagrams of one flow.
out="$T_DIR/udp.recv"
nsx "$B" $XFER serve-udp 10.61.0.2 7000 6 >"$out" 2>&1 &
wait_until 5 grep -q ready "$out" || die "udp server"
nsx "$A" $XFER send-udp 10.61.0.2 7000 20000 1200
wait_until 10 test "$(grep -c . "$out")" -gt 1
read -r got reordered <<<"$(tail -1 "$out")"
info "udp: $got of 20000 datagrams received, $reordered out of order"
check "ss/udp-order" test "${reordered:-1}" = 0
# How many arrive depends on the machine's load (UDP may drop); the order
# check needs enough of them to mean something.
check "ss/udp-enough-for-order" test "${got:-0}" -gt 1000

run_pair sb "$IMPL_B"
