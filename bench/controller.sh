#!/bin/bash
# Controller benchmark: joins/s, hub netmap fetch time and join-to-netmap
# delay with N registered nodes, on SQLite and on PostgreSQL (one
# controller, then two sharing the database). Usage: bench/controller.sh [N]
# Uses build/spokewire (an optimised build), or $SPOKEWIRE_BUILD/spokewire.
. "$(dirname "$0")/../tests/ctl/lib.sh"
N=${1:-10000}
KEY=bench-master-key-$RANDOM$RANDOM
B="python3 $ROOT/bench/controller_bench.py --nodes $N --master $KEY"

start_controller A sqlite --data-dir "$TMP/sqlite" --master-key-file <(echo "$KEY") || exit 1
$B --base "$A" --label "sqlite: "
stop_controller "$A_PID"

start_postgres || exit 1
URL=$(pg_url one) || exit 1
start_controller A pg1 --data-dir "$TMP/pg1" --store "$URL" --master-key-file <(echo "$KEY") || exit 1
$B --base "$A" --label "postgres: "
stop_controller "$A_PID"

URL=$(pg_url two) || exit 1
start_controller A pg2a --data-dir "$TMP/pg2a" --store "$URL" --master-key-file <(echo "$KEY") || exit 1
start_controller C pg2b --data-dir "$TMP/pg2b" --store "$URL" --master-key-file <(echo "$KEY") || exit 1
$B --base "$A" --base2 "$C" --label "postgres, 2 controllers: "
stop_controller "$A_PID"
stop_controller "$C_PID"

# Held long-polls at scale (each node holds one all the time).
start_controller A polls --data-dir "$TMP/polls" --master-key-file <(echo "$KEY") || exit 1
python3 "$ROOT/bench/controller_polls.py" --base "$A" --master "$KEY" --polls "${POLLS:-5000}"
