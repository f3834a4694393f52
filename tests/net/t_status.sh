#!/bin/bash
# Status, health and diagnostics (issue 13), for every daemon kind: a TUN
# hub from a topology file with Status on loopback; spoke a (TUN) with
# Status on a bare port (the overlay only); spoke b with the wrong hub key;
# spoke c never started; a userspace node u run as uid 65534 where
# /var/run/wireguard is root's (its control socket goes elsewhere, and
# `spokewire status`, `reload`, `down` find it); a device daemon with
# --status; Debian's wireguard-go with a key the hub does not know.
# Checked: /status and /health against the schemas in schemas/, the disk
# figure against df(1), health pass -> warn when a watched peer goes and
# back when it returns, fail when the TUN is deleted; a real Prometheus
# scraping the hub and a (over the overlay) and promtool accepting the
# text; every diagnostic produced for real (wrong_key and no_response,
# unknown_peer, allowed_ips, replay, decrypt, stale_timestamp, cookie); the
# listener under slowloris, huge headers and bad requests while a ping
# through the tunnel keeps its pace.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

for b in prometheus promtool; do command -v $b >/dev/null || die "$b not installed (scripts/deps.sh)"; done
python3 -c 'import jsonschema' 2>/dev/null || die "python3-jsonschema not installed (scripts/deps.sh)"
SCHEMAS=$T_ROOT/schemas
CHECK=$T_ROOT/tests/net/schema_check.py
NS_H=$PFX-h
declare -A NS=([a]=$PFX-a [b]=$PFX-b [u]=$PFX-u [d]=$PFX-d)
declare -A N=([a]=1 [b]=2 [u]=3 [d]=4)
ns_new "$NS_H"
for s in a b u d; do
	ns_new "${NS[$s]}"
	veth_link "$NS_H" "${NS[$s]}" "${N[$s]}"
	[ "${N[$s]}" -gt 1 ] && ip -n "${NS[$s]}" route add "$(outer4 1 0)/24" via "$(outer4 "${N[$s]}" 1)"
done
IF=$(ifname s)
IF_U=$(ifname su)
IF_D=$(ifname sd)
IF_W=$(ifname sw)
cat >"$T_DIR/st.topology" <<EOF
[Network]
Name = st
Address = 10.77.0.0/24
ListenPort = 51820
Interface = $IF

[Hub]
Name = hub
Endpoint = $(outer4 1 1):51820
HubOriginates = yes

[Spoke]
Name = a

[Spoke]
Name = b

[Spoke]
Name = c

[Spoke]
Name = u
Mode = userspace
EOF
"$SPOKEWIRE" topology "$T_DIR/st.topology" --out "$T_DIR/out" >/dev/null 2>&1 || die "topology"
chmod 755 "$T_DIR" "$T_DIR/out"
OUT=$T_DIR/out
ip_of() { awk -v n="$1" '$1 == n { print $3 }' "$OUT/summary.txt"; }
key_of() { awk -v n="$1" '$1 == n { print $NF }' "$OUT/summary.txt"; }
HUB_KEY=$(key_of hub)
# with_lines FILE LINES: LINES inserted after [Interface].
with_lines() { sed -i "0,/^\[Interface\]$/s//[Interface]\n$2/" "$1"; }
with_lines "$OUT/hub/$IF.conf" 'Status = 127.0.0.1:9100\nHealthHandshakeAge = 20\nHealthPeers = a'
with_lines "$OUT/a/$IF.conf" 'Status = 9100'
# b: the hub's key mistyped
sed -i "s|^PublicKey = $HUB_KEY\$|PublicKey = $(wg genkey | wg pubkey)|" "$OUT/b/$IF.conf"
# u: its own interface name, Status on the overlay through the stack
mkdir -m 755 "$T_DIR/u"
sed 's/^\[Interface\]$/[Interface]\nStatus = 9101/' "$OUT/u/$IF.conf" >"$T_DIR/u/$IF_U.conf"
chmod 600 "$T_DIR/u/$IF_U.conf"
chown -R 65534:65534 "$T_DIR/u"
U_CONF=$T_DIR/u/$IF_U.conf

# ---- up
export LOG_LEVEL=error # diagnostics go to the daemons' logs
check hub-up up_root "$NS_H" "$OUT/hub/$IF.conf"
check a-up up_root_own "${NS[a]}" "$OUT/a/$IF.conf"
check b-up up_root_own "${NS[b]}" "$OUT/b/$IF.conf"
# root's /var/run/wireguard, not writable for 65534: the socket goes to
# /tmp/spokewire-65534 and `up` says so
check u-up-rootless up_nobody_shared "${NS[u]}" "$U_CONF"
unset LOG_LEVEL
check u-says-where grep -q "control socket at /tmp/spokewire-65534/$IF_U.sock" "$(uplog "$U_CONF")"
HPID=$(for p in $(ns_daemon_pids "$NS_H" spokewire); do echo "$p"; done | head -1)
ping_wait "${NS[a]}" 15 10.77.0.1 || fail a-reaches-hub
ping_wait "${NS[u]}" 15 10.77.0.1 2>/dev/null
ping_wait "$NS_H" 15 "$(ip_of u)" || fail hub-reaches-u
T0=$(now_ms) # b's first initiation: no_response comes 90 s after

# ---- the endpoints, checked against the schemas
get() { # NS URL OUT: body to OUT, prints the HTTP code
	nsx "$1" curl -s -o "$3" -w '%{http_code}' --max-time 5 "$2"
}
check hub-status-200 test "$(get "$NS_H" http://127.0.0.1:9100/status "$T_DIR/hub-status.json")" = 200
check hub-health-200 test "$(get "$NS_H" http://127.0.0.1:9100/health "$T_DIR/hub-health.json")" = 200
check hub-health-type bash -c "ip netns exec $NS_H curl -sI http://127.0.0.1:9100/health | grep -qi '^content-type: application/health+json'"
A_IP=$(ip_of a)
check a-status-over-overlay test "$(get "$NS_H" "http://$A_IP:9100/status" "$T_DIR/a-status.json")" = 200
check_not a-status-not-underlay nsx "$NS_H" curl -s -o /dev/null --max-time 3 "http://$(outer4 1 2):9100/status"
U_IP=$(ip_of u)
check u-status-through-stack test "$(get "$NS_H" "http://$U_IP:9101/status" "$T_DIR/u-status.json")" = 200
check u-health test "$(get "$NS_H" "http://$U_IP:9101/health" "$T_DIR/u-health.json")" = 200
check status-schema python3 "$CHECK" "$SCHEMAS/status.schema.json" "$T_DIR/hub-status.json" "$T_DIR/a-status.json" "$T_DIR/u-status.json"
check health-schema python3 "$CHECK" "$SCHEMAS/health.schema.json" "$T_DIR/hub-health.json" "$T_DIR/u-health.json"
check u-status-userspace python3 -c "import json,sys; d=json.load(open('$T_DIR/u-status.json')); sys.exit(not (d['mode'] == 'userspace' and 'stack' in d and 'relay' in d))"
check hub-friendly-name python3 -c "import json,sys; d=json.load(open('$T_DIR/hub-status.json')); sys.exit(not any(p.get('friendly_name') == 'a' and p['connected'] for p in d['peers']))"
check no-private-key bash -c "! grep -q \"\$(sed -n 's/^PrivateKey = //p' $OUT/hub/$IF.conf)\" $T_DIR/hub-status.json"
# The disk figure: the config's directory, as df sees it (0.1 GiB).
df_gib=$(df -B1 --output=avail "$OUT/hub" | tail -1 | awk '{ printf "%.1f", $1 / 1073741824 }')
st_gib=$(python3 -c "import json; print('%.1f' % json.load(open('$T_DIR/hub-status.json'))['disk']['avail_gib'])")
if awk -v a="$df_gib" -v b="$st_gib" 'BEGIN { d = a - b; exit !(d < 0.25 && d > -0.25) }'; then pass disk-matches-df; else fail disk-matches-df "df $df_gib GiB, status $st_gib GiB"; fi
check hub-path-not-found test "$(get "$NS_H" http://127.0.0.1:9100/nope /dev/null)" = 404

# ---- device daemon with --status
nsx "${NS[d]}" "$SPOKEWIRE" "$IF_D" --status 127.0.0.1:9102 >"$T_DIR/device.log" 2>&1 ||
	fail device-up "$(cat "$T_DIR/device.log")"
check device-status test "$(get "${NS[d]}" http://127.0.0.1:9102/status "$T_DIR/d-status.json")" = 200
check device-schema python3 "$CHECK" "$SCHEMAS/status.schema.json" "$T_DIR/d-status.json"

# ---- diagnostics, for real
# unknown_peer: Debian's wireguard-go with a key the hub has never seen
genkey stranger
start_wg "${NS[d]}" "$IF_W" wireguard-go
nsx "${NS[d]}" wg set "$IF_W" private-key "$(keyfile stranger)" peer "$HUB_KEY" \
	endpoint "$(outer4 1 1):51820" allowed-ips 10.77.0.1/32 persistent-keepalive 1
ip -n "${NS[d]}" addr add 10.77.0.250/32 dev "$IF_W"
ip -n "${NS[d]}" link set "$IF_W" up
# allowed_ips: a sends from an address the hub does not give it
ip -n "${NS[a]}" addr add 10.77.0.199/32 dev "$IF"
nsx "${NS[a]}" ping -n -c 2 -W 1 -I 10.77.0.199 10.77.0.1 >/dev/null 2>&1
# replay and decrypt: a data packet of a's sent again, and tampered with
ip -n "${NS[a]}" addr add 10.200.1.99/24 dev vl1
nsx "${NS[a]}" python3 "$T_ROOT/tests/net/replay.py" vl1 "$(outer4 1 1)" 51820 10.200.1.99 5 >"$T_DIR/replay.out" 2>&1 &
rp=$!
sleep 0.3
nsx "${NS[a]}" ping -n -c 3 -i 0.2 10.77.0.1 >/dev/null 2>&1
wait $rp
# stale_timestamp: a's next initiation, replayed a second later
down_a() { for p in $(ns_daemon_pids "${NS[a]}" spokewire); do kill "$p"; done; wait_until 5 bash -c "! ip -n ${NS[a]} link show $IF >/dev/null 2>&1"; }
down_a
REPLAY_TYPE=1 REPLAY_DELAY=1 nsx "${NS[a]}" python3 "$T_ROOT/tests/net/replay.py" vl1 "$(outer4 1 1)" 51820 10.200.1.99 10 >"$T_DIR/replay1.out" 2>&1 &
rp=$!
sleep 0.3
check a-up-again up_root_own "${NS[a]}" "$OUT/a/$IF.conf"
ping_wait "${NS[a]}" 10 10.77.0.1 || fail a-back
wait $rp
# cookie: a flood of initiations until the hub is under load
nsx "${NS[d]}" python3 "$T_ROOT/tests/net/flood.py" --dst "$(outer4 1 1)" --port 51820 \
	--pubkey "$HUB_KEY" --duration 3 --ramp >"$T_DIR/flood.out" 2>&1
sleep 1
get "$NS_H" http://127.0.0.1:9100/status "$T_DIR/hub-diag.json" >/dev/null
diag() { # WHERE REASON: the hub's count for REASON at WHERE (peer NAME, or sources)
	python3 - "$T_DIR/hub-diag.json" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
where, reason = sys.argv[2], sys.argv[3]
if where == "sources":
    print(sum(s["handshake_failures"].get(reason, 0) for s in d["sources"]))
else:
    p = [p for p in d["peers"] if p.get("friendly_name") == where][0]
    print(p["handshake_failures"].get(reason, 0) + p["dropped"].get(reason, 0))
EOF
}
for w in "sources wrong_key" "sources unknown_peer" "sources cookie" "a allowed_ips" "a replay" "a decrypt" "a stale_timestamp"; do
	read -r where reason <<<"$w"
	n=$(diag "$where" "$reason")
	if [ "${n:-0}" -gt 0 ]; then pass "diag-$reason"; else fail "diag-$reason" "$where: ${n:-none}"; fi
done
STRANGER=$(pub stranger)
check unknown-key-shown grep -q "$STRANGER" "$T_DIR/hub-diag.json"
check wrong-key-logged grep -q "sends handshakes for another public key: its config names the wrong key for this node" "$(uplog "$OUT/hub/$IF.conf")"
check unknown-logged grep -q "a valid handshake from public key $STRANGER, which is no peer here" "$(uplog "$OUT/hub/$IF.conf")"
check allowed-ips-logged grep -q "sent a packet from 10.77.0.199, outside its AllowedIPs" "$(uplog "$OUT/hub/$IF.conf")"
check metrics-by-reason bash -c "ip netns exec $NS_H curl -s http://127.0.0.1:9100/metrics | grep -q 'spokewire_handshake_failures_total{interface=\"$IF\",reason=\"wrong_key\"} [1-9]'"

# ---- health: a goes, then returns (HealthPeers = a, 20 s)
get "$NS_H" http://127.0.0.1:9100/health "$T_DIR/h1.json" >/dev/null
check health-pass grep -q '"status":"pass"' "$T_DIR/h1.json"
down_a
health_is() { nsx "$NS_H" curl -s --max-time 2 http://127.0.0.1:9100/health | grep -q "^{\"status\":\"$1\""; }
if wait_until 30 health_is warn; then pass health-warn-when-a-goes; else fail health-warn-when-a-goes; fi
check health-warn-is-200 test "$(get "$NS_H" http://127.0.0.1:9100/health /dev/null)" = 200
check a-returns up_root_own "${NS[a]}" "$OUT/a/$IF.conf"
ping_wait "${NS[a]}" 10 10.77.0.1
if wait_until 10 health_is pass; then pass health-pass-when-a-returns; else fail health-pass-when-a-returns; fi

# ---- Prometheus scraping the hub and a (over the overlay)
mkdir -p "$T_DIR/prom"
cat >"$T_DIR/prom/prometheus.yml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: spokewire
    static_configs: [ { targets: [ "127.0.0.1:9100", "$A_IP:9100" ] } ]
EOF
nsx "$NS_H" curl -s http://127.0.0.1:9100/metrics >"$T_DIR/hub.metrics"
check promtool-accepts bash -c "promtool check metrics <$T_DIR/hub.metrics"
nsx "$NS_H" prometheus --config.file="$T_DIR/prom/prometheus.yml" --storage.tsdb.path="$T_DIR/prom/data" \
	--web.listen-address=127.0.0.1:9090 >"$T_DIR/prom/log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
promq() { nsx "$NS_H" curl -s --max-time 3 --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query; }
both_up() { [ "$(promq 'sum(up{job="spokewire"})' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' 2>/dev/null)" = 2 ]; }
if wait_until 30 both_up; then pass prometheus-scrapes-both; else fail prometheus-scrapes-both "$(tail -3 "$T_DIR/prom/log")"; fi
promq "wireguard_latest_handshake_seconds{friendly_name=\"a\"} > 0" >"$T_DIR/q1.json"
promq "wireguard_sent_bytes_total{interface=\"$IF\"}" >"$T_DIR/q2.json"
info "prometheus: $(head -c 600 "$T_DIR/q1.json")"
check prom-handshake-series python3 - "$T_DIR/q1.json" "$(key_of a)" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
sys.exit(not (r and r[0]["metric"]["public_key"] == sys.argv[2] and r[0]["metric"]["allowed_ips"].endswith("/32")
              and float(r[0]["value"][1]) > 1.7e9))
EOF
check prom-bytes-both-nodes python3 - "$T_DIR/q2.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
inst = {m["metric"]["instance"] for m in r}
sys.exit(not (len(inst) == 2 and all({"interface", "public_key", "allowed_ips", "friendly_name"} <= set(m["metric"]) for m in r)))
EOF

# ---- the listener under attack; a ping through the tunnel keeps its pace
nsx "${NS[a]}" ping -n -q -i 0.05 -c 100 10.77.0.1 >"$T_DIR/ping-attack.out" 2>&1 &
pp=$!
nsx "$NS_H" python3 - <<'EOF' &
import socket, time
socks = []
for i in range(40):  # slowloris: more than the listener takes
    try:
        s = socket.create_connection(("127.0.0.1", 9100), timeout=2,
                                     source_address=("127.0.0.2", 0))
        s.send(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    except OSError:
        pass
for _ in range(8):
    for s in socks:
        try:
            s.send(b"X-a: b\r\n")
        except OSError:
            pass
    time.sleep(0.5)
EOF
sl=$!
sleep 0.5
big=$(head -c 65536 /dev/zero | tr '\0' a)
code=$(nsx "$NS_H" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $big" http://127.0.0.1:9100/status)
if [ "$code" != 200 ]; then pass huge-header-refused; else fail huge-header-refused "$code"; fi
check post-refused test "$(nsx "$NS_H" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d x http://127.0.0.1:9100/status)" = 405
check bad-path test "$(get "$NS_H" 'http://127.0.0.1:9100/../../etc/passwd' /dev/null)" = 404
wait $pp
wait $sl
max=$(sed -n 's|.* = [0-9.]*/[0-9.]*/\([0-9.]*\)/.*|\1|p' "$T_DIR/ping-attack.out")
info "ping during the attack: $(tail -2 "$T_DIR/ping-attack.out" | tr '\n' ' ')"
if grep -q ' 0% packet loss' "$T_DIR/ping-attack.out" && awk -v m="$max" 'BEGIN { exit !(m < 200) }'; then
	pass ping-unharmed-by-attack
else
	fail ping-unharmed-by-attack "$(tail -2 "$T_DIR/ping-attack.out")"
fi
check listener-still-answers test "$(get "$NS_H" http://127.0.0.1:9100/health /dev/null)" = 200

# ---- rootless u: status, reload and down as its user; root finds it too
UPID=$(ns_daemon_pids "${NS[u]}" spokewire | head -1)
as_nobody() { nsx "${NS[u]}" "${NOBODY[@]}" "$@"; }
check u-status-as-nobody bash -c "ip netns exec ${NS[u]} ${NOBODY[*]} $SPOKEWIRE status $IF_U | grep -q 'health: pass'"
check u-status-as-root bash -c "$SPOKEWIRE status $IF_U --json | grep -q '\"mode\": \"userspace\"'"
check u-reload-as-nobody as_nobody "$SPOKEWIRE" reload "$U_CONF"

# ---- no_response on b, 90 s after its first initiation
wait_b() { [ "$(nsenter --mount="/proc/$BPID/ns/mnt" "$SPOKEWIRE" status "$IF" --json 2>/dev/null |
	python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["peers"][0]["handshake_failures"].get("no_response", 0))')" -gt 0 ] 2>/dev/null; }
BPID=$(ns_daemon_pids "${NS[b]}" spokewire | head -1)
left=$(( (T0 + 100000 - $(now_ms)) / 1000 ))
[ $left -lt 5 ] && left=5
if wait_until "$left" wait_b; then pass diag-no_response-on-b; else fail diag-no_response-on-b; fi
nsenter --mount="/proc/$BPID/ns/mnt" "$SPOKEWIRE" status "$IF" >"$T_DIR/b-status.txt" 2>&1
check b-status-hint grep -q "no_response (1): our handshakes went unanswered: check its endpoint, the firewalls between, and that it has our public key" "$T_DIR/b-status.txt"

# The hub with one healthy (a), one wrong-key (b) and one silent (c) spoke,
# c now watched too: the terminal view, for the note.
sed -i 's/^HealthPeers = a$/HealthPeers = a, c/' "$OUT/hub/$IF.conf"
check hub-reload-health-rules nsx "$NS_H" "$SPOKEWIRE" reload "$OUT/hub/$IF.conf"
"$SPOKEWIRE" status "$IF" >"$T_DIR/hub-status.txt" 2>&1
info "spokewire status $IF (hub):"
sed 's/^/    /' "$T_DIR/hub-status.txt"
check hub-status-warn grep -q 'health: warn' "$T_DIR/hub-status.txt"
check hub-status-wrong-key grep -q 'wrong_key' "$T_DIR/hub-status.txt"

# ---- fail when the TUN is deleted (the device daemon lingers to say so)
ip -n "${NS[d]}" link del "$IF_D"
fail_now() { [ "$(get "${NS[d]}" http://127.0.0.1:9102/health /dev/null)" = 503 ]; }
if wait_until 5 fail_now; then pass health-fail-tun-gone; else fail health-fail-tun-gone; fi

check u-down-as-nobody as_nobody "$SPOKEWIRE" down "$U_CONF"
wait_until 5 pid_gone "$UPID" || fail u-exits
