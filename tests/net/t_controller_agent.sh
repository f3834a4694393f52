#!/bin/bash
# End to end over namespaces: a controller, a hub and two spokes joined by
# token with `spokewire join` (devices: IMPL_A through wg-quick), pinging
# each other through the hub; a user's device config loaded into IMPL_B
# (wireguard-go) reaching the hub; deleting the node or user removing its
# peer on the hub within 2 s; an agent restart changing nothing.
#
#   hub ns: controller on 10.200.1.1, hub agent; vl1 to s1, vl2 to s2,
#   vl3 to the laptop. Spokes route the underlay through the hub.
. "$(dirname "$0")/lib.sh"

NS_H=$PFX-h
NS_1=$PFX-1
NS_2=$PFX-2
NS_L=$PFX-l
for ns in "$NS_H" "$NS_1" "$NS_2" "$NS_L"; do ns_new "$ns"; done
veth_link "$NS_H" "$NS_1" 1
veth_link "$NS_H" "$NS_2" 2
veth_link "$NS_H" "$NS_L" 3
nsx "$NS_H" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n "$NS_1" route add default via "$(outer4 1 1)"
ip -n "$NS_2" route add default via "$(outer4 2 1)"
ip -n "$NS_L" route add default via "$(outer4 3 1)"
IF_H=$(ifname h)
IF_1=$(ifname s1)
IF_2=$(ifname s2)
IF_L=$(ifname l)
HUB=$(outer4 1 1)
KEY=agent-test-master-key-$RANDOM$RANDOM
CTL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])')
CTL=http://$HUB:$CTL_PORT

start_controller() {
	ip netns exec "$NS_H" env SPOKEWIRE_MASTER_KEY="$KEY" "$SPOKEWIRE" controller \
		--listen "$HUB:$CTL_PORT" --data-dir "$T_DIR/ctl" \
		--network 10.50.0.0/16,fd50::/64 --endpoint "$HUB:51820" \
		>>"$T_DIR/controller.log" 2>&1 &
	CTL_PID=$!
	T_PIDS+=("$CTL_PID")
	wait_until 10 nsx "$NS_H" curl -sf "$CTL/health" -o /dev/null
}
start_controller || die "controller did not start"

api() { # METHOD PATH [BODY]: as the master, prints the body
	nsx "$NS_H" curl -s -X "$1" -H "Authorization: Bearer $KEY" ${3:+-d "$3"} "$CTL$2"
}
jget() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
HUB_TOKEN=$(api POST /tokens '{"role":"hub"}' | jget '["token"]')
SPOKE_TOKEN=$(api POST /tokens '{"role":"spoke","uses":2}' | jget '["token"]')

declare -A AGENT_PID=()
# agent NAME NS IFACE TOKEN [ARGS...]: `spokewire join` in NS, background
# (ip netns exec, not nsx: $! must be the agent, not a subshell).
agent() {
	local name=$1 ns=$2 ifc=$3 tok=$4
	shift 4
	ip netns exec "$ns" env -u WG_PROCESS_FOREGROUND \
		WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_A" LOG_LEVEL=error \
		"$SPOKEWIRE" join --controller "$CTL" --token "$tok" \
		--node-id "$name" --interface "$ifc" --data-dir "$T_DIR/$name" \
		"$@" >>"$T_DIR/agent-$name.log" 2>&1 </dev/null &
	AGENT_PID[$name]=$!
	T_PIDS+=("$!")
}
peers_of() { nsx "$1" wg show "$2" peers 2>/dev/null | sort; }
npeers() { peers_of "$1" "$2" | grep -c .; }
has_peers() { [ "$(npeers "$1" "$2")" = "$3" ]; }

STATUS_ARGS=()
[ "$IMPL_A" = spokewire ] && STATUS_ARGS=(--status 127.0.0.1:9200)
agent hub "$NS_H" "$IF_H" "$HUB_TOKEN" --role hub --endpoint "$HUB:51820" "${STATUS_ARGS[@]}"
check hub-up wait_until 15 has_peers "$NS_H" "$IF_H" 0
# One after the other, so s1 gets 10.50.0.2 and s2 10.50.0.3.
agent s1 "$NS_1" "$IF_1" "$SPOKE_TOKEN"
check spoke1-up wait_until 15 has_peers "$NS_1" "$IF_1" 1
agent s2 "$NS_2" "$IF_2" "$SPOKE_TOKEN"
check spoke2-up wait_until 15 has_peers "$NS_2" "$IF_2" 1
check hub-sees-spokes wait_until 5 has_peers "$NS_H" "$IF_H" 2
check key-file-0600 test "$(stat -c %a "$T_DIR/s1/private.key")" = 600
check conf-written grep -q "^PrivateKey = " "$T_DIR/s1/$IF_1.conf"
has_addr() { nsx "$1" ip addr show dev "$2" | grep -q "inet6\? $3 "; }
check s1-address has_addr "$NS_1" "$IF_1" 10.50.0.2/32
check hub-address has_addr "$NS_H" "$IF_H" 10.50.0.1/16
check ping-hub ping_wait "$NS_1" 10 10.50.0.1
# (the hub learns a spoke's endpoint from the spoke's first packet)
check ping2-hub ping_wait "$NS_2" 10 10.50.0.1
check ping-spoke-to-spoke ping_wait "$NS_1" 10 10.50.0.3
check ping6-spoke-to-spoke ping_wait "$NS_2" 10 fd50::2
# join --status: the device wg-quick started serves the agent's status.
if [ "$IMPL_A" = spokewire ]; then
	nsx "$NS_H" curl -s --max-time 5 http://127.0.0.1:9200/status >"$T_DIR/agent-status.json"
	check agent-status-schema python3 "$T_ROOT/tests/net/schema_check.py" "$T_ROOT/schemas/status.schema.json" "$T_DIR/agent-status.json"
	nsx "$NS_H" curl -s --max-time 5 "$CTL/health" >"$T_DIR/ctl-health.json"
	check controller-health-schema python3 "$T_ROOT/tests/net/schema_check.py" "$T_ROOT/schemas/health.schema.json" "$T_DIR/ctl-health.json"
	check agent-status-role python3 -c "import json,sys; d=json.load(open('$T_DIR/agent-status.json')); sys.exit(not (d['role'] == 'agent' and d['name'] == 'hub' and len(d['peers']) == 2 and d['disk']['path'] == '$T_DIR/hub'))"
fi

# A user's phone: config from the API, loaded into IMPL_B with wg-quick.
api POST /users '{"client_id":"alice"}' >/dev/null
CONF_DIR=$T_DIR/laptop
mkdir -m 700 "$CONF_DIR"
api POST /users/alice/devices?format=conf '{"name":"laptop"}' >"$CONF_DIR/$IF_L.conf"
check device-conf grep -q "^PrivateKey = " "$CONF_DIR/$IF_L.conf"
nsx "$NS_L" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_B" \
	LOG_LEVEL=error wg-quick up "$CONF_DIR/$IF_L.conf" >"$T_DIR/wg-quick-l.log" 2>&1 </dev/null ||
	fail device-up "wg-quick up"
check hub-sees-device wait_until 5 has_peers "$NS_H" "$IF_H" 3
check device-pings-hub ping_wait "$NS_L" 10 10.50.0.1
check device-pings-spoke ping_wait "$NS_L" 10 10.50.0.2

# Restarting an agent changes nothing the network can see.
before_hub=$(peers_of "$NS_H" "$IF_H")
before_ver=$(api GET /health | jget '["netmap_version"]')
kill -TERM "${AGENT_PID[s1]}"
wait "${AGENT_PID[s1]}"
check agent-exit-0 test $? = 0
agent s1 "$NS_1" "$IF_1" "swj_expired_or_unknown"
sleep 1.5
check restart-keeps-hub-peers test "$(peers_of "$NS_H" "$IF_H")" = "$before_hub"
check restart-keeps-version test "$(api GET /health | jget '["netmap_version"]')" = "$before_ver"
check restart-agent-running kill -0 "${AGENT_PID[s1]}"
check restart-still-pings ping_wait "$NS_1" 5 10.50.0.3

# Deletions reach the hub within 2 s.
t0=$(now_ms)
api DELETE /nodes/s2 >/dev/null
if wait_until 2 has_peers "$NS_H" "$IF_H" 2; then
	pass node-delete-reaches-hub
	info "node delete to hub peer removed: $(($(now_ms) - t0)) ms"
else
	fail node-delete-reaches-hub "$(npeers "$NS_H" "$IF_H") peers"
fi
check s2-unreachable ping_none "$NS_1" 10.50.0.3
check removed-agent-exits wait_until 30 pid_gone "${AGENT_PID[s2]}"
wait "${AGENT_PID[s2]}"
check removed-agent-status-3 test $? = 3
check removed-agent-clears-peers has_peers "$NS_2" "$IF_2" 0
t0=$(now_ms)
api DELETE /users/alice >/dev/null
if wait_until 2 has_peers "$NS_H" "$IF_H" 1; then
	pass user-delete-reaches-hub
	info "user delete to hub peer removed: $(($(now_ms) - t0)) ms"
else
	fail user-delete-reaches-hub "$(npeers "$NS_H" "$IF_H") peers"
fi
check device-unreachable ping_none "$NS_L" 10.50.0.1

# A new spoke (where the laptop was) shows up on the hub live.
nsx "$NS_L" wg-quick down "$CONF_DIR/$IF_L.conf" >>"$T_DIR/wg-quick-l.log" 2>&1 </dev/null
IF_3=$(ifname s3)
TOK3=$(api POST /tokens '{"uses":1}' | jget '["token"]')
agent s3 "$NS_L" "$IF_3" "$TOK3"
check live-add wait_until 10 has_peers "$NS_H" "$IF_H" 2
check live-add-pings ping_wait "$NS_L" 10 10.50.0.2
check hub-agent-running kill -0 "${AGENT_PID[hub]}"

# Join to live: from POST /join answered to the peer on the hub's device.
TOK4=$(api POST /tokens '{"uses":1}' | jget '["token"]')
PROBE=$(wg genkey | wg pubkey)
t0=$(now_ms)
nsx "$NS_H" curl -s -o /dev/null -H "X-Join-Token: $TOK4" \
	-d "{\"node_id\":\"probe\",\"public_key\":\"$PROBE\"}" "$CTL/join"
if wait_until 1 has_peers "$NS_H" "$IF_H" 3; then
	pass join-to-live-under-1s
	info "join to live on the hub: $(($(now_ms) - t0)) ms"
else
	fail join-to-live-under-1s
fi

# The controller restarts; agents ride it out and keep applying changes.
kill -TERM "$CTL_PID"
wait "$CTL_PID"
check controller-exit-0 test $? = 0
sleep 1
check controller-restart start_controller
api DELETE /nodes/probe >/dev/null
check after-restart-change-applied wait_until 35 has_peers "$NS_H" "$IF_H" 2
check agents-survive-restart kill -0 "${AGENT_PID[hub]}"
