#!/bin/bash
# [Policy] in TUN mode, from configs `spokewire topology` writes: a hub and
# three nodes (node-a and node-b in group x, node-c in y), each node with
# Services = 8000/tcp. Spoke to spoke through the hub per SpokeToSpoke
# (all, group, none: refused with ICMP admin-prohibited, not silence);
# HubOriginates = no (the hub answers, never opens: its ping and connect to
# a node are refused at once); a node's service reachable over the overlay
# only, other ports on the interface dropped; one table per interface, gone
# after `down`, other tables untouched. Changes go in with `spokewire
# reload`: peers keep their sessions (no ping lost, no new handshake), a
# node added to the file is in, one dropped is out with its route, and an
# invalid file changes nothing.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

command -v nft >/dev/null || die "nft not installed (scripts/deps.sh)"
NS_H=$PFX-h
declare -A NS=([node-a]=$PFX-a [node-b]=$PFX-b [node-c]=$PFX-c)
declare -A IP=([hub]=10.88.0.1 [node-a]=10.88.0.11 [node-b]=10.88.0.12 [node-c]=10.88.0.13)
ns_new "$NS_H"
n=1
for node in node-a node-b node-c; do
	ns_new "${NS[$node]}"
	veth_link "$NS_H" "${NS[$node]}" $n
	[ $n -gt 1 ] && ip -n "${NS[$node]}" route add "$(outer4 1 0)/24" via "$(outer4 $n 1)"
	n=$((n + 1))
done
IF=$(ifname p)
TABLE=spokewire_$IF

# topo S2S: the topology file with SpokeToSpoke = S2S, and its configs.
topo() {
	cat >"$T_DIR/nodes.topology" <<EOF
[Network]
Name = nodes
Address = 10.88.0.0/24
ListenPort = 51820
SpokeToSpoke = $1
Interface = $IF

[Hub]
Name = hub
Address = 10.88.0.1
Endpoint = $(outer4 1 1):51820

[Spoke]
Name = node-a
Address = 10.88.0.11
Group = x
Services = 8000/tcp

[Spoke]
Name = node-b
Address = 10.88.0.12
Group = x
Services = 8000/tcp

[Spoke]
Name = node-c
Address = 10.88.0.13
Group = y
Services = 8000/tcp
EOF
	if [ -n "${2:-}" ]; then
		printf '\n[Spoke]\nName = node-d\nAddress = 10.88.0.14\nGroup = x\n' >>"$T_DIR/nodes.topology"
	fi
	"$SPOKEWIRE" topology "$T_DIR/nodes.topology" --out "$T_DIR/out" >"$T_DIR/topo.out" 2>&1 ||
		die "topology: $(cat "$T_DIR/topo.out")"
}
hub_conf() { echo "$T_DIR/out/hub/$IF.conf"; }

# A table of someone else's, which must survive everything we do.
nsx "$NS_H" nft -f - <<'EOF' || die "nft"
table inet someone_else {
	chain c {
		type filter hook input priority 10; policy accept;
	}
}
EOF

topo all
check hub-up up_root "$NS_H" "$(hub_conf)"
for node in node-a node-b node-c; do
	check "$node-up" up_root_own "${NS[$node]}" "$T_DIR/out/$node/$IF.conf"
	# The node's service, and a port it does not list.
	for port in 8000 8001; do
		nsx "${NS[$node]}" python3 -m http.server --bind 0.0.0.0 $port \
			>/dev/null 2>&1 </dev/null 8>&- 9>&- &
		T_PIDS+=("$!")
	done
done
for node in node-a node-b node-c; do
	ping_wait "${NS[$node]}" 20 10.88.0.1 || fail "$node-reaches-hub"
	for port in 8000 8001; do
		wait_until 10 port_open "${NS[$node]}" 127.0.0.1 $port || fail "$node-serves-$port"
	done
done
check one-table bash -c "nsx() { ip netns exec \"\$@\"; }; [ \$(nsx $NS_H nft list tables | grep -c spokewire_) = 1 ]"
check table-named nsx "$NS_H" nft list table inet "$TABLE"

# ---- SpokeToSpoke = all
if ping_wait "${NS[node-a]}" 10 "${IP[node-c]}"; then pass all-a-pings-c; else fail all-a-pings-c; fi
reaches all-a-to-c-service "${NS[node-a]}" "${IP[node-c]}" 8000

# ---- HubOriginates = no: the hub answers but never opens
out=$(nsx "$NS_H" ping -n -c 1 -W 2 "${IP[node-a]}" 2>&1)
if [ $? != 0 ]; then pass hub-ping-refused; else fail hub-ping-refused "$out"; fi
refused hub-connect-refused "$NS_H" "${IP[node-a]}" 8000
check hub-answers-a ping_ok "${NS[node-a]}" 10.88.0.1

# ---- Services: the listed port over the overlay only
reaches service-over-overlay "${NS[node-b]}" "${IP[node-a]}" 8000
dropped unlisted-port-dropped "${NS[node-b]}" "${IP[node-a]}" 8001
dropped service-from-underlay-dropped "$NS_H" "$(outer4 1 2)" 8000
reaches unlisted-port-from-underlay "$NS_H" "$(outer4 1 2)" 8001

# ---- SpokeToSpoke = group, then none: the hub's config regenerated and
# applied with `spokewire reload`, the peers keeping their sessions
reload() { nsx "$NS_H" "$SPOKEWIRE" reload "$(hub_conf)" >>"$T_DIR/reload.log" 2>&1; }
hs_of() { nsx "$NS_H" wg show "$IF" latest-handshakes | awk -v k="$1" '$1 == k { print $2 }'; }
A_KEY=$(grep '^node-a ' "$T_DIR/out/summary.txt" | awk '{ print $NF }')
regroup() {
	topo "$@"
	check "reload-$1" reload
}
hs0=$(hs_of "$A_KEY")
# A ping every 50 ms from node-a to the hub across the reload: none lost.
nsx "${NS[node-a]}" ping -n -q -i 0.05 -c 60 10.88.0.1 >"$T_DIR/ping-reload.out" 2>&1 &
pp=$!
sleep 0.5
regroup group
wait $pp
check reload-no-ping-lost grep -q ' 0% packet loss' "$T_DIR/ping-reload.out"
if [ -n "$hs0" ] && [ "$(hs_of "$A_KEY")" = "$hs0" ]; then pass reload-session-kept; else fail reload-session-kept "$hs0 -> $(hs_of "$A_KEY")"; fi
check reload-says-unchanged grep -q '0 peers added, 0 removed, 0 changed, 3 unchanged' "$T_DIR/reload.log"
reaches group-a-to-b "${NS[node-a]}" "${IP[node-b]}" 8000
refused group-a-to-c-refused "${NS[node-a]}" "${IP[node-c]}" 8000
# ping prints admin-prohibited as "Packet filtered". The kernel sends an
# ICMP error to one host about once a second: leave the connect's its time.
sleep 1.2
out=$(nsx "${NS[node-a]}" ping -n -c 1 -W 2 "${IP[node-c]}" 2>&1)
if [[ $out == *"Packet filtered"* ]]; then pass group-ping-says-prohibited; else fail group-ping-says-prohibited "$out"; fi
regroup none
refused none-a-to-b-refused "${NS[node-a]}" "${IP[node-b]}" 8000
check none-a-still-reaches-hub ping_ok "${NS[node-a]}" 10.88.0.1

# ---- a node added to the file: reload on the hub, and it is in
NS[node-d]=$PFX-d
ns_new "${NS[node-d]}"
veth_link "$NS_H" "${NS[node-d]}" 4
ip -n "${NS[node-d]}" route add "$(outer4 1 0)/24" via "$(outer4 4 1)"
regroup all with-d
check reload-says-added grep -q '1 peers added, 0 removed, 0 changed, 3 unchanged' "$T_DIR/reload.log"
check node-d-up up_root_own "${NS[node-d]}" "$T_DIR/out/node-d/$IF.conf"
if ping_wait "${NS[node-d]}" 15 10.88.0.1; then pass node-d-reaches-hub; else fail node-d-reaches-hub; fi
if ping_wait "${NS[node-d]}" 5 "${IP[node-a]}"; then pass node-d-reaches-node-a; else fail node-d-reaches-node-a; fi
# and removed again: its peer and route go
regroup all
check reload-says-removed grep -q '0 peers added, 1 removed, 0 changed, 3 unchanged' "$T_DIR/reload.log"
check node-d-route-gone bash -c "! ip -n $NS_H route show dev $IF | grep -q 10.88.0.14"
# An invalid config changes nothing.
mkdir -p "$T_DIR/bad"
{ cat "$(hub_conf)"; echo "Garbage"; } >"$T_DIR/bad/$IF.conf"
chmod 600 "$T_DIR/bad/$IF.conf"
check_not reload-invalid-refused nsx "$NS_H" "$SPOKEWIRE" reload "$T_DIR/bad/$IF.conf"
out=$(nsx "$NS_H" "$SPOKEWIRE" reload "$T_DIR/bad/$IF.conf" 2>&1)
if [[ $out == *"$IF.conf:"*"Garbage"*"(nothing changed)"* ]]; then pass reload-invalid-says-why; else fail reload-invalid-says-why "$out"; fi
check table-still-there nsx "$NS_H" nft list table inet "$TABLE"

# ---- down: our table gone, the other one kept
check hub-down down_root "$NS_H" "$(hub_conf)"
wait_until 5 bash -c "! ip -n $NS_H link show $IF >/dev/null 2>&1"
check table-gone bash -c "! ip netns exec $NS_H nft list tables | grep -q spokewire_"
check other-table-kept nsx "$NS_H" nft list table inet someone_else
