#!/bin/bash
# The spokewire journey, on this machine, in network namespaces: an app in
# three regions reaching one private database, and published to the
# internet, from one command.
#
#   controller -> PostgreSQL in a private "vpc" (no route to the overlay)
#   -> hub joined (TUN; [Expose]: 10.50.0.1:5432 is DNATed to the database)
#   -> regions lhr and fra (TUN) and nrt (rootless, userspace mode; its app
#      dials 127.0.0.1:5432 through a [Forward]) joined with one token
#   -> contacts-api in each region under `spokewire run`, 500 contacts
#   -> /health, /stats and a search from each region (served_by)
#   -> a gateway joined, publishing lhr's API as api.example.com
#   -> `spokewire status` of the hub -> everything torn down.
#
# Usage: scripts/demo.sh [--minimal] [--keep]
#   --minimal   the two-device demo instead (scripts/demo-minimal.sh)
#   --keep      leave everything running; press Enter to tear down
# Builds nothing: run `./scripts/deps.sh && make` first (needs root).
set -u
cd "$(dirname "$0")/.." || exit 1
case ${1:-} in
--minimal) exec ./scripts/demo-minimal.sh ;;
--keep) KEEP=1 ;;
-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") KEEP=0 ;;
*) echo "usage: scripts/demo.sh [--minimal] [--keep]" >&2; exit 2 ;;
esac
ROOT=$PWD
SW=${SPOKEWIRE:-$ROOT/build/spokewire}
API_BIN=${CONTACTS_API:-$(dirname "$SW")/contacts-api}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ID=$$
P=swj$ID
TMP=$(mktemp -d "/tmp/swdemo$ID.XXXXXX")
chmod 755 "$TMP"
NSS=()
STEP=0
STEPS=8
T0=$(date +%s%N)
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)

elapsed() { echo $((($(date +%s%N) - T0) / 1000000)); }
step() {
	STEP=$((STEP + 1))
	WHAT=$*
	printf '\n[%d/%d %5.1fs] %s\n' "$STEP" "$STEPS" "$(awk -v m="$(elapsed)" 'BEGIN { print m / 1000 }')" "$*"
}
say() { printf '        %s\n' "$*"; }
die() {
	echo >&2
	echo "demo: step $STEP ($WHAT) failed: $*" >&2
	exit 1
}
nsx() {
	local ns=$1
	shift
	ip netns exec "$P-$ns" "$@"
}
wait_until() { # SECONDS CMD...
	local end=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.2
	done
}
port_open() { nsx "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }

cleanup() {
	local rc=$? ns pid
	trap - EXIT INT TERM
	trap '' PIPE # a closed stdout must not stop the teardown
	if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
		echo
		read -r -p "demo: everything is running (namespaces $P-*); Enter tears it down " _
	fi
	printf '\n[teardown] '
	# Apps first (`spokewire run` takes its interface down), then the rest.
	for ns in "${NSS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
	done
	for _ in $(seq 50); do
		left=0
		for ns in "${NSS[@]}"; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1; done
		[ $left = 0 ] && break
		sleep 0.1
	done
	for ns in "${NSS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -f /var/run/wireguard/"$P"*.sock
	printf '%d namespaces and every process in them gone\n' "${#NSS[@]}"
	if [ "$rc" != 0 ]; then
		for f in "$TMP"/*.log; do
			[ -s "$f" ] && { echo "---- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; }
		done
	fi
	rm -rf "$TMP"
	if [ "$rc" = 0 ]; then echo "demo: OK in $(awk -v m="$(elapsed)" 'BEGIN { printf "%.1f", m / 1000 }') s"; else echo "demo: FAILED"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (network namespaces): sudo $0"
for c in ip wg wg-quick curl nft psql setpriv python3; do
	command -v "$c" >/dev/null || die "$c is missing: run ./scripts/deps.sh"
done
[ -x "$SW" ] && [ -x "$API_BIN" ] || die "$SW or $API_BIN is not built: run make"
[ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 is missing: run ./scripts/deps.sh"
export WG_QUICK_USERSPACE_IMPLEMENTATION=$SW
export PATH="$(dirname "$SW"):$PATH"

# The "internet": one bridge; every host has an address on it.
ns_new() { ip netns add "$P-$1" || die "ip netns add"; NSS+=("$P-$1"); ip -n "$P-$1" link set lo up; }
ns_new net
ip -n "$P-net" link add br0 type bridge && ip -n "$P-net" link set br0 up
attach() { # NAME ADDR
	ns_new "$1"
	ip link add eth0 netns "$P-$1" type veth peer name "$1" netns "$P-net" || die "veth $1"
	ip -n "$P-net" link set "$1" master br0 up
	ip -n "$P-$1" addr add "$2/24" dev eth0
	ip -n "$P-$1" link set eth0 up
}
HUB=192.0.2.1
attach hub $HUB
attach lhr 192.0.2.11
attach fra 192.0.2.12
attach nrt 192.0.2.13
attach edge 192.0.2.20
attach user 192.0.2.30
# The private network behind the hub: the database, no route to 10.50/16.
ns_new vpc
ip link add eth1 netns "$P-hub" type veth peer name eth0 netns "$P-vpc" || die "veth vpc"
ip -n "$P-hub" addr add 10.99.0.1/24 dev eth1 && ip -n "$P-hub" link set eth1 up
ip -n "$P-vpc" addr add 10.99.0.2/24 dev eth0 && ip -n "$P-vpc" link set eth0 up
nsx hub sysctl -qw net.ipv4.ip_forward=1

step "controller on $HUB:8400 (SQLite), and PostgreSQL in the private vpc (10.99.0.2)"
KEY=demo-master-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
nsx hub env SPOKEWIRE_MASTER_KEY="$KEY" "$SW" controller --listen "$HUB:8400" \
	--data-dir "$TMP/ctl" --network 10.50.0.0/16 --endpoint "$HUB:51820" \
	>"$TMP/controller.log" 2>&1 </dev/null &
mkdir -p "$TMP/pg" && chown postgres "$TMP/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/pg/data" -A trust -U postgres >"$TMP/initdb.log" 2>&1 ||
	die "initdb: $(tail -2 "$TMP/initdb.log")"
echo "host all all 10.99.0.0/24 trust" >>"$TMP/pg/data/pg_hba.conf"
nsx vpc runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/postgres.log" -w -t 30 start \
	-o "-c listen_addresses=10.99.0.2 -k $TMP/pg -c fsync=off" >/dev/null 2>&1 </dev/null ||
	die "PostgreSQL did not start: $(tail -2 "$TMP/pg/postgres.log")"
wait_until 10 nsx hub curl -sf "http://$HUB:8400/health" || die "the controller did not answer: $(tail -2 "$TMP/controller.log")"
capi() { nsx hub curl -s -X "$1" -H "Authorization: Bearer $KEY" ${3:+-d "$3"} "http://$HUB:8400$2"; }
token() { capi POST /tokens "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
say "controller: $(nsx hub curl -s "http://$HUB:8400/health")"
say "PostgreSQL 15 on 10.99.0.2:5432; the vpc's only route: $(nsx vpc ip -4 route | tr -s '\n ' ' ')"

step "hub joins (TUN mode); [Expose] 5432 -> 10.99.0.2:5432 (DNAT on the hub)"
printf '[Expose]\nListen = 5432\nTarget = 10.99.0.2:5432\n' >"$TMP/hub.sections"
join() { # NAME TOKEN [ARGS...]: `spokewire join`, kept running
	local name=$1 tok=$2
	shift 2
	nsx "$name" env -u WG_PROCESS_FOREGROUND "$SW" join --controller "http://$HUB:8400" --token "$tok" \
		--node-id "$name" --interface "$P$name" --data-dir "$TMP/$name" "$@" \
		>"$TMP/join-$name.log" 2>&1 </dev/null &
}
join hub "$(token '{"role":"hub"}')" --role hub --endpoint "$HUB:51820" --sections "$TMP/hub.sections"
wait_until 15 nsx hub wg show "${P}hub" || die "the hub did not come up: $(tail -3 "$TMP/join-hub.log")"
say "hub ${P}hub: $(nsx hub ip -4 -br addr show "${P}hub" | awk '{ print $3 }'), listening on $HUB:51820"
say "DNAT: $(nsx hub nft list ruleset 2>/dev/null | grep -m1 -o 'dnat ip to [0-9.:]*' || echo '(rules loaded by up)')"

step "regions lhr and fra (TUN) and nrt (rootless: uid 65534, userspace mode) join with one token"
TOKEN=$(token '{"role":"spoke","uses":3}')
say "join token: ${TOKEN:0:12}... (3 uses)"
# Registration only: the interface is the app's, brought up by `spokewire run`.
for r in lhr fra; do
	nsx "$r" env -u WG_PROCESS_FOREGROUND "$SW" join --controller "http://$HUB:8400" --token "$TOKEN" \
		--node-id "$r" --interface "$P$r" --data-dir "$TMP/$r" --once --no-up \
		>"$TMP/join-$r.log" 2>&1 </dev/null || die "$r did not join: $(tail -2 "$TMP/join-$r.log")"
done
mkdir -p "$TMP/nrt" && chown 65534:65534 "$TMP/nrt"
printf '[Forward]\nListen = 127.0.0.1:5432\nTarget = 10.50.0.1:5432\n' >"$TMP/nrt.sections"
chmod 644 "$TMP/nrt.sections"
nsx nrt "${NOBODY[@]}" "$SW" join --controller "http://$HUB:8400" --token "$TOKEN" \
	--node-id nrt --interface "${P}nrt" --data-dir "$TMP/nrt" --once --no-up \
	--mode userspace --sections "$TMP/nrt.sections" \
	>"$TMP/join-nrt.log" 2>&1 </dev/null || die "nrt did not join: $(tail -2 "$TMP/join-nrt.log")"
addr_of() { awk -F' = ' '/^Address/ { split($2, a, "/"); print a[1]; exit }' "$TMP/$1/$P$1.conf"; }
for r in lhr fra nrt; do say "$r: $(addr_of "$r"), config $TMP/$r/$P$r.conf"; done
wait_until 10 bash -c "[ \"\$(ip netns exec $P-hub wg show ${P}hub peers | wc -l)\" = 3 ]" ||
	die "the hub does not list the three regions"
say "the hub's peers: 3 regions"

step "contacts-api in each region under \`spokewire run\` (lhr seeds 500 contacts first)"
DBENV=(DB_USER=postgres DB_NAME=postgres DB_SSLMODE=disable PORT=8080)
run_app() { # REGION DB_HOST [CMD...]
	local r=$1 db=$2
	shift 2
	nsx "$r" env "${DBENV[@]}" DB_HOST="$db" REGION="$r" "$@" "$SW" run "$TMP/$r/$P$r.conf" -- \
		sh -c "${SEED:-}exec '$API_BIN'" >"$TMP/app-$r.log" 2>&1 </dev/null &
}
SEED="'$API_BIN' seed 500 && " run_app lhr 10.50.0.1
run_app fra 10.50.0.1
run_app nrt 127.0.0.1 "${NOBODY[@]}"
for r in lhr fra nrt; do
	wait_until 30 port_open "$r" 127.0.0.1 8080 || die "$r's app did not start: $(tail -3 "$TMP/app-$r.log")"
done
say "lhr, fra: DB_HOST=10.50.0.1 (the hub's DNAT); nrt: DB_HOST=127.0.0.1 (its [Forward]), uid $(ps -o uid= -p "$(pgrep -n -f "run $TMP/nrt/")" | tr -d ' ')"

step "each region answers: /health, /stats, a search"
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
for r in lhr fra nrt; do
	h=$(nsx "$r" curl -s --max-time 5 http://127.0.0.1:8080/health)
	s=$(nsx "$r" curl -s --max-time 5 http://127.0.0.1:8080/stats)
	q=$(nsx "$r" curl -s --max-time 5 http://127.0.0.1:8080/contacts/search/a)
	st=$(jq_ 'd["status"]' <<<"$h" 2>/dev/null)
	[ "$st" = healthy ] || die "$r: /health says: $h"
	total=$(jq_ 'd["total_contacts"]' <<<"$s" 2>/dev/null)
	[ "$total" = 500 ] || die "$r: /stats says: $s"
	say "$r: health $(jq_ 'd["status"] + ", database " + d["database"] + " via " + d["db_host"]' <<<"$h")"
	say "$r: stats  $(jq_ '"%s contacts, %s companies, served_by %s" % (d["total_contacts"], d["unique_companies"], d["served_by"])' <<<"$s")"
	say "$r: search 'a' -> $(jq_ '"%d hits, first: %s, served_by %s" % (len(d["contacts"]) if "contacts" in d else len(d), (d["contacts"] if "contacts" in d else d)[0]["name"], d.get("served_by", "?"))' <<<"$q" 2>/dev/null || echo "$q")"
done

step "a gateway joins, and publishes lhr's API as api.example.com"
AGENT_TOKEN=agent-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
nsx edge env CONTROLLER_URL="http://$HUB:8400" JOIN_TOKEN="$(token '{"role":"spoke"}')" NODE_ID=edge \
	WG_IFACE="${P}edge" DATA_DIR="$TMP/edge" AGENT_TOKEN="$AGENT_TOKEN" EDGE_AGENT_PORT=8081 \
	"$SW" gateway --http 80 --https off --access-log "$TMP/access.log" \
	>"$TMP/gateway.log" 2>&1 </dev/null &
wait_until 15 port_open edge 127.0.0.1 8081 || die "the gateway's API did not open: $(tail -3 "$TMP/gateway.log")"
LHR=$(addr_of lhr)
route() {
	nsx edge curl -s -o "$TMP/route.json" -w '%{http_code}' -X POST -H "X-Agent-Token: $AGENT_TOKEN" \
		-H 'Content-Type: application/json' \
		-d "{\"route_id\":\"contacts\",\"hostname\":\"api.example.com\",\"target_url\":\"http://$LHR:8080\"}" \
		http://127.0.0.1:8081/http/routes
}
wait_until 20 bash -c "[ \"\$($(declare -f route nsx); P=$P TMP=$TMP AGENT_TOKEN=$AGENT_TOKEN LHR=$LHR route)\" = 201 ]" ||
	die "the route was not accepted: $(cat "$TMP/route.json")"
say "POST /http/routes -> 201 $(cat "$TMP/route.json")"
pub() { nsx user curl -s --max-time 5 -H 'Host: api.example.com' "http://192.0.2.20$1"; }
wait_until 20 bash -c "$(declare -f pub nsx); P=$P pub /health | grep -q healthy" ||
	die "the public route does not answer: $(pub /health)"
say "from the internet: curl -H 'Host: api.example.com' http://192.0.2.20/stats"
say "  $(pub /stats)"
sleep 0.3
say "gateway access log: $(tail -1 "$TMP/access.log")"

step "spokewire status of the hub"
nsx hub "$SW" status "${P}hub" | sed 's/^/        /'

step "done: the database stayed private; three regions and the internet reached it through the mesh"
say "$(awk -v m="$(elapsed)" 'BEGIN { printf "%.1f", m / 1000 }') s so far; tearing down next"
