#!/bin/bash
# A userspace-mode hub (uid 65534, no capabilities) serving a TUN-mode
# spoke whose apps use the kernel's TCP: [Expose] makes PostgreSQL (in a
# namespace behind the hub) reachable on the hub's overlay address;
# [Egress] lets the spoke reach an "internet" namespace through the hub,
# allowed destinations connected, denied ones refused at once (ICMP
# prohibited), closed ports reset; ping of the hub's overlay address; the
# hub's `wg show`; `down` as uid 65534.
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
genkey hub
genkey spoke
IF_H=$(ifname h)
IF_S=$(ifname s)
DB=$(outer4 2 2)
WEB=$(outer4 3 2)

pg_start "$NS_D" "$DB" 5432
nginx_start "$NS_I" 8080

HUB_CONF=$(conf_write "$IF_H" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16
ListenPort = 51820
Mode = userspace

[Peer]
PublicKey = $(pub spoke)
AllowedIPs = 10.50.3.10/32

[Expose]
Listen = 5432
Target = $DB:5432

[Expose]
Listen = 10.50.0.1:2222
Target = $DB:1

[Egress]
Allow = 10.200.3.0/24
Deny = 10.200.3.3/32
EOF
)
SPOKE_CONF=$(conf_write "$IF_S" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile spoke)")
Address = 10.50.3.10/32

[Peer]
PublicKey = $(pub hub)
Endpoint = $(outer4 1 1):51820
AllowedIPs = 10.50.0.0/16, 10.200.3.0/24, 10.200.4.0/24
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

# ---- down
check hub-down down_nobody "$HPID" "$HUB_CONF"
check hub-gone pid_gone "$HPID"
check spoke-down down_root "$NS_S" "$SPOKE_CONF"
