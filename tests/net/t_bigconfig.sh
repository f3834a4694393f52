#!/bin/bash
# A device with 1,000 peers x 4 allowed-IPs set in one `wg setconf`, read
# back with `wg showconf`; single-peer `wg set` on top of it (add, steal an
# allowed-IP, remove); `wg syncconf` back to the original file.
# The device is never brought up, so nothing is sent to the made-up peers.
#
# Comparison: both configurations are parsed into {interface fields} and
# {public key -> fields} and compared as such. Peer order and the order of
# allowed-IPs within a peer are not part of the contract: wireguard-go lists
# peers in Go map order (random) and a peer's allowed-IPs in trie order, the
# kernel in insertion/trie order, so allowed-IPs are compared as sets.
# Everything else (keys, endpoints, keepalive, fwmark, listen port) must
# match exactly. Inputs are canonical (no host bits set in prefixes) so the
# text read back can equal the text written.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"

NS_A=$PFX-a
ns_new "$NS_A"
genkey a
IF_A=$(ifname a)
start_wg "$NS_A" "$IF_A" "$IMPL_A"
NPEERS=1000
CONF=$T_DIR/big.conf

# Random 32-byte public keys need not be valid points for this test; random
# ones are (overwhelmingly likely) not among the few low-order points.
python3 - "$CONF" "$(keyfile a)" $NPEERS <<'EOF'
import base64, os, sys
path, keyfile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = ["[Interface]", "PrivateKey = " + open(keyfile).read().strip(),
       "ListenPort = 51820", "FwMark = 0x1234", ""]
for i in range(n):
    b64 = lambda: base64.b64encode(os.urandom(32)).decode()
    out.append("[Peer]")
    out.append("PublicKey = " + b64())
    if i % 50 == 0:
        out.append("PresharedKey = " + b64())
    ips = ["10.%d.%d.0/24" % (i >> 8, i & 255), "172.16.%d.%d/32" % (i >> 8, i & 255),
           "fd00:0:0:%x::/64" % i, "fd01::%x/128" % i]
    out.append("AllowedIPs = " + ", ".join(ips))
    if i % 10 == 0:
        out.append("Endpoint = 192.0.2.%d:%d" % (i % 250 + 1, 1024 + i))
    elif i % 10 == 5:
        out.append("Endpoint = [2001:db8::%x]:%d" % (i, 2048 + i))
    if i % 20 == 0:
        out.append("PersistentKeepalive = %d" % (i % 60 + 1))
    out.append("")
open(path, "w").write("\n".join(out))
EOF
chmod 600 "$CONF"

# normalise FILE: a canonical, sorted text form of a wg config.
cat >"$T_DIR/norm.py" <<'EOF'
import ipaddress, sys
iface, peers, cur = {}, {}, None
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    if line.startswith("["):
        cur = iface if line.lower() == "[interface]" else {}
        continue
    k, v = (x.strip() for x in line.split("=", 1))
    k = k.lower()
    if k == "allowedips":
        # canonical text (as inet_ntop prints it) but host bits kept as given
        cur.setdefault("allowedips", set()).update(
            str(ipaddress.ip_interface(a.strip())) for a in v.split(",") if a.strip())
        continue
    if k == "endpoint" and v.startswith("["):
        host, port = v[1:].split("]:")
        v = "[%s]:%s" % (ipaddress.ip_address(host), port)
    if k == "fwmark":
        v = str(int(v, 0))  # 0x1234 and 4660 are the same mark
    cur[k] = v
    if k == "publickey":
        peers[v] = cur
for k in sorted(iface):
    print("interface %s = %s" % (k, iface[k]))
for pk in sorted(peers):
    p = peers[pk]
    for k in sorted(p):
        v = ",".join(sorted(p[k])) if k == "allowedips" else p[k]
        print("peer %s %s = %s" % (pk, k, v))
EOF
norm() { python3 "$T_DIR/norm.py" "$1"; }
same_as() { # EXPECTED-FILE: showconf matches it; diff printed otherwise
	nsx "$NS_A" wg showconf "$IF_A" >"$T_DIR/show.conf" || return 1
	diff <(norm "$1") <(norm "$T_DIR/show.conf") >"$T_DIR/diff.out" && return 0
	echo "showconf differs (first lines of diff expected/actual):"
	head -n 10 "$T_DIR/diff.out"
	return 1
}
npeers() { nsx "$NS_A" wg show "$IF_A" peers | wc -l; }

start=$(now_ms)
if nsx "$NS_A" wg setconf "$IF_A" "$CONF"; then pass setconf; else fail setconf "wg setconf failed"; fi
info "wg setconf $NPEERS peers x 4 allowed-ips ($IMPL_A): $(($(now_ms) - start)) ms"
start=$(now_ms)
check showconf-roundtrip same_as "$CONF"
info "wg showconf + compare ($IMPL_A): $(($(now_ms) - start)) ms"
check peer-count test "$(npeers)" = $NPEERS
check allowed-ips-count test "$(nsx "$NS_A" wg show "$IF_A" allowed-ips | awk '{ n += NF - 1 } END { print n }')" = $((NPEERS * 4))

# --- a single peer on top
genkey extra
nsx "$NS_A" wg set "$IF_A" peer "$(pub extra)" allowed-ips 192.168.77.0/24 endpoint 198.51.100.7:4242
check set-one-more-count test "$(npeers)" = $((NPEERS + 1))
cp "$CONF" "$T_DIR/expect1.conf"
printf '[Peer]\nPublicKey = %s\nAllowedIPs = 192.168.77.0/24\nEndpoint = 198.51.100.7:4242\n' "$(pub extra)" >>"$T_DIR/expect1.conf"
check set-one-more-showconf same_as "$T_DIR/expect1.conf"

# --- an allowed-IP given to another peer moves to it
nsx "$NS_A" wg set "$IF_A" peer "$(pub extra)" allowed-ips 192.168.77.0/24,10.0.5.0/24
peer5=$(awk '/^PublicKey/ { n++; if (n == 6) print $3 }' "$CONF")
owner_of() { nsx "$NS_A" wg show "$IF_A" allowed-ips | awk -v ip="$1" '{ for (i = 2; i <= NF; i++) if ($i == ip) print $1 }'; }
check steal-allowed-ip test "$(owner_of 10.0.5.0/24)" = "$(pub extra)"
check steal-others-kept test "$(owner_of 172.16.0.5/32)" = "$peer5"

# --- remove one of the originals
peer0=$(awk '/^PublicKey/ { print $3; exit }' "$CONF")
nsx "$NS_A" wg set "$IF_A" peer "$peer0" remove
check remove-one-count test "$(npeers)" = $NPEERS
check remove-one-gone test -z "$(nsx "$NS_A" wg show "$IF_A" peers | grep -xF "$peer0")"

# --- syncconf back to the original file
start=$(now_ms)
check syncconf nsx "$NS_A" wg syncconf "$IF_A" "$CONF"
info "wg syncconf back to $NPEERS peers ($IMPL_A): $(($(now_ms) - start)) ms"
check syncconf-showconf same_as "$CONF"
check still-alive test -S "$WG_RUN/$IF_A.sock"
