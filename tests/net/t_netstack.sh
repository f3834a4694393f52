#!/bin/bash
# The netstack against the Linux kernel's TCP/IP: tests/netstack's harness
# owns 10.66.0.2 / fd66::2 behind a TUN device whose kernel side is 10.66.0.1
# / fd66::1, in a namespace of its own; tests/netstack/peer.py drives the
# kernel side. A second harness behind a second TUN drops and reorders
# packets. Checks: ping, SHA-256 integrity both ways (NETSTACK_BYTES, default
# 1 GiB each way), window scaling/SACK/timestamps as the kernel sees them
# (ss -tni), half-close both ways, RST for a closed port, UDP echo and ICMP
# port unreachable, zero windows both ways, loss and reordering, an active
# open from the stack, IPv6, and 1,000 simultaneous connections.
. "$(dirname "$0")/lib.sh"

BYTES=${NETSTACK_BYTES:-1073741824}
HARNESS=${HARNESS:-$(dirname "$SPOKEWIRE")/netstack-harness}
[ -x "$HARNESS" ] || die "no $HARNESS (make tests)"
PEER="python3 $T_ROOT/tests/netstack/peer.py"
NS="swns$$-k"
TUN_A="swns$$a"
TUN_B="swns$$b"
TUN_C="swns$$c"

ns_new "$NS"

# tun_up NAME V4PREFIX V6PREFIX: a persistent TUN the harness attaches to.
tun_up() {
	ip -n "$NS" tuntap add dev "$1" mode tun || die "tuntap $1"
	ip -n "$NS" addr add "$2.1/24" dev "$1"
	ip -n "$NS" addr add "$3::1/64" dev "$1" nodad
	# A long queue: the harness is one thread, and bursts of 1000 SYNs
	# or of ACKs must not overflow the default 500 on their way to it.
	ip -n "$NS" link set "$1" mtu 1420 txqueuelen 10000 up || die "link $1"
}
tun_up "$TUN_A" 10.66.0 fd66
tun_up "$TUN_B" 10.67.0 fd67
tun_up "$TUN_C" 10.68.0 fd68

# harness NAME ARGS...: start a harness in the background, wait for READY.
declare -A H_PID=()
harness() {
	local name=$1 log="$T_DIR/$1.log"
	shift
	# ip netns exec directly (not nsx): $! must be the harness itself.
	ip netns exec "$NS" "$HARNESS" "$@" >"$log" 2>&1 &
	H_PID[$name]=$!
	T_PIDS+=("$!")
	wait_until 10 grep -q '^READY' "$log" || die "harness $name not ready"
}

# conn_field NAME N FIELD: FIELD of the Nth (1-based) CONN line of a harness.
conn_field() {
	grep '^CONN ' "$T_DIR/$1.log" | sed -n "$2p" | tr ' ' '\n' |
		sed -n "s/^$3=//p"
}
conns() { grep -c '^CONN ' "$T_DIR/$1.log"; }
conns_ge() { [ "$(conns "$1")" -ge "$2" ]; }
wait_conns() { wait_until "${3:-30}" conns_ge "$1" "$2"; }
# stat NAME KEY: KEY from the harness's last STATS line.
stat() {
	grep '^STATS ' "$T_DIR/$1.log" | tail -n 1 | tr ' ' '\n' |
		sed -n "s/^$2=//p"
}
# kv FILE KEY: KEY=VALUE from peer.py output.
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }

harness A --tun "$TUN_A" --addr 10.66.0.2 --addr fd66::2 \
	--sink 5001 --source 5002:"$BYTES" --echo 5003 --udp-echo 5004 \
	--source 5005:1000000 --source 5006:33554432 --sink-pause 5007 \
	--pause-after 1048576 --pause-ms 3000
n=0 # CONN lines expected from A so far

# ---------------------------------------------------------------- ICMP
check ping-v4 ping_ok "$NS" 10.66.0.2
check ping-v6 ping_ok "$NS" -6 fd66::2

# ---------------------------------------------------------------- integrity
# kernel -> stack
t0=$(now_ms)
nsx "$NS" $PEER send 10.66.0.2 5001 "$BYTES" >"$T_DIR/up.out" 2>&1
ms=$(($(now_ms) - t0))
n=$((n + 1))
wait_conns A $n || fail integrity-up "no CONN line"
tx=$(kv "$T_DIR/up.out" TX_SHA256)
rx=$(conn_field A $n rx_sha256)
if [ -n "$tx" ] && [ "$tx" = "$rx" ] &&
	[ "$(conn_field A $n rx_bytes)" = "$BYTES" ]; then
	pass integrity-up
	info "kernel -> stack: $BYTES bytes in $ms ms ($((BYTES * 8 / (ms + 1) / 1000)) Mbit/s), sha256 $tx"
else
	fail integrity-up "sent $tx, received $rx ($(conn_field A $n rx_bytes) bytes)"
fi

# What the kernel saw: window scaling, SACK, timestamps on its side.
ss_line=$(kv "$T_DIR/up.out" SS)
info "ss -tni: ${ss_line:0:300}"
if [[ $ss_line =~ wscale:([0-9]+),([0-9]+) ]] &&
	[ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
	pass wscale-kernel
else
	fail wscale-kernel "no window scaling in: $ss_line"
fi
# This kernel's ss does not show "ts"/"sack" even between two kernel
# sockets; the kernel's SACK blocks arriving in the lossy test below
# (sack-recovery) show that it took our SACK-permitted option.
if [ "$(conn_field A $n sack)" = 1 ] && [ "$(conn_field A $n ts)" = 1 ] &&
	[[ "$(conn_field A $n wscale)" =~ ^[1-9][0-9]*,[1-9][0-9]*$ ]]; then
	pass options-stack
else
	fail options-stack "$(grep '^CONN ' "$T_DIR/A.log" | sed -n "${n}p")"
fi

# stack -> kernel
t0=$(now_ms)
nsx "$NS" $PEER recv 10.66.0.2 5002 >"$T_DIR/down.out" 2>&1
ms=$(($(now_ms) - t0))
n=$((n + 1))
wait_conns A $n || fail integrity-down "no CONN line"
rx=$(kv "$T_DIR/down.out" RX_SHA256)
tx=$(conn_field A $n tx_sha256)
if [ -n "$rx" ] && [ "$tx" = "$rx" ] &&
	[ "$(kv "$T_DIR/down.out" RX_BYTES)" = "$BYTES" ]; then
	pass integrity-down
	info "stack -> kernel: $BYTES bytes in $ms ms ($((BYTES * 8 / (ms + 1) / 1000)) Mbit/s)"
else
	fail integrity-down "sent $tx, received $rx"
fi

# IPv6
nsx "$NS" $PEER send fd66::2 5001 67108864 >"$T_DIR/v6.out" 2>&1
n=$((n + 1))
wait_conns A $n || fail integrity-v6 "no CONN line"
if [ "$(kv "$T_DIR/v6.out" TX_SHA256)" = "$(conn_field A $n rx_sha256)" ] &&
	[ "$(conn_field A $n rx_bytes)" = 67108864 ]; then
	pass integrity-v6
else
	fail integrity-v6 "$(cat "$T_DIR/v6.out")"
fi

# ---------------------------------------------------------------- half-close
# The kernel half-closes first; the echo keeps sending after our EOF.
nsx "$NS" $PEER echo 10.66.0.2 5003 8000000 >"$T_DIR/echo.out" 2>&1
n=$((n + 1))
wait_conns A $n
if [ "$(kv "$T_DIR/echo.out" RX_BYTES)" = 8000000 ] &&
	[ "$(kv "$T_DIR/echo.out" RX_SHA256)" = "$(kv "$T_DIR/echo.out" TX_SHA256)" ]; then
	pass half-close-kernel-first
else
	fail half-close-kernel-first "$(cat "$T_DIR/echo.out")"
fi
# The stack half-closes first (source sends 1 MB + FIN); the kernel sends
# 2 MB after that EOF and the stack still receives it.
nsx "$NS" $PEER recv 10.66.0.2 5005 --send-after-eof 2000000 >"$T_DIR/hc.out" 2>&1
n=$((n + 1))
wait_conns A $n
if [ "$(kv "$T_DIR/hc.out" RX_BYTES)" = 1000000 ] &&
	[ "$(conn_field A $n rx_bytes)" = 2000000 ] &&
	[ "$(conn_field A $n rx_sha256)" = "$(kv "$T_DIR/hc.out" TX_SHA256)" ] &&
	[ "$(conn_field A $n err)" = 0 ]; then
	pass half-close-stack-first
else
	fail half-close-stack-first "$(cat "$T_DIR/hc.out"; grep '^CONN ' "$T_DIR/A.log" | sed -n "${n}p")"
fi

# ---------------------------------------------------------------- RST, UDP
nsx "$NS" $PEER refused 10.66.0.2 5999 >"$T_DIR/rst.out" 2>&1
check rst-closed-port grep -q '^REFUSED=1' "$T_DIR/rst.out"
nsx "$NS" $PEER refused fd66::2 5999 >"$T_DIR/rst6.out" 2>&1
check rst-closed-port-v6 grep -q '^REFUSED=1' "$T_DIR/rst6.out"
nsx "$NS" $PEER udp 10.66.0.2 5004 >"$T_DIR/udp.out" 2>&1
check udp-echo grep -q '^UDP_ECHO=1' "$T_DIR/udp.out"
nsx "$NS" $PEER udp fd66::2 5004 >"$T_DIR/udp6.out" 2>&1
check udp-echo-v6 grep -q '^UDP_ECHO=1' "$T_DIR/udp6.out"
nsx "$NS" $PEER udp 10.66.0.2 5998 >"$T_DIR/udpx.out" 2>&1
check udp-port-unreachable grep -q '^REFUSED=1' "$T_DIR/udpx.out"

# ---------------------------------------------------------------- zero window
# The kernel stops reading for 3 s: its window closes, we persist.
probes0=$(stat A persist_probes)
nsx "$NS" $PEER recv 10.66.0.2 5006 --pause-after 1048576 --pause-s 3 \
	--rcvbuf 65536 >"$T_DIR/zw1.out" 2>&1
n=$((n + 1))
wait_conns A $n
probes=$(stat A persist_probes)
if [ "$(kv "$T_DIR/zw1.out" RX_BYTES)" = 33554432 ] &&
	[ "$(kv "$T_DIR/zw1.out" RX_SHA256)" = "$(conn_field A $n tx_sha256)" ] &&
	[ "$probes" -gt "$probes0" ]; then
	pass zero-window-kernel
	info "zero window from the kernel: $((probes - probes0)) persist probes"
else
	fail zero-window-kernel "probes $probes0 -> $probes; $(cat "$T_DIR/zw1.out")"
fi
# The stack stops reading for 3 s: our window closes, the kernel probes.
zw0=$(stat A zero_win_sent)
nsx "$NS" $PEER send 10.66.0.2 5007 33554432 >"$T_DIR/zw2.out" 2>&1
n=$((n + 1))
wait_conns A $n
zw=$(stat A zero_win_sent)
if [ "$(kv "$T_DIR/zw2.out" TX_SHA256)" = "$(conn_field A $n rx_sha256)" ] &&
	[ "$zw" -gt "$zw0" ]; then
	pass zero-window-stack
	info "zero window from the stack: $((zw - zw0)) zero-window segments"
else
	fail zero-window-stack "zero windows $zw0 -> $zw; $(cat "$T_DIR/zw2.out")"
fi

# ---------------------------------------------------------------- 1,000 at once
nsx "$NS" $PEER many 10.66.0.2 5003 1000 >"$T_DIR/many.out" 2>&1
if [ "$(kv "$T_DIR/many.out" CONNECTED)" = 1000 ] &&
	[ "$(kv "$T_DIR/many.out" ECHOED_OK)" = 1000 ] &&
	[ "$(kv "$T_DIR/many.out" OPEN_AT_ONCE)" -ge 1000 ]; then
	pass connections-1000
	info "1000 simultaneous connections: connect $(kv "$T_DIR/many.out" CONNECT_S) s, all echoed $(kv "$T_DIR/many.out" TOTAL_S) s"
else
	fail connections-1000 "$(cat "$T_DIR/many.out")"
fi
n=$((n + 1000))
wait_conns A $n 30 || fail connections-1000-closed "$(conns A) CONN lines, want $n"

# ---------------------------------------------------------------- loss, reordering
# Harness B drops 1% and reorders 2% of packets both ways, and opens a
# connection to the kernel itself (active open).
LOSSY=67108864
ip netns exec "$NS" $PEER serve 6000 "$LOSSY" >"$T_DIR/serve.out" 2>&1 &
T_PIDS+=("$!")
wait_until 5 grep -q LISTENING "$T_DIR/serve.out" || die "peer serve"
harness B --tun "$TUN_B" --addr 10.67.0.2 --addr fd67::2 --loss 1 \
	--reorder 2 --seed 7 --sink 5001 --source 5002:"$LOSSY" \
	--connect 10.67.0.1:6000:"$LOSSY"
wait_conns B 1 120
if [ "$(kv "$T_DIR/serve.out" RX_SHA256)" = "$(conn_field B 1 tx_sha256)" ] &&
	[ "$(kv "$T_DIR/serve.out" TX_SHA256)" = "$(conn_field B 1 rx_sha256)" ] &&
	[ "$(conn_field B 1 rx_bytes)" = "$LOSSY" ] &&
	[ "$(kv "$T_DIR/serve.out" RX_BYTES)" = "$LOSSY" ]; then
	pass active-open-lossy
else
	fail active-open-lossy "$(cat "$T_DIR/serve.out"; grep '^CONN' "$T_DIR/B.log")"
fi
t0=$(now_ms)
nsx "$NS" $PEER send 10.67.0.2 5001 "$LOSSY" >"$T_DIR/lossup.out" 2>&1
ms_up=$(($(now_ms) - t0))
wait_conns B 2 60
t0=$(now_ms)
nsx "$NS" $PEER recv 10.67.0.2 5002 >"$T_DIR/lossdown.out" 2>&1
ms_down=$(($(now_ms) - t0))
# A kernel socket with a small buffer (64 KiB) whose application reads in
# bursts (64 KiB, then 5 ms asleep): its window opens in jumps.
# Everything arrives, and nothing stalls.
kdrops() {
	nsx "$NS" nstat -az TcpExtTCPRcvQDrop TcpExtTCPOFODrop TcpExtTCPRcvPruned \
		TcpExtTCPZeroWindowDrop | awk '/^TcpExt/ { s += $2 } END { print s + 0 }'
}
d0=$(kdrops)
rx0=$(stat A retransmits)
nsx "$NS" $PEER recv 10.66.0.2 5006 --rcvbuf 65536 --burst 65536 \
	--burst-gap-ms 5 >"$T_DIR/slow.out" 2>&1
n=$((n + 1))
wait_conns A $n
if [ "$(kv "$T_DIR/slow.out" RX_BYTES)" = 33554432 ] &&
	[ "$(kv "$T_DIR/slow.out" RX_SHA256)" = "$(conn_field A $n tx_sha256)" ]; then
	pass slow-small-receiver
	info "slow receiver (64 KiB buffer, bursts): $(kv "$T_DIR/slow.out" MBPS) Mbit/s, kernel dropped $(($(kdrops) - d0)) segments, we retransmitted $(($(stat A retransmits) - rx0))"
else
	fail slow-small-receiver "$(cat "$T_DIR/slow.out")"
fi

# A receiver that drops: harness C puts a 64 KiB queue, drained at 200
# Mbit/s in 2 ms bursts, in front of the kernel (a UDP socket with a small
# buffer and a reader that comes by now and then, as wireguard-go's). The
# stack must pace into it: little lost, nothing stalled, every byte there.
SLOW=67108864
harness C --tun "$TUN_C" --addr 10.68.0.2 --source 5002:"$SLOW" \
	--rx-queue 65536 --rx-rate-mbit 200 --rx-burst-ms 2
nsx "$NS" $PEER recv 10.68.0.2 5002 >"$T_DIR/rxq.out" 2>&1
wait_conns C 1 60
if [ "$(kv "$T_DIR/rxq.out" RX_BYTES)" = "$SLOW" ] &&
	[ "$(kv "$T_DIR/rxq.out" RX_SHA256)" = "$(conn_field C 1 tx_sha256)" ]; then
	pass dropping-receiver
else
	fail dropping-receiver "$(cat "$T_DIR/rxq.out")"
fi
wait_until 5 grep -q '^STATS' "$T_DIR/C.log"
out=$(stat C tcp_out)
rexmt=$(stat C retransmits)
drops=$(stat C rx_drops)
info "dropping receiver (64 KiB at 200 Mbit/s): $(kv "$T_DIR/rxq.out" MBPS) Mbit/s, it dropped $drops of $out segments, we retransmitted $rexmt"
# Unpaced, a window's worth arrived at once and the queue dropped a third.
if [ "${drops:-0}" -gt 0 ] && [ $((rexmt * 10)) -lt "$out" ]; then
	pass dropping-receiver-little-loss
else
	fail dropping-receiver-little-loss "$drops drops, $rexmt of $out segments retransmitted"
fi

wait_conns B 3 60
if [ "$(kv "$T_DIR/lossup.out" TX_SHA256)" = "$(conn_field B 2 rx_sha256)" ] &&
	[ "$(conn_field B 2 rx_bytes)" = "$LOSSY" ]; then
	pass lossy-up
else
	fail lossy-up "$(cat "$T_DIR/lossup.out")"
fi
if [ "$(kv "$T_DIR/lossdown.out" RX_SHA256)" = "$(conn_field B 3 tx_sha256)" ] &&
	[ "$(kv "$T_DIR/lossdown.out" RX_BYTES)" = "$LOSSY" ]; then
	pass lossy-down
else
	fail lossy-down "$(cat "$T_DIR/lossdown.out")"
fi
info "1% loss + 2% reordering, 64 MiB: up $ms_up ms, down $ms_down ms"
info "B: $(grep '^STATS' "$T_DIR/B.log" | tail -n 1)"
[ "$(stat B ooo)" -gt 0 ] && pass out-of-order-seen || fail out-of-order-seen "no out-of-order segments"
[ "$(stat B retransmits)" -gt 0 ] && pass retransmitted || fail retransmitted "no retransmissions"
[ "$(stat B sack_in)" -gt 0 ] && pass sack-recovery || fail sack-recovery "no SACK blocks received"
[ "$(stat B fast_recoveries)" -gt 0 ] && pass fast-recovery || fail fast-recovery "no fast recovery"

# ---------------------------------------------------------------- shutdown
for h in A B C; do
	kill -TERM "${H_PID[$h]}"
	if wait_until 10 pid_gone "${H_PID[$h]}"; then
		wait "${H_PID[$h]}"
		check "harness-$h-exit" test $? -eq 0
	else
		fail "harness-$h-exit" "did not exit"
	fi
done
info "A: $(grep '^STATS' "$T_DIR/A.log" | tail -n 1)"
# The watchdog: no connection went two RTOs without sending.
for h in A B C; do
	if [ "$(stat $h stalls)" = 0 ] && ! grep -q '^STALL' "$T_DIR/$h.log"; then
		pass "no-stall-$h"
	else
		fail "no-stall-$h" "$(grep '^STALL' "$T_DIR/$h.log" | head -3)"
	fi
done
