#!/bin/bash
# Controller API suite on a real PostgreSQL (a throwaway cluster in a temp
# dir), run through two controllers sharing the database; then 200
# concurrent joins split across both, which must never share an address.
. "$(dirname "$0")/../ctl/lib.sh"

if [ ! -x "$PGBIN/postgres" ]; then
	fail "postgres: server binaries missing ($PGBIN; scripts/deps.sh)"
	exit 1
fi
start_postgres || { fail "postgres: cluster start"; exit 1; }
pass "postgres: cluster start"

KEY=test-master-key-$RANDOM$RANDOM
NET="--network 10.50.0.0/16 --endpoint hub.example.net:51820"
rc=0

URL=$(pg_url suite) || { fail "postgres: createdb"; exit 1; }
start_controller A a --data-dir "$TMP/a" --store "$URL" $NET \
	--auth-burst 1000 --watch-interval-ms 200 --master-key-file <(echo "$KEY") || exit 1
start_controller B b --data-dir "$TMP/b" --store "$URL" $NET \
	--auth-burst 1000 --watch-interval-ms 200 || exit 1
if grep -q swm_ "$TMP/b.out"; then fail "postgres: second controller reuses the key"; else pass "postgres: second controller reuses the key"; fi
python3 "$SUITE" suite --base "$A" --base2 "$B" --master "$KEY" --label postgres || rc=1
stop_controller "$A_PID" && pass "postgres: clean shutdown" || { fail "postgres: clean shutdown"; rc=1; }
stop_controller "$B_PID"

URL=$(pg_url concurrent) || { fail "postgres: createdb"; exit 1; }
start_controller A c1 --data-dir "$TMP/c1" --store "$URL" $NET \
	--master-key-file <(echo "$KEY") || exit 1
start_controller B c2 --data-dir "$TMP/c2" --store "$URL" $NET \
	--master-key-file <(echo "$KEY") || exit 1
python3 "$SUITE" concurrent --base "$A" --base2 "$B" --master "$KEY" --joins 200 || rc=1
exit $rc
