#!/bin/bash
# Userspace mode end to end: a spoke brought up with `spokewire up` as uid
# 65534 with no capabilities (no TUN, the embedded TCP/IP stack) reaches a
# hub (TUN mode, also brought up with `spokewire up`) through our UDP relay
# with delay and loss: psql through a [Forward] to PostgreSQL in a namespace
# behind the hub, curl through SOCKS5 and the HTTP proxy to nginx on the
# hub's overlay address (a 4 MiB file checked by SHA-256), a UDP forward,
# ping of the spoke's overlay address, `wg show`, then `down` for both.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_H=$PFX-h
NS_S=$PFX-s
NS_D=$PFX-d
trap 'exec 1>&8 2>&9; rm -rf "/etc/netns/$NS_S"; cleanup $?' EXIT
ns_new "$NS_H"
ns_new "$NS_S"
ns_new "$NS_D"
veth_link "$NS_H" "$NS_S" 1
veth_link "$NS_H" "$NS_D" 2
ip -n "$NS_D" route add 10.50.0.0/16 via "$(outer4 2 1)"
nsx "$NS_H" sysctl -qw net.ipv4.ip_forward=1
genkey hub
genkey spoke
IF_H=$(ifname h)
IF_S=$(ifname s)
DB=$(outer4 2 2)

pg_start "$NS_D" "$DB" 5432
# A UDP echo on the hub's overlay address.
nsx "$NS_H" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(600):
    try:
        s.bind(("10.50.0.1", 7777)); break
    except OSError:
        time.sleep(0.1)
while True:
    d, a = s.recvfrom(65536); s.sendto(d, a)
' >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")

# The relay in the spoke's namespace: 5 ms each way, 1% loss.
nsx "$NS_S" python3 "$T_ROOT/tests/net/relay.py" --listen 127.0.0.1:40000 \
	--target "$(outer4 1 1):51820" --delay-ms 5 --loss 1 --stats "$T_DIR/relay.stats" \
	>"$T_DIR/relay.out" 2>&1 8>&- 9>&- &
T_PIDS+=("$!")

HUB_CONF=$(conf_write "$IF_H" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16
ListenPort = 51820

[Peer]
PublicKey = $(pub spoke)
AllowedIPs = 10.50.3.10/32
EOF
)
SPOKE_CONF=$(conf_write "$IF_S" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile spoke)")
Address = 10.50.3.10/32
ListenPort = 51820
Mode = userspace
DNS = 10.50.0.1

[Peer]
PublicKey = $(pub hub)
Endpoint = 127.0.0.1:40000
AllowedIPs = 10.50.0.0/16, $(outer4 2 0)/24
PersistentKeepalive = 25

[Forward]
Listen = 127.0.0.1:15432
Target = $DB:5432

[Forward]
Listen = 127.0.0.1:15353
Target = 10.50.0.1:7777
Protocol = udp

[Forward]
Listen = 127.0.0.1:15001
Target = 10.50.0.1:1

[Proxy]
Socks5 = 127.0.0.1:1080
Http = 127.0.0.1:3128
EOF
)
mkdir -p "/etc/netns/$NS_S"
echo "10.50.0.1 web.overlay" >"/etc/netns/$NS_S/hosts"

# ---- hub: TUN mode
check tun-up up_root "$NS_H" "$HUB_CONF"
nginx_start "$NS_H" 10.50.0.1:8080
check tun-address bash -c "ip -n $NS_H -4 addr show dev $IF_H | grep -q 10.50.0.1/16"

# ---- spoke: userspace mode, unprivileged
check userspace-up up_nobody "$NS_S" "$SPOKE_CONF"
SPID=$(ns_daemon_pids "$NS_S" spokewire | head -1)
if [ -n "$SPID" ] && [ "$(caps_of "$SPID")" = "65534 0000000000000000" ]; then
	pass no-privileges
else
	fail no-privileges "pid '$SPID': $( [ -n "$SPID" ] && caps_of "$SPID")"
fi
check no-tun-device bash -c "! ip -n $NS_S link show $IF_S >/dev/null 2>&1"

if ping_wait "$NS_H" 10 10.50.3.10; then pass ping-overlay-address; else fail ping-overlay-address; fi
check wg-show bash -c "nsenter --mount=/proc/$SPID/ns/mnt wg show $IF_S | grep -q 'latest handshake'"
check wg-show-peer bash -c "nsenter --mount=/proc/$SPID/ns/mnt wg show $IF_S peers | grep -qF '$(pub hub)'"

# ---- [Forward] TCP: psql to PostgreSQL behind the hub
out=$(psql_q "$NS_S" 127.0.0.1 15432 "select 6 * 7")
if [ "$out" = 42 ]; then pass forward-psql; else fail forward-psql "got '$out'"; fi
out=$(psql_q "$NS_S" 127.0.0.1 15432 "select count(*) from generate_series(1, 200000) g, lateral (select repeat('x', 100)) r")
if [ "$out" = 200000 ]; then pass forward-psql-bulk; else fail forward-psql-bulk "got '$out'"; fi
# Several clients at once.
ok=1
pids=()
for i in 1 2 3 4 5 6; do
	psql_q "$NS_S" 127.0.0.1 15432 "select $i" >"$T_DIR/par.$i" &
	pids+=("$!")
done
wait "${pids[@]}"
for i in 1 2 3 4 5 6; do [ "$(cat "$T_DIR/par.$i")" = "$i" ] || ok=0; done
if [ $ok = 1 ]; then pass forward-psql-parallel; else fail forward-psql-parallel; fi

# A closed port behind the forward: the client sees the reset, fast.
start=$(now_ms)
nsx "$NS_S" timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15001; cat <&3' >/dev/null 2>&1
el=$(($(now_ms) - start))
if [ $el -lt 3000 ]; then pass forward-refused-fast; else fail forward-refused-fast "${el} ms"; fi

# ---- [Forward] UDP
out=$(nsx "$NS_S" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for _ in range(10):
    s.sendto(b"ping-udp", ("127.0.0.1", 15353))
    try:
        print(s.recvfrom(100)[0].decode()); break
    except socket.timeout:
        pass
')
if [ "$out" = ping-udp ]; then pass forward-udp; else fail forward-udp "got '$out'"; fi

# ---- [Proxy]
want=$(sha256sum <"$T_DIR/www/big" | cut -d' ' -f1)
out=$(nsx "$NS_S" curl -sS -m 20 --socks5-hostname 127.0.0.1:1080 http://web.overlay:8080/ 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass socks5-hostname; else fail socks5-hostname "got '$out'"; fi
out=$(nsx "$NS_S" curl -sS -m 20 --socks5 127.0.0.1:1080 http://10.50.0.1:8080/big 2>>"$T_DIR/curl.log" | sha256sum | cut -d' ' -f1)
if [ "$out" = "$want" ]; then pass socks5-4mib-sha256; else fail socks5-4mib-sha256; fi
out=$(nsx "$NS_S" curl -sS -m 20 -x http://127.0.0.1:3128 http://web.overlay:8080/big 2>>"$T_DIR/curl.log" | sha256sum | cut -d' ' -f1)
if [ "$out" = "$want" ]; then pass http-proxy-absolute-sha256; else fail http-proxy-absolute-sha256; fi
out=$(nsx "$NS_S" curl -sS -m 20 -p -x http://127.0.0.1:3128 http://10.50.0.1:8080/ 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass http-proxy-connect; else fail http-proxy-connect "got '$out'"; fi
code=$(nsx "$NS_S" curl -s -o /dev/null -w '%{http_code}' -m 20 -x http://127.0.0.1:3128 http://no-such-host.invalid/ 2>>"$T_DIR/curl.log")
if [ "$code" = 502 ]; then pass http-proxy-unresolvable-502; else fail http-proxy-unresolvable-502 "got '$code'"; fi
nsx "$NS_S" curl -s -m 10 --socks5-hostname 127.0.0.1:1080 http://10.50.0.1:1/ >/dev/null 2>&1
rc=$?
if [ $rc = 97 ] || [ $rc = 7 ]; then pass socks5-refused; else fail socks5-refused "curl exit $rc"; fi


# ---- down
check userspace-socket-in-its-dir in_mnt "$SPID" test -S "$WG_RUN/$IF_S.sock"
check userspace-down down_nobody "$SPID" "$SPOKE_CONF"
check userspace-gone pid_gone "$SPID"
# Without a writable /var/run/wireguard: it starts anyway, with its socket
# in a directory of its own, says where, and `down` finds it there.
out=$(ip netns exec "$NS_S" "${NOBODY[@]}" "$SPOKEWIRE" up "$SPOKE_CONF" 2>&1)
rc=$?
if [ $rc = 0 ] && [[ $out == *"control socket at /tmp/spokewire-65534/$IF_S.sock"* ]]; then pass unwritable-run-dir-fallback; else fail unwritable-run-dir-fallback "rc $rc: $out"; fi
check fallback-socket test -S "/tmp/spokewire-65534/$IF_S.sock"
check fallback-down nsx "$NS_S" "${NOBODY[@]}" "$SPOKEWIRE" down "$SPOKE_CONF"
check fallback-socket-gone wait_until 5 bash -c "[ ! -e /tmp/spokewire-65534/$IF_S.sock ]"
check tun-down down_root "$NS_H" "$HUB_CONF"
check tun-link-removed bash -c "! ip -n $NS_H link show $IF_H >/dev/null 2>&1"
