#!/bin/bash
# `spokewire topology`: the ten-region example written, rewritten byte for
# byte with the same mtimes, keys and addresses stable when a spoke is
# added (only the hub's config and the new one change) and when one is
# rotated; every bad file refused with its file:line and nothing written;
# QR output. Then a small network from a topology file brought up with
# `spokewire up` as written: a TUN hub (HubOriginates = yes), a TUN spoke
# and a userspace spoke run as uid 65534, and a spoke brought up from its
# file by wg-quick with Debian's wireguard-go: the hub reaches them, and
# spokes each other through it.
# shellcheck source=tests/net/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/net/userspace.sh
. "$(dirname "$0")/userspace.sh"

EX=$T_ROOT/examples/ten-regions.topology
OUT=$T_DIR/out
topo() { "$SPOKEWIRE" topology "$@" >"$T_DIR/topo.out" 2>&1; }
# fingerprint DIR: path, sha256, mtime and mode of every file below DIR.
fingerprint() {
	(cd "$1" && find . -type f -printf '%p %TT %m\n' | sort | while read -r f m p; do
		echo "$f $(sha256sum <"$f" | cut -c1-16) $m $p"
	done)
}
sha_of_file() { sha256sum <"$1" | cut -d' ' -f1; }

# ---- the ten-region example
check generate topo "$EX" --out "$OUT"
check eleven-configs test "$(find "$OUT" -name wg0.conf | wc -l)" = 11
check summary-lines test "$(grep -c '^[a-z].* spoke ' "$OUT/summary.txt")" = 10
check summary-gru grep -Eq '^gru +spoke +10\.50\.1\.1 +tun +sa ' "$OUT/summary.txt"
check config-mode-0600 test "$(stat -c %a "$OUT/gru/wg0.conf")" = 600
check node-dir-0700 test "$(stat -c %a "$OUT/gru")" = 700
check hub-friendly-names test "$(grep -c '^# friendly_name = ' "$OUT/hub/wg0.conf")" = 10
check hub-expose grep -q '^Target = 172.31.3.134:5432$' "$OUT/hub/wg0.conf"
check spoke-endpoint grep -q '^Endpoint = 54.171.48.207:51820$' "$OUT/syd/wg0.conf"
# The public key in the summary is the one gru's private key gives.
gru_pub=$(sed -n 's/^PrivateKey = //p' "$OUT/gru/wg0.conf" | wg pubkey)
check summary-key-matches grep -q "^gru .*$gru_pub\$" "$OUT/summary.txt"
check hub-has-gru-key grep -q "^PublicKey = $gru_pub\$" "$OUT/hub/wg0.conf"

# ---- a rerun changes nothing, not even an mtime
before=$(fingerprint "$OUT")
sleep 1.1
check rerun topo "$EX" --out "$OUT"
check rerun-says-unchanged grep -q '0 configs written, 11 unchanged' "$T_DIR/topo.out"
if [ "$(fingerprint "$OUT")" = "$before" ]; then pass rerun-identical; else fail rerun-identical; fi

# ---- a spoke added: only the hub's config and the new one change
# (the same file name: it is in each config's header)
mkdir "$T_DIR/more" "$T_DIR/edit"
cp "$EX" "$T_DIR/edit/"
printf '\n[Spoke]\nName = jnb\nGroup = af\n' >>"$T_DIR/edit/ten-regions.topology"
cp -a "$OUT/." "$T_DIR/more/"
check add-spoke topo "$T_DIR/edit/ten-regions.topology" --out "$T_DIR/more"
changed=$(diff <(fingerprint "$OUT") <(fingerprint "$T_DIR/more") | sed -n 's/^> \.\/\([^ ]*\) .*/\1/p' | sort | tr '\n' ' ')
if [ "$changed" = "hub/wg0.conf jnb/wg0.conf summary.txt " ]; then pass add-spoke-changes-only-hub; else fail add-spoke-changes-only-hub "changed: $changed"; fi
check new-spoke-address grep -Eq '^jnb +spoke +10\.50\.0\.2 ' "$T_DIR/more/summary.txt"

# ---- --rotate: one node's key, and the hub's peer entry for it
check rotate topo "$EX" --out "$T_DIR/more" --rotate lhr
old=$(grep '^lhr ' "$OUT/summary.txt" | awk '{ print $NF }')
new=$(grep '^lhr ' "$T_DIR/more/summary.txt" | awk '{ print $NF }')
if [ -n "$new" ] && [ "$old" != "$new" ] && grep -q "^PublicKey = $new\$" "$T_DIR/more/hub/wg0.conf"; then
	pass rotate-new-key
else
	fail rotate-new-key "$old -> $new"
fi
check rotate-others-kept test "$(sha_of_file "$OUT/gru/wg0.conf")" = "$(sha_of_file "$T_DIR/more/gru/wg0.conf")"
check_not rotate-unknown topo "$EX" --out "$T_DIR/more" --rotate nosuch

# ---- bad files: an error with file:line, and nothing written
# bad NAME WANT < FILE
bad() {
	local f=$T_DIR/bad-$1.topology out=$T_DIR/bad-$1
	cat >"$f"
	if topo "$f" --out "$out"; then
		fail "bad-$1" "accepted"
	elif ! grep -qF "$2" "$T_DIR/topo.out"; then
		fail "bad-$1" "message: $(cat "$T_DIR/topo.out")"
	elif [ -e "$out" ]; then
		fail "bad-$1" "wrote $out"
	else
		pass "bad-$1"
	fi
}
HDR='[Network]
Address = 10.50.0.0/16
[Hub]
Name = hub
Endpoint = 192.0.2.1:51820'
bad two-hubs "bad-two-hubs.topology:6: a second [Hub]" <<EOF
$HDR
[Hub]
Name = hub2
Endpoint = 192.0.2.2:51820
EOF
bad hub-without-endpoint "bad-hub-without-endpoint.topology:3: [Hub] hub has no Endpoint" <<EOF
[Network]
Address = 10.50.0.0/16
[Hub]
Name = hub
EOF
bad duplicate-name "bad-duplicate-name.topology:8: the name 'a' is also used at line 6" <<EOF
$HDR
[Spoke]
Name = a
[Spoke]
Name = a
EOF
bad outside-network "bad-outside-network.topology:8: a's address 10.60.0.1 is not a host address" <<EOF
$HDR
[Spoke]
Name = a
Address = 10.60.0.1
EOF
bad overlapping "bad-overlapping.topology:11: a and b both have the address 10.50.1.1" <<EOF
$HDR
[Spoke]
Name = a
Address = 10.50.1.1
[Spoke]
Name = b
Address = 10.50.1.1
EOF
bad unknown-key "bad-unknown-key.topology:8: unknown key 'Colour' in [Spoke]" <<EOF
$HDR
[Spoke]
Name = a
Colour = red
EOF
bad group-nobody-has "bad-group-nobody-has.topology:3: SpokeToSpoke names the group 'af', which no spoke has" <<EOF
[Network]
Address = 10.50.0.0/16
SpokeToSpoke = eu, af
[Hub]
Name = hub
Endpoint = 192.0.2.1:51820
[Spoke]
Name = a
Group = eu
EOF
# SpokeToSpoke as a list of groups: the hub's Group entries name only
# their spokes, so the others reach no spoke.
sed 's/^SpokeToSpoke = all/SpokeToSpoke = eu, sa/' "$EX" >"$T_DIR/eu-sa.topology"
check s2s-group-list topo "$T_DIR/eu-sa.topology" --out "$T_DIR/eu-sa"
check s2s-group-list-policy grep -qx 'Group = gru:sa, lhr:eu, fra:eu, cdg:eu' "$T_DIR/eu-sa/hub/wg0.conf"
# A config of an earlier run that cannot be read: its key would be lost.
mkdir -p "$T_DIR/broken/gru"
cp -a "$OUT/." "$T_DIR/broken/"
echo "PrivateKey = not-a-key" >"$T_DIR/broken/gru/wg0.conf"
b=$(fingerprint "$T_DIR/broken")
if ! topo "$EX" --out "$T_DIR/broken" && grep -q 'gru/wg0.conf, written by an earlier run' "$T_DIR/topo.out" &&
	[ "$(fingerprint "$T_DIR/broken")" = "$b" ]; then
	pass unreadable-previous-refused
else
	fail unreadable-previous-refused "$(cat "$T_DIR/topo.out")"
fi

# ---- every generated ruleset passes `nft -c` (checked in a namespace of
# its own), for both examples and each SpokeToSpoke
NS_NFT=$PFX-nft
ns_new "$NS_NFT"
nft_ok=0 nft_bad=""
nftcheck() { # DIR: each config's --print-nft through nft -c
	local f
	for f in "$1"/*/*.conf; do
		if "$SPOKEWIRE" up --print-nft "$f" 2>/dev/null | nsx "$NS_NFT" nft -c -f - 2>>"$T_DIR/nft-c.log"; then
			nft_ok=$((nft_ok + 1))
		else
			nft_bad+=" $f"
		fi
	done
}
nftcheck "$OUT"
check hn-generate topo "$T_ROOT/examples/hub-and-nodes.topology" --out "$T_DIR/hn"
nftcheck "$T_DIR/hn"
for s2s in group none; do
	sed "s/^SpokeToSpoke = all/SpokeToSpoke = $s2s/" "$EX" >"$T_DIR/ten-$s2s.topology"
	check "ten-$s2s-generate" topo "$T_DIR/ten-$s2s.topology" --out "$T_DIR/ten-$s2s"
	nftcheck "$T_DIR/ten-$s2s"
done
if [ -z "$nft_bad" ] && [ "$nft_ok" -ge 26 ]; then pass "nft-c-accepts-all-$nft_ok"; else fail nft-c-accepts-all "$nft_ok ok; refused:$nft_bad $(tail -3 "$T_DIR/nft-c.log")"; fi
check hub-ruleset-forward bash -c "'$SPOKEWIRE' up --print-nft '$T_DIR/ten-group/hub/wg0.conf' | grep -q 'ip saddr { 10.50.3.1/32, 10.50.3.2/32, 10.50.3.3/32 } ip daddr'"
out=$("$SPOKEWIRE" up --print-nft "$T_DIR/hn/node-a/wg0.conf")
if [[ $out == *'tcp dport { 8000 } accept'* && $out == *'iifname "wg0" drop'* ]]; then pass node-ruleset-services; else fail node-ruleset-services "$out"; fi

# ---- QR codes
"$SPOKEWIRE" topology "$EX" --out "$OUT" --qr gru >"$T_DIR/qr.out" 2>/dev/null
check qr-terminal test "$(wc -l <"$T_DIR/qr.out")" -gt 20
check qr-svg topo "$EX" --out "$OUT" --qr gru --svg "$T_DIR/gru.svg"
check qr-svg-file grep -q '<svg' "$T_DIR/gru.svg"
check qr-svg-0600 test "$(stat -c %a "$T_DIR/gru.svg")" = 600

# ---- a network from a topology file, brought up as written
NS_H=$PFX-h
NS_A=$PFX-a
NS_B=$PFX-b
NS_C=$PFX-c
ns_new "$NS_H"
ns_new "$NS_A"
ns_new "$NS_B"
ns_new "$NS_C"
veth_link "$NS_H" "$NS_A" 1
veth_link "$NS_H" "$NS_B" 2
ip -n "$NS_B" route add "$(outer4 1 0)/24" via "$(outer4 2 1)"
veth_link "$NS_H" "$NS_C" 3
ip -n "$NS_C" route add "$(outer4 1 0)/24" via "$(outer4 3 1)"
IF=$(ifname n)
cat >"$T_DIR/live.topology" <<EOF
[Network]
Name = live
Address = 10.77.0.0/24
ListenPort = 51820
Interface = $IF

[Hub]
Name = hub
Endpoint = $(outer4 1 1):51820
HubOriginates = yes

[Spoke]
Name = a

[Spoke]
Name = b
Mode = userspace

[Spoke]
Name = c
EOF
check live-generate topo "$T_DIR/live.topology" --out "$T_DIR/live"
chown -R 65534:65534 "$T_DIR/live/b"
chmod 755 "$T_DIR/live"
check live-hub-up up_root "$NS_H" "$T_DIR/live/hub/$IF.conf"
# Every node's interface has the same name, as on machines of their own:
# the spoke gets a /var/run/wireguard of its own.
check live-a-up up_root_own "$NS_A" "$T_DIR/live/a/$IF.conf"
check live-b-up-as-nobody up_nobody "$NS_B" "$T_DIR/live/b/$IF.conf"
if ping_wait "$NS_H" 15 10.77.0.2; then pass live-hub-reaches-a; else fail live-hub-reaches-a; fi
if ping_wait "$NS_H" 15 10.77.0.3; then pass live-hub-reaches-userspace-b; else fail live-hub-reaches-userspace-b; fi
if ping_wait "$NS_A" 5 10.77.0.1; then pass live-a-reaches-hub; else fail live-a-reaches-hub; fi
# Spoke to spoke through the hub ([Policy] SpokeToSpoke = all).
if ping_wait "$NS_A" 10 10.77.0.3; then pass live-a-reaches-b-through-hub; else fail live-a-reaches-b-through-hub; fi
# A spoke we did not write: its generated file taken as it is by wg-quick
# with Debian's wireguard-go (a /var/run/wireguard of its own: the hub's
# socket has the same name).
unshare --mount --propagation private -- sh -c \
	'mount -t tmpfs -o mode=0755,size=1m swt-run /var/run/wireguard && exec "$@"' \
	sh ip netns exec "$NS_C" env -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
	wg-quick up "$T_DIR/live/c/$IF.conf" >"$T_DIR/wg-quick-c.log" 2>&1 </dev/null 8>&- 9>&-
check live-c-wg-quick-up test $? = 0
if ping_wait "$NS_C" 15 10.77.0.1; then pass live-c-wireguard-go-reaches-hub; else fail live-c-wireguard-go-reaches-hub "$(tail -3 "$T_DIR/wg-quick-c.log")"; fi
if ping_wait "$NS_C" 10 10.77.0.2; then pass live-c-reaches-a-through-hub; else fail live-c-reaches-a-through-hub; fi
# `reload` of the userspace spoke, as its user, in its mount namespace:
# nothing changed, and its policy re-read.
BPID=$(ns_daemon_pids "$NS_B" spokewire | head -1)
out=$(in_mnt "$BPID" "${NOBODY[@]}" "$SPOKEWIRE" reload "$T_DIR/live/b/$IF.conf" 2>&1)
if [[ $out == *"0 peers added, 0 removed, 0 changed, 1 unchanged"* && $out == *"policy reloaded"* ]]; then
	pass live-userspace-reload
else
	fail live-userspace-reload "$out"
fi
if ping_wait "$NS_A" 5 10.77.0.3; then pass live-b-after-reload; else fail live-b-after-reload; fi
