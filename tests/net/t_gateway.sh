#!/bin/bash
# `spokewire gateway` (issue 14): the edge agent's API with and without its
# token, TCP forwards served by the gateway itself (psql from a public
# client to PostgreSQL on a mesh node, no DNAT), the PROXY protocol v1 and
# v2 read back by nginx's real_ip, a UDP forward and its idle end, a
# connection limit and an idle timeout, HTTP routes kept,
# checked and written for Traefik, the bad inputs (malformed JSON, wrong
# types, unknown fields, duplicates, a port in use, a target outside the
# mesh), a restart restoring everything from the state file, and a corrupt
# state file refused and kept aside.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_G=$PFX-g
NS_M=$PFX-m
NS_P=$PFX-p
for ns in "$NS_G" "$NS_M" "$NS_P"; do ns_new "$ns"; done
veth_link "$NS_G" "$NS_M" 1
veth_link "$NS_G" "$NS_P" 2
genkey gw
genkey node
IF_G=$(ifname g)
IF_M=$(ifname m)
GW_CONF=$(conf_write "$IF_G" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile gw)")
Address = 10.60.0.1/24
ListenPort = 51820

# friendly_name = node
[Peer]
PublicKey = $(pub node)
AllowedIPs = 10.60.0.2/32
Endpoint = $(outer4 1 2):51821
PersistentKeepalive = 25
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
pg_start "$NS_M" 10.60.0.2 5432
# nginx reads the PROXY header a forward sends and answers with the
# address it names (real_ip), and the one in the header itself.
NGINX_EXTRA="server { listen 10.60.0.2:8082 proxy_protocol; set_real_ip_from 10.60.0.1;
	real_ip_header proxy_protocol; location / { return 200 \"\$remote_addr \$proxy_protocol_addr\\n\"; } }" \
	nginx_start "$NS_M" 10.60.0.2:8080
nsx "$NS_M" /usr/bin/python3 "$(dirname "$0")/udpecho.py" serve 10.60.0.2 5353 >"$T_DIR/udpecho.log" 2>&1 &
T_PIDS+=("$!")
TOKEN=tok_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
DATA=$T_DIR/gw
mkdir -p "$DATA"
gw_start() {
	ip netns exec "$NS_G" env DATA_DIR="$DATA" AGENT_TOKEN="$TOKEN" EDGE_AGENT_PORT=8081 \
		TRAEFIK_ENTRYPOINT=websecure TRAEFIK_CERTRESOLVER=le \
		"$SPOKEWIRE" gateway --config "$GW_CONF" --traefik-dir "$DATA" \
		>>"$T_DIR/gateway.log" 2>&1 </dev/null 8>&- 9>&- &
	GPID=$!
	T_PIDS+=("$GPID")
}
gw_start
wait_until 15 port_open "$NS_G" 127.0.0.1 8081 || die "gateway API: $(tail -5 "$T_DIR/gateway.log")"
ping_wait "$NS_G" 10 10.60.0.2 || die "gateway cannot reach the node"

# api METHOD PATH [BODY] [TOKEN]: "CODE BODY"
api() {
	nsx "$NS_G" curl -s --max-time 5 -o "$T_DIR/body" -w '%{http_code}' -X "$1" \
		-H "X-Agent-Token: ${4-$TOKEN}" -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "http://127.0.0.1:8081$2"
	printf ' '
	cat "$T_DIR/body"
}
code_is() { # NAME CODE METHOD PATH [BODY] [TOKEN]
	local name=$1 want=$2 out
	shift 2
	out=$(api "$@")
	if [ "${out%% *}" = "$want" ]; then pass "$name"; else fail "$name" "$out"; fi
}

code_is health-no-token 200 GET /health "" ""
code_is list-needs-token 401 GET /tcp/forwards "" ""
code_is wrong-token 401 GET /tcp/forwards "" wrong
code_is forward-add 201 POST /tcp/forwards '{"forward_id":"pg","public_port":15432,"target_ip":"10.60.0.2","target_port":5432,"proto":"tcp"}'
if [ "$(psql_q "$NS_P" "$(outer4 2 1)" 15432 'select 6 * 7')" = 42 ]; then pass psql-through-forward; else fail psql-through-forward "$(tail -2 "$T_DIR/psql.log")"; fi
code_is forward-duplicate-id 409 POST /tcp/forwards '{"forward_id":"pg","public_port":15433,"target_ip":"10.60.0.2","target_port":5432}'
code_is forward-duplicate-port 409 POST /tcp/forwards '{"forward_id":"pg2","public_port":15432,"target_ip":"10.60.0.2","target_port":5432}'
nsx "$NS_G" python3 -c 'import socket,time; s=socket.socket(); s.bind(("0.0.0.0",15500)); s.listen(); time.sleep(30)' &
T_PIDS+=("$!")
wait_until 5 port_open "$NS_G" 127.0.0.1 15500
code_is forward-port-in-use 409 POST /tcp/forwards '{"forward_id":"busy","public_port":15500,"target_ip":"10.60.0.2","target_port":5432}'
code_is forward-outside-mesh 400 POST /tcp/forwards '{"forward_id":"x","public_port":15501,"target_ip":"192.0.2.1","target_port":80}'
code_is forward-malformed 400 POST /tcp/forwards '{"forward_id":'
code_is forward-wrong-type 400 POST /tcp/forwards '{"forward_id":"x","public_port":"15501","target_ip":"10.60.0.2","target_port":80}'
code_is forward-unknown-field 400 POST /tcp/forwards '{"forward_id":"x","public_port":15501,"target_ip":"10.60.0.2","target_port":80,"colour":"red"}'
code_is forward-bad-port 400 POST /tcp/forwards '{"forward_id":"x","public_port":70000,"target_ip":"10.60.0.2","target_port":80}'
code_is route-add 201 POST /http/routes '{"route_id":"api","hostname":"api.example.com","target_url":"http://10.60.0.2:8080"}'
out=$(api GET /http/routes)
if [[ $out == *'"entrypoint":"websecure"'* && $out == *'"certresolver":"le"'* ]]; then pass route-defaults-echoed; else fail route-defaults-echoed "$out"; fi
code_is route-duplicate-host 409 POST /http/routes '{"route_id":"api2","hostname":"API.example.com","target_url":"http://10.60.0.2:8081"}'
code_is route-bad-host 400 POST /http/routes '{"route_id":"r","hostname":"not a host","target_url":"http://10.60.0.2:80"}'
code_is route-outside-mesh 400 POST /http/routes '{"route_id":"r","hostname":"r.example.com","target_url":"http://192.0.2.1:80"}'
check traefik-yaml grep -q 'rule: "Host(`api.example.com`)"' "$DATA/spokewire-routes.yml"
code_is route-wildcard 201 POST /http/routes '{"route_id":"apps","hostname":"*.apps.example.com","target_url":"http://10.60.0.2:8080"}'
code_is route-passthrough 201 POST /http/routes '{"route_id":"tls","hostname":"tls.example.com","target_url":"https://10.60.0.2:8443","tls":"passthrough"}'
code_is route-passthrough-redirect-refused 400 POST /http/routes '{"route_id":"tls2","hostname":"tls2.example.com","target_url":"https://10.60.0.2:8443","tls":"passthrough","redirect_https":true}'
code_is route-bad-tls-mode 400 POST /http/routes '{"route_id":"tls3","hostname":"tls3.example.com","target_url":"https://10.60.0.2:8443","tls":"maybe"}'
check traefik-yaml-wildcard grep -q 'rule: "HostRegexp(`{sub:\[a-z0-9.-\]+}.apps.example.com`)"' "$DATA/spokewire-routes.yml"
check traefik-yaml-passthrough bash -c "grep -q '^tcp:' '$DATA/spokewire-routes.yml' && grep -q 'rule: \"HostSNI(\`tls.example.com\`)\"' '$DATA/spokewire-routes.yml' && grep -q 'passthrough: true' '$DATA/spokewire-routes.yml' && grep -q 'address: \"10.60.0.2:8443\"' '$DATA/spokewire-routes.yml'"
code_is route-wildcard-delete 200 DELETE /http/routes/apps
code_is route-passthrough-delete 200 DELETE /http/routes/tls
check state-written grep -q '"forward_id": "pg"' "$DATA/state.json"
check state-0600 test "$(stat -c %a "$DATA/state.json")" = 600
code_is route-delete 200 DELETE /http/routes/api
code_is route-delete-missing 404 DELETE /http/routes/api
code_is route-readd 201 POST /http/routes '{"route_id":"api","hostname":"api.example.com","target_url":"http://10.60.0.2:8080"}'
check_not api-beyond-loopback-without-token nsx "$NS_G" env -u AGENT_TOKEN DATA_DIR="$T_DIR/other" "$SPOKEWIRE" gateway --config "$GW_CONF" --api 0.0.0.0:8090

# ---- PROXY protocol to the target, UDP, limits, idle timeouts
CLIENT=$(outer4 2 2)
GWP=$(outer4 2 1)
code_is forward-pp2 201 POST /tcp/forwards '{"forward_id":"pp2","public_port":18082,"target_ip":"10.60.0.2","target_port":8082,"proxy_protocol":2}'
code_is forward-pp1 201 POST /tcp/forwards '{"forward_id":"pp1","public_port":18083,"target_ip":"10.60.0.2","target_port":8082,"proxy_protocol":1}'
wait_until 5 port_open "$NS_M" 10.60.0.2 8082 || fail nginx-proxy-protocol-up
out=$(nsx "$NS_P" curl -s --max-time 5 "http://$GWP:18082/")
if [ "$out" = "$CLIENT $CLIENT" ]; then pass proxy-v2-real-ip; else fail proxy-v2-real-ip "$out"; fi
out=$(nsx "$NS_P" curl -s --max-time 5 "http://$GWP:18083/")
if [ "$out" = "$CLIENT $CLIENT" ]; then pass proxy-v1-real-ip; else fail proxy-v1-real-ip "$out"; fi
code_is forward-bad-proxy-version 400 POST /tcp/forwards '{"forward_id":"pp3","public_port":18084,"target_ip":"10.60.0.2","target_port":8082,"proxy_protocol":3}'
code_is forward-udp-proxy-refused 400 POST /tcp/forwards '{"forward_id":"pp3","public_port":18084,"target_ip":"10.60.0.2","target_port":8082,"proto":"udp","proxy_protocol":2}'
code_is forward-udp 201 POST /tcp/forwards '{"forward_id":"dns","public_port":15353,"target_ip":"10.60.0.2","target_port":5353,"proto":"udp","idle_timeout":2}'
code_is forward-tcp-same-port-as-udp 201 POST /tcp/forwards '{"forward_id":"dns-tcp","public_port":15353,"target_ip":"10.60.0.2","target_port":8080}'
code_is forward-udp-duplicate-port 409 POST /tcp/forwards '{"forward_id":"dns2","public_port":15353,"target_ip":"10.60.0.2","target_port":5353,"proto":"udp"}'
out=$(nsx "$NS_P" /usr/bin/python3 "$(dirname "$0")/udpecho.py" send "$GWP" 15353 hello 3 2>&1)
if [ "$out" = $'10.60.0.1 hello\n10.60.0.1 hello\n10.60.0.1 hello' ]; then pass udp-forward-echo; else fail udp-forward-echo "$out"; fi
out=$(api GET /health)
if [[ $out == *'"connections_active":1'* ]]; then pass udp-session-counted; else fail udp-session-counted "$out"; fi
sleep 2.5
out=$(api GET /health)
if [[ $out == *'"connections_active":0'* ]]; then pass udp-session-idle-ends; else fail udp-session-idle-ends "$out"; fi
code_is forward-limited 201 POST /tcp/forwards '{"forward_id":"one","public_port":18085,"target_ip":"10.60.0.2","target_port":8080,"max_connections":1,"idle_timeout":1}'
cat >"$T_DIR/limits.py" <<EOF
import socket, time
a = socket.create_connection(("$GWP", 18085), timeout=3)
time.sleep(0.3)
b = socket.create_connection(("$GWP", 18085), timeout=3)
try:
    second = "closed" if b.recv(10) == b"" else "open"
except (ConnectionResetError, socket.timeout) as e:
    second = "closed" if isinstance(e, ConnectionResetError) else "open"
t = time.monotonic()
try:
    first = "closed" if a.recv(10) == b"" else "data"
except ConnectionResetError:
    first = "closed"
print(second, first, "%.1f" % (time.monotonic() - t))
EOF
read -r second first idle < <(nsx "$NS_P" /usr/bin/python3 "$T_DIR/limits.py" 2>&1)
if [ "$second" = closed ]; then pass forward-max-connections; else fail forward-max-connections "second connection: $second"; fi
if [ "$first" = closed ]; then pass forward-idle-timeout; else fail forward-idle-timeout "idle connection: $first after $idle s"; fi
check forward-options-echoed grep -q '"proxy_protocol": 2' "$DATA/state.json"

# ---- restart: everything back from the state file, serving at once
kill -TERM "$GPID"
wait_until 10 pid_gone "$GPID" || fail gateway-stops
t0=$(now_ms)
gw_start
wait_until 15 port_open "$NS_P" "$(outer4 2 1)" 15432 || fail restart-forward-listening
info "restart to the forward listening: $(($(now_ms) - t0)) ms (the interface comes up first)"
if wait_until 10 bash -c "[ \"\$($(declare -f psql_q nsx); PGBIN=$PGBIN T_DIR=$T_DIR psql_q $NS_P $(outer4 2 1) 15432 'select 1')\" = 1 ]"; then
	pass restart-psql-through-forward
else
	fail restart-psql-through-forward
fi
out=$(api GET /http/routes)
if [[ $out == *'"route_id":"api"'* ]]; then pass restart-routes-restored; else fail restart-routes-restored "$out"; fi
code_is forward-delete 200 DELETE /tcp/forwards/pg
check_not forward-gone port_open "$NS_P" "$(outer4 2 1)" 15432

# ---- a corrupt state file: refused, kept aside, never taken for empty
kill -TERM "$GPID"
wait_until 10 pid_gone "$GPID"
head -c 20 "$DATA/state.json" >"$DATA/state.tmp" && mv "$DATA/state.tmp" "$DATA/state.json"
out=$(ip netns exec "$NS_G" env DATA_DIR="$DATA" AGENT_TOKEN="$TOKEN" "$SPOKEWIRE" gateway --config "$GW_CONF" 2>&1)
rc=$?
if [ $rc != 0 ] && [[ $out == *"state.json"*"kept as"*".bad"* ]]; then pass corrupt-state-refused; else fail corrupt-state-refused "rc $rc: $out"; fi
check corrupt-state-kept test -s "$DATA/state.json.bad"
check_not corrupt-no-interface-left bash -c "ip -n $NS_G link show $IF_G >/dev/null 2>&1"
