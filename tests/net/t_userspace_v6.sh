#!/bin/bash
# Userspace mode over IPv6. A userspace node U (uid 65534, no capabilities,
# overlay 10.50.0.2 + fd50::2) and a TUN-mode node K (overlay 10.50.0.1 +
# fd50::1/64) tunnel over an IPv6 endpoint. Checked from U's host side:
# [Forward] TCP/UDP from [::1] and from 127.0.0.1 to K's v6 overlay address,
# SOCKS5 with an IPv6 literal (ATYP 4) and with a name that resolves to
# AAAA only, HTTP CONNECT to [v6]:port and an absolute-form http://[v6]/
# request. From K's side: ping of U's v6 overlay address, [Expose] from U's
# overlay address to a service in namespace X reached over IPv6 (a literal
# and a name), and [Egress] to X: allowed, denied (ICMPv6 prohibited: EACCES
# at once), outside Allow, closed port (reset). Bulk transfers both ways are
# compared by SHA-256. W, a userspace node with an IPv6 overlay address
# only, proxies to a name that has both A and AAAA records.
#
#   K (TUN, fd50::1) ==[fd00:200:1::/64]== U (userspace) --[fd00:200:2::/64]-- X
#   K ==[fd00:200:3::/64]== W (userspace, fd50::3 only)
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_K=$PFX-k
NS_U=$PFX-u
NS_X=$PFX-x
NS_W=$PFX-w
trap 'exec 1>&8 2>&9; rm -rf "/etc/netns/$NS_U" "/etc/netns/$NS_W"; cleanup $?' EXIT
ns_new "$NS_K"
ns_new "$NS_U"
ns_new "$NS_X"
ns_new "$NS_W"
veth_link "$NS_K" "$NS_U" 1
veth_link "$NS_U" "$NS_X" 2
veth_link "$NS_K" "$NS_W" 3
ip -n "$NS_X" addr add fd00:200:2::3/64 dev vl2 nodad
genkey k
genkey u
genkey w
IF_K=$(ifname k)
IF_U=$(ifname u)
IF_W=$(ifname w)
SVC=$(outer6 2 2) # the host service behind U, and the egress destination
XFER=(python3 "$T_ROOT/tests/net/xfer.py")
PROBE=(python3 "$T_ROOT/tests/net/probe.py")
BIG=4194304

mkdir -p "/etc/netns/$NS_U"
cat >"/etc/netns/$NS_U/hosts" <<EOF
127.0.0.1 localhost
::1 localhost
fd50::1 web6.test
$SVC svc6.test
EOF
mkdir -p "/etc/netns/$NS_W"
cat >"/etc/netns/$NS_W/hosts" <<EOF
127.0.0.1 localhost
::1 localhost
10.50.0.1 dual.test
fd50::1 dual.test
EOF

K_CONF=$(conf_write "$IF_K" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile k)")
Address = 10.50.0.1/16, fd50::1/64
ListenPort = 51820

[Peer]
PublicKey = $(pub u)
AllowedIPs = 10.50.0.2/32, fd50::2/128, fd00:200:2::/64, fd00:200:4::/64, fd00:200:5::/64

[Peer]
PublicKey = $(pub w)
AllowedIPs = fd50::3/128
EOF
)
U_CONF=$(conf_write "$IF_U" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile u)")
Address = 10.50.0.2/32, fd50::2/64
ListenPort = 51821
Mode = userspace

[Peer]
PublicKey = $(pub k)
Endpoint = [$(outer6 1 1)]:51820
AllowedIPs = 10.50.0.0/16, fd50::/64
PersistentKeepalive = 25

[Forward]
Listen = [::1]:15900
Target = [fd50::1]:9000

[Forward]
Listen = [::1]:18080
Target = [fd50::1]:8080

[Forward]
Listen = 127.0.0.1:18081
Target = [fd50::1]:8080

[Forward]
Listen = [::1]:15001
Target = [fd50::1]:1

[Forward]
Listen = [::1]:15353
Target = [fd50::1]:7777
Protocol = udp

[Forward]
Listen = 127.0.0.1:15354
Target = [fd50::1]:7777
Protocol = udp

[Expose]
Listen = 8443
Target = [$SVC]:8080

[Expose]
Listen = [fd50::2]:9000
Target = svc6.test:9000

[Expose]
Listen = [fd50::2]:2222
Target = [$SVC]:1

[Proxy]
Socks5 = [::1]:1080
Http = 127.0.0.1:3128

[Egress]
Allow = fd00:200:2::/64, fd00:200:5::/64
Deny = fd00:200:2::3/128
EOF
)
# W: a userspace node with an IPv6 overlay address only, its proxies used
# with a name that has both A and AAAA records. The one userspace config
# without ListenPort (a random port, as wg-quick leaves it).
W_CONF=$(conf_write "$IF_W" nobody <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile w)")
Address = fd50::3/64
Mode = userspace

[Peer]
PublicKey = $(pub k)
Endpoint = [$(outer6 3 1)]:51820
AllowedIPs = 10.50.0.0/16, fd50::/64
PersistentKeepalive = 25

[Proxy]
Socks5 = [::1]:1080
Http = [::1]:3128
EOF
)

# xfer_serve NS ADDR PORT N NAME: xfer.py receiving N connections, one
# "len sha256" line each in $T_DIR/NAME.recv.
xfer_serve() {
	nsx "$1" "${XFER[@]}" serve-tcp "$2" "$3" "$4" >"$T_DIR/$5.recv" 2>&1 8>&- 9>&- &
	wait_until 5 grep -q ready "$T_DIR/$5.recv" || die "xfer server $5 did not start"
}
# xfer_got NAME I: the I-th connection's line (waits for it).
xfer_got() {
	wait_until 10 test "$(grep -c . "$T_DIR/$1.recv")" -gt "$2"
	sed -n "$(($2 + 1))p" "$T_DIR/$1.recv"
}
# sha_of NS CURL-ARGS...: SHA-256 of what curl fetched.
sha_of() {
	local ns=$1
	shift
	nsx "$ns" curl -sS -g -m 20 "$@" 2>>"$T_DIR/curl.log" | sha256sum | cut -d' ' -f1
}
# fast_error NAME WANT OUT [MS]: OUT ("ERRNO ms" from probe.py connect) is
# WANT within MS (default 2000) milliseconds.
fast_error() {
	local e ms
	read -r e ms _ <<<"$3"
	if [ "$e" = "$2" ] && [ "${ms:-99999}" -lt "${4:-2000}" ]; then pass "$1"; else fail "$1" "want $2 within ${4:-2000} ms, got '$3'"; fi
}

# ---- config errors for IPv6 forms, as `up` prints them
IF_B=$(ifname b)
# up_error NAME WANT < CONF: `up` refuses CONF with WANT in its message.
up_error() {
	local f out rc
	f=$(conf_write "$IF_B" nobody)
	out=$(nsx "$NS_U" "${NOBODY[@]}" "$SPOKEWIRE" up "$f" 2>&1 </dev/null 8>&- 9>&-)
	rc=$?
	if [ $rc != 0 ] && [[ $out == *"$2"* ]]; then pass "$1"; else fail "$1" "rc $rc: $out"; fi
}
up_error conf-v6-needs-brackets "$IF_B.conf:7: invalid Target 'fd50::1:80': an IPv6 address needs brackets, as in [fd50::1]:80" <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile u)")
Address = 10.50.0.2/32, fd50::2/64
Mode = userspace
[Forward]
Listen = [::1]:5432
Target = fd50::1:80
EOF
up_error conf-v6-target-without-v6-address "$IF_B.conf:5: [Forward] Target [fd50::1]:80 is IPv6 but Address has no IPv6 address" <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile u)")
Address = 10.50.0.2/32
Mode = userspace
[Forward]
Listen = [::1]:5432
Target = [fd50::1]:80
EOF

# ---- K: TUN mode, its services on the v6 overlay address
check k-up up_root "$NS_K" "$K_CONF"
nginx_start "$NS_K" "[fd50::1]:8080"
WANT=$(sha256sum <"$T_DIR/www/big" | cut -d' ' -f1)
nsx "$NS_K" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(600):
    try:
        s.bind(("fd50::1", 7777)); break
    except OSError:
        time.sleep(0.1)
while True:
    d, a = s.recvfrom(65536); s.sendto(d[::-1], a)
' >/dev/null 2>&1 8>&- 9>&- &
xfer_serve "$NS_K" fd50::1 9000 4 k9000
# ---- X: the host-side service behind U, IPv6 only
nsx "$NS_X" python3 -m http.server --bind "$SVC" --directory "$T_DIR/www" 8080 \
	>"$T_DIR/httpd-x.log" 2>&1 8>&- 9>&- &
xfer_serve "$NS_X" "$SVC" 9000 2 x9000
wait_until 5 port_open "$NS_X" "$SVC" 8080 || die "http server in X did not start"

# ---- U: userspace mode, unprivileged, over a v6 endpoint
check u-up up_nobody "$NS_U" "$U_CONF"
UPID=$(ns_daemon_pids "$NS_U" spokewire | head -1)
if [ -n "$UPID" ] && [ "$(caps_of "$UPID")" = "65534 0000000000000000" ]; then
	pass u-no-privileges
else
	fail u-no-privileges "pid '$UPID'"
fi
if ping_wait "$NS_K" 10 -6 fd50::2; then pass ping6-overlay; else fail ping6-overlay; fi
check ping6-overlay-1300 ping_ok "$NS_K" -6 -s 1300 fd50::2
check ping4-overlay ping_ok "$NS_K" 10.50.0.2
ep=$(endpoint_of "$NS_K" "$IF_K" u)
if [[ $ep == "[$(outer6 1 2)]:"* ]]; then pass v6-endpoint; else fail v6-endpoint "K sees '$ep'"; fi

# ---- [Forward], from U's host side to K's v6 overlay address
sent=$(nsx "$NS_U" timeout 30 "${XFER[@]}" send-tcp ::1 15900 $BIG 1)
got=$(xfer_got k9000 1)
if [ -n "$sent" ] && [ "$sent" = "$got" ]; then pass forward6-tcp-upload-sha256; else fail forward6-tcp-upload-sha256 "sent '$sent' got '$got'"; fi
out=$(sha_of "$NS_U" "http://[::1]:18080/big")
if [ "$out" = "$WANT" ]; then pass forward6-tcp-download-sha256; else fail forward6-tcp-download-sha256; fi
out=$(sha_of "$NS_U" http://127.0.0.1:18081/big)
if [ "$out" = "$WANT" ]; then pass forward4-to-v6-sha256; else fail forward4-to-v6-sha256; fi
# A closed port behind the forward: the host client is reset (during or
# right after its connect), fast.
start=$(now_ms)
out=$(nsx "$NS_U" "${PROBE[@]}" connect ::1 15001)
el=$(($(now_ms) - start))
if [[ $el -lt 3000 && ($out == "ECONNRESET "* || $out == *" reset" || $out == *" eof") ]]; then
	pass forward6-closed-target-reset
else
	fail forward6-closed-target-reset "${el} ms: '$out'"
fi
out=$(nsx "$NS_U" "${PROBE[@]}" udp ::1 15353 ping-udp6)
if [ "$out" = 6pdu-gnip ]; then pass forward6-udp; else fail forward6-udp "got '$out'"; fi
out=$(nsx "$NS_U" "${PROBE[@]}" udp 127.0.0.1 15354 ping-udp4)
if [ "$out" = 4pdu-gnip ]; then pass forward4-to-v6-udp; else fail forward4-to-v6-udp "got '$out'"; fi

# ---- [Proxy] SOCKS5 on [::1]:1080
out=$(nsx "$NS_U" timeout 30 "${PROBE[@]}" socks5 ::1 1080 v6 fd50::1 9000 $BIG 2)
got=$(xfer_got k9000 2)
if [ "$(head -1 <<<"$out")" = "rep=0 atyp=4 bind=fd50::2" ] && [ "$(tail -1 <<<"$out")" = "$got" ]; then
	pass socks5-atyp6-sha256
else
	fail socks5-atyp6-sha256 "reply '$out', server got '$got'"
fi
out=$(nsx "$NS_U" timeout 30 "${PROBE[@]}" socks5 ::1 1080 name web6.test 9000 65536 3)
got=$(xfer_got k9000 3)
if [ "$(head -1 <<<"$out")" = "rep=0 atyp=4 bind=fd50::2" ] && [ "$(tail -1 <<<"$out")" = "$got" ]; then
	pass socks5-name-aaaa
else
	fail socks5-name-aaaa "reply '$out', server got '$got'"
fi
out=$(nsx "$NS_U" timeout 30 "${PROBE[@]}" socks5 ::1 1080 v6 fd50::1 1 0 0)
if [ "$out" = "rep=5 atyp=1 bind=0.0.0.0" ]; then pass socks5-atyp6-refused; else fail socks5-atyp6-refused "got '$out'"; fi
out=$(sha_of "$NS_U" --socks5 "[::1]:1080" "http://[fd50::1]:8080/big")
if [ "$out" = "$WANT" ]; then pass socks5-curl-v6-sha256; else fail socks5-curl-v6-sha256; fi
out=$(sha_of "$NS_U" --socks5-hostname "[::1]:1080" http://web6.test:8080/big)
if [ "$out" = "$WANT" ]; then pass socks5-curl-hostname-aaaa-sha256; else fail socks5-curl-hostname-aaaa-sha256; fi

# ---- [Proxy] HTTP on 127.0.0.1:3128
out=$(sha_of "$NS_U" -p -x http://127.0.0.1:3128 "http://[fd50::1]:8080/big")
if [ "$out" = "$WANT" ]; then pass http-connect-v6-sha256; else fail http-connect-v6-sha256; fi
out=$(sha_of "$NS_U" -x http://127.0.0.1:3128 "http://[fd50::1]:8080/big")
if [ "$out" = "$WANT" ]; then pass http-absolute-v6-sha256; else fail http-absolute-v6-sha256; fi
out=$(nsx "$NS_U" curl -sS -g -m 20 -x http://127.0.0.1:3128 "http://[fd50::1]:8080/" 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass http-absolute-v6-default-path; else fail http-absolute-v6-default-path "got '$out'"; fi
out=$(nsx "$NS_U" curl -sS -g -m 20 -p -x http://127.0.0.1:3128 http://web6.test:8080/ 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass http-connect-name-aaaa; else fail http-connect-name-aaaa "got '$out'"; fi
code=$(nsx "$NS_U" curl -s -g -o /dev/null -w '%{http_connect}' -m 20 -p -x http://127.0.0.1:3128 "http://[fd50::1]:1/" 2>>"$T_DIR/curl.log")
if [ "$code" = 502 ]; then pass http-connect-v6-refused-502; else fail http-connect-v6-refused-502 "got '$code'"; fi

# ---- [Expose]: K dials U's overlay addresses, U connects to X over IPv6
out=$(sha_of "$NS_K" "http://[fd50::2]:8443/big")
if [ "$out" = "$WANT" ]; then pass expose-v6-sha256; else fail expose-v6-sha256; fi
out=$(nsx "$NS_K" curl -sS -m 20 http://10.50.0.2:8443/ 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass expose-v4-listen-v6-target; else fail expose-v4-listen-v6-target "got '$out'"; fi
sent=$(nsx "$NS_K" timeout 30 "${XFER[@]}" send-tcp fd50::2 9000 $BIG 4)
got=$(xfer_got x9000 1)
if [ -n "$sent" ] && [ "$sent" = "$got" ]; then pass expose-name-aaaa-upload-sha256; else fail expose-name-aaaa-upload-sha256 "sent '$sent' got '$got'"; fi
fast_error expose-v6-closed-target-rst ECONNREFUSED "$(nsx "$NS_K" "${PROBE[@]}" connect fd50::2 2222)"
fast_error overlay6-closed-port-rst ECONNREFUSED "$(nsx "$NS_K" "${PROBE[@]}" connect fd50::2 9)"

# ---- [Egress]: K reaches X's v6 address through U
out=$(sha_of "$NS_K" "http://[$SVC]:8080/big")
if [ "$out" = "$WANT" ]; then pass egress6-download-sha256; else fail egress6-download-sha256; fi
sent=$(nsx "$NS_K" timeout 30 "${XFER[@]}" send-tcp "$SVC" 9000 $BIG 5)
got=$(xfer_got x9000 2)
if [ -n "$sent" ] && [ "$sent" = "$got" ]; then pass egress6-upload-sha256; else fail egress6-upload-sha256 "sent '$sent' got '$got'"; fi
fast_error egress6-denied-prohibited EACCES "$(nsx "$NS_K" "${PROBE[@]}" connect fd00:200:2::3 8080)"
fast_error egress6-outside-allow-prohibited EACCES "$(nsx "$NS_K" "${PROBE[@]}" connect fd00:200:4::1 8080)"
fast_error egress6-closed-port-rst ECONNREFUSED "$(nsx "$NS_K" "${PROBE[@]}" connect "$SVC" 9)"
# U's host has no route there: ICMPv6 no route.
fast_error egress6-no-route-net-unreach ENETUNREACH "$(nsx "$NS_K" "${PROBE[@]}" connect fd00:200:5::1 80)"
# On U's link but nobody answers neighbour discovery (about 3 s): ICMPv6
# address unreachable.
fast_error egress6-no-neighbour-host-unreach EHOSTUNREACH "$(nsx "$NS_K" "${PROBE[@]}" connect fd00:200:2::99 80)" 4900

# ---- W: IPv6-only overlay, a name with A and AAAA through its proxies
check w-up up_nobody "$NS_W" "$W_CONF"
WPID=$(ns_daemon_pids "$NS_W" spokewire | head -1)
if ping_wait "$NS_K" 10 -6 fd50::3; then pass w-ping6-overlay; else fail w-ping6-overlay; fi
out=$(nsx "$NS_W" timeout 30 "${PROBE[@]}" socks5 ::1 1080 name dual.test 9000 0 0)
if [ "$(head -1 <<<"$out")" = "rep=0 atyp=4 bind=fd50::3" ]; then pass w-socks5-name-dual-uses-v6; else fail w-socks5-name-dual-uses-v6 "got '$out'"; fi
out=$(sha_of "$NS_W" --socks5-hostname "[::1]:1080" http://dual.test:8080/big)
if [ "$out" = "$WANT" ]; then pass w-socks5-curl-name-dual-sha256; else fail w-socks5-curl-name-dual-sha256; fi
out=$(nsx "$NS_W" curl -sS -m 20 -x "http://[::1]:3128" http://dual.test:8080/ 2>>"$T_DIR/curl.log")
if [ "$out" = "hello from the overlay" ]; then pass w-http-absolute-name-dual; else fail w-http-absolute-name-dual "got '$out'"; fi
# A literal of the family the node has no address of: network unreachable.
out=$(nsx "$NS_W" timeout 30 "${PROBE[@]}" socks5 ::1 1080 v4 10.50.0.1 8080 0 0)
if [ "$out" = "rep=3 atyp=1 bind=0.0.0.0" ]; then pass w-socks5-v4-literal-net-unreach; else fail w-socks5-v4-literal-net-unreach "got '$out'"; fi

# ---- down
check u-down down_nobody "$UPID" "$U_CONF"
check u-gone pid_gone "$UPID"
check w-down down_nobody "$WPID" "$W_CONF"
check k-down down_root "$NS_K" "$K_CONF"
