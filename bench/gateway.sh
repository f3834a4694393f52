#!/bin/bash
# The gateway against nginx (issue 14), same run, same backend: a client
# namespace runs wrk and iperf3; the gateway namespace runs `spokewire
# gateway` (port 80 and a TCP forward) and nginx configured for the same
# route (a reverse proxy with upstream keep-alive on 8000, a `stream` proxy
# on 15202); both reach the backend (nginx and iperf3 on a spokewire node)
# over the same WireGuard interface. Rounds alternate; medians compared.
#   HTTP requests/s and p99 latency, keep-alive (wrk -c 64) and a new
#   connection per request (Connection: close); one TCP flow through a
#   forward against nginx `stream`.
# Targets: requests/s >= 1.0x, p99 <= 1.2x, forward throughput >= 0.9x.
# nginx runs NGINX_WORKERS workers (default 1: the gateway is one thread).
#   ROUNDS=3 SECONDS_PER_TEST=10 NGINX_WORKERS=1 bench/gateway.sh
# Not part of the test suite. Needs root.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s -j"$(nproc)" BUILD="$BUILD" all || exit 1
export SPOKEWIRE=$PWD/$BUILD/spokewire
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_TEST:-10}
WORKERS=${NGINX_WORKERS:-1}
# shellcheck source=../tests/net/lib.sh
source tests/net/lib.sh
# shellcheck source=../tests/net/userspace.sh
source tests/net/userspace.sh
T_NAME=bench
# shellcheck source=lib.sh
source bench/lib.sh
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || die "nginx's stream module: apt-get install libnginx-mod-stream"
command -v wrk >/dev/null || die "wrk: apt-get install wrk"

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

[Peer]
PublicKey = $(pub node)
AllowedIPs = 10.60.0.2/32
Endpoint = $(outer4 1 2):51821
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
up_root "$NS_M" "$NODE_CONF" || die "node up"
nginx_start "$NS_M" 10.60.0.2:8080
head -c 1024 /dev/urandom >"$T_DIR/www/small"
chmod 644 "$T_DIR/www/small"
nsx "$NS_M" iperf3 -s -B 10.60.0.2 >/dev/null 2>&1 8>&- 9>&- &
T_PIDS+=("$!")

# nginx in front, as people configure it for one route.
P=$T_DIR/proxy
mkdir -p "$P"
cat >"$P/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes $WORKERS;
pid $P/nginx.pid;
error_log $P/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $P/body;
	proxy_temp_path $P/proxy;
	fastcgi_temp_path $P/fastcgi;
	uwsgi_temp_path $P/uwsgi;
	scgi_temp_path $P/scgi;
	upstream backend { server 10.60.0.2:8080; keepalive 64; }
	server {
		listen 8000;
		server_name bench.example.com;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_buffering off;
		}
	}
}
stream { server { listen 15202; proxy_pass 10.60.0.2:5201; } }
EOF
nsx "$NS_G" nginx -c "$P/nginx.conf" >"$T_DIR/proxy-nginx.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
TOKEN=bench
nsx "$NS_G" env DATA_DIR="$T_DIR/gw" AGENT_TOKEN=$TOKEN "$SPOKEWIRE" gateway --config "$GW_CONF" \
	--http 80 --https off --access-log off >"$T_DIR/gateway.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 15 port_open "$NS_G" 127.0.0.1 8081 || die "gateway: $(tail -3 "$T_DIR/gateway.log")"
ping_wait "$NS_G" 10 10.60.0.2 || die "the mesh is not up"
apic() {
	nsx "$NS_G" curl -s -o "$T_DIR/apibody" -w '%{http_code}' -H "X-Agent-Token: $TOKEN" \
		-H 'Content-Type: application/json' --data-binary "$2" "http://127.0.0.1:8081$1"
}
out=$(apic /http/routes '{"route_id":"bench","hostname":"bench.example.com","target_url":"http://10.60.0.2:8080"}'); [ "$out" = 201 ] || die "route: $out $(cat "$T_DIR/apibody")"
[ "$(apic /tcp/forwards '{"forward_id":"iperf","public_port":15201,"target_ip":"10.60.0.2","target_port":5201}')" = 201 ] || die "forward"
wait_until 5 port_open "$NS_G" 127.0.0.1 8000 || die "nginx: $(cat "$P/error.log")"
GW=$(outer4 2 1)

# wrk_run PORT [HEADER]: "requests/s p99-ms"
wrk_run() {
	nsx "$NS_P" wrk -t2 -c64 -d"${DUR}s" --latency -H 'Host: bench.example.com' ${2:+-H "$2"} \
		"http://$GW:$1/small" 2>&1 | awk '
		/^Requests\/sec:/ { rps = $2 }
		/^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
			else if (v ~ /ms$/) { sub(/ms$/, "", v) }
			else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
			p99 = v }
		/Non-2xx|Socket errors/ { err = err " " $0 }
		END { printf "%s %s%s\n", rps ? rps : 0, p99 ? p99 : 0, err ? " #" err : "" }'
}
iperf_mbps() {
	nsx "$NS_P" timeout $((DUR + 20)) iperf3 -c "$GW" -p "$1" -t "$DUR" -J 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null || echo 0
}
# Warm both (connections to the backend, the handshake).
wrk_run 80 >/dev/null
wrk_run 8000 >/dev/null

declare -A R
for round in $(seq "$ROUNDS"); do
	for who in gw nginx; do
		port=80 fport=15201
		[ $who = nginx ] && port=8000 fport=15202
		read -r rps p99 rest < <(wrk_run $port)
		R[$who.ka.rps]+=" $rps" R[$who.ka.p99]+=" $p99"
		[ -n "$rest" ] && echo "  $who keep-alive: $rest"
		read -r rps2 p992 rest < <(wrk_run $port 'Connection: close')
		R[$who.cl.rps]+=" $rps2" R[$who.cl.p99]+=" $p992"
		[ -n "$rest" ] && echo "  $who close: $rest"
		mb=$(iperf_mbps $fport)
		R[$who.fwd]+=" $mb"
		echo "round $round $who: keep-alive $rps req/s p99 ${p99} ms; new connection $rps2 req/s p99 ${p992} ms; forward $mb Mbit/s"
	done
done

row() { # LABEL KEY TARGET HIGHER(1)|LOWER(0) UNIT
	local g n r v
	g=$(median <<<"${R[gw.$2]}")
	n=$(median <<<"${R[nginx.$2]}")
	r=$(ratio "$g" "$n")
	if [ "$4" = 1 ]; then v=$(verdict "$r" "$3"); else
		v=$(awk -v r="$r" -v t="$3" 'BEGIN { print (r <= t) ? "ok" : "MISSED" }'); fi
	printf '| %s | %s | %s | %s | %s %s |\n' "$1" "$n" "$g" "$r" "$([ "$4" = 1 ] && echo '>=' || echo '<=') $3" "$v"
}
echo
echo "[Gateway] medians of $ROUNDS rounds x ${DUR}s; wrk -t2 -c64, 1 KiB responses; nginx $WORKERS worker(s)"
echo "| metric | nginx | spokewire gateway | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
row "keep-alive requests/s" ka.rps 1.0 1
row "keep-alive p99 ms" ka.p99 1.2 0
row "new connection requests/s" cl.rps 1.0 1
row "new connection p99 ms" cl.p99 1.2 0
row "TCP forward one flow Mbit/s (nginx stream)" fwd 0.9 1
