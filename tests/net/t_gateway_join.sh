#!/bin/bash
# The gateway as the edge deployment runs it (issue 14): a controller, a hub
# and a node that joined with tokens, and `spokewire gateway` started with
# nothing but the old containers' environment (CONTROLLER_URL, JOIN_TOKEN,
# NODE_ID, WG_IFACE, DATA_DIR, AGENT_TOKEN, EDGE_AGENT_PORT): it joins, and
# serves a route to the node's nginx through the hub. A restart keeps its
# key (the join is idempotent). A second gateway joins without root (uid
# 65534, no capabilities): userspace mode, the mesh through SOCKS5.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_H=$PFX-h
NS_N=$PFX-n
NS_G=$PFX-g
NS_R=$PFX-r
NS_P=$PFX-p
for ns in "$NS_H" "$NS_N" "$NS_G" "$NS_R" "$NS_P"; do ns_new "$ns"; done
veth_link "$NS_H" "$NS_N" 1
veth_link "$NS_H" "$NS_G" 2
veth_link "$NS_H" "$NS_R" 3
veth_link "$NS_G" "$NS_P" 4
veth_link "$NS_R" "$NS_P" 5
nsx "$NS_H" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_N" route add default via "$(outer4 1 1)"
ip -n "$NS_G" route add "$(outer4 1 0)/24" via "$(outer4 2 1)"
ip -n "$NS_R" route add "$(outer4 1 0)/24" via "$(outer4 3 1)"
IF_H=$(ifname h)
IF_N=$(ifname n)
IF_G=$(ifname g)
IF_R=$(ifname r)
HUB=$(outer4 1 1)
KEY=gateway-join-master-key-$RANDOM$RANDOM
CTL=http://$HUB:8400
ip netns exec "$NS_H" env SPOKEWIRE_MASTER_KEY="$KEY" "$SPOKEWIRE" controller \
	--listen "$HUB:8400" --data-dir "$T_DIR/ctl" --network 10.50.0.0/16 \
	--endpoint "$HUB:51820" >>"$T_DIR/controller.log" 2>&1 &
T_PIDS+=("$!")
wait_until 10 nsx "$NS_H" curl -sf "$CTL/health" -o /dev/null || die "controller"
capi() { nsx "$NS_H" curl -s -X "$1" -H "Authorization: Bearer $KEY" ${3:+-d "$3"} "$CTL$2"; }
jget() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
HUB_TOKEN=$(capi POST /tokens '{"role":"hub"}' | jget '["token"]')
TOKEN=$(capi POST /tokens '{"role":"spoke","uses":3}' | jget '["token"]')

join() { # NAME NS IFACE TOKEN [ARGS...]
	local name=$1 ns=$2 ifc=$3 tok=$4
	shift 4
	ip netns exec "$ns" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=spokewire \
		"$SPOKEWIRE" join --controller "$CTL" --token "$tok" --node-id "$name" \
		--interface "$ifc" --data-dir "$T_DIR/$name" "$@" >>"$T_DIR/join-$name.log" 2>&1 </dev/null &
	T_PIDS+=("$!")
}
join hub "$NS_H" "$IF_H" "$HUB_TOKEN" --role hub --endpoint "$HUB:51820"
wait_until 15 nsx "$NS_H" wg show "$IF_H" >/dev/null 2>&1 || die "hub did not join"
join node "$NS_N" "$IF_N" "$TOKEN"
wait_until 15 test -s "$T_DIR/node/$IF_N.conf" || die "node did not join"
NODE_IP=$(awk -F' = ' '/^Address/ { split($2, a, "/"); print a[1]; exit }' "$T_DIR/node/$IF_N.conf")
nginx_start "$NS_N" "$NODE_IP:8080"

AGENT_TOKEN=agt_$RANDOM$RANDOM$RANDOM
gw_env() { # DATA NODE_ID IFACE
	echo CONTROLLER_URL="$CTL" JOIN_TOKEN="$TOKEN" NODE_ID="$2" WG_IFACE="$3" \
		DATA_DIR="$1" AGENT_TOKEN="$AGENT_TOKEN" EDGE_AGENT_PORT=8081
}
gw_start() {
	# shellcheck disable=SC2046
	ip netns exec "$NS_G" env $(gw_env "$T_DIR/gw" edge-gw "$IF_G") \
		"$SPOKEWIRE" gateway --http 80 --https off --access-log off \
		>>"$T_DIR/gateway.log" 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
}
gw_start
check gateway-joined wait_until 20 bash -c "ip netns exec $NS_G wg show $IF_G peers 2>/dev/null | grep -q ."
wait_until 10 port_open "$NS_G" 127.0.0.1 8081 || die "gateway API: $(tail -3 "$T_DIR/gateway.log")"
gapi() { # NS BODY: POST a route, the status code
	nsx "$1" curl -s -o "$T_DIR/body" -w '%{http_code}' -H "X-Agent-Token: $AGENT_TOKEN" \
		-H 'Content-Type: application/json' --data-binary "$2" http://127.0.0.1:8081/http/routes
}
ROUTE="{\"route_id\":\"web\",\"hostname\":\"web.example.com\",\"target_url\":\"http://$NODE_IP:8080\"}"
if wait_until 15 bash -c "[ \"\$($(declare -f gapi nsx); T_DIR=$T_DIR AGENT_TOKEN=$AGENT_TOKEN gapi $NS_G '$ROUTE')\" = 201 ]"; then
	pass route-added
else
	fail route-added "$(cat "$T_DIR/body")"
fi
get() { nsx "$NS_P" curl -s --max-time 10 -H 'Host: web.example.com' "http://$1/"; }
if wait_until 15 bash -c "[ \"\$(ip netns exec $NS_P curl -s --max-time 3 -H 'Host: web.example.com' http://$(outer4 4 1)/)\" = 'hello from the overlay' ]"; then
	pass route-through-hub-to-node
else
	fail route-through-hub-to-node "$(get "$(outer4 4 1)")"
fi
check key-0600 test "$(stat -c %a "$T_DIR/gw/agent/private.key")" = 600
PUB1=$(nsx "$NS_G" wg show "$IF_G" public-key)
GPID=$(pgrep -n -f -- "gateway --http 80 --https off")
kill -TERM "$GPID"
wait_until 10 pid_gone "$GPID" || fail gateway-stops
check_not interface-gone-after-stop bash -c "ip -n $NS_G link show $IF_G >/dev/null 2>&1 && sleep 2 && ip -n $NS_G link show $IF_G >/dev/null 2>&1"
gw_start
check rejoined wait_until 20 bash -c "ip netns exec $NS_G wg show $IF_G peers 2>/dev/null | grep -q ."
is_same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "'$2' != '$3'"; fi; }
is_same key-kept-across-restart "$(nsx "$NS_G" wg show "$IF_G" public-key)" "$PUB1"
if wait_until 15 bash -c "[ \"\$(ip netns exec $NS_P curl -s --max-time 3 -H 'Host: web.example.com' http://$(outer4 4 1)/)\" = 'hello from the overlay' ]"; then
	pass route-restored-after-restart
else
	fail route-restored-after-restart "$(get "$(outer4 4 1)")"
fi

# ---- the same without root: userspace mode, SOCKS5 to the node
mkdir -p "$T_DIR/rgw"
chown 65534 "$T_DIR/rgw"
# shellcheck disable=SC2046
unshare --mount --propagation private -- sh -c \
	'mount -t tmpfs -o mode=0755,uid=65534,gid=65534,size=1m swt-run /var/run/wireguard && exec "$@"' \
	sh ip netns exec "$NS_R" env $(gw_env "$T_DIR/rgw" edge-rootless "$IF_R") \
	"${NOBODY[@]}" "$SPOKEWIRE" gateway --http 8080 --https off --access-log off \
	>>"$T_DIR/gateway-rootless.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 15 port_open "$NS_R" 127.0.0.1 8081 || die "rootless gateway: $(tail -5 "$T_DIR/gateway-rootless.log")"
RPID=$(pgrep -n -f -- "gateway --http 8080 --https off")
if [ "$(caps_of "$RPID")" = "65534 0000000000000000" ]; then pass rootless-uid-no-caps; else fail rootless-uid-no-caps "$(caps_of "$RPID")"; fi
if wait_until 20 bash -c "[ \"\$($(declare -f gapi nsx); T_DIR=$T_DIR AGENT_TOKEN=$AGENT_TOKEN gapi $NS_R '$ROUTE')\" = 201 ]"; then
	pass rootless-route-added
else
	fail rootless-route-added "$(cat "$T_DIR/body") $(tail -3 "$T_DIR/gateway-rootless.log")"
fi
if wait_until 15 bash -c "[ \"\$(ip netns exec $NS_P curl -s --max-time 3 -H 'Host: web.example.com' http://$(outer4 5 1):8080/)\" = 'hello from the overlay' ]"; then
	pass rootless-route-through-socks
else
	fail rootless-route-through-socks "$(nsx "$NS_P" curl -s --max-time 3 -H 'Host: web.example.com' "http://$(outer4 5 1):8080/") $(tail -3 "$T_DIR/gateway-rootless.log")"
fi
check rootless-key-0600 test "$(stat -c %a "$T_DIR/rgw/agent/private.key")" = 600
