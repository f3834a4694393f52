# Helpers for the controller tests (sourced by tests/net/t_controller_*.sh):
# start controllers on free ports, a throwaway PostgreSQL, cleanup on exit.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -n "${SPOKEWIRE_BUILD:-}" ]; then
	SW=$SPOKEWIRE_BUILD/spokewire
else
	SW=$ROOT/build/spokewire
fi
SUITE=$ROOT/tests/ctl/api_suite.py
TMP=$(mktemp -d /tmp/swctl.XXXXXX)
chmod 755 "$TMP"
CTL_PIDS=()
PGBIN=/usr/lib/postgresql/15/bin
PGDATA_DIR=

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }

ctl_cleanup() {
	local p
	for p in "${CTL_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${CTL_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	stop_postgres
	# A sanitizer report in any controller's log fails the test.
	for p in "$TMP"/*.err; do
		[ -f "$p" ] || continue
		if grep -q "Sanitizer\|runtime error" "$p"; then
			cat "$p"
			echo "FAIL: sanitizer report in $(basename "$p")"
		fi
	done
	rm -rf "$TMP"
}
trap ctl_cleanup EXIT

# start_controller VAR NAME [ARGS...]: runs a controller on a free port of
# 127.0.0.1; sets VAR to its base URL and VAR_PID to its pid. Its stdout
# and stderr are $TMP/NAME.out and $TMP/NAME.err.
start_controller() {
	local var=$1 name=$2 port i pid
	shift 2
	"$SW" controller --listen 127.0.0.1:0 "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	CTL_PIDS+=("$pid")
	for i in $(seq 1 100); do
		port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$TMP/$name.err")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "controller $name did not start:" >&2
		cat "$TMP/$name.err" >&2
		return 1
	fi
	printf -v "$var" 'http://127.0.0.1:%s' "$port"
	printf -v "${var}_PID" '%s' "$pid"
}

# stop_controller PID: SIGTERM and wait; fails if it does not exit cleanly.
stop_controller() {
	local pid=$1 rc
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	return $rc
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_postgres: a fresh cluster in $TMP, owned by the postgres user
# (the server refuses to run as root); sets PGPORT.
start_postgres() {
	PGDATA_DIR=$TMP/pg
	mkdir -p "$PGDATA_DIR/sock"
	chown -R postgres "$PGDATA_DIR"
	runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA_DIR/data" -A trust \
		-U postgres >"$PGDATA_DIR/initdb.log" 2>&1 || {
		cat "$PGDATA_DIR/initdb.log" >&2
		return 1
	}
	PGPORT=$(free_port)
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" \
		-l "$PGDATA_DIR/server.log" -w -t 30 start -o \
		"-p $PGPORT -k $PGDATA_DIR/sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off" \
		>/dev/null || {
		cat "$PGDATA_DIR/server.log" >&2
		return 1
	}
}

# pg_url DB: creates DB and prints its URL.
pg_url() {
	runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" \
		-U postgres "$1" >&2 || return 1
	echo "postgres://postgres@127.0.0.1:$PGPORT/$1"
}

stop_postgres() {
	[ -n "$PGDATA_DIR" ] && [ -d "$PGDATA_DIR/data" ] || return 0
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" \
		-m immediate stop >/dev/null 2>&1
	PGDATA_DIR=
}
