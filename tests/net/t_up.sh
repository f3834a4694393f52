#!/bin/bash
# `spokewire up`/`down` in TUN mode and the command line around them: the
# device with its addresses, MTU and routes; [Expose] as an nftables table
# (DNAT + masquerade) that a spoke's kernel TCP goes through, removed on
# down; PostUp/PostDown hooks with %i; errors (file:line for bad input, an
# interface already up, down of one that is not); `up -f` in the
# foreground stopped by `down`.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

NS_H=$PFX-h
NS_S=$PFX-s
NS_D=$PFX-d
ns_new "$NS_H"
ns_new "$NS_S"
ns_new "$NS_D"
veth_link "$NS_H" "$NS_S" 1
veth_link "$NS_H" "$NS_D" 2
genkey hub
genkey spoke
IF_H=$(ifname h)
IF_S=$(ifname s)
DB=$(outer4 2 2)
TABLE=spokewire_$IF_H

mkdir -p "$T_DIR/srv" && echo "served from behind the hub" >"$T_DIR/srv/index.html"
nsx "$NS_D" python3 -m http.server --bind "$DB" --directory "$T_DIR/srv" 8000 \
	>"$T_DIR/http.log" 2>&1 8>&- 9>&- &
T_PIDS+=("$!")
# The DNAT check below needs it listening (it starts slowly on a busy box).
wait_until 20 nsx "$NS_D" curl -s -o /dev/null "http://$DB:8000/" ||
	die "the HTTP server behind the hub did not start"

HUB_CONF=$(conf_write "$IF_H" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/16, fd50::1/64
ListenPort = 51820
MTU = 1380
PostUp = echo up %i > $T_DIR/hook.up
PostDown = echo down %i > $T_DIR/hook.down

[Peer]
PublicKey = $(pub spoke)
AllowedIPs = 10.50.3.10/32, 10.60.0.0/24

[Expose]
Listen = 80
Target = $DB:8000
EOF
)
SPOKE_CONF=$(conf_write "$IF_S" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile spoke)")
Address = 10.50.3.10/32

[Peer]
PublicKey = $(pub hub)
Endpoint = $(outer4 1 1):51820
AllowedIPs = 10.50.0.0/16
EOF
)

check up-hub up_root "$NS_H" "$HUB_CONF"
check device-exists bash -c "ip -n $NS_H link show $IF_H >/dev/null"
check address-v4 bash -c "ip -n $NS_H -4 addr show dev $IF_H | grep -q 'inet 10.50.0.1/16'"
check address-v6 bash -c "ip -n $NS_H -6 addr show dev $IF_H | grep -q 'fd50::1/64'"
check mtu bash -c "ip -n $NS_H link show $IF_H | grep -q 'mtu 1380'"
check route-allowedips bash -c "ip -n $NS_H route show dev $IF_H | grep -q '^10.60.0.0/24'"
check postup-hook grep -qx "up $IF_H" "$T_DIR/hook.up"
check nft-table bash -c "ip netns exec $NS_H nft list table inet $TABLE >/dev/null"
check wg-show-listen-port bash -c "[ \"\$(wg show $IF_H listen-port)\" = 51820 ]"
check up-twice-fails bash -c "! ip netns exec $NS_H $SPOKEWIRE up $HUB_CONF 2>$T_DIR/twice.err"
check up-twice-message grep -q "already up" "$T_DIR/twice.err"

check up-spoke up_root "$NS_S" "$SPOKE_CONF"
if ping_wait "$NS_S" 10 10.50.0.1; then pass ping-through; else fail ping-through; fi
out=$(nsx "$NS_S" curl -sS -m 10 http://10.50.0.1/ 2>&1)
if [ "$out" = "served from behind the hub" ]; then pass expose-dnat; else fail expose-dnat "got '$out'"; fi

check down-hub down_root "$NS_H" "$HUB_CONF"
check device-removed bash -c "! ip -n $NS_H link show $IF_H 2>/dev/null"
check nft-table-removed bash -c "! ip netns exec $NS_H nft list table inet $TABLE 2>/dev/null"
check postdown-hook grep -qx "down $IF_H" "$T_DIR/hook.down"
check down-not-running bash -c "! ip netns exec $NS_H $SPOKEWIRE down $HUB_CONF 2>$T_DIR/notrunning.err"
check down-not-running-message grep -q "is not running" "$T_DIR/notrunning.err"

# Foreground: up -f stays attached until down stops it.
ip netns exec "$NS_H" env --default-signal=INT,QUIT "$SPOKEWIRE" up -f "$HUB_CONF" \
	>"$T_DIR/fg.log" 2>&1 </dev/null 8>&- 9>&- &
FG=$!
T_PIDS+=("$FG")
if wait_until 10 test -S "$WG_RUN/$IF_H.sock"; then pass foreground-up; else fail foreground-up; fi
check foreground-down down_root "$NS_H" "$HUB_CONF"
if wait_until 5 pid_gone "$FG"; then
	wait "$FG"
	if [ $? = 0 ]; then pass foreground-exit-0; else fail foreground-exit-0; fi
else
	fail foreground-exit-0 "still running"
fi

# Bad input: file:line messages, nothing started.
BAD=$(conf_write "${IF_H}x" root <<EOF
[Interface]
PrivateKey = $(cat "$(keyfile hub)")
Address = 10.50.0.1/33
EOF
)
out=$(ip netns exec "$NS_H" "$SPOKEWIRE" up "$BAD" 2>&1)
rc=$?
if [ $rc != 0 ] && [[ $out == *"$(basename "$BAD"):3: "*"10.50.0.1/33"* ]]; then pass bad-config-file-line; else fail bad-config-file-line "rc $rc: $out"; fi
cp "$BAD" "$CONF_DIR/bad-name!.conf"
out=$(ip netns exec "$NS_H" "$SPOKEWIRE" up "$CONF_DIR/bad-name!.conf" 2>&1)
if [[ $out == *"INTERFACE.conf"* ]]; then pass bad-file-name; else fail bad-file-name "$out"; fi
check down-spoke down_root "$NS_S" "$SPOKE_CONF"
