#!/bin/bash
# The TUN-mode data path as users run it, against a peer we did not write:
# a node brought up with `spokewire up` from a config file as users write
# it (ListenPort set), and Debian's wireguard-go brought up by wg-quick
# with its default socket buffers; kernel TCP at both ends. 256 MiB each
# way (DATAPLANE_MIB), SHA-256 checked, direct and then through our UDP
# relay at 20 ms RTT with 1% loss and 1% reordering. This is what issue
# 15's data-path work runs on: the split's checksums (checked by the
# peer's kernel), the seal in the packet's headroom (opened by
# wireguard-go), data messages opened straight from the receive buffer,
# and the coalesced TUN writes, all meeting loss.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

MIB=${DATAPLANE_MIB:-256}
XFER=$T_ROOT/tests/net/xfer.py
NA="$PFX-a" NB="$PFX-b"
ns_new "$NA"
ns_new "$NB"
veth_link "$NA" "$NB" 1
IFA=$(ifname a) IFB=$(ifname b)
genkey ka
genkey kb

CONF_A=$(conf_write "$IFA" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile ka)")
Address = 10.62.0.1/24
ListenPort = 51820

[Peer]
PublicKey = $(pub kb)
AllowedIPs = 10.62.0.2/32
Endpoint = $(outer4 1 2):51820
EOF
)
check a-up up_root "$NA" "$CONF_A"

(umask 077 && cat >"$T_DIR/$IFB.conf") <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile kb)")
Address = 10.62.0.2/24
ListenPort = 51820

[Peer]
PublicKey = $(pub ka)
AllowedIPs = 10.62.0.1/32
Endpoint = $(outer4 1 1):51820
EOF
ip netns exec "$NB" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
	wg-quick up "$T_DIR/$IFB.conf" >"$T_DIR/wg-quick-b.log" 2>&1 </dev/null 8>&- 9>&-
check b-wg-quick-up test $? = 0
check b-is-debian-wireguard-go test -n "$(ns_daemon_pids "$NB" wireguard-go)"
check tunnel-up ping_wait "$NA" 10 10.62.0.2

head -c $((MIB << 20)) /dev/urandom >"$T_DIR/blob"
WANT="$((MIB << 20)) $(sha256sum <"$T_DIR/blob" | cut -d' ' -f1)"

# bulk NAME FROM_NS TO_NS TO_ADDR PORT: the blob from FROM_NS to a kernel
# TCP server in TO_NS; the server's count and hash must be the blob's.
bulk() {
	local name=$1 from=$2 to=$3 addr=$4 port=$5 srv="$T_DIR/srv-$1.out" t0 ms
	nsx "$to" python3 "$XFER" serve-tcp "$addr" "$port" 1 >"$srv" 2>&1 8>&- 9>&- &
	T_PIDS+=("$!")
	wait_until 10 grep -q ready "$srv" || { fail "$name" "server: $(cat "$srv")"; return; }
	t0=$(now_ms)
	nsx "$from" timeout 60 python3 "$XFER" send-file "$addr" "$port" "$T_DIR/blob" \
		>"$T_DIR/send-$name.out" 2>&1
	ms=$(($(now_ms) - t0))
	wait_until 30 bash -c "[ \$(wc -l <'$srv') -ge 2 ]"
	if [ "$(sed -n 2p "$srv")" = "$WANT" ]; then
		pass "$name"
		info "$name: $MIB MiB in $ms ms ($((MIB * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
	else
		fail "$name" "want '$WANT' got '$(sed -n 2p "$srv")' $(tail -2 "$T_DIR/send-$name.out")"
	fi
}

bulk "bulk-${MIB}MiB-to-wireguard-go-sha256" "$NA" "$NB" 10.62.0.2 9000
bulk "bulk-${MIB}MiB-from-wireguard-go-sha256" "$NB" "$NA" 10.62.0.1 9001

# Through our relay in b's namespace: 10 ms each way, 1% loss, 1% of
# datagrams held back 5 ms. a is pointed at it with wg(8); wireguard-go
# answers the relay's address (roaming).
nsx "$NB" python3 "$T_ROOT/tests/net/relay.py" --listen "$(outer4 1 2):40001" \
	--target 127.0.0.1:51820 --delay-ms 10 --loss 1 --reorder 1 \
	--stats "$T_DIR/relay.stats" >"$T_DIR/relay.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 5 grep -q READY "$T_DIR/relay.log" || die "relay: $(cat "$T_DIR/relay.log")"
RELAY=$(ns_pid_cmd "$NB" "relay.py --listen")
check a-through-relay nsx "$NA" wg set "$IFA" peer "$(pub kb)" endpoint "$(outer4 1 2):40001"
check tunnel-through-relay ping_wait "$NA" 10 10.62.0.2

bulk "bulk-${MIB}MiB-to-wireguard-go-lossy-sha256" "$NA" "$NB" 10.62.0.2 9002
bulk "bulk-${MIB}MiB-from-wireguard-go-lossy-sha256" "$NB" "$NA" 10.62.0.1 9003
rm -f "$T_DIR/blob"

# The transfers met loss and reordering: the relay's counts say so.
kill -TERM "$RELAY"
wait_until 5 test -s "$T_DIR/relay.stats"
info "$(cat "$T_DIR/relay.stats" 2>/dev/null)"
relay_count() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$T_DIR/relay.stats"; }
check transfers-met-loss test "$(relay_count lost)" -gt 1000
check transfers-met-reordering test "$(relay_count reordered)" -gt 1000

check a-down down_root "$NA" "$CONF_A"
check a-interface-gone bash -c "! ip -n '$NA' link show '$IFA' 2>/dev/null"
