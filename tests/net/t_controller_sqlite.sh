#!/bin/bash
# Controller API suite on SQLite, plus what only a single store shows: the
# generated master key (printed once, stored as a hash), state surviving a
# restart, the failed-auth rate limit, and a clean shutdown with held polls.
. "$(dirname "$0")/../ctl/lib.sh"

KEY=test-master-key-$RANDOM$RANDOM
NET="--network 10.50.0.0/16 --endpoint hub.example.net:51820"

start_controller A a --data-dir "$TMP/a" $NET --auth-burst 1000 \
	--master-key-file <(echo "$KEY") || exit 1
python3 "$SUITE" suite --base "$A" --master "$KEY" --label sqlite
rc=$?
# Huge bodies are refused before they are read; curl sends them with
# Expect: 100-continue and reads the early answer.
head -c $((20 << 20)) /dev/zero >"$TMP/huge"
out=$(curl -s -w '%{http_code}' -o "$TMP/huge.out" -H "Authorization: Bearer $KEY" --data-binary @"$TMP/huge" "$A/users")
[ "$out" = 413 ] && grep -q '"body too large"' "$TMP/huge.out" && pass "sqlite: 20 MB body 413" || fail "sqlite: 20 MB body 413 ($out)"
out=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $KEY" -H "Transfer-Encoding: chunked" --data-binary @"$TMP/huge" "$A/users")
# (413, or the connection dropped once past the drain limit)
case "$out" in *413|*" 000"|*" 100") pass "sqlite: chunked 20 MB body refused" ;; *) fail "sqlite: chunked 20 MB body refused ($out)" ;; esac
if stop_controller "$A_PID"; then
	pass "sqlite: clean shutdown"
else
	fail "sqlite: clean shutdown"; rc=1
fi

# Generated master key: printed once, only its hash on disk.
start_controller B b --data-dir "$TMP/b" || exit 1
GEN=$(grep -o 'swm_[0-9a-f]*' "$TMP/b.out")
if [ ${#GEN} -eq 68 ]; then pass "generated master key printed"; else fail "generated master key printed"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GEN" "$B/nodes")
[ "$code" = 200 ] && pass "generated master key works" || fail "generated master key works ($code)"
curl -s -H "Authorization: Bearer $GEN" -d '{"client_id":"carol"}' "$B/users" >/dev/null
stop_controller "$B_PID"
if grep -rqa "$GEN" "$TMP/b"; then fail "master key not stored"; else pass "master key not stored"; fi
[ -f "$TMP/b/controller.db" ] && [ "$(stat -c %a "$TMP/b/controller.db")" = 600 ] &&
	pass "database is 0600" || fail "database is 0600"

start_controller B b2 --data-dir "$TMP/b" || exit 1
if grep -q swm_ "$TMP/b2.out"; then fail "key printed only once"; else pass "key printed only once"; fi
out=$(curl -s -H "Authorization: Bearer $GEN" "$B/users")
[ "$out" = '["carol"]' ] && pass "state survives restart" || fail "state survives restart ($out)"
stop_controller "$B_PID"
if "$SW" controller --data-dir "$TMP/b" --network 10.60.0.0/16 --listen 127.0.0.1:0 \
	>/dev/null 2>"$TMP/c.err"; then
	fail "other network refused"
else
	grep -q "differs" "$TMP/c.err" && pass "other network refused" || fail "other network refused"
fi
"$SW" controller --network 10.50.0.1/16 >/dev/null 2>&1 && fail "bad network refused" || pass "bad network refused"
"$SW" controller --help | grep -q -- "--master-key-file" && pass "help" || fail "help"

# Failed-auth rate limit.
start_controller R r --data-dir "$TMP/r" --auth-burst 5 --auth-rate 2 \
	--master-key-file <(echo "$KEY") || exit 1
python3 "$SUITE" ratelimit --base "$R" --master "$KEY" --burst 5 || rc=1

# Shutdown while a long-poll is held.
HT=$(curl -s -H "Authorization: Bearer $KEY" -d '{"role":"hub"}' "$R/tokens" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
NT=$(curl -s -H "X-Join-Token: $HT" -d "{\"node_id\":\"h\",\"public_key\":\"$("$SW" genkey | "$SW" pubkey)\"}" "$R/join" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["node_token"])')
curl -s -o "$TMP/held" -H "Authorization: Bearer $NT" "$R/netmap?since=99&timeout=60" &
cpid=$!
sleep 0.5
if stop_controller "$R_PID"; then pass "shutdown with held poll"; else fail "shutdown with held poll"; rc=1; fi
wait "$cpid"
grep -q '"version"' "$TMP/held" && pass "held poll answered at shutdown" || fail "held poll answered at shutdown"
exit $rc
