#!/bin/bash
# examples/contacts-api against a real PostgreSQL: seeded with 500
# contacts, every endpoint with the JSON its clients read, the bad inputs
# (invalid JSON, missing fields, bad ids, too-long fields, a huge body, a
# bad page), and the database stopped mid-test (503 and "unhealthy") and
# started again (it recovers by itself).
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

API_BIN=${CONTACTS_API:-$(dirname "$SPOKEWIRE")/contacts-api}
[ -x "$API_BIN" ] || die "no $API_BIN (make)"
NS=$PFX-db
ns_new "$NS"
pg_start "$NS" 127.0.0.1 5432
export DB_HOST=127.0.0.1 DB_USER=postgres DB_NAME=postgres DB_SSLMODE=disable REGION=lhr PORT=8080
check seed nsx "$NS" "$API_BIN" seed 500
nsx "$NS" "$API_BIN" >"$T_DIR/api.log" 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
wait_until 10 port_open "$NS" 127.0.0.1 8080 || die "contacts-api did not start: $(cat "$T_DIR/api.log")"

# req METHOD PATH [BODY]: "CODE BODY"
req() {
	nsx "$NS" curl -s --max-time 10 -o "$T_DIR/body" -w '%{http_code}' -X "$1" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "http://127.0.0.1:8080$2"
	printf ' '
	cat "$T_DIR/body"
}
# expect NAME CODE PYTHON-CONDITION-ON-d METHOD PATH [BODY]
expect() {
	local name=$1 code=$2 cond=$3 out
	shift 3
	out=$(req "$@")
	if [ "${out%% *}" = "$code" ] && python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(not ($cond))" "${out#* }" 2>/dev/null; then
		pass "$name"
	else
		fail "$name" "$out"
	fi
}

expect root 200 "d['service'] == 'contacts-api' and d['served_by'] == 'lhr'" GET /
expect health 200 "d == {'status': 'healthy', 'database': 'connected', 'region': 'lhr', 'db_host': '127.0.0.1', 'served_by': 'lhr'}" GET /health
expect stats 200 "d['total_contacts'] == 500 and d['unique_companies'] == 33 and d['latest_contact'].endswith('Z') and d['db_host'] == '127.0.0.1'" GET /stats
expect list-page 200 "len(d['contacts']) == 3 and d['limit'] == 3 and d['offset'] == 0 and d['total'] == 500 and set(d['contacts'][0]) >= {'id','name','email','phone','company','notes','created_at','updated_at'}" GET '/contacts?limit=3&offset=0'
expect list-offset 200 "d['contacts'][0]['id'] == 11" GET '/contacts?limit=2&offset=10'
out=$(req POST /contacts '{"name":"Ada Lovelace","email":"ada@example.org","company":"Analytical"}')
ID=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['id'])" "${out#* }" 2>/dev/null)
if [ "${out%% *}" = 201 ] && [ -n "$ID" ]; then pass create; else fail create "$out"; fi
expect get-created 200 "d['name'] == 'Ada Lovelace' and d['phone'] is None and d['company'] == 'Analytical'" GET "/contacts/$ID"
expect update 200 "d['phone'] == '+44 20' and d['name'] == 'Ada Lovelace'" PUT "/contacts/$ID" '{"phone":"+44 20"}'
expect search 200 "d['count'] == 1 and d['contacts'][0]['email'] == 'ada@example.org'" GET /contacts/search/Lovelace
expect search-company 200 "d['count'] == 1" GET /contacts/search/Analytical
# The query is a parameter, never SQL.
expect search-injection 200 "d['count'] == 0" GET "/contacts/search/x'%20OR%20'1'='1"
expect delete 200 "d['id'] == $ID" DELETE "/contacts/$ID"
expect deleted-gone 404 "'error' in d" GET "/contacts/$ID"
expect stats-after 200 "d['total_contacts'] == 500" GET /stats

# ---- bad input: 4xx JSON errors, nothing changed
expect bad-json 400 "d['error'] == 'invalid JSON'" POST /contacts '{"name":'
expect missing-email 400 "'required' in d['error']" POST /contacts '{"name":"x"}'
expect bad-email 400 "'@' in d['error']" POST /contacts '{"name":"x","email":"nope"}'
expect not-strings 400 "'strings' in d['error']" POST /contacts '{"name":1,"email":"a@b"}'
expect bad-id 400 "'id' in d['error']" GET /contacts/abc
expect zero-id 400 "'id' in d['error']" GET /contacts/0
expect no-such-id 404 "'error' in d" GET /contacts/999999
long=$(head -c 300 /dev/zero | tr '\0' x)
expect too-long 400 "'too long' in d['error']" POST /contacts "{\"name\":\"$long\",\"email\":\"a@b\"}"
head -c 100000 /dev/zero | tr '\0' x >"$T_DIR/huge"
code=$(nsx "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST --data-binary @"$T_DIR/huge" http://127.0.0.1:8080/contacts)
check huge-body-413 test "$code" = 413
expect bad-limit 400 "'limit' in d['error']" GET '/contacts?limit=0'
expect bad-method 405 "'error' in d" PATCH /contacts
expect unknown-path 404 "'error' in d" GET /nope
expect stats-unchanged 200 "d['total_contacts'] == 500" GET /stats

# ---- the database goes away, and comes back
pg_ctl_() { ip netns exec "$NS" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T_DIR/pg/data" "$@" >/dev/null 2>&1 </dev/null 8>&- 9>&-; }
pg_ctl_ -m fast -w stop || fail pg-stop
expect health-db-down 503 "d['status'] == 'unhealthy' and d['database'] != 'connected'" GET /health
expect api-db-down 503 "d['error'] == 'database unavailable'" GET /stats
pg_ctl_ -l "$T_DIR/pg/server2.log" -w -t 30 start -o "-p 5432 -k $T_DIR/pg/sock -c listen_addresses=127.0.0.1 -c fsync=off" ||
	fail pg-start
healthy() { [ "$(req GET /health | cut -d' ' -f1)" = 200 ]; }
if wait_until 10 healthy; then pass recovers-by-itself; else fail recovers-by-itself "$(req GET /health)"; fi
expect stats-after-restart 200 "d['total_contacts'] == 500" GET /stats
