# shellcheck shell=bash
# shellcheck disable=SC2034 # T_IMPL, T_LOG, WG_EXIT_STATUS: for the test scripts
# Shared helpers for the network integration tests (tests/net/t_*.sh).
#
# Each test script sources this file, builds a few network namespaces joined
# by veth pairs, runs one WireGuard implementation per side and checks what
# the stock wg(8)/wg-quick(8) tools and plain ping/iperf3 see.
#
#   IMPL_A  implementation under test on side A   (default: spokewire)
#   IMPL_B  implementation on side B, the reference (default: wireguard-go)
#   SPOKEWIRE       spokewire binary to run (default: `spokewire` from PATH,
#                   falling back to build/spokewire in the repo)
#   WG_LOG_LEVEL    wireguard-go LOG_LEVEL for daemons we start (default verbose)
#   SWT_KEEP=1      keep the temp dir (keys, configs, daemon logs) at exit
#   SWT_VERBOSE=1   print every daemon log at exit, not only on failure
#
# Validate a test against the reference on both sides:
#   IMPL_A=wireguard-go bash tests/net/t_basic.sh
#
# Output protocol (tests/run.sh counts these): "PASS: name", "FAIL: name",
# plus "INFO: ..." lines for figures. The script exits non-zero if anything
# failed. Everything a script creates (namespaces, daemons, sockets, temp
# files) is removed by the EXIT trap, also when the script fails or is killed.
#
# Names: /var/run/wireguard/ is shared by every namespace, so every WireGuard
# interface name is unique per script run: "swt" + 3 letters of the test name
# + the script's PID + a short suffix (see ifname). Namespaces are "$PFX-x".

set -u

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_NAME=$(basename "$0" .sh)
T_NAME=${T_NAME#t_}
PFX="swt${T_NAME:0:3}$$"
WG_RUN=/var/run/wireguard

IMPL_A=${IMPL_A:-spokewire}
# The reference for benchmarks: current wireguard-go with its offloads
# (IMPL wgo-offload), kept beside the repository.
WG_OFFLOAD=${WG_OFFLOAD:-$(cd "$T_ROOT/.." && pwd)/shared/anchors/wireguard-go-offload}
IMPL_B=${IMPL_B:-wireguard-go}

if [ -z "${SPOKEWIRE:-}" ]; then
	if command -v spokewire >/dev/null 2>&1; then
		SPOKEWIRE=$(command -v spokewire)
	else
		SPOKEWIRE=$T_ROOT/build/spokewire
	fi
fi
# wg-quick runs WG_QUICK_USERSPACE_IMPLEMENTATION by name: make sure the
# spokewire we test is the one found first on PATH.
PATH="$(dirname "$SPOKEWIRE"):$PATH"
export PATH SPOKEWIRE

T_DIR=$(mktemp -d "/tmp/$PFX.XXXXXX")
T_FAILS=0
T_PASSES=0
T_PIDS=()     # daemons started by start_wg (our children)
T_NS=()       # namespaces we created
T_CLEANED=0
declare -A T_IMPL=()   # iface -> implementation
declare -A T_PID=()    # iface -> daemon pid (start_wg only)
declare -A T_LOG=()    # iface -> daemon log

# ---------------------------------------------------------------- reporting

pass() { echo "PASS: $T_NAME/$1"; T_PASSES=$((T_PASSES + 1)); }
fail() {
	local n=$1
	shift
	echo "FAIL: $T_NAME/$n${*:+ - $*}"
	T_FAILS=$((T_FAILS + 1))
}
info() { echo "INFO: $*"; }
# check NAME CMD...: PASS if CMD succeeds, FAIL otherwise.
check() {
	local n=$1
	shift
	if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi
}
# check_not NAME CMD...: PASS if CMD fails.
check_not() {
	local n=$1
	shift
	if "$@"; then fail "$n" "command unexpectedly succeeded: $*"; else pass "$n"; fi
}
# die MSG: setup went wrong, nothing more can be tested.
die() {
	echo "FAIL: $T_NAME/setup - $*"
	T_FAILS=$((T_FAILS + 1))
	exit 1
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds (0) or
# the time is up (1).
wait_until() {
	local limit=$1 end
	shift
	end=$(($(date +%s%N) + limit * 1000000000))
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# pid_gone PID: the process has exited (a zombie child counts as exited).
pid_gone() {
	local st
	[ -e "/proc/$1" ] || return 0
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "${st:0:1}" = Z ]
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------- names

# ifname SUFFIX: a unique WireGuard interface name (max 15 chars).
ifname() {
	local n="$PFX$1"
	[ ${#n} -le 15 ] || die "interface name $n too long"
	echo "$n" >>"$T_DIR/ifaces" # a file: ifname runs in $(...) subshells
	echo "$n"
}

# ---------------------------------------------------------------- namespaces

# ns_new NS: create a namespace with lo up.
ns_new() {
	ip netns add "$1" || die "ip netns add $1"
	T_NS+=("$1")
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# nsx NS CMD...: run CMD inside NS.
nsx() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# Outer addresses of link N: side 1 and side 2.
outer4() { echo "10.200.$1.$2"; }
outer6() { echo "fd00:200:$1::$2"; }

# veth_link NS1 NS2 N: veth pair "vl N" between NS1 and NS2 with
# 10.200.N.1/24 + fd00:200:N::1/64 in NS1, .2 / ::2 in NS2 (nodad).
veth_link() {
	local a=$1 b=$2 n=$3
	ip link add "vl$n" netns "$a" type veth peer name "vl$n" netns "$b" ||
		die "veth vl$n $a <-> $b"
	ip -n "$a" addr add "$(outer4 "$n" 1)/24" dev "vl$n"
	ip -n "$b" addr add "$(outer4 "$n" 2)/24" dev "vl$n"
	ip -n "$a" addr add "$(outer6 "$n" 1)/64" dev "vl$n" nodad
	ip -n "$b" addr add "$(outer6 "$n" 2)/64" dev "vl$n" nodad
	ip -n "$a" link set "vl$n" up
	ip -n "$b" link set "vl$n" up
}

# ---------------------------------------------------------------- daemons

# impl_cmd IMPL: the argv prefix that runs IMPL in the foreground.
impl_cmd() {
	case $1 in
	wireguard-go) echo "env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${WG_LOG_LEVEL:-verbose} wireguard-go" ;;
	wgo-offload) echo "env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${WG_LOG_LEVEL:-verbose} $WG_OFFLOAD" ;;
	spokewire) echo "$SPOKEWIRE" ;;
	*) die "unknown implementation '$1' (spokewire or wireguard-go)" ;;
	esac
}

# impl_comm IMPL: the process name (/proc/PID/comm) of IMPL's daemon.
impl_comm() {
	case $1 in
	wireguard-go) echo wireguard-go ;;
	wgo-offload) basename "$WG_OFFLOAD" | cut -c1-15 ;;
	*) basename "$SPOKEWIRE" | cut -c1-15 ;;
	esac
}

# start_wg NS IFACE [IMPL]: run IMPL (default $IMPL_A) in NS in foreground
# mode as a background child, logging to $T_DIR/IFACE.log; wait until its
# UAPI socket exists. Sets T_PID[IFACE].
# SIGINT/SIGQUIT are reset to default for the daemon: a non-interactive
# shell starts background jobs with them ignored, which would make a
# signalfd-based daemon deaf to SIGINT.
start_wg() {
	local ns=$1 ifc=$2 impl=${3:-$IMPL_A} log="$T_DIR/$2.log" pid cmd
	case $impl in spokewire | wireguard-go | wgo-offload) ;; *) die "unknown implementation '$impl'" ;; esac
	cmd=$(impl_cmd "$impl")
	[ -S "$WG_RUN/$ifc.sock" ] && rm -f "$WG_RUN/$ifc.sock"
	# shellcheck disable=SC2086
	ip netns exec "$ns" env --default-signal=INT,QUIT $cmd -f "$ifc" >"$log" 2>&1 8>&- 9>&- &
	pid=$!
	T_PIDS+=("$pid")
	T_PID[$ifc]=$pid
	T_IMPL[$ifc]=$impl
	T_LOG[$ifc]=$log
	if ! wait_until 10 sock_or_dead "$ifc" "$pid" || pid_gone "$pid"; then
		die "$impl -f $ifc did not create $WG_RUN/$ifc.sock"
	fi
}
sock_or_dead() { [ -S "$WG_RUN/$1.sock" ] || pid_gone "$2"; }

# stop_wg IFACE [SIG]: signal a start_wg daemon (default TERM) and wait up
# to 5 s for it to exit. Returns 1 if it did not; else sets WG_EXIT_STATUS.
# (Do not call it in $(...): only this shell can reap its children.)
stop_wg() {
	local pid=${T_PID[$1]}
	WG_EXIT_STATUS=
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	wait_until 5 pid_gone "$pid" || return 1
	wait "$pid"
	WG_EXIT_STATUS=$?
}

# ns_pid_cmd NS PATTERN: the first process in NS whose command line (NULs
# as spaces) matches the grep PATTERN. `ip netns exec ... &` forks, so $!
# is not the command's own PID.
ns_pid_cmd() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2" && { echo "$p"; return; }
	done
}

# ns_daemon_pids NS IMPL: PIDs of IMPL daemons running in NS.
ns_daemon_pids() {
	local p comm
	comm=$(impl_comm "$2")
	for p in $(ip netns pids "$1" 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] && echo "$p"
	done
}

# ---------------------------------------------------------------- keys

# genkey NAME: $T_DIR/NAME.key (private) and NAME.pub, made by stock wg.
genkey() {
	(umask 077 && wg genkey >"$T_DIR/$1.key") || die "wg genkey"
	wg pubkey <"$T_DIR/$1.key" >"$T_DIR/$1.pub" || die "wg pubkey"
}
pub() { cat "$T_DIR/$1.pub"; }
keyfile() { echo "$T_DIR/$1.key"; }
# genpsk NAME: $T_DIR/NAME.psk
genpsk() { (umask 077 && wg genpsk >"$T_DIR/$1.psk") || die "wg genpsk"; }
pskfile() { echo "$T_DIR/$1.psk"; }

# ---------------------------------------------------------------- WireGuard setup

# wg_dev NS IFACE IMPL KEYNAME PORT [ADDR/LEN...]: start IMPL as IFACE in NS,
# set its private key (genkey KEYNAME first) and listen port with stock wg,
# add inner addresses (IPv6 with nodad), bring it up.
wg_dev() {
	local ns=$1 ifc=$2 impl=$3 key=$4 port=$5 a
	shift 5
	start_wg "$ns" "$ifc" "$impl"
	nsx "$ns" wg set "$ifc" private-key "$(keyfile "$key")" listen-port "$port" ||
		die "wg set $ifc private-key/listen-port"
	for a in "$@"; do
		case $a in
		*:*) ip -n "$ns" addr add "$a" dev "$ifc" nodad ;;
		*) ip -n "$ns" addr add "$a" dev "$ifc" ;;
		esac || die "ip addr add $a dev $ifc"
	done
	ip -n "$ns" link set "$ifc" up || die "ip link set $ifc up"
}

# wg_peer NS IFACE KEYNAME ALLOWED-IPS [ENDPOINT] [more wg set peer args...]
wg_peer() {
	local ns=$1 ifc=$2 key=$3 allowed=$4 ep=${5:-}
	shift 4
	[ $# -gt 0 ] && shift
	if [ -n "$ep" ]; then
		nsx "$ns" wg set "$ifc" peer "$(pub "$key")" allowed-ips "$allowed" endpoint "$ep" "$@"
	else
		nsx "$ns" wg set "$ifc" peer "$(pub "$key")" allowed-ips "$allowed" "$@"
	fi || die "wg set $ifc peer $key"
}

# ---------------------------------------------------------------- probes

# ping_ok NS [ping args...] DEST: one echo answered within 1 s.
ping_ok() {
	local ns=$1
	shift
	nsx "$ns" ping -q -n -c 1 -W 1 "$@" >/dev/null 2>&1
}
# ping_wait NS SECONDS [ping args...] DEST: keep pinging until one is answered.
ping_wait() {
	local ns=$1 t=$2
	shift 2
	wait_until "$t" ping_ok "$ns" "$@"
}
# ping_none NS [ping args...] DEST: 5 echoes over ~1.5 s, none answered.
ping_none() {
	local ns=$1
	shift
	! nsx "$ns" ping -q -n -c 5 -i 0.3 -W 1 "$@" >/dev/null 2>&1
}

# latest_handshake NS IFACE PEERKEYNAME: unix time of the last handshake (0 = none).
latest_handshake() {
	nsx "$1" wg show "$2" latest-handshakes | awk -v k="$(pub "$3")" '$1 == k { print $2 }'
}
handshake_done() { [ "$(latest_handshake "$@")" -gt 0 ] 2>/dev/null; }
# transfer NS IFACE PEERKEYNAME: "rx tx" bytes.
transfer() {
	nsx "$1" wg show "$2" transfer | awk -v k="$(pub "$3")" '$1 == k { print $2, $3 }'
}
# endpoint_of NS IFACE PEERKEYNAME: the peer's current endpoint as wg shows it.
endpoint_of() {
	nsx "$1" wg show "$2" endpoints | awk -v k="$(pub "$3")" '$1 == k { print $2 }'
}

# ---------------------------------------------------------------- cleanup

_kill_wait() { # PIDS...: TERM, wait up to 3 s, then KILL
	local p left
	[ $# -eq 0 ] && return
	kill -TERM "$@" 2>/dev/null
	for _ in $(seq 30); do
		left=0
		for p in "$@"; do pid_gone "$p" || left=1; done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do pid_gone "$p" || kill -KILL "$p" 2>/dev/null; done
}

cleanup() {
	local rc=$1 p ns ifc f pids=()
	[ "$T_CLEANED" = 1 ] && return
	T_CLEANED=1
	trap - INT TERM
	# Daemons we started ourselves: TERM first so they can tidy up.
	for p in "${T_PIDS[@]}"; do pid_gone "$p" || pids+=("$p"); done
	_kill_wait "${pids[@]}"
	for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# Anything else still running in our namespaces (daemonised devices,
	# iperf3, flood.py, ...). Only our own namespaces are touched.
	for ns in "${T_NS[@]}"; do
		pids=()
		for p in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$p"); done
		_kill_wait "${pids[@]}"
	done
	for ns in "${T_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -f "$T_DIR/ifaces" ]; then
		while read -r ifc; do rm -f "$WG_RUN/$ifc.sock"; done <"$T_DIR/ifaces"
	fi
	# Sanitizer findings in any daemon log are failures.
	for f in "$T_DIR"/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$f"; then
			echo "FAIL: $T_NAME/sanitizer-$(basename "$f" .log) - see log below"
			T_FAILS=$((T_FAILS + 1))
		fi
	done
	if [ "$T_FAILS" -gt 0 ] || [ "${SWT_VERBOSE:-0}" = 1 ]; then
		for f in "$T_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	if [ "${SWT_KEEP:-0}" = 1 ]; then
		echo "INFO: kept $T_DIR"
	else
		rm -rf "$T_DIR"
	fi
	echo "INFO: $T_NAME: $T_PASSES passed, $T_FAILS failed (IMPL_A=$IMPL_A IMPL_B=$IMPL_B)"
	[ "$T_FAILS" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
	exit "$rc"
}
# The script's own stdout/stderr, kept on fds 8/9: a signal trap runs in
# whatever redirections are active at that moment (e.g. inside
# `nsx NS ping ... >/dev/null 2>&1`), which would swallow the cleanup's
# FAIL lines and logs. Daemons are started with 8/9 closed.
exec 8>&1 9>&2
trap 'exec 1>&8 2>&9; cleanup $?' EXIT
trap 'exec 1>&8 2>&9; echo "FAIL: $T_NAME/interrupted - killed by a signal"; T_FAILS=$((T_FAILS + 1)); exit 130' INT TERM HUP

for _c in ip wg python3; do
	command -v "$_c" >/dev/null 2>&1 || die "$_c not installed (scripts/deps.sh)"
done
unset _c
[ "$(id -u)" = 0 ] || die "network tests need root"
mkdir -p "$WG_RUN"
info "$T_NAME: IMPL_A=$IMPL_A IMPL_B=$IMPL_B prefix=$PFX"
