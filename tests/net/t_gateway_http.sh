#!/bin/bash
# `spokewire gateway` serving HTTP routes itself (issue 14): a public client
# (curl, openssl, python's ssl and websockets) on one side; on the other,
# over the mesh, nginx and a small HTTP/1.1 server on a spokewire node, and
# a WebSocket echo server, an HTTP server and `openssl s_server` behind
# Debian's wireguard-go. Host routing (exact, wildcard, default), keep-alive
# across routes and pipelining, 256 MiB down and up (SHA-256; the upload
# also chunked), server-sent events not held back, a WebSocket round trip,
# X-Forwarded-*, HEAD, 404/502/504, TLS terminated by SNI (and a new
# certificate picked up), TLS passed through (a ClientHello in 64-byte
# records), redirect to HTTPS, the access log, /metrics read by promtool,
# 1,000 routes added and removed under traffic, and a restart.
# With GW_ROOTLESS=1 (t_gateway_rootless.sh) the same checks run against a
# gateway as uid 65534 with no capabilities: its config in userspace mode,
# the mesh reached through the node's SOCKS5 proxy, ports 8080 and 8443,
# and its path to the nginx node through our relay with delay and loss.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOTLESS=${GW_ROOTLESS:-0}
if [ "$ROOTLESS" = 1 ]; then HP=8080 SP=8443 OWNER=65534; else HP=80 SP=443 OWNER=root; fi
# Rootless, the gateway's TCP to the node is our own stack's: its path to
# the node goes through our relay (10 ms and 1% loss each way), so the big
# transfers meet loss.
M_ENDPOINT=$(outer4 1 2):51821
[ "$ROOTLESS" = 1 ] && M_ENDPOINT=$(outer4 1 1):40001
NS_G=$PFX-g
NS_M=$PFX-m
NS_N=$PFX-n
NS_P=$PFX-p
for ns in "$NS_G" "$NS_M" "$NS_N" "$NS_P"; do ns_new "$ns"; done
veth_link "$NS_G" "$NS_M" 1
veth_link "$NS_G" "$NS_P" 2
veth_link "$NS_G" "$NS_N" 3
genkey gw
genkey node
genkey wgo
IF_G=$(ifname g)
IF_M=$(ifname m)
IF_N=$(ifname n)
GW_CONF=$(conf_write "$IF_G" $OWNER <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile gw)")
Address = 10.60.0.1/24
ListenPort = 51820
$([ "$ROOTLESS" = 1 ] && printf 'Mode = userspace\n\n[Proxy]\nSocks5 = 127.0.0.1:10800\n')

# friendly_name = node
[Peer]
PublicKey = $(pub node)
AllowedIPs = 10.60.0.2/32
Endpoint = $M_ENDPOINT

# friendly_name = wireguard-go
[Peer]
PublicKey = $(pub wgo)
AllowedIPs = 10.60.0.3/32
Endpoint = $(outer4 3 2):51822
EOF
)
NODE_CONF=$(conf_write "$IF_M" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile node)")
Address = 10.60.0.2/24
ListenPort = 51821

[Peer]
PublicKey = $(pub gw)
AllowedIPs = 10.60.0.1/32
Endpoint = $(outer4 1 1):51820
EOF
)
check node-up up_root "$NS_M" "$NODE_CONF"
if [ "$ROOTLESS" = 1 ]; then
	nsx "$NS_G" python3 "$HERE/relay.py" --listen "$(outer4 1 1):40001" --target "$(outer4 1 2):51821" \
		--delay-ms 10 --loss 1 --stats "$T_DIR/relay.stats" >"$T_DIR/relay.log" 2>&1 </dev/null 8>&- 9>&- &
	RELAY=$!
	T_PIDS+=("$RELAY")
	wait_until 5 grep -q READY "$T_DIR/relay.log" || die "relay: $(cat "$T_DIR/relay.log")"
fi
wg_dev "$NS_N" "$IF_N" wireguard-go wgo 51822 10.60.0.3/24
wg_peer "$NS_N" "$IF_N" gw 10.60.0.1/32 "$(outer4 3 1):51820"

# Backends
nginx_start "$NS_M" 10.60.0.2:8080
head -c $((256 << 20)) /dev/urandom >"$T_DIR/www/big256"
chmod 644 "$T_DIR/www/big256"
BIG_SHA=$(sha256sum <"$T_DIR/www/big256" | cut -d' ' -f1)
nsx "$NS_M" /usr/bin/python3 "$HERE/httpd.py" 10.60.0.2 8081 m >"$T_DIR/httpd-m.log" 2>&1 &
T_PIDS+=("$!")
nsx "$NS_N" /usr/bin/python3 "$HERE/httpd.py" 10.60.0.3 8081 n >"$T_DIR/httpd-n.log" 2>&1 &
T_PIDS+=("$!")
nsx "$NS_N" /usr/bin/python3 "$HERE/wsecho.py" serve 10.60.0.3 8090 >"$T_DIR/ws.log" 2>&1 &
T_PIDS+=("$!")
mkcert() { # NAME DIR: a self-signed pair DIR/NAME.crt, DIR/NAME.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
		-keyout "$2/$1.key" -out "$2/$1.crt" >/dev/null 2>&1 || die "openssl req $1"
}
mkdir -p "$T_DIR/backend-tls"
mkcert pass.example.com "$T_DIR/backend-tls"
nsx "$NS_N" openssl s_server -quiet -accept 10.60.0.3:8443 -www \
	-cert "$T_DIR/backend-tls/pass.example.com.crt" -key "$T_DIR/backend-tls/pass.example.com.key" \
	>"$T_DIR/s_server.log" 2>&1 </dev/null &
T_PIDS+=("$!")

TOKEN=tok_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
DATA=$T_DIR/gw
TLS=$DATA/tls
mkdir -p "$DATA" "$TLS"
mkcert term.example.com "$TLS"
touch "$T_DIR/access.log"
chown -R "$OWNER" "$DATA" "$T_DIR/access.log"
GW_ARGS=(gateway --config "$GW_CONF" --http $HP --https $SP --tls-dir "$TLS"
	--access-log "$T_DIR/access.log" --upstream-timeout 2)
gw_start() {
	if [ "$ROOTLESS" = 1 ]; then
		unshare --mount --propagation private -- sh -c \
			'mount -t tmpfs -o mode=0755,uid=65534,gid=65534,size=1m swt-run /var/run/wireguard && exec "$@"' \
			sh ip netns exec "$NS_G" env DATA_DIR="$DATA" AGENT_TOKEN="$TOKEN" EDGE_AGENT_PORT=8081 \
			"${NOBODY[@]}" "$SPOKEWIRE" "${GW_ARGS[@]}" >>"$T_DIR/gateway.log" 2>&1 </dev/null 8>&- 9>&- &
	else
		ip netns exec "$NS_G" env DATA_DIR="$DATA" AGENT_TOKEN="$TOKEN" EDGE_AGENT_PORT=8081 \
			"$SPOKEWIRE" "${GW_ARGS[@]}" >>"$T_DIR/gateway.log" 2>&1 </dev/null 8>&- 9>&- &
	fi
	T_PIDS+=("$!")
}
# The gateway's own process (ip netns exec and unshare stand between).
gw_pid() { pgrep -n -f -- "gateway --config $GW_CONF"; }
gw_start
wait_until 15 port_open "$NS_G" 127.0.0.1 8081 || die "gateway API: $(tail -5 "$T_DIR/gateway.log")"
if [ "$ROOTLESS" = 1 ]; then
	# No route in the kernel to ping with: the first requests make the
	# handshakes.
	if [ "$(caps_of "$(gw_pid)")" = "65534 0000000000000000" ]; then pass rootless-uid-no-caps; else fail rootless-uid-no-caps "$(caps_of "$(gw_pid)")"; fi
else
	ping_wait "$NS_G" 10 10.60.0.2 || die "gateway cannot reach the node"
	ping_wait "$NS_G" 10 10.60.0.3 || die "gateway cannot reach wireguard-go"
fi
wait_until 10 port_open "$NS_M" 10.60.0.2 8081 || die "httpd on m"
wait_until 10 port_open "$NS_N" 10.60.0.3 8090 || die "websocket echo"
wait_until 10 port_open "$NS_N" 10.60.0.3 8443 || die "s_server"

api() { # METHOD PATH [BODY]: the status code
	nsx "$NS_G" curl -s --max-time 5 -o "$T_DIR/body" -w '%{http_code}' -X "$1" \
		-H "X-Agent-Token: $TOKEN" -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "http://127.0.0.1:8081$2"
}
route() { # ID HOST URL [EXTRA JSON]
	local code
	code=$(api POST /http/routes "{\"route_id\":\"$1\",\"hostname\":\"$2\",\"target_url\":\"$3\"${4:+,$4}}")
	[ "$code" = 201 ] || fail "route-$1" "$code $(cat "$T_DIR/body")"
}
route api api.example.com http://10.60.0.2:8080
route m m.example.com http://10.60.0.2:8081
route n n.example.com http://10.60.0.3:8081
route apps '*.apps.example.com' http://10.60.0.2:8081
route ws ws.example.com http://10.60.0.3:8090
route down down.example.com http://10.60.0.2:9
route term term.example.com http://10.60.0.3:8081 '"redirect_https":true'
route pass pass.example.com https://10.60.0.3:8443 '"tls":"passthrough"'
route tlsup tlsup.example.com https://10.60.0.3:8443

GW=$(outer4 2 1)
CLIENT=$(outer4 2 2)
get() { # HOST PATH [curl args...]: the body
	local h=$1 p=$2
	shift 2
	nsx "$NS_P" curl -s --max-time 10 -H "Host: $h" "$@" "http://$GW:$HP$p"
}
code() { # HOST PATH [curl args...]: the status code
	local h=$1 p=$2
	shift 2
	nsx "$NS_P" curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: $h" "$@" "http://$GW:$HP$p"
}
is() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# ---- routing by Host
is host-exact "$(get api.example.com /)" "hello from the overlay"
is host-case-and-port "$(get API.Example.COM:80 /)" "hello from the overlay"
is host-other-node "$(get n.example.com /whoami)" n
is host-wildcard "$(get x.apps.example.com /whoami)" m
is host-wildcard-deeper "$(get a.b.apps.example.com /whoami)" m
is host-unknown-404 "$(code nobody.example.com /)" 404
out=$(get nobody.example.com / -H 'Accept: application/json')
if [[ $out == *'"status":404'* ]]; then pass 404-json; else fail 404-json "$out"; fi
route default '*' http://10.60.0.3:8081
is host-default "$(get nobody.example.com /whoami)" n

# ---- keep-alive: one connection, requests routed one by one by their Host
out=$(nsx "$NS_P" /usr/bin/python3 "$HERE/rawhttp.py" --one-by-one "$GW" $HP \
	'GET /whoami HTTP/1.1\nHost: m.example.com\n\n' \
	'GET /whoami HTTP/1.1\nHost: n.example.com\n\n' \
	'GET /whoami HTTP/1.1\nHost: m.example.com\nConnection: close\n\n')
if [ "$(grep -c '^HTTP/1.1 200' <<<"$out")" = 3 ] && [ "$(grep -x -e m -e n <<<"${out//$'\r'/}" | tr -d '\n')" = mnm ]; then
	pass keepalive-across-routes
else
	fail keepalive-across-routes "$out"
fi
out=$(nsx "$NS_P" /usr/bin/python3 "$HERE/rawhttp.py" "$GW" $HP \
	'GET /whoami HTTP/1.1\nHost: n.example.com\n\nGET /whoami HTTP/1.1\nHost: m.example.com\n\nGET /whoami HTTP/1.1\nHost: n.example.com\nConnection: close\n\n')
if [ "$(grep -x -e m -e n <<<"${out//$'\r'/}" | tr -d '\n')" = nmn ]; then pass pipelined-in-order; else fail pipelined-in-order "$out"; fi
out=$(nsx "$NS_P" curl -sv --max-time 10 -H 'Host: m.example.com' "http://$GW:$HP/whoami" "http://$GW:$HP/whoami" 2>&1)
if [[ $out == *"Re-using existing connection"* || $out == *"Reusing existing"* ]]; then pass curl-reuses-connection; else fail curl-reuses-connection "$(grep -i connect <<<"$out" | head -5)"; fi

# A kept target connection closed under a new request: sent again.
is pool-armed "$(get m.example.com /arm)" armed
is pool-stale-connection-retried "$(get m.example.com /whoami)" m

# ---- what the target is told
hdrs=$(get m.example.com /headers -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-Proto: gopher' -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1')
check xff-replaced /usr/bin/python3 -c "import json,sys; h=json.loads(sys.argv[1]); assert h['x-forwarded-for']=='$CLIENT', h; assert h['x-forwarded-proto']=='http'; assert h['x-forwarded-host']=='m.example.com'; assert 'x-secret' not in h; assert h['host']=='m.example.com'" "$hdrs"
out=$(nsx "$NS_P" curl -sI --max-time 10 -H 'Host: m.example.com' "http://$GW:$HP/")
if [[ $out == *"Content-Length: 12345"* ]]; then pass head-length-kept; else fail head-length-kept "$out"; fi

# ---- errors of the target
is target-down-502 "$(code down.example.com /)" 502
out=$(get down.example.com / -H 'Accept: application/json')
if [[ $out == *'"status":502'* ]]; then pass 502-json; else fail 502-json "$out"; fi
is target-slow-504 "$(code m.example.com /slow)" 504
is after-504-still-serving "$(get m.example.com /whoami)" m
is bad-request-400 "$(nsx "$NS_P" /usr/bin/python3 "$HERE/rawhttp.py" "$GW" $HP 'GET / HTTP/1.1\nHost: m.example.com\nContent-Length: x\n\n' | head -1 | tr -d '\r')" "HTTP/1.1 400 Bad Request"
is connect-405 "$(code m.example.com / -X CONNECT)" 405

# ---- 256 MiB down and up, SHA-256 checked
t0=$(now_ms)
got=$(nsx "$NS_P" curl -s --max-time 120 -H 'Host: api.example.com' "http://$GW:$HP/big256" | sha256sum | cut -d' ' -f1)
ms=$(($(now_ms) - t0))
is download-256MiB-sha256 "$got" "$BIG_SHA"
info "256 MiB down through the gateway: $ms ms ($((256 * 8 * 1000 / (ms + 1))) Mbit/s, ASan build)"
t0=$(now_ms)
out=$(nsx "$NS_P" curl -s --max-time 120 -H 'Host: m.example.com' --data-binary "@$T_DIR/www/big256" "http://$GW:$HP/sha")
ms=$(($(now_ms) - t0))
if [[ $out == *"\"sha256\": \"$BIG_SHA\""* && $out == *'"bytes": 268435456'* ]]; then pass upload-256MiB-sha256; else fail upload-256MiB-sha256 "$out"; fi
info "256 MiB up through the gateway: $ms ms"
if [ "$ROOTLESS" = 1 ]; then
	# The relay's counts: the transfers did meet loss.
	rpid=$(ns_pid_cmd "$NS_G" "relay.py --listen")
	kill -TERM "$rpid"
	wait_until 5 test -s "$T_DIR/relay.stats"
	info "through the relay: $(cat "$T_DIR/relay.stats")"
	check transfers-met-loss awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^lost=/) { split($i, v, "="); exit !(v[2] > 1000) } exit 1 }' "$T_DIR/relay.stats"
	nsx "$NS_G" python3 "$HERE/relay.py" --listen "$(outer4 1 1):40001" --target "$(outer4 1 2):51821" \
		--delay-ms 10 --loss 1 >"$T_DIR/relay2.log" 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
	wait_until 5 grep -q READY "$T_DIR/relay2.log" || die "relay: $(cat "$T_DIR/relay2.log")"
fi
head -c $((8 << 20)) "$T_DIR/www/big256" >"$T_DIR/up8"
out=$(nsx "$NS_P" curl -s --max-time 60 -H 'Host: n.example.com' -H 'Transfer-Encoding: chunked' --data-binary "@$T_DIR/up8" "http://$GW:$HP/sha")
if [[ $out == *"\"sha256\": \"$(sha256sum <"$T_DIR/up8" | cut -d' ' -f1)\""* ]]; then pass upload-chunked-sha256; else fail upload-chunked-sha256 "$out"; fi

# ---- streamed, not buffered
read -r first end < <(nsx "$NS_P" /usr/bin/python3 "$HERE/sse.py" "$GW" $HP m.example.com /sse)
if awk -v f="$first" -v e="$end" 'BEGIN { exit !(f >= 0 && f + 1.0 < e) }'; then
	pass sse-first-event-before-end
else
	fail sse-first-event-before-end "first at $first s, end at $end s"
fi
info "SSE: first event at ${first}s, response ended at ${end}s"

# ---- WebSocket
out=$(nsx "$NS_P" /usr/bin/python3 "$HERE/wsecho.py" send "$GW" $HP ws.example.com hello 2>&1)
if [ "$out" = $'hello\nbig 5000' ]; then pass websocket-echo; else fail websocket-echo "$out"; fi

# ---- TLS: terminated by SNI, passed through, redirected to
s_subject() { # SNI: the subject the gateway's port 443 shows for SNI
	nsx "$NS_P" openssl s_client -connect "$GW:$SP" -servername "$1" </dev/null 2>>"$T_DIR/s_client.err" |
		openssl x509 -noout -subject 2>/dev/null || tail -3 "$T_DIR/s_client.err" >&2
}
is tls-terminate-cert "$(s_subject term.example.com)" "subject=CN = term.example.com"
out=$(nsx "$NS_P" curl -s --max-time 10 --cacert "$TLS/term.example.com.crt" \
	--resolve "term.example.com:$SP:$GW" "https://term.example.com:$SP/headers")
check tls-terminate-request /usr/bin/python3 -c "import json,sys; h=json.loads(sys.argv[1]); assert h['x-forwarded-proto']=='https', h" "$out"
is tls-passthrough-cert "$(s_subject pass.example.com)" "subject=CN = pass.example.com"
out=$(nsx "$NS_P" /usr/bin/python3 "$HERE/tlsfrag.py" "$GW" $SP pass.example.com 64 "$T_DIR/pass.der")
is tls-passthrough-hello-in-64-byte-records "$out" "HTTP/1.0 200 ok"
is tls-passthrough-fragmented-cert "$(openssl x509 -inform der -in "$T_DIR/pass.der" -noout -subject 2>&1)" "subject=CN = pass.example.com"
out=$(nsx "$NS_P" /usr/bin/python3 "$HERE/tlsfrag.py" "$GW" $SP term.example.com 100 "$T_DIR/term.der")
is tls-terminate-hello-in-100-byte-records "$out" "HTTP/1.1 200 OK"
check_not tls-no-cert-closed bash -c "nsx() { ip netns exec \"\$@\"; }; nsx $NS_P openssl s_client -connect $GW:$SP -servername nocert.example.org </dev/null 2>/dev/null | grep -q 'BEGIN CERTIFICATE'"
out=$(nsx "$NS_P" curl -s --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: term.example.com' "http://$GW:$HP/a?b=c")
if [ "$SP" = 443 ]; then want="https://term.example.com/a?b=c"; else want="https://term.example.com:$SP/a?b=c"; fi
is redirect-https "$out" "308 $want"
# An https:// target: TLS from the gateway to it (s_server -www answers).
out=$(get tlsup.example.com /)
if [[ $out == *"Ciphers supported in s_server binary"* ]]; then pass https-target; else fail https-target "$(head -c 200 <<<"$out")"; fi
# A new pair for term.example.com: picked up without a restart.
sleep 1.1
mkdir -p "$T_DIR/new" && mkcert term.example.com "$T_DIR/new"
openssl x509 -in "$T_DIR/new/term.example.com.crt" -noout -fingerprint >"$T_DIR/new.fp"
install -o "$OWNER" -m 600 "$T_DIR/new/term.example.com.key" "$TLS/term.example.com.key.tmp" && mv "$TLS/term.example.com.key.tmp" "$TLS/term.example.com.key"
install -o "$OWNER" -m 644 "$T_DIR/new/term.example.com.crt" "$TLS/term.example.com.crt.tmp" && mv "$TLS/term.example.com.crt.tmp" "$TLS/term.example.com.crt"
sleep 1.1
fp=$(nsx "$NS_P" openssl s_client -connect "$GW:$SP" -servername term.example.com </dev/null 2>/dev/null | openssl x509 -noout -fingerprint)
is tls-cert-reloaded "$fp" "$(cat "$T_DIR/new.fp")"

# ---- 1,000 routes added and removed while another route carries traffic
cat >"$T_DIR/load.py" <<EOF
import http.client, sys, time, os
ok = bad = 0
c = http.client.HTTPConnection("$GW", $HP, timeout=10)
while not os.path.exists("$T_DIR/stop"):
    try:
        c.request("GET", "/", headers={"Host": "api.example.com"})
        r = c.getresponse()
        body = r.read()
        if r.status == 200 and body == b"hello from the overlay\n":
            ok += 1
        else:
            bad += 1
    except Exception as e:
        bad += 1
        c = http.client.HTTPConnection("$GW", $HP, timeout=10)
print(ok, bad)
EOF
cat >"$T_DIR/churn.py" <<EOF
import http.client, json
c = http.client.HTTPConnection("127.0.0.1", 8081, timeout=10)
h = {"X-Agent-Token": "$TOKEN", "Content-Type": "application/json"}
bad = 0
for i in range(1000):
    c.request("POST", "/http/routes", json.dumps({"route_id": "r%d" % i,
              "hostname": "r%d.churn.example.com" % i,
              "target_url": "http://10.60.0.3:8081"}), h)
    r = c.getresponse(); r.read()
    bad += r.status != 201
for i in range(1000):
    c.request("DELETE", "/http/routes/r%d" % i, headers=h)
    r = c.getresponse(); r.read()
    bad += r.status != 200
print(bad)
EOF
nsx "$NS_P" /usr/bin/python3 "$T_DIR/load.py" >"$T_DIR/load.out" 2>&1 &
LOAD=$!
t0=$(now_ms)
churn_bad=$(nsx "$NS_G" /usr/bin/python3 "$T_DIR/churn.py" 2>&1)
info "1,000 routes added and 1,000 removed: $(($(now_ms) - t0)) ms"
touch "$T_DIR/stop"
wait "$LOAD"
read -r ok bad <"$T_DIR/load.out"
is churn-api-all-answered "$churn_bad" 0
if [ "${bad:-1}" = 0 ] && [ "${ok:-0}" -gt 20 ]; then pass churn-traffic-no-error; else fail churn-traffic-no-error "$(cat "$T_DIR/load.out")"; fi
info "requests on another route meanwhile: $ok, errors: $bad"
api GET /http/routes >/dev/null
if [ "$(grep -o route_id "$T_DIR/body" | wc -l)" = 10 ]; then pass churn-routes-back-to-10; else fail churn-routes-back-to-10 "$(head -c 300 "$T_DIR/body")"; fi

# ---- a TCP forward beside the routes (through SOCKS5 when rootless)
code=$(api POST /tcp/forwards '{"forward_id":"web","public_port":18080,"target_ip":"10.60.0.2","target_port":8080,"proxy_protocol":0}')
is forward-added "$code" 201
is forward-serves "$(nsx "$NS_P" curl -s --max-time 10 "http://$GW:18080/")" "hello from the overlay"
code=$(api POST /tcp/forwards '{"forward_id":"dns","public_port":18053,"target_ip":"10.60.0.2","target_port":53,"proto":"udp"}')
if [ "$ROOTLESS" = 1 ]; then
	if [ "$code" = 400 ] && grep -q 'TUN mode' "$T_DIR/body"; then pass udp-forward-refused-rootless; else fail udp-forward-refused-rootless "$code $(cat "$T_DIR/body")"; fi
else
	is udp-forward-added "$code" 201
fi

# ---- access log and metrics
sleep 0.3
if grep -qE '^[0-9T:.-]+Z '"$CLIENT"' m\.example\.com "GET /whoami HTTP/1\.1" 200 [0-9]+ [0-9]+ [0-9.]+ms m$' "$T_DIR/access.log"; then
	pass access-log-line
else
	fail access-log-line "$(tail -3 "$T_DIR/access.log")"
fi
check access-log-502 grep -q '"GET / HTTP/1.1" 502 .* down$' "$T_DIR/access.log"
nsx "$NS_G" curl -s --max-time 5 http://127.0.0.1:8081/metrics >"$T_DIR/metrics"
check metrics-promtool bash -c "promtool check metrics <'$T_DIR/metrics' >/dev/null 2>'$T_DIR/promtool.err' || ! grep -qv '^$' '$T_DIR/promtool.err'"
check metrics-bytes-out grep -qE '^spokewire_gateway_route_sent_bytes_total\{route="api",host="api.example.com"\} [0-9]{9}' "$T_DIR/metrics"
check metrics-5xx grep -qE '^spokewire_gateway_route_responses_total\{route="down",host="down.example.com",code="5xx"\} [1-9]' "$T_DIR/metrics"
check metrics-upstream-errors grep -qE '^spokewire_gateway_route_upstream_errors_total\{route="down",.*\} [1-9]' "$T_DIR/metrics"

code=$(api GET /status)
check status-json /usr/bin/python3 -c "
import json; d = json.load(open('$T_DIR/body'))
g = d['gateway']
assert g['mode'] == ('userspace' if $ROOTLESS else 'tun'), g['mode']
r = {x['route_id']: x for x in g['routes']}
assert r['api']['requests'] >= 1 and r['api']['sent_bytes'] > 256 << 20, r['api']
assert len(d['mesh']['peers']) == 2, d['mesh']
assert 'private' not in json.dumps(d).lower()
"
code=$(nsx "$NS_G" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/status)
is status-needs-token "$code" 401

# ---- restart: the routes back from the state file, serving
GPID=$(gw_pid)
kill -TERM "$GPID"
wait_until 10 pid_gone "$GPID" || fail gateway-stops
t0=$(now_ms)
gw_start
if wait_until 15 bash -c "[ \"\$(ip netns exec $NS_P curl -s --max-time 1 -H 'Host: n.example.com' http://$GW:$HP/whoami)\" = n ]"; then
	pass restart-route-serving
else
	fail restart-route-serving "$(tail -3 "$T_DIR/gateway.log")"
fi
info "restart to the first routed answer: $(($(now_ms) - t0)) ms (the interface comes up first)"
is restart-passthrough "$(s_subject pass.example.com)" "subject=CN = pass.example.com"
check_not no-private-key-in-logs grep -q "$(cat "$(keyfile gw)")" "$T_DIR/gateway.log" "$T_DIR/access.log"

