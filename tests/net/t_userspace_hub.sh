#!/bin/bash
# A userspace-mode hub (uid 65534, no capabilities) serving a TUN-mode
# spoke whose apps use the kernel's TCP: [Expose] makes PostgreSQL (in a
# namespace behind the hub) reachable on the hub's overlay address;
# [Egress] lets the spoke reach an "internet" namespace through the hub:
# TCP (allowed destinations connected, denied ones refused at once with
# ICMP prohibited, closed ports reset), UDP (DNS-like exchanges over IPv4
# and IPv6, closed ports and denied destinations failing fast, thousands
# of flows with the oldest evicted and the hub's descriptors bounded) and
# ping (refused at once, and said in the log, while the hub's namespace
# does not allow ping sockets; answered by the real host once it does);
# ping of the hub's overlay address; the hub's `wg show`; `down` as uid
# 65534.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_H=$PFX-h
NS_S=$PFX-s
NS_D=$PFX-d
NS_I=$PFX-i
ns_new "$NS_H"
ns_new "$NS_S"
ns_new "$NS_D"
ns_new "$NS_I"
veth_link "$NS_H" "$NS_S" 1
veth_link "$NS_H" "$NS_D" 2
veth_link "$NS_H" "$NS_I" 3
ip -n "$NS_I" addr add 10.200.3.3/24 dev vl3
# New namespaces allow nobody ping sockets; say so rather than rely on it.
nsx "$NS_H" sysctl -qw net.ipv4.ping_group_range="1 0"
genkey hub
genkey spoke
IF_H=$(ifname h)
IF_S=$(ifname s)
DB=$(outer4 2 2)
WEB=$(outer4 3 2)
WEB6=$(outer6 3 2)
UDPF=$T_ROOT/tests/net/udpflows.py

pg_start "$NS_D" "$DB" 5432
nginx_start "$NS_I" 8080
for a in "$WEB" "$WEB6"; do
	nsx "$NS_I" python3 "$UDPF" serve "$a" 5353 >>"$T_DIR/udpserve.log" 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
done

HUB_CONF=$(conf_write "$IF_H" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16, fd50::1/64
ListenPort = 51820
Mode = userspace

[Peer]
PublicKey = $(pub spoke)
AllowedIPs = 10.50.3.10/32, fd50::3:10/128

[Expose]
Listen = 5432
Target = $DB:5432

[Expose]
Listen = 10.50.0.1:2222
Target = $DB:1

[Egress]
Allow = 10.200.3.0/24, fd00:200:3::/64
Deny = 10.200.3.3/32
EOF
)
SPOKE_CONF=$(conf_write "$IF_S" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile spoke)")
Address = 10.50.3.10/32, fd50::3:10/128

[Peer]
PublicKey = $(pub hub)
Endpoint = $(outer4 1 1):51820
AllowedIPs = 10.50.0.0/16, 10.200.3.0/24, 10.200.4.0/24, fd50::/64, fd00:200:3::/64
EOF
)

check hub-up up_nobody "$NS_H" "$HUB_CONF"
HPID=$(ns_daemon_pids "$NS_H" spokewire | head -1)
if [ -n "$HPID" ] && [ "$(caps_of "$HPID")" = "65534 0000000000000000" ]; then
	pass hub-no-privileges
else
	fail hub-no-privileges "pid '$HPID'"
fi
check spoke-up up_root "$NS_S" "$SPOKE_CONF"

if ping_wait "$NS_S" 10 10.50.0.1; then pass ping-hub-overlay; else fail ping-hub-overlay; fi
check hub-wg-show bash -c "nsenter --mount=/proc/$HPID/ns/mnt wg show $IF_H latest-handshakes | awk '\$2 > 0' | grep -q ."

# ---- [Expose]
out=$(psql_q "$NS_S" 10.50.0.1 5432 "select 6 * 7")
if [ "$out" = 42 ]; then pass expose-psql; else fail expose-psql "got '$out'"; fi
out=$(psql_q "$NS_S" 10.50.0.1 5432 "select sum(length(repeat('y', g))) from generate_series(1, 3000) g")
if [ "$out" = 4501500 ]; then pass expose-psql-bulk; else fail expose-psql-bulk "got '$out'"; fi
start=$(now_ms)
out=$(nsx "$NS_S" timeout 5 bash -c 'exec 3<>/dev/tcp/10.50.0.1/2222 && echo connected' 2>&1)
el=$(($(now_ms) - start))
if [ $el -lt 2000 ] && [[ $out == *refused* ]]; then pass expose-closed-target-rst; else fail expose-closed-target-rst "${el} ms: $out"; fi
start=$(now_ms)
out=$(nsx "$NS_S" timeout 5 bash -c 'exec 3<>/dev/tcp/10.50.0.1/9 && echo connected' 2>&1)
el=$(($(now_ms) - start))
if [ $el -lt 2000 ] && [[ $out == *refused* ]]; then pass overlay-closed-port-rst; else fail overlay-closed-port-rst "${el} ms: $out"; fi

# ---- [Egress]
out=$(nsx "$NS_S" curl -sS -m 10 "http://$WEB:8080/" 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass egress-allowed; else fail egress-allowed "got '$out'"; fi
want=$(sha256sum <"$T_DIR/www/big" | cut -d' ' -f1)
out=$(nsx "$NS_S" curl -sS -m 20 "http://$WEB:8080/big" 2>>"$T_DIR/curl.log" | sha256sum | cut -d' ' -f1)
if [ "$out" = "$want" ]; then pass egress-4mib-sha256; else fail egress-4mib-sha256; fi
start=$(now_ms)
nsx "$NS_S" curl -sS -m 10 http://10.200.3.3:8080/ >/dev/null 2>>"$T_DIR/curl.log"
rc=$?
el=$(($(now_ms) - start))
if [ $rc = 7 ] && [ $el -lt 2000 ]; then pass egress-denied-fast; else fail egress-denied-fast "curl exit $rc after ${el} ms"; fi
start=$(now_ms)
nsx "$NS_S" curl -sS -m 10 "http://$WEB:9/" >/dev/null 2>>"$T_DIR/curl.log"
rc=$?
el=$(($(now_ms) - start))
if [ $rc = 7 ] && [ $el -lt 2000 ]; then pass egress-closed-port-fast; else fail egress-closed-port-fast "curl exit $rc after ${el} ms"; fi
# Outside Allow: refused as well.
start=$(now_ms)
nsx "$NS_S" curl -sS -m 10 http://10.200.4.1:8080/ >/dev/null 2>>"$T_DIR/curl.log"
rc=$?
el=$(($(now_ms) - start))
if [ $rc = 7 ] && [ $el -lt 2000 ]; then pass egress-outside-allow-fast; else fail egress-outside-allow-fast "curl exit $rc after ${el} ms"; fi

# ---- [Egress] UDP
wait_until 5 bash -c "[ \$(grep -c ready '$T_DIR/udpserve.log') = 2 ]" || fail udp-servers-ready
out=$(nsx "$NS_S" timeout 60 python3 "$UDPF" query "$WEB" 5353 50 2>&1)
if [ "$out" = "ok 50" ]; then pass egress-udp-dns-like; else fail egress-udp-dns-like "$out"; fi
out=$(nsx "$NS_S" timeout 60 python3 "$UDPF" query "$WEB6" 5353 10 2>&1)
if [ "$out" = "ok 10" ]; then pass egress-udp-v6; else fail egress-udp-v6 "$out"; fi
# udp_refused NAME DEST PORT WANT: a query fails with WANT within 2 s.
udp_refused() {
	local out
	out=$(nsx "$NS_S" timeout 10 python3 "$UDPF" refused "$2" "$3" 2>&1)
	if [ "${out%% *}" = "$4" ] && [ "${out##* }" -lt 2000 ]; then pass "$1"; else fail "$1" "want $4 in < 2000 ms, got '$out'"; fi
}
# The real destination's port unreachable, relayed.
udp_refused egress-udp-closed-port-fast "$WEB" 5354 ECONNREFUSED
udp_refused egress-udp-closed-port-v6-fast "$WEB6" 5354 ECONNREFUSED
# Denied and outside Allow: ICMP administratively prohibited (code 13).
udp_refused egress-udp-denied-fast 10.200.3.3 5353 EHOSTUNREACH
udp_refused egress-udp-outside-allow-fast 10.200.4.1 53 EHOSTUNREACH
# Our own address, a closed port: still port unreachable.
udp_refused udp-overlay-closed-port 10.50.0.1 5999 ECONNREFUSED
# More flows than the hub keeps (4096, or a quarter of its descriptor
# limit): the first was evicted (a new host socket answers it), the last
# one still has its own; the hub's descriptors stay bounded.
nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$HPID/limits")
keep=$((nofile / 4 < 4096 ? nofile / 4 : 4096))
out=$(nsx "$NS_S" timeout 120 python3 "$UDPF" flows "$WEB" 5353 4400 200 2>&1)
if [ "$out" = "answered 4400 first_same 0 last_same 1" ]; then pass egress-udp-many-flows-evicted; else fail egress-udp-many-flows-evicted "$out"; fi
nfd=$(find "/proc/$HPID/fd" -mindepth 1 2>/dev/null | wc -l)
info "hub descriptors after 4400 UDP flows: $nfd (keeps $keep flows)"
if [ "$nfd" -ge "$keep" ] && [ "$nfd" -lt $((keep + 100)) ]; then pass egress-udp-flows-bounded; else fail egress-udp-flows-bounded "$nfd descriptors"; fi
out=$(nsx "$NS_S" timeout 60 python3 "$UDPF" query "$WEB" 5353 5 2>&1)
if [ "$out" = "ok 5" ]; then pass egress-udp-after-eviction; else fail egress-udp-after-eviction "$out"; fi

# ---- [Egress] ping
# ping_fast NAME DEST WANT-REGEX: one echo, unanswered, reported (WANT) in
# < 2 s.
ping_fast() {
	local out rc start el
	start=$(now_ms)
	out=$(nsx "$NS_S" ping -n -c 1 -W 5 "$2" 2>&1)
	rc=$?
	el=$(($(now_ms) - start))
	if [ $rc != 0 ] && [ $el -lt 2000 ] && [[ $out =~ $3 ]]; then pass "$1"; else fail "$1" "exit $rc after $el ms: $(echo "$out" | head -3)"; fi
}
if grep -q 'ping through this exit is off.*ping_group_range is "1 *0"' "$(uplog "$HUB_CONF")"; then
	pass egress-ping-off-said
else
	fail egress-ping-off-said "$(cat "$(uplog "$HUB_CONF")")"
fi
ping_fast egress-ping-off-fails-fast "$WEB" 'filtered|Prohibited'
ping_fast egress-ping-off-v6-fails-fast "$WEB6" 'filtered|Prohibited|prohibited'
nsx "$NS_H" sysctl -qw net.ipv4.ping_group_range="65534 65534"
if ping_wait "$NS_S" 5 "$WEB"; then pass egress-ping; else fail egress-ping; fi
if ping_wait "$NS_S" 5 "$WEB6"; then pass egress-ping-v6; else fail egress-ping-v6; fi
# Two pings at once (two identifiers, two flows): every echo answered.
nsx "$NS_S" ping -q -n -c 5 -i 0.2 -W 2 "$WEB" >"$T_DIR/ping1.log" 2>&1 &
p1=$!
nsx "$NS_S" ping -q -n -c 5 -i 0.2 -W 2 "$WEB" >"$T_DIR/ping2.log" 2>&1
rc2=$?
wait $p1
rc1=$?
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && grep -q ' 0% packet loss' "$T_DIR/ping1.log" && grep -q ' 0% packet loss' "$T_DIR/ping2.log"; then
	pass egress-ping-concurrent
else
	fail egress-ping-concurrent "$(cat "$T_DIR/ping1.log" "$T_DIR/ping2.log")"
fi
ping_fast egress-ping-denied-fast 10.200.3.3 'filtered|Prohibited'
# Nobody at that address: the hub's host unreachable, relayed.
start=$(now_ms)
out=$(nsx "$NS_S" ping -n -c 1 -W 8 10.200.3.77 2>&1)
rc=$?
el=$(($(now_ms) - start))
if [ $rc != 0 ] && [[ $out == *Unreachable* ]]; then pass egress-ping-no-host-unreachable; else fail egress-ping-no-host-unreachable "exit $rc after $el ms: $out"; fi
if ping_ok "$NS_S" 10.50.0.1; then pass ping-hub-overlay-still-ours; else fail ping-hub-overlay-still-ours; fi

# ---- down
check hub-down down_nobody "$HPID" "$HUB_CONF"
check hub-gone pid_gone "$HPID"
check spoke-down down_root "$NS_S" "$SPOKE_CONF"
