#!/bin/bash
# The ten-region example as written (examples/ten-regions.topology), its
# addresses made real in namespaces: the hub at 54.171.48.207, PostgreSQL
# at 172.31.3.134 in a "vpc" namespace with no route to the overlay. The
# hub (TUN mode) and three regions: gru and lhr in TUN mode, fra in
# userspace mode as uid 65534 (the one edit to the file, plus a [Forward]
# to the database in its config). psql from every region to
# 10.50.0.1:5432 through the hub's [Expose]; spoke to spoke per
# SpokeToSpoke all, group and none (refused at once, not timed out); the
# hub's own ping and connect to a spoke refused (HubOriginates = no); then
# a fourth region added to the file, `topology` rerun and `spokewire
# reload` on the hub: the new region reaches the database while a ping
# from gru loses nothing and gru's latest handshake stays the same.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

command -v nft >/dev/null || die "nft not installed (scripts/deps.sh)"
HUB_EP=54.171.48.207
DB=172.31.3.134
NS_H=$PFX-h
NS_V=$PFX-v
declare -A NS=([gru]=$PFX-g [lhr]=$PFX-l [fra]=$PFX-f [jnb]=$PFX-j)
declare -A N=([gru]=1 [lhr]=2 [fra]=3 [jnb]=4)
ns_new "$NS_H"
ns_new "$NS_V"
ip -n "$NS_H" addr add "$HUB_EP/32" dev lo
for r in gru lhr fra jnb; do
	ns_new "${NS[$r]}"
	veth_link "$NS_H" "${NS[$r]}" "${N[$r]}"
	ip -n "${NS[$r]}" route add "$HUB_EP/32" via "$(outer4 "${N[$r]}" 1)"
done
ip link add vpc netns "$NS_H" type veth peer name vpc netns "$NS_V"
ip -n "$NS_H" addr add 172.31.3.1/24 dev vpc
ip -n "$NS_V" addr add "$DB/24" dev vpc
ip -n "$NS_H" link set vpc up
ip -n "$NS_V" link set vpc up
pg_start "$NS_V" "$DB" 5432
if nsx "$NS_V" ip route get 10.50.1.1 >/dev/null 2>&1; then fail vpc-has-no-overlay-route; else pass vpc-has-no-overlay-route; fi

OUT=$T_DIR/out
TOPO=$T_DIR/ten-regions.topology
# topo [S2S]: the example with fra in userspace mode (and SpokeToSpoke =
# S2S), and its configs; fra runs a copy of its config with a [Forward]
# to the database.
topo() {
	sed -e "s/^SpokeToSpoke = all/SpokeToSpoke = ${1:-all}/" \
		-e 's/^Name = fra$/&\nMode = userspace/' "$T_ROOT/examples/ten-regions.topology" >"$TOPO"
	[ -f "$T_DIR/jnb" ] && printf '\n[Spoke]\nName = jnb\nGroup = af\n' >>"$TOPO"
	"$SPOKEWIRE" topology "$TOPO" --out "$OUT" >"$T_DIR/topo.out" 2>&1 ||
		die "topology: $(cat "$T_DIR/topo.out")"
	mkdir -p -m 755 "$T_DIR/fra"
	{ cat "$OUT/fra/wg0.conf"; printf '\n[Forward]\nListen = 127.0.0.1:15432\nTarget = 10.50.0.1:5432\n'; } >"$FRA_CONF"
	chmod 600 "$FRA_CONF"
	chown 65534:65534 "$FRA_CONF"
}
FRA_CONF=$T_DIR/fra/wg0.conf
chmod 755 "$T_DIR"
topo
check summary-ten-spokes test "$(grep -c '^[a-z].* spoke ' "$OUT/summary.txt")" = 10
declare -A IP
for r in gru lhr fra; do
	IP[$r]=$(awk -v n=$r '$1 == n { print $3 }' "$OUT/summary.txt")
done
check addresses-as-planned test "${IP[gru]} ${IP[lhr]} ${IP[fra]}" = "10.50.1.1 10.50.3.1 10.50.3.2"

check hub-up up_root_own "$NS_H" "$OUT/hub/wg0.conf"
HPID=$(ns_daemon_pids "$NS_H" spokewire | head -1)
check gru-up up_root_own "${NS[gru]}" "$OUT/gru/wg0.conf"
check lhr-up up_root_own "${NS[lhr]}" "$OUT/lhr/wg0.conf"
check fra-up-as-nobody up_nobody "${NS[fra]}" "$FRA_CONF"
for r in gru lhr; do
	ping_wait "${NS[$r]}" 20 10.50.0.1 || fail "$r-reaches-hub"
	nsx "${NS[$r]}" python3 -m http.server --bind 0.0.0.0 8000 >/dev/null 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
	wait_until 10 port_open "${NS[$r]}" 127.0.0.1 8000 || fail "$r-serves-8000"
done

# ---- the database in the vpc, from every region
db_from() { # REGION: select through the hub's [Expose]
	if [ "$1" = fra ]; then
		psql_q "${NS[fra]}" 127.0.0.1 15432 'select 6 * 7'
	else
		psql_q "${NS[$1]}" 10.50.0.1 5432 'select 6 * 7'
	fi
}
# db_ok REGION: 42 within 10 tries (the first may meet a fresh handshake)
db_ok() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(db_from "$1")" = 42 ] && return 0
		sleep 0.5
	done
	return 1
}
for r in gru lhr fra; do
	if db_ok $r; then pass "psql-from-$r"; else fail "psql-from-$r" "$(tail -2 "$T_DIR/psql.log")"; fi
done

# ---- SpokeToSpoke = all (sa to eu, and to the userspace region)
reaches all-gru-to-lhr "${NS[gru]}" "${IP[lhr]}" 8000
if ping_wait "${NS[gru]}" 10 "${IP[fra]}"; then pass all-gru-pings-userspace-fra; else fail all-gru-pings-userspace-fra; fi

# ---- HubOriginates = no (the topology's default)
out=$(nsx "$NS_H" ping -n -c 1 -W 2 "${IP[gru]}" 2>&1)
if [ $? != 0 ]; then pass hub-ping-refused; else fail hub-ping-refused "$out"; fi
refused hub-connect-refused "$NS_H" "${IP[gru]}" 8000

# ---- group, then none, with `reload` on the hub
# In the hub's mount namespace (its /var/run/wireguard) and network one.
reload() {
	nsenter --mount="/proc/$HPID/ns/mnt" --net="/proc/$HPID/ns/net" \
		"$SPOKEWIRE" reload "$OUT/hub/wg0.conf" >>"$T_DIR/reload.log" 2>&1
}
topo group
check reload-group reload
if ping_wait "${NS[lhr]}" 5 "${IP[fra]}"; then pass group-lhr-pings-fra; else fail group-lhr-pings-fra; fi
refused group-gru-to-lhr-refused "${NS[gru]}" "${IP[lhr]}" 8000
topo none
check reload-none reload
if ping_none "${NS[lhr]}" "${IP[fra]}"; then pass none-lhr-to-fra-refused; else fail none-lhr-to-fra-refused; fi
refused none-lhr-to-gru-refused "${NS[lhr]}" "${IP[gru]}" 8000
if [ "$(db_from gru)" = 42 ]; then pass none-gru-still-reaches-db; else fail none-gru-still-reaches-db; fi

# ---- a fourth region: added to the file, topology rerun, hub reloaded
GRU_KEY=$(awk '$1 == "gru" { print $NF }' "$OUT/summary.txt")
hs_of() { in_mnt "$HPID" wg show wg0 latest-handshakes | awk -v k="$1" '$1 == k { print $2 }'; }
hs0=$(hs_of "$GRU_KEY")
nsx "${NS[gru]}" ping -n -q -i 0.05 -c 80 10.50.0.1 >"$T_DIR/ping-reload.out" 2>&1 &
pp=$!
sleep 0.5
touch "$T_DIR/jnb"
topo none
check topology-says-two-written grep -q '2 configs written, 10 unchanged' "$T_DIR/topo.out"
check reload-adds-jnb reload
check reload-says-added grep -q '1 peers added, 0 removed, 0 changed, 10 unchanged' "$T_DIR/reload.log"
check jnb-up up_root_own "${NS[jnb]}" "$OUT/jnb/wg0.conf"
wait $pp
check reload-no-ping-lost grep -q ' 0% packet loss' "$T_DIR/ping-reload.out"
if [ -n "$hs0" ] && [ "$(hs_of "$GRU_KEY")" = "$hs0" ]; then pass gru-handshake-unchanged; else fail gru-handshake-unchanged "$hs0 -> $(hs_of "$GRU_KEY")"; fi
ping_wait "${NS[jnb]}" 20 10.50.0.1 || fail jnb-reaches-hub
if db_ok jnb; then pass psql-from-new-jnb; else fail psql-from-new-jnb "$(tail -2 "$T_DIR/psql.log")"; fi
