#!/bin/bash
# The VPN exit service (issue 16): deploy/exit-vpn/entrypoint.sh, as the
# container runs it, in a namespace as uid 65534 with no capabilities and
# /var/run/wireguard not writable: the controller and a userspace exit hub
# that joins it (--mode userspace --sections) and is kept in sync. A user
# created with the master key; a device config fetched with the user's key
# and loaded into Debian's wireguard-go with wg-quick in a client
# namespace: curl to a web server in an "internet" namespace leaves through
# the exit (the server sees the hub's address), ping works, 256 MiB come
# down SHA-256 checked, also through our relay at 20 ms RTT with 1% loss;
# a denied prefix is reset at once; the proxy on 3128
# serves a client without WireGuard; the user deleted: the client's next
# request fails within 5 s and a download in progress is cut, not left
# hanging.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

MIB=${EXIT_MIB:-256}
NS_E=$PFX-e
NS_C=$PFX-c
NS_I=$PFX-i
NS_X=$PFX-x
for ns in "$NS_E" "$NS_C" "$NS_I" "$NS_X"; do ns_new "$ns"; done
veth_link "$NS_E" "$NS_C" 1
veth_link "$NS_E" "$NS_X" 3
# The internet: a web server on a public-looking address behind the exit.
ip link add inet netns "$NS_E" type veth peer name inet netns "$NS_I"
ip -n "$NS_E" addr add 203.0.113.1/24 dev inet
ip -n "$NS_I" addr add 203.0.113.10/24 dev inet
ip -n "$NS_E" link set inet up
ip -n "$NS_I" link set inet up
# The exit may open ping sockets (as a container runtime allows).
nsx "$NS_E" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
mkdir -m 755 -p "$T_DIR/www"
head -c $((MIB << 20)) /dev/urandom >"$T_DIR/www/blob"
echo "hello from the internet" >"$T_DIR/www/index.html"
chmod 644 "$T_DIR/www/"*
WANT=$(sha256sum <"$T_DIR/www/blob" | cut -d' ' -f1)
nsx "$NS_I" python3 -m http.server --bind 203.0.113.10 80 --directory "$T_DIR/www" \
	>"$T_DIR/web.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 10 port_open "$NS_I" 203.0.113.10 80 || die "web server"

# ---- the container, as uid 65534
MASTER=swm_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
IF_E=$(ifname e)
mkdir -p "$T_DIR/data"
chown 65534:65534 "$T_DIR/data"
chmod 755 "$T_DIR"
ip netns exec "$NS_E" env --default-signal=INT,TERM "${NOBODY[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	SPOKEWIRE="$SPOKEWIRE" SPOKEWIRE_ENDPOINT="$(outer4 1 1):51820" SPOKEWIRE_MASTER_KEY="$MASTER" \
	SPOKEWIRE_DNS=203.0.113.53 DATA_DIR="$T_DIR/data" WG_INTERFACE="$IF_E" \
	sh "$T_ROOT/deploy/exit-vpn/entrypoint.sh" >"$T_DIR/exit.log" 2>&1 </dev/null 8>&- 9>&- &
EPID=$!
T_PIDS+=("$EPID")
API=http://$(outer4 1 1):8000
api() { # METHOD PATH KEY [BODY]
	nsx "$NS_C" curl -s --max-time 10 -X "$1" -H "Authorization: Bearer $3" ${4:+-d "$4"} "$API$2"
}
hub_joined() { api GET /nodes "$MASTER" | grep -q '"exit"'; }
if wait_until 30 hub_joined; then pass exit-hub-joined; else die "the exit hub did not join: $(tail -5 "$T_DIR/exit.log")"; fi
check hub-key-0600 test "$(stat -c '%a %u' "$T_DIR/data/hub/private.key")" = "600 65534"
HUB_PID=$(for p in $(ip netns pids "$NS_E"); do grep -q "^spokewire" "/proc/$p/comm" 2>/dev/null && grep -qa ' up ' <(tr '\0' ' ' <"/proc/$p/cmdline") && echo "$p"; done | head -1)
if [ -n "$HUB_PID" ] && [ "$(caps_of "$HUB_PID")" = "65534 0000000000000000" ]; then pass exit-hub-unprivileged; else fail exit-hub-unprivileged "pid '$HUB_PID'"; fi
check exit-socket-private bash -c "[ -S /tmp/spokewire-65534/$IF_E.sock ]"

# ---- a user and their device
api POST /users "$MASTER" '{"client_id":"alice"}' >"$T_DIR/user.json"
info "POST /users: $(sed 's/"api_key": *"[^"]*"/"api_key": "(redacted)"/' "$T_DIR/user.json")"
UKEY=$(python3 -c "import json; print(json.load(open('$T_DIR/user.json'))['api_key'])")
check user-created test -n "$UKEY"
IF_C=$(ifname c)
mkdir -m 700 "$T_DIR/client"
api POST /users/alice/devices?format=conf "$UKEY" '{"name":"laptop"}' >"$T_DIR/client/$IF_C.conf"
info "device config: $(sed 's/^PrivateKey = .*/PrivateKey = (redacted)/' "$T_DIR/client/$IF_C.conf" | tr '\n' '|')"
check device-routes-everything grep -q '^AllowedIPs = 0.0.0.0/0, ::/0$' "$T_DIR/client/$IF_C.conf"
check device-dns grep -q '^DNS = 203.0.113.53$' "$T_DIR/client/$IF_C.conf"
# (no resolvconf in the namespace: the DNS line is checked, then dropped)
sed -i '/^DNS = /d' "$T_DIR/client/$IF_C.conf"
chmod 600 "$T_DIR/client/$IF_C.conf"
nsx "$NS_C" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
	LOG_LEVEL=error wg-quick up "$T_DIR/client/$IF_C.conf" >"$T_DIR/wg-quick.log" 2>&1 </dev/null 8>&- 9>&-
check client-wg-quick-up test $? = 0

# ---- out through the exit
fetch() { nsx "$NS_C" curl -s --max-time 10 "$@"; }
if wait_until 20 bash -c "ip netns exec $NS_C curl -s --max-time 3 http://203.0.113.10/ | grep -q 'hello from the internet'"; then
	pass client-reaches-internet
else
	fail client-reaches-internet "$(tail -3 "$T_DIR/exit.log")"
fi
check server-sees-exit grep -q '^203.0.113.1 .*"GET / HTTP' "$T_DIR/web.log"
check client-ping-internet ping_wait "$NS_C" 10 203.0.113.10
t0=$(now_ms)
got=$(nsx "$NS_C" curl -s --max-time 300 http://203.0.113.10/blob | sha256sum | cut -d' ' -f1)
ms=$(($(now_ms) - t0))
if [ "$got" = "$WANT" ]; then
	pass "download-${MIB}MiB-sha256"
	info "$MIB MiB through the exit in $ms ms ($((MIB * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
else
	fail "download-${MIB}MiB-sha256" "got $got"
fi
# The same download over a lossy, delayed path (our relay in the client's
# namespace: 10 ms each way, 1% loss each way): the exit's own TCP sends
# it, and must recover.
nsx "$NS_C" python3 "$T_ROOT/tests/net/relay.py" --listen 127.0.0.1:40000 \
	--target "$(outer4 1 1):51820" --delay-ms 10 --loss 1 --mark 51820 \
	>"$T_DIR/relay.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 5 grep -q READY "$T_DIR/relay.log" || die "relay: $(cat "$T_DIR/relay.log")"
nsx "$NS_C" wg set "$IF_C" peer "$(awk '/^PublicKey/ { print $3 }' "$T_DIR/client/$IF_C.conf")" endpoint 127.0.0.1:40000
t0=$(now_ms)
got=$(nsx "$NS_C" curl -s --max-time 300 http://203.0.113.10/blob | sha256sum | cut -d' ' -f1)
ms=$(($(now_ms) - t0))
if [ "$got" = "$WANT" ]; then
	pass "download-${MIB}MiB-lossy-sha256"
	info "$MIB MiB through the exit at 20 ms RTT and 1% loss each way in $ms ms ($((MIB * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"
else
	fail "download-${MIB}MiB-lossy-sha256" "got $got after $ms ms"
fi
t0=$(now_ms)
fetch -o /dev/null http://10.200.3.2:80/
rc=$?
ms=$(($(now_ms) - t0))
if [ $rc = 7 ] && [ $ms -lt 2000 ]; then pass denied-prefix-reset; else fail denied-prefix-reset "curl exit $rc after $ms ms"; fi

# ---- the proxy, for a client without WireGuard
out=$(nsx "$NS_X" curl -s --max-time 10 -x "http://$(outer4 3 1):3128" http://203.0.113.10/ 2>&1)
if [[ $out == *"hello from the internet"* ]]; then pass proxy-3128-plain; else fail proxy-3128-plain "$out"; fi
out=$(nsx "$NS_X" curl -s --max-time 10 -p -x "http://$(outer4 3 1):3128" http://203.0.113.10/)
if [[ $out == *"hello from the internet"* ]]; then pass proxy-3128-connect; else fail proxy-3128-connect "$out"; fi
code=$(nsx "$NS_X" curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$(outer4 3 1):3128" http://10.200.1.2:80/)
if [ "$code" != 200 ]; then pass proxy-denied-prefix; else fail proxy-denied-prefix "$code"; fi

# ---- the user deleted: the tunnel goes within seconds, downloads are cut
# (on the exit: the client cannot be told, it has no tunnel any more)
nsx "$NS_C" curl -s --max-time 60 --limit-rate 200K -o /dev/null http://203.0.113.10/blob &
slow=$!
T_PIDS+=("$slow")
exit_conns() { nsx "$NS_E" ss -Htn state established dst 203.0.113.10 | grep -c .; }
check slow-download-relayed wait_until 5 bash -c "[ \$(ip netns exec $NS_E ss -Htn state established dst 203.0.113.10 | grep -c .) -ge 1 ]"
api DELETE /users/alice "$MASTER" >/dev/null
t0=$(now_ms)
gone() { ! nsx "$NS_C" curl -s --max-time 1 -o /dev/null http://203.0.113.10/; }
if wait_until 5 gone; then
	pass user-deleted-cut-within-5s
	info "user deleted to the client's first failed request: $(($(now_ms) - t0)) ms"
else
	fail user-deleted-cut-within-5s
fi
if wait_until 5 bash -c "[ \$(ip netns exec $NS_E ss -Htn state established dst 203.0.113.10 | grep -c .) = 0 ]"; then
	pass download-in-progress-cut
else
	fail download-in-progress-cut "$(exit_conns) connections from the exit still open"
fi
check exit-log-reset grep -q "connection.* of a removed peer reset" "$T_DIR/exit.log"
check exit-still-running kill -0 "$EPID"
