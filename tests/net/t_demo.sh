#!/bin/bash
# The README's first command runs the journey (issue 19): scripts/demo.sh
# with the test build, its steps' output checked (each region healthy with
# 500 contacts and its own served_by, the gateway's public route, the
# hub's status with four peers), everything torn down, and a failure
# reported with its step; the two-device demo as `--minimal`.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
API_BIN=$(dirname "$SPOKEWIRE")/contacts-api

out=$(SPOKEWIRE=$SPOKEWIRE CONTACTS_API=$API_BIN timeout 120 "$ROOT/scripts/demo.sh" 2>&1)
rc=$?
echo "$out" >"$T_DIR/demo.out"
if [ $rc = 0 ] && grep -q '^demo: OK in' <<<"$out"; then pass demo-ok; else fail demo-ok "rc $rc: $(tail -15 <<<"$out")"; fi
for r in lhr fra nrt; do
	check "region-$r-healthy" grep -q "$r: health healthy, database connected" "$T_DIR/demo.out"
	check "region-$r-500-served-by" grep -q "$r: stats  500 contacts, 33 companies, served_by $r" "$T_DIR/demo.out"
done
check nrt-rootless grep -q 'uid 65534' "$T_DIR/demo.out"
check gateway-route-201 grep -q 'POST /http/routes -> 201' "$T_DIR/demo.out"
check public-route-served-by-lhr grep -q '"total_contacts":500.*"served_by":"lhr"' "$T_DIR/demo.out"
check hub-status-four-peers test "$(grep -c '^ *peer: ' "$T_DIR/demo.out")" = 4
check all-steps grep -q '^\[8/8' "$T_DIR/demo.out"
secs=$(sed -n 's/^demo: OK in \([0-9.]*\) s$/\1/p' "$T_DIR/demo.out")
info "the journey took ${secs:-?} s (ASan build)"
check under-a-minute awk -v s="${secs:-999}" 'BEGIN { exit !(s < 60) }'
DP=$(sed -n 's|.*config /tmp/swdemo\([0-9]*\)\..*|\1|p' "$T_DIR/demo.out" | head -1)
check demo-prefix-found test -n "$DP"
check_not no-namespaces-left bash -c "ip netns list | grep -q '^swj$DP-'"
check_not no-sockets-left bash -c "ls /var/run/wireguard/swj$DP* >/dev/null 2>&1"
check_not no-private-key-printed grep -q 'PrivateKey' "$T_DIR/demo.out"

# A failure names its step and why, and still cleans up.
out=$(SPOKEWIRE=$SPOKEWIRE CONTACTS_API=/bin/false timeout 120 "$ROOT/scripts/demo.sh" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q "^demo: step 4 (contacts-api in each region.*) failed: lhr's app did not start" <<<"$out"; then
	pass failure-names-step
else
	fail failure-names-step "rc $rc: $(grep -m2 'demo:' <<<"$out")"
fi
DP=$(sed -n 's|.*config /tmp/swdemo\([0-9]*\)\..*|\1|p' <<<"$out" | head -1)
check_not failure-no-namespaces-left bash -c "ip netns list | grep -q '^swj${DP:-none}-'"

# Its output cut short (`| head`): the teardown still runs to the end.
SPOKEWIRE=$SPOKEWIRE CONTACTS_API=$API_BIN timeout 120 "$ROOT/scripts/demo.sh" 2>&1 | head -3 >/dev/null
sleep 1
check_not broken-pipe-no-namespaces-left bash -c "ip netns list | grep -q '^swj'"

out=$(SPOKEWIRE=$SPOKEWIRE timeout 60 "$ROOT/scripts/demo.sh" --minimal 2>&1)
if [ $? = 0 ] && grep -q '^demo: OK' <<<"$out"; then pass minimal-demo; else fail minimal-demo "$(tail -5 <<<"$out")"; fi
