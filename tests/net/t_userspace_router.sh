#!/bin/bash
# A rootless hub that routes: the hub of a topology file in Mode =
# userspace, run as uid 65534 with no capabilities. Spokes a and b are
# spokewire TUN nodes, c is its generated file brought up by wg-quick with
# Debian's wireguard-go. Spoke to spoke through the hub per SpokeToSpoke
# (all; group and none applied with `spokewire reload`: refused with ICMP
# admin-prohibited, sessions kept, no ping lost), the TTL decremented and
# "time exceeded" sent as a router does, 256 MiB from a to c through the
# hub (SHA-256 checked; again with a's side through our relay at 20 ms RTT
# and 1% loss), PostgreSQL in a "vpc" namespace behind the hub
# reached with psql from every spoke through the hub's [Expose], and
# HubOriginates = no: a [Forward] on the hub towards a spoke refused at
# once and said in the log.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

MIB=${ROUTER_MIB:-256}
XFER=$T_ROOT/tests/net/xfer.py
NS_H=$PFX-h
NS_V=$PFX-v
declare -A NS=([a]=$PFX-a [b]=$PFX-b [c]=$PFX-c)
declare -A IP=([hub]=10.66.0.1 [a]=10.66.0.11 [b]=10.66.0.12 [c]=10.66.0.13)
ns_new "$NS_H"
ns_new "$NS_V"
n=1
for s in a b c; do
	ns_new "${NS[$s]}"
	veth_link "$NS_H" "${NS[$s]}" $n
	[ $n -gt 1 ] && ip -n "${NS[$s]}" route add "$(outer4 1 0)/24" via "$(outer4 $n 1)"
	n=$((n + 1))
done
# The vpc: reachable from the hub's host side only.
veth_link "$NS_H" "$NS_V" 4
DB=$(outer4 4 2)
pg_start "$NS_V" "$DB" 5432
IF=$(ifname r)
HUB_CONF=$T_DIR/out/hub/$IF.conf

# topo S2S: the topology with SpokeToSpoke = S2S, and its configs; the
# hub's gets a [Forward] towards a's port 8000 (which HubOriginates = no
# must refuse).
topo() {
	cat >"$T_DIR/rt.topology" <<EOF
[Network]
Name = rt
Address = 10.66.0.0/24
ListenPort = 51820
SpokeToSpoke = $1
Interface = $IF

[Hub]
Name = hub
Address = 10.66.0.1
Endpoint = $(outer4 1 1):51820
Mode = userspace
Expose = 5432 -> $DB:5432

[Spoke]
Name = a
Address = 10.66.0.11
Group = x

[Spoke]
Name = b
Address = 10.66.0.12
Group = x

[Spoke]
Name = c
Address = 10.66.0.13
Group = y
EOF
	"$SPOKEWIRE" topology "$T_DIR/rt.topology" --out "$T_DIR/out" >"$T_DIR/topo.out" 2>&1 ||
		die "topology: $(cat "$T_DIR/topo.out")"
	printf '\n[Forward]\nListen = 127.0.0.1:7000\nTarget = %s:8000\n%b' "${IP[a]}" "${2:-}" >>"$HUB_CONF"
	chown -R 65534:65534 "$T_DIR/out/hub"
	chmod 755 "$T_DIR/out"
}
chmod 755 "$T_DIR"
topo all
export LOG_LEVEL=error # its refusals and counters to its log, not verbose
check hub-up-as-nobody up_nobody "$NS_H" "$HUB_CONF"
unset LOG_LEVEL
HPID=$(ns_daemon_pids "$NS_H" spokewire | head -1)
[ -n "$HPID" ] || die "no hub daemon"
check hub-unprivileged test "$(caps_of "$HPID")" = "65534 0000000000000000"
for s in a b; do
	check "$s-up" up_root_own "${NS[$s]}" "$T_DIR/out/$s/$IF.conf"
done
unshare --mount --propagation private -- sh -c \
	'mount -t tmpfs -o mode=0755,size=1m swt-run /var/run/wireguard && exec "$@"' \
	sh ip netns exec "${NS[c]}" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
	wg-quick up "$T_DIR/out/c/$IF.conf" >"$T_DIR/wg-quick-c.log" 2>&1 </dev/null 8>&- 9>&-
check c-wg-quick-up test $? = 0
for s in a b c; do
	ping_wait "${NS[$s]}" 20 "${IP[hub]}" || fail "$s-reaches-hub"
	nsx "${NS[$s]}" python3 -m http.server --bind 0.0.0.0 8000 >/dev/null 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
done
for s in a b c; do
	wait_until 10 port_open "${NS[$s]}" 127.0.0.1 8000 || fail "$s-serves-8000"
done

# ---- SpokeToSpoke = all: routed inside the daemon
if ping_wait "${NS[a]}" 10 "${IP[c]}"; then pass all-a-pings-c; else fail all-a-pings-c; fi
reaches all-a-to-c-service "${NS[a]}" "${IP[c]}" 8000
reaches all-c-to-b-service "${NS[c]}" "${IP[b]}" 8000
# c's reply crossed one router: 64 - 1.
out=$(nsx "${NS[a]}" ping -n -c 1 -W 2 "${IP[c]}" 2>&1)
if [[ $out == *"ttl=63"* ]]; then pass ttl-decremented; else fail ttl-decremented "$out"; fi
out=$(nsx "${NS[a]}" ping -n -c 1 -W 2 -t 1 "${IP[c]}" 2>&1)
if [[ $out == *"From ${IP[hub]}"*"Time to live exceeded"* ]]; then pass ttl-exceeded-from-hub; else fail ttl-exceeded-from-hub "$out"; fi

# ---- the database behind the hub, from every spoke
for s in a b c; do
	if [ "$(psql_q "${NS[$s]}" "${IP[hub]}" 5432 'select 40 + 2')" = 42 ]; then
		pass "psql-from-$s"
	else
		fail "psql-from-$s" "$(tail -2 "$T_DIR/psql.log")"
	fi
done

# ---- 256 MiB spoke to spoke through the hub, kernel TCP both ends
head -c $((MIB << 20)) /dev/urandom >"$T_DIR/blob"
want="$((MIB << 20)) $(sha256sum <"$T_DIR/blob" | cut -d' ' -f1)"
srv=$T_DIR/xfer-srv.out
nsx "${NS[c]}" python3 "$XFER" serve-tcp "${IP[c]}" 9000 1 >"$srv" 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 10 grep -q ready "$srv" || die "xfer server: $(cat "$srv")"
t0=$(now_ms)
nsx "${NS[a]}" timeout 300 python3 "$XFER" send-file "${IP[c]}" 9000 "$T_DIR/blob" >"$T_DIR/xfer-send.out" 2>&1
ms=$(($(now_ms) - t0))
wait_until 30 bash -c "[ \$(wc -l <$srv) -ge 2 ]"
got=$(sed -n 2p "$srv")
if [ "$got" = "$want" ]; then
	pass "bulk-${MIB}MiB-a-to-c-sha256"
	info "$MIB MiB a -> c through the userspace hub in $ms ms ($((MIB * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
else
	fail "bulk-${MIB}MiB-a-to-c-sha256" "want '$want' got '$got' $(tail -3 "$T_DIR/xfer-send.out")"
fi
# The same with a's side lossy and delayed: our relay in the hub's
# namespace (10 ms and 1% loss each way) between a and the hub.
nsx "$NS_H" python3 "$T_ROOT/tests/net/relay.py" --listen "$(outer4 1 1):40001" \
	--target 127.0.0.1:51820 --delay-ms 10 --loss 1 >"$T_DIR/relay.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 5 grep -q READY "$T_DIR/relay.log" || die "relay: $(cat "$T_DIR/relay.log")"
APID=$(ns_daemon_pids "${NS[a]}" spokewire | head -1)
HUB_KEY=$(awk '$1 == "hub" { print $NF }' "$T_DIR/out/summary.txt")
nsenter --mount="/proc/$APID/ns/mnt" --net="/proc/$APID/ns/net" \
	wg set "$IF" peer "$HUB_KEY" endpoint "$(outer4 1 1):40001" || fail a-through-relay
nsx "${NS[c]}" python3 "$XFER" serve-tcp "${IP[c]}" 9001 1 >"$srv.2" 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 10 grep -q ready "$srv.2" || die "xfer server: $(cat "$srv.2")"
t0=$(now_ms)
nsx "${NS[a]}" timeout 300 python3 "$XFER" send-file "${IP[c]}" 9001 "$T_DIR/blob" >"$T_DIR/xfer-send2.out" 2>&1
ms=$(($(now_ms) - t0))
wait_until 30 bash -c "[ \$(wc -l <$srv.2) -ge 2 ]"
if [ "$(sed -n 2p "$srv.2")" = "$want" ]; then
	pass "bulk-${MIB}MiB-lossy-sha256"
	info "$MIB MiB a -> c through the hub with a's side at 20 ms RTT and 1% loss in $ms ms"
else
	fail "bulk-${MIB}MiB-lossy-sha256" "want '$want' got '$(sed -n 2p "$srv.2")'"
fi
rm -f "$T_DIR/blob"
# a dials the hub directly again (the hub follows it: roaming).
nsenter --mount="/proc/$APID/ns/mnt" --net="/proc/$APID/ns/net" \
	wg set "$IF" peer "$HUB_KEY" endpoint "$(outer4 1 1):51820"
ping_wait "${NS[a]}" 10 "${IP[hub]}" || fail a-direct-again

# ---- HubOriginates = no: the hub's [Forward] towards a is refused
t0=$(now_ms)
nsx "$NS_H" timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/7000; read -t 2 -u 3 x' 2>/dev/null
ms=$(($(now_ms) - t0))
if [ "$ms" -lt 1500 ]; then pass hub-forward-refused; else fail hub-forward-refused "$ms ms"; fi
check hub-refusal-logged grep -q "refused to open a connection to ${IP[a]}:8000: \[Policy\] HubOriginates = no" "$(uplog "$HUB_CONF")"
check hub-answers-a ping_ok "${NS[a]}" "${IP[hub]}"

# ---- group, then none: `reload` on the hub as its user, sessions kept
reload() {
	in_mnt "$HPID" "${NOBODY[@]}" "$SPOKEWIRE" reload "$HUB_CONF" >>"$T_DIR/reload.log" 2>&1
}
hs_of() { in_mnt "$HPID" wg show "$IF" latest-handshakes | awk -v k="$1" '$1 == k { print $2 }'; }
A_KEY=$(grep '^a ' "$T_DIR/out/summary.txt" | awk '{ print $NF }')
hs0=$(hs_of "$A_KEY")
nsx "${NS[a]}" ping -n -q -i 0.05 -c 60 "${IP[b]}" >"$T_DIR/ping-reload.out" 2>&1 &
pp=$!
sleep 0.5
topo group
check reload-group reload
wait $pp
check reload-no-ping-lost grep -q ' 0% packet loss' "$T_DIR/ping-reload.out"
if [ -n "$hs0" ] && [ "$(hs_of "$A_KEY")" = "$hs0" ]; then pass reload-session-kept; else fail reload-session-kept "$hs0 -> $(hs_of "$A_KEY")"; fi
check reload-says-policy grep -q '0 peers added, 0 removed, 0 changed, 3 unchanged (sessions kept); policy reloaded' "$T_DIR/reload.log"
reaches group-a-to-b "${NS[a]}" "${IP[b]}" 8000
refused group-a-to-c-refused "${NS[a]}" "${IP[c]}" 8000
refused group-c-to-b-refused "${NS[c]}" "${IP[b]}" 8000
sleep 1
out=$(nsx "${NS[a]}" ping -n -c 1 -W 2 "${IP[c]}" 2>&1)
if [[ $out == *"From ${IP[hub]}"*"Packet filtered"* ]]; then pass group-ping-says-prohibited; else fail group-ping-says-prohibited "$out"; fi
topo none
check reload-none reload
refused none-a-to-b-refused "${NS[a]}" "${IP[b]}" 8000
check none-a-still-reaches-hub ping_ok "${NS[a]}" "${IP[hub]}"
if [ "$(psql_q "${NS[c]}" "${IP[hub]}" 5432 'select 1')" = 1 ]; then pass none-psql-still; else fail none-psql-still; fi
# ---- [Expose] and [Forward] changed by `reload`: a new one opens, one
# that cannot listen changes nothing, a removed one closes
nsx "$NS_H" python3 -m http.server --bind 127.0.0.1 8081 >/dev/null 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
nsx "$NS_H" python3 -m http.server --bind 127.0.0.1 7002 >/dev/null 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 10 port_open "$NS_H" 127.0.0.1 8081 || fail hub-side-web
wait_until 10 port_open "$NS_H" 127.0.0.1 7002 || fail hub-side-busy-port
refused expose-8080-not-yet "${NS[a]}" "${IP[hub]}" 8080
topo none '\n[Expose]\nListen = 8080\nTarget = 127.0.0.1:8081\n'
check reload-adds-expose reload
check reload-says-expose-added grep -q '\[Expose\] 1 added, 0 removed, 0 retargeted' "$T_DIR/reload.log"
check expose-8080-after-reload nsx "${NS[a]}" curl -sf -o /dev/null --max-time 5 "http://${IP[hub]}:8080/"
check reload-keeps-sessions grep -q '0 peers added, 0 removed, 0 changed, 3 unchanged' "$T_DIR/reload.log"
topo none '\n[Expose]\nListen = 8080\nTarget = 127.0.0.1:8081\n\n[Forward]\nListen = 127.0.0.1:7002\nTarget = 10.66.0.12:8000\n'
check_not reload-busy-port-refused reload
check reload-busy-port-says-why grep -q 'cannot listen: Address already in use (nothing changed)' "$T_DIR/reload.log"
check expose-8080-kept nsx "${NS[a]}" curl -sf -o /dev/null --max-time 5 "http://${IP[hub]}:8080/"
topo none
check reload-removes-expose reload
check reload-says-expose-removed grep -q '\[Expose\] 0 added, 1 removed, 0 retargeted' "$T_DIR/reload.log"
refused expose-8080-gone "${NS[a]}" "${IP[hub]}" 8080
if [ "$(psql_q "${NS[b]}" "${IP[hub]}" 5432 'select 2')" = 2 ]; then pass expose-5432-kept; else fail expose-5432-kept; fi

# The hub's counters (SIGUSR1) say what it routed and refused.
kill -USR1 "$HPID"
wait_until 5 grep -q ': routed: ' "$(uplog "$HUB_CONF")"
line=$(grep ': routed: ' "$(uplog "$HUB_CONF")" | tail -1)
info "hub: ${line#*: }"
routed=$(awk '{ print $3 }' <<<"$line")
refusals=$(awk '{ print $7 }' <<<"$line")
if [ "${routed:-0}" -gt 100000 ] && [ "${refusals:-0}" -gt 0 ]; then pass hub-route-counters; else fail hub-route-counters "$line"; fi

check hub-down down_nobody "$HPID" "$HUB_CONF"
wait_until 5 pid_gone "$HPID" || fail hub-exits
