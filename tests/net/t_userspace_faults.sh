#!/bin/bash
# Userspace mode under faults, against a peer we did not write. A node
# brought up with `spokewire up` from a config file as users write it
# (ListenPort, Mode = userspace), as uid 65534 without capabilities, serves
# a local nginx through [Expose] and reaches a kernel TCP server through
# [Forward]. The peer is Debian's wireguard-go in TUN mode with its default
# socket buffers, where curl downloads and a kernel socket receives.
# 256 MiB each way (FAULT_MIB), SHA-256 checked: direct, then through our
# UDP relay with 20 ms delay each way and 1% loss, 5% loss, reordering, a
# 2 s blackhole mid-transfer, and a restart of the peer mid-transfer (the
# download completes or ends with an error: never a hang). The node's
# watchdog must count no stalled connection (tcp_stalls in its log).
# FAULT_SCENARIOS="direct loss1 ..." runs some of them; FAULT_TIMEOUT
# (default 300) is how long one transfer may take before it counts as hung.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

MIB=${FAULT_MIB:-256}
XFER_LIMIT=${FAULT_TIMEOUT:-300} # seconds a transfer may take: past it, a hang
XFER=$T_ROOT/tests/net/xfer.py
NS_U=$PFX-u
NS_P=$PFX-p
ns_new "$NS_U"
ns_new "$NS_P"
veth_link "$NS_U" "$NS_P" 1
genkey node
genkey peer
IF_U=$(ifname u)
IF_P=$(ifname p)
PEER_EP=$(outer4 1 2):51820

nginx_start "$NS_U" 127.0.0.1:8001
head -c $((MIB << 20)) /dev/urandom >"$T_DIR/www/blob"
chmod 644 "$T_DIR/www/blob"
WANT=$(sha256sum <"$T_DIR/www/blob" | cut -d' ' -f1)

# The peer: Debian's wireguard-go, configured with wg(8).
peer_up() {
	wg_dev "$NS_P" "$IF_P" wireguard-go peer 51820 10.60.0.1/24
	wg_peer "$NS_P" "$IF_P" node 10.60.0.2/32
}
peer_up

NODE_CONF=$(conf_write "$IF_U" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile node)")
Address = 10.60.0.2/32
ListenPort = 51820
Mode = userspace

[Peer]
PublicKey = $(pub peer)
Endpoint = $PEER_EP
AllowedIPs = 10.60.0.1/32
PersistentKeepalive = 25

[Expose]
Listen = 8000
Target = 127.0.0.1:8001

[Forward]
Listen = 127.0.0.1:15000
Target = 10.60.0.1:9000
EOF
)
export LOG_LEVEL=verbose # the watchdog's lines and the TCP counters at exit
check up up_nobody "$NS_U" "$NODE_CONF"
unset LOG_LEVEL
NPID=$(ns_daemon_pids "$NS_U" spokewire | head -1)
[ -n "$NPID" ] || die "the node is not running"
if [ "$(caps_of "$NPID")" = "65534 0000000000000000" ]; then
	pass no-privileges
else
	fail no-privileges "$(caps_of "$NPID")"
fi
check listen-port bash -c "nsenter --mount=/proc/$NPID/ns/mnt wg show $IF_U listen-port | grep -qx 51820"
ping_wait "$NS_P" 15 10.60.0.2 || die "no handshake with the peer"

# set_endpoint ADDR:PORT: where the node sends (the relay, or the peer).
set_endpoint() {
	in_mnt "$NPID" wg set "$IF_U" peer "$(pub peer)" endpoint "$1"
}

RELAY_PID=
# relay ARGS...: (re)start our UDP relay in front of the peer.
relay() {
	if [ -n "$RELAY_PID" ]; then
		kill "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
		info "relay: $(cat "$T_DIR/relay.stats" 2>/dev/null)"
	fi
	ip netns exec "$NS_U" python3 "$T_ROOT/tests/net/relay.py" --listen 127.0.0.1:40000 \
		--target "$PEER_EP" --stats "$T_DIR/relay.stats" "$@" \
		>"$T_DIR/relay.out" 2>&1 8>&- 9>&- &
	RELAY_PID=$!
	T_PIDS+=("$RELAY_PID")
	wait_until 5 grep -q READY "$T_DIR/relay.out" ||
		die "relay did not start: $(cat "$T_DIR/relay.out")"
	set_endpoint 127.0.0.1:40000
	roam
}

# roam: the peer learns the node's new address from its next packet: send
# one (a connection through [Forward] to a closed port) until the peer's
# ping comes back, instead of waiting for the keepalive.
roam() {
	local i
	for i in $(seq 30); do
		nsx "$NS_U" timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15000' 2>/dev/null
		ping_ok "$NS_P" 10.60.0.2 && return 0
	done
	fail roam "the peer does not reach the node through the relay"
}

DROPS0=0
OUT0=0
REXMT0=0
# since NAME: what the last transfer cost: the peer's receive-buffer drops,
# our segments and retransmissions.
since() {
	local d out rexmt
	d=$(nstat_get "$NS_P" UdpRcvbufErrors) # full receive buffers
	read -r out rexmt <<<"$(tcp_counters "$NPID" "$NODE_CONF")"
	info "$1: $((out - OUT0)) segments, $((rexmt - REXMT0)) retransmitted, peer dropped $((d - DROPS0)) datagrams for a full buffer"
	DROPS0=$d
	OUT0=$out
	REXMT0=$rexmt
}

# download NAME [HOOK]: curl fetches the blob through [Expose]; HOOK runs
# (in the background) once a quarter has arrived. Sets DL_RC.
download() {
	local name=$1 hook=${2:-} out=$T_DIR/dl start el got pid
	rm -f "$out"
	start=$(now_ms)
	nsx "$NS_P" timeout "$XFER_LIMIT" curl -sS -o "$out" http://10.60.0.2:8000/blob \
		2>"$T_DIR/curl-$name.log" &
	pid=$!
	if [ -n "$hook" ]; then
		wait_until 120 bash -c "[ \$(stat -c %s $out 2>/dev/null || echo 0) -ge $((MIB << 18)) ]"
		$hook
	fi
	wait "$pid"
	DL_RC=$?
	el=$(($(now_ms) - start))
	got=$(sha256sum <"$out" | cut -d' ' -f1)
	info "$name download: rc $DL_RC, $(stat -c %s "$out") bytes in $el ms ($((MIB * 8389 / (el + 1))) Mbit/s)"
	since "$name download"
	[ "$DL_RC" = 0 ] && [ "$got" = "$WANT" ]
}

# upload NAME [HOOK]: the blob through [Forward] to a kernel socket on the
# peer, which hashes what it receives.
upload() {
	local name=$1 hook=${2:-} srv start el spid cpid rc
	srv=$T_DIR/srv-$name
	nsx "$NS_P" python3 "$XFER" serve-tcp 10.60.0.1 9000 1 >"$srv" 2>&1 8>&- 9>&- &
	spid=$!
	wait_until 5 grep -q ready "$srv" || { fail "upload-$name" "receiver did not start"; return 1; }
	start=$(now_ms)
	nsx "$NS_U" timeout "$XFER_LIMIT" python3 "$XFER" send-file 127.0.0.1 15000 "$T_DIR/www/blob" \
		>"$T_DIR/send-$name.log" 2>&1 &
	cpid=$!
	if [ -n "$hook" ]; then
		sleep 1
		$hook
	fi
	wait "$cpid"
	rc=$?
	wait "$spid"
	el=$(($(now_ms) - start))
	info "$name upload: rc $rc, receiver got '$(tail -1 "$srv")' in $el ms ($((MIB * 8389 / (el + 1))) Mbit/s)"
	since "$name upload"
	[ "$rc" = 0 ] && [ "$(tail -1 "$srv")" = "$((MIB << 20)) $WANT" ]
}

blackhole() { kill -USR1 "$RELAY_PID"; }

peer_restart() {
	stop_wg "$IF_P"
	sleep 1
	peer_up
}

# wanted SCENARIO: FAULT_SCENARIOS (default: all of them) names it.
SCENARIOS=${FAULT_SCENARIOS:-direct loss1 loss5 reorder blackhole restart}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# both NAME: download and upload in scenario NAME (HOOK: mid-transfer).
both() {
	check "expose-download-$1" download "$1" "${2:-}"
	check "forward-upload-$1" upload "$1" "${2:-}"
}

# ---- direct: the peer's default socket buffers are the bottleneck
wanted direct && both direct

# ---- through the relay. The direct path is cut both ways (else each side
# would roam back to the other's direct address on the next packet that
# takes it).
nsx "$NS_P" nft -f - <<EOF || die "nft"
table inet swt_direct {
	chain in { type filter hook input priority 0; ip saddr $(outer4 1 1) udp sport 51820 drop; }
	chain out { type filter hook output priority 0; ip daddr $(outer4 1 1) udp dport 51820 drop; }
}
EOF
if wanted loss1; then
	relay --delay-ms 20 --loss 1
	both loss1
fi
if wanted loss5; then
	relay --delay-ms 20 --loss 5
	both loss5
fi
if wanted reorder; then
	relay --delay-ms 20 --reorder 5 --reorder-ms 5
	both reorder
fi
if wanted blackhole; then
	relay --delay-ms 20
	both blackhole blackhole
fi

# ---- the peer restarts mid-download: completes, or fails cleanly
if wanted restart; then
	[ -n "$RELAY_PID" ] || relay --delay-ms 20
	download restart peer_restart
	rc=$DL_RC
	case $rc in
	0 | 18 | 52 | 56) pass peer-restart-no-hang ;;
	*) fail peer-restart-no-hang "curl exit $rc" ;;
	esac
	ping_wait "$NS_P" 30 10.60.0.2 || fail peer-back "no handshake after the restart"
	check expose-download-after-restart download after-restart
fi

# ---- no stalled connection, counted or logged
check down down_nobody "$NPID" "$NODE_CONF"
wait_until 10 pid_gone "$NPID"
LOG=$(uplog "$NODE_CONF")
info "node: $(grep -o 'tcp: .*' "$LOG" | tail -1)"
check no-stall-logged bash -c "! grep -q 'stalled' $LOG"
check tcp-stalls-zero grep -q ', 0 stalls' "$LOG"
