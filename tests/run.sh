#!/bin/bash
# The whole suite: unit tests (sanitizer build), then the network tests.
# Each file prints "PASS: name" / "FAIL: name" lines; a file that exits
# non-zero without a FAIL line counts as one failure. Logs in build/test/logs.
# Usage: tests/run.sh [PATTERN]   (runs only files whose name contains it)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
PATTERN=${1:-}
export SPOKEWIRE_BUILD="$ROOT/build/test"
LOGS="$SPOKEWIRE_BUILD/logs"
mkdir -p "$LOGS"

echo "== building (ASan + UBSan) =="
if ! make -s -j"$(nproc)" BUILD=build/test SAN=1 WERROR=1 tests >"$LOGS/build.log" 2>&1; then
	cat "$LOGS/build.log"
	echo "0 passed, 1 failed"
	exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Debian's python3 (with the packages deps.sh installs) before any other
# this machine may have: CI has only Debian's.
export PATH="$SPOKEWIRE_BUILD:/usr/sbin:/usr/bin:$PATH"

passed=0
failed=0
failed_names=()

run_one() {
	local name=$1 limit=$2
	shift 2
	local log="$LOGS/$name.log" start rc p f
	start=$(date +%s)
	timeout -k 10 "$limit" "$@" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name (exit $rc)" >>"$log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-28s %3d passed %3d failed  %4ss\n' "$name" "$p" "$f" "$(( $(date +%s) - start ))"
	if [ "$f" -ne 0 ]; then
		failed_names+=("$name")
		grep -E '^FAIL: |check failed|ERROR|error:|Sanitizer' "$log" | head -20 | sed 's/^/    /'
	fi
}

echo "== unit =="
for t in "$SPOKEWIRE_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	[[ -z "$PATTERN" || "$n" == *"$PATTERN"* ]] || continue
	run_one "$n" 300 "$t"
done

echo "== network =="
for t in tests/net/t_*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	[[ -z "$PATTERN" || "$n" == *"$PATTERN"* ]] || continue
	run_one "$n" 600 bash "$t"
done

if [ ${#failed_names[@]} -ne 0 ]; then
	echo "failed: ${failed_names[*]} (logs in $LOGS)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
