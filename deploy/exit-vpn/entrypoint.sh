#!/bin/sh
# A VPN exit service in one unprivileged container: the spokewire controller
# (users, API keys, device configs) and a userspace exit hub that joins it
# and is kept in sync, sending every client's traffic out to the internet,
# with an HTTP proxy for clients without WireGuard. No root, no TUN, no
# capabilities: run it as any user that owns $DATA_DIR.
#
#   SPOKEWIRE_ENDPOINT  HOST:PORT clients reach the hub at (required)
#   SPOKEWIRE_MASTER_KEY, or MASTER_KEY_FILE (a file, 0600): the API's master
#                       key (else the controller makes one on first start and
#                       prints it once)
#   API_PORT (8000)     the REST API: POST /users {"client_id"}, GET /users,
#                       GET/DELETE /users/ID, POST /users/ID/devices
#   PROXY_PORT (3128)   HTTP proxy (CONNECT and plain) out to the internet
#   WG_PORT             the hub's UDP port (default: SPOKEWIRE_ENDPOINT's)
#   SPOKEWIRE_NETWORK (10.8.0.0/24)  the clients' addresses
#   SPOKEWIRE_DNS       DNS server for the device configs (optional)
#   EGRESS_ALLOW (0.0.0.0/0, ::/0), EGRESS_DENY (private ranges): where
#                       clients may go; denied connections are reset
#   DATA_DIR (/data)    the volume: the registry, the hub's private key
#                       (made once, 0600), its state
set -eu

DATA=${DATA_DIR:-/data}
API_PORT=${API_PORT:-8000}
PROXY_PORT=${PROXY_PORT:-3128}
ENDPOINT=${SPOKEWIRE_ENDPOINT:?set SPOKEWIRE_ENDPOINT to the HOST:PORT clients reach}
WG_PORT=${WG_PORT:-${ENDPOINT##*:}}
NETWORK=${SPOKEWIRE_NETWORK:-10.8.0.0/24}
ALLOW=${EGRESS_ALLOW:-0.0.0.0/0, ::/0}
DENY=${EGRESS_DENY:-10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 127.0.0.0/8, fc00::/7, fe80::/10}
SPOKEWIRE=${SPOKEWIRE:-spokewire}
API=http://127.0.0.1:$API_PORT

umask 077
# The daemons keep logging to our stderr (the container log).
export LOG_LEVEL=${LOG_LEVEL:-error}
mkdir -p "$DATA/controller" "$DATA/hub"
if [ -z "${SPOKEWIRE_MASTER_KEY:-}" ] && [ -n "${MASTER_KEY_FILE:-}" ]; then
	SPOKEWIRE_MASTER_KEY=$(cat "$MASTER_KEY_FILE")
fi
[ -n "${SPOKEWIRE_MASTER_KEY:-}" ] || {
	echo "exit-vpn: set SPOKEWIRE_MASTER_KEY or MASTER_KEY_FILE" >&2
	exit 1
}
export SPOKEWIRE_MASTER_KEY

DNS_ARGS=""
[ -n "${SPOKEWIRE_DNS:-}" ] && DNS_ARGS="--dns $SPOKEWIRE_DNS"
# shellcheck disable=SC2086
"$SPOKEWIRE" controller --listen "0.0.0.0:$API_PORT" --network "$NETWORK" \
	--endpoint "$ENDPOINT" --exit $DNS_ARGS --data-dir "$DATA/controller" &
CTL=$!
trap 'kill $CTL ${HUB:-} 2>/dev/null; wait' INT TERM

i=0
until curl -sf "$API/health" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $CTL 2>/dev/null; then
		echo "exit-vpn: the controller did not start" >&2
		exit 1
	fi
	sleep 0.1
done

# The hub's own sections: out to the internet, and the proxy.
cat >"$DATA/hub/exit.sections" <<SECTIONS
[Egress]
Allow = $ALLOW
Deny = $DENY
DenyWith = rst

[Proxy]
Http = 0.0.0.0:$PROXY_PORT
SECTIONS

# A join token the first time (later runs use the node token kept in
# $DATA/hub/state.json).
TOKEN_ARGS=""
if [ ! -s "$DATA/hub/state.json" ]; then
	TOKEN=$(curl -sf -H "Authorization: Bearer $SPOKEWIRE_MASTER_KEY" \
		-d '{"role":"hub","uses":1,"expires_in":600}' "$API/tokens" |
		sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
	[ -n "$TOKEN" ] || { echo "exit-vpn: no join token from the controller" >&2; exit 1; }
	TOKEN_ARGS="--token $TOKEN"
fi
# shellcheck disable=SC2086
"$SPOKEWIRE" join --controller "$API" $TOKEN_ARGS --node-id exit --role hub \
	--endpoint "${ENDPOINT%:*}:$WG_PORT" --interface "${WG_INTERFACE:-wg0}" \
	--mode userspace --sections "$DATA/hub/exit.sections" --data-dir "$DATA/hub" &
HUB=$!

# Either one ending ends the container.
while kill -0 $CTL 2>/dev/null && kill -0 $HUB 2>/dev/null; do
	sleep 1
done
kill $CTL $HUB 2>/dev/null || true
wait
exit 1
