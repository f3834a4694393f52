#!/bin/bash
# `spokewire run`: a container's entrypoint. A hub (spokewire up, TUN
# mode); a client namespace whose app runs under `spokewire run` from
# environment variables only: in TUN mode (as root) and in userspace mode
# as uid 65534 with no capabilities (its app dialling 127.0.0.1 through
# WG_FORWARDS). The handshake wait and its timeout message, CMD's exit
# status returned, signals passed on, no interface or socket left, no
# private key in any output. Then the container deploy/app/Dockerfile
# builds, run as a container runtime would: its USER, ENV, ENTRYPOINT, CMD.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_H=$PFX-h
NS_C=$PFX-c
ns_new "$NS_H"
ns_new "$NS_C"
veth_link "$NS_H" "$NS_C" 1
genkey hub
genkey app
IF_H=$(ifname h)
IF_C=$(ifname c)
HUB_CONF=$(conf_write "$IF_H" root <<EOF2
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16
ListenPort = 51820

[Peer]
PublicKey = $(pub app)
AllowedIPs = 10.50.3.7/32
EOF2
)
check hub-up up_root "$NS_H" "$HUB_CONF"
nsx "$NS_H" python3 -m http.server --bind 10.50.0.1 8000 --directory "$T_DIR" >/dev/null 2>&1 </dev/null 8>&- 9>&- &
T_PIDS+=("$!")
echo "hello through the tunnel" >"$T_DIR/hello.txt"
chmod 755 "$T_DIR"
chmod 644 "$T_DIR/hello.txt"

APP_KEY=$(cat "$(keyfile app)")
run_env() { # the container's variables, then ARGS...
	env WG_PRIVATE_KEY="$APP_KEY" WG_ADDRESS=10.50.3.7/32 WG_PEER_PUBLIC_KEY="$(pub hub)" \
		WG_PEER_ENDPOINT="$(outer4 1 1):51820" WG_IFACE="$IF_C" "$@"
}
no_key_in() { ! grep -qF "$APP_KEY" "$1"; }

# ---- TUN mode: CMD runs once the handshake is done; its status is ours
run_env ip netns exec "$NS_C" "$SPOKEWIRE" run -- sh -c 'ping -n -c 1 -W 2 10.50.0.1 >/dev/null && exit 7' \
	>"$T_DIR/run-tun.out" 2>&1
check tun-exit-status-passed test $? = 7
check tun-said-mode grep -q "$IF_C in tun mode" "$T_DIR/run-tun.out"
check tun-no-key no_key_in "$T_DIR/run-tun.out"
check tun-interface-gone bash -c "! ip -n $NS_C link show $IF_C >/dev/null 2>&1"
check tun-socket-gone bash -c "[ ! -e $WG_RUN/$IF_C.sock ]"
check tun-no-temp-config bash -c "! ls -d /tmp/spokewire-run-* >/dev/null 2>&1"

# ---- userspace mode as uid 65534: the app reaches the hub through a forward
run_env WG_MODE=userspace WG_FORWARDS=127.0.0.1:18000=10.50.0.1:8000 \
	ip netns exec "$NS_C" "${NOBODY[@]}" "$SPOKEWIRE" run -- \
	sh -c 'curl -s --max-time 5 http://127.0.0.1:18000/hello.txt' >"$T_DIR/run-us.out" 2>&1
check userspace-exit-0 test $? = 0
check userspace-app-reached-hub grep -q "hello through the tunnel" "$T_DIR/run-us.out"
check userspace-no-key no_key_in "$T_DIR/run-us.out"
check userspace-socket-gone bash -c "[ ! -e /tmp/spokewire-65534/$IF_C.sock ]"
check userspace-daemon-gone bash -c "[ -z \"\$(ip netns pids $NS_C)\" ]"

# ---- signals go to CMD, its death by signal is our status
run_env ip netns exec "$NS_C" "$SPOKEWIRE" run -- sleep 60 >"$T_DIR/run-sig.out" 2>&1 &
rp=$!
wait_until 15 grep -q "running sleep" "$T_DIR/run-sig.out"
# (the run process itself, not ip(8) in front of it)
run_pid=$(ns_pid_cmd "$NS_C" " run -- sleep 60")
kill -TERM "$run_pid"
wait $rp
check signal-status-143 test $? = 143
check signal-interface-gone bash -c "! ip -n $NS_C link show $IF_C >/dev/null 2>&1"

# ---- no handshake: a bounded wait, then what to check
t0=$(now_ms)
run_env WG_PEER_ENDPOINT="$(outer4 1 1):51999" WG_WAIT=3 ip netns exec "$NS_C" "$SPOKEWIRE" run -- true \
	>"$T_DIR/run-timeout.out" 2>&1
rc=$?
ms=$(($(now_ms) - t0))
if [ $rc = 1 ] && [ $ms -lt 10000 ]; then pass timeout-exits-1; else fail timeout-exits-1 "rc $rc after $ms ms"; fi
check timeout-says-what grep -q "no handshake with the peer within 3 s: check WG_PEER_ENDPOINT" "$T_DIR/run-timeout.out"
check timeout-no-key no_key_in "$T_DIR/run-timeout.out"
check timeout-interface-gone bash -c "! ip -n $NS_C link show $IF_C >/dev/null 2>&1"
# bad environment: a clear message, nothing started
env -u WG_PRIVATE_KEY ip netns exec "$NS_C" "$SPOKEWIRE" run -- true >"$T_DIR/run-bad.out" 2>&1
check missing-env-exit-2 test $? = 2
check missing-env-says grep -q "set WG_PRIVATE_KEY" "$T_DIR/run-bad.out"

# ---- the container deploy/app/Dockerfile builds, run as a container
# would run it: its USER (no capabilities), its ENV, its ENTRYPOINT and
# CMD; the app reaches PostgreSQL on the hub through WG_FORWARDS.
pg_start "$NS_H" 10.50.0.1 5432
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mapfile -t D < <(/usr/bin/python3 "$(dirname "$0")/dockerfile_run.py" "$ROOT/deploy/app/Dockerfile" \
	--map=spokewire="$SPOKEWIRE" --map=contacts-api="$(dirname "$SPOKEWIRE")/contacts-api")
C_USER=${D[0]}
C_ENV=() C_ARGV=()
for ((i = 1; i < ${#D[@]}; i++)); do [ "${D[$i]}" = -- ] && break; C_ENV+=("${D[$i]}"); done
C_ARGV=("${D[@]:i+1}")
check dockerfile-non-root test "$C_USER" != root -a "$C_USER" != 0
check dockerfile-entrypoint-is-run test "${C_ARGV[1]} ${C_ARGV[2]}" = "run --"
run_env ip netns exec "$NS_C" env "${C_ENV[@]}" REGION=lhr DB_USER=postgres DB_NAME=postgres \
	DB_SSLMODE=disable setpriv --reuid="$C_USER" --regid="$C_USER" --clear-groups \
	--inh-caps=-all --bounding-set=-all "${C_ARGV[@]}" >"$T_DIR/container.out" 2>&1 &
cp=$!
if wait_until 30 port_open "$NS_C" 127.0.0.1 8080; then pass container-app-listening; else fail container-app-listening "$(tail -5 "$T_DIR/container.out")"; fi
h=$(nsx "$NS_C" curl -s --max-time 5 http://127.0.0.1:8080/health)
if [[ $h == *'"status":"healthy"'* && $h == *'"region":"lhr"'* ]]; then pass container-app-healthy-through-tunnel; else fail container-app-healthy-through-tunnel "$h"; fi
c_pid=$(ns_pid_cmd "$NS_C" " run -- .*contacts-api")
check container-runs-as-user test "$(awk '/^Uid:/ { print $2 }' "/proc/$c_pid/status" 2>/dev/null)" = "$C_USER"
kill -TERM "$c_pid"
wait $cp
rc=$?
if [ $rc = 0 ] || [ $rc = 143 ]; then pass container-stops-on-term; else fail container-stops-on-term "rc $rc"; fi
check container-no-key no_key_in "$T_DIR/container.out"
check container-nothing-left bash -c "[ -z \"\$(ip netns pids $NS_C)\" ] && [ ! -e /tmp/spokewire-$C_USER/$IF_C.sock ]"
