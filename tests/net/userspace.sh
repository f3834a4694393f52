# shellcheck shell=bash
# Helpers for the `spokewire up` tests (t_up*.sh, t_userspace*.sh), sourced
# after lib.sh: config files, daemons started with `up` (as root, or as
# uid 65534 with no capabilities), PostgreSQL and nginx in a namespace,
# and TCP probes (reaches, refused at once, dropped in silence).
#
# The UAPI socket path is fixed by wg(8) (/var/run/wireguard/IFACE.sock), so
# an unprivileged instance needs that directory writable by its user. The
# shared directory must stay root's 0755 (other tests check it), so each
# unprivileged instance gets a mount namespace of its own with a tmpfs on
# /var/run/wireguard owned by 65534, as a container would give it; `wg
# show` and `down` enter that mount namespace (in_mnt).

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
chmod 755 "$T_DIR"
CONF_DIR=$T_DIR/conf
mkdir -m 755 "$CONF_DIR"

# conf_write NAME OWNER < TEXT: $CONF_DIR/NAME.conf, 0600, owned by OWNER.
conf_write() {
	local f=$CONF_DIR/$1.conf
	(umask 077 && cat >"$f")
	chown "$2" "$f"
	echo "$f"
}

# up_root NS CONF / up_nobody NS CONF: `spokewire up CONF` in NS (it
# daemonises), as root or as uid/gid 65534 with every capability gone
# (bounding set included). Output in $T_DIR/up-NAME.log.
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
uplog() { echo "$T_DIR/up-$(basename "$1" .conf).log"; }
up_root() {
	ip netns exec "$1" env --default-signal=INT,QUIT "$SPOKEWIRE" up "$2" \
		>>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}
up_nobody() {
	unshare --mount --propagation private -- sh -c \
		'mount -t tmpfs -o mode=0755,uid=65534,gid=65534,size=1m swt-run /var/run/wireguard && exec "$@"' \
		sh ip netns exec "$1" env --default-signal=INT,QUIT "${NOBODY[@]}" "$SPOKEWIRE" up "$2" \
		>>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}
# up_root_own NS CONF: `up` as root with a /var/run/wireguard of its own,
# as on a machine of its own: for configs that share an interface name
# (every node of a topology).
up_root_own() {
	unshare --mount --propagation private -- sh -c \
		'mount -t tmpfs -o mode=0755,size=1m swt-run /var/run/wireguard && exec "$@"' \
		sh ip netns exec "$1" env --default-signal=INT,QUIT "$SPOKEWIRE" up "$2" \
		>>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}
# up_nobody_shared NS CONF: the same without a directory of its own.
up_nobody_shared() {
	ip netns exec "$1" env --default-signal=INT,QUIT "${NOBODY[@]}" "$SPOKEWIRE" up "$2" \
		>>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}
# in_mnt PID CMD...: CMD in PID's mount namespace.
in_mnt() {
	local pid=$1
	shift
	nsenter --mount="/proc/$pid/ns/mnt" "$@"
}
down_root() {
	ip netns exec "$1" "$SPOKEWIRE" down "$2" >>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}
# down_nobody PID CONF: `down` as 65534 in the mount namespace of PID.
down_nobody() {
	in_mnt "$1" "${NOBODY[@]}" "$SPOKEWIRE" down "$2" \
		>>"$(uplog "$2")" 2>&1 </dev/null 8>&- 9>&-
}

# port_open NS HOST PORT: something accepts TCP on HOST:PORT from NS.
port_open() {
	ip netns exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
}

# pg_start NS ADDR PORT: a throwaway PostgreSQL cluster in NS on ADDR:PORT,
# trusting every client (the server runs as postgres).
pg_start() {
	local ns=$1 addr=$2 port=$3 d=$T_DIR/pg
	[ -x "$PGBIN/postgres" ] || die "PostgreSQL server binaries missing ($PGBIN)"
	mkdir -p "$d/sock"
	chown -R postgres "$d"
	runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -A trust -U postgres \
		>"$d/initdb.log" 2>&1 || die "initdb: $(tail -3 "$d/initdb.log")"
	echo "host all all 0.0.0.0/0 trust" >>"$d/data/pg_hba.conf"
	ip netns exec "$ns" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" \
		-l "$d/server.log" -w -t 30 start -o \
		"-p $port -k $d/sock -c listen_addresses=$addr -c fsync=off -c max_connections=50" \
		>/dev/null 2>&1 </dev/null 8>&- 9>&- || die "postgres start: $(tail -3 "$d/server.log")"
}

# psql_q NS HOST PORT SQL: one query's unaligned result.
psql_q() {
	ip netns exec "$1" timeout 20 psql -X -At -h "$2" -p "$3" -U postgres -d postgres \
		-c "$4" 2>>"$T_DIR/psql.log"
}

# nginx_start NS LISTEN...: nginx in NS serving $T_DIR/www on each LISTEN
# (ADDR:PORT); $T_DIR/www/big is 4 MiB of random data. $NGINX_EXTRA, if
# set, goes into the http block (more server blocks).
nginx_start() {
	local ns=$1 d=$T_DIR/nginx l listens=""
	shift
	mkdir -p "$d" "$T_DIR/www"
	chmod 755 "$d" "$T_DIR/www"
	echo "hello from the overlay" >"$T_DIR/www/index.html"
	head -c 4194304 /dev/urandom >"$T_DIR/www/big"
	chmod 644 "$T_DIR/www/"*
	for l in "$@"; do listens+="listen $l; "; done
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	server { $listens root $T_DIR/www; }
	${NGINX_EXTRA:-}
}
EOF
	ip netns exec "$ns" nginx -c "$d/nginx.conf" >"$T_DIR/nginx.log" 2>&1 </dev/null 8>&- 9>&- &
	T_PIDS+=("$!")
}

# caps_of PID: "uid capeff" of a process.
caps_of() {
	awk '/^Uid:/ { u = $2 } /^CapEff:/ { c = $2 } END { print u, c }' "/proc/$1/status"
}

# nstat_get NS COUNTER: the namespace's kernel counter (nstat), ever.
nstat_get() {
	nsx "$1" nstat -az "$2" 2>/dev/null | awk -v c="$2" '$1 == c { print $2 }'
}

# tcp_counters PID CONF: "segments-sent retransmitted" of the userspace
# node PID started from CONF, so far (SIGUSR1 makes it log them; its log
# is CONF's up log, so it must run with LOG_LEVEL set).
tcp_counters() {
	local log n
	log=$(uplog "$2")
	n=$(grep -c ': tcp: ' "$log")
	kill -USR1 "$1"
	wait_until 5 bash -c "[ \$(grep -c ': tcp: ' $log) -gt $n ]"
	grep ': tcp: ' "$log" | tail -1 | awk '{ print $3, $6 }'
}

# connect_ms NS IP PORT: "ok MS" / "fail MS" for one TCP connect (3 s).
connect_ms() {
	local t0 r
	t0=$(now_ms)
	if nsx "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; then r=ok; else r=fail; fi
	echo "$r $(($(now_ms) - t0))"
}
# refused NAME NS IP PORT: the connect fails within a second (an ICMP
# error or a reset), not by timing out.
refused() {
	local r ms
	read -r r ms <<<"$(connect_ms "$2" "$3" "$4")"
	if [ "$r" = fail ] && [ "$ms" -lt 1500 ]; then pass "$1"; else fail "$1" "$r after $ms ms"; fi
}
# dropped NAME NS IP PORT: the connect times out (silence: a drop).
dropped() {
	local r ms
	read -r r ms <<<"$(connect_ms "$2" "$3" "$4")"
	if [ "$r" = fail ] && [ "$ms" -ge 2500 ]; then pass "$1"; else fail "$1" "$r after $ms ms"; fi
}
# reaches NAME NS IP PORT: the connect succeeds.
reaches() {
	local r ms
	read -r r ms <<<"$(connect_ms "$2" "$3" "$4")"
	if [ "$r" = ok ]; then pass "$1"; else fail "$1" "$r after $ms ms"; fi
}
