#!/usr/bin/env bash
# Floods of unauthenticated first packets against a peer and a rendezvous, from thousands of
# source ports (and spoofed addresses), while real peers connect:
#   (a) padded HELLOs naming alice at bob, from mallory's address on random ports, while alice
#       starts: alice and bob connect within 3 s, and bob sends back no more bytes than it got;
#   (b) the same at the rendezvous while carol registers: registered within 3 s, no more bytes back;
#   (c) classic 20-byte STUN requests at the rendezvous from 65,536 spoofed addresses: reflected
#       at less than 1x.
# Bytes in and out are counted with nftables in the victim's namespace; CPU from /proc.
#
#            ns x (bridge br0, 192.168.242.0/24)
#     +---------+---------+---------+---------+
#     |         |         |         |         |
#   ns a      ns b      ns r      ns m
#   alice     bob       rendezvous mallory (raw socket flood; 10.99.0.0/16 routed to it)
#   .1        .2        .3         .4
#   carol (a second peer file in ns a, registering at r)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"
need_tool nft nftables
FLOOD=$(dirname "$0")/flood.py
COUNT=${FLOOD_COUNT:-6000}   # packets per flood
RATE=${FLOOD_RATE:-2000}     # per second

A=192.168.242.1 B=192.168.242.2 R=192.168.242.3 M=192.168.242.4
ns_create x
ip -n "$(ns x)" link add br0 type bridge
ip -n "$(ns x)" link set br0 up
for pair in a:$A b:$B r:$R m:$M; do
  n=${pair%%:*} addr=${pair#*:}
  ns_create "$n"
  ip -n "$(ns x)" link add "p$n" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns x)" link set "p$n" master br0 up
  ip -n "$(ns "$n")" addr add "$addr/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
done
# Answers to spoofed sources go to mallory's namespace (and are counted leaving r on the way).
ip -n "$(ns r)" route add 10.99.0.0/16 via "$M"
nsx r sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0

make_ca "$WORK/pki" corp >/dev/null
make_cert "$WORK/pki" alice "$WORK/alice" 10.42.0.1/24 >/dev/null
make_cert "$WORK/pki" bob "$WORK/bob" 10.42.0.2/24 >/dev/null
make_cert "$WORK/pki" carol "$WORK/carol" 10.42.0.3/24 >/dev/null
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
write_peer "$WORK/alice/alice.toml" alice 10.42.0.1/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/alice/alice.crt" "$WORK/alice/alice.key" "$WORK/alice.sock" "bob=$B:$PORT"
write_peer "$WORK/bob/bob.toml" bob 10.42.0.2/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/bob/bob.crt" "$WORK/bob/bob.key" "$WORK/bob.sock" "alice=$A:$PORT"
write_peer "$WORK/carol/carol.toml" carol 10.42.0.3/24 "0.0.0.0:51821" "$WORK/pki/ca.crt" \
  "$WORK/carol/carol.crt" "$WORK/carol/carol.key" "$WORK/carol.sock" "" vpn1
printf '\n[[rendezvous]]\naddress = "%s:3478"\n' "$R" >>"$WORK/carol/carol.toml"
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$R:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
control_socket = "$WORK/rv.sock"
EOF

# count_setup NS SET: nft counters of bytes from and to the addresses in SET ("{ a, b/16 }").
count_setup() {
  nsx "$1" nft -f - <<NFT
table ip fl {
  counter from_m {}
  counter to_m {}
  chain in { type filter hook input priority 0; policy accept; ip saddr $2 counter name "from_m"; }
  chain out { type filter hook output priority 0; policy accept; ip daddr $2 counter name "to_m"; }
}
NFT
}
# count NS NAME -> bytes (IP packets) counted
count() { nsx "$1" nft list counter ip fl "$2" | awk '/bytes/ {for (i = 1; i <= NF; i++) if ($i == "bytes") print $(i + 1); exit}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ms_now() { date +%s%3N; }

# (a) the peer ------------------------------------------------------------------------------
count_setup b "{ $M }"
start_peer b "$WORK/bob/bob.toml" "$WORK/bob/bob.log"
B_PID=$LAST_PID
wait_until 5 test -S "$WORK/bob.sock" || die "bob did not start"
cpu0=$(cpu_ticks "$B_PID")
nsx m python3 "$FLOOD" hello "$B" "$PORT" alice "$M" "$COUNT" "$RATE" >"$WORK/flood_a.json" &
FLOOD_PID=$!
track_pid "$FLOOD_PID"
sleep 1  # the flood is under way when alice starts
t0=$(ms_now)
start_peer a "$WORK/alice/alice.toml" "$WORK/alice/alice.log"
if wait_until 10 can_ping a 10.42.0.2; then
  connect_ms=$(($(ms_now) - t0))
else
  connect_ms=-1
fi
wait "$FLOOD_PID" || true
cpu1=$(cpu_ticks "$B_PID")
in_a=$(count b from_m) out_a=$(count b to_m)
log "(a) flood $(cat "$WORK/flood_a.json"); bob got $in_a bytes from mallory, sent $out_a back;" \
  "alice connected in $connect_ms ms; bob used $(((cpu1 - cpu0) * 10)) ms of CPU"
check "flood (a): alice connects to bob within 3 s during a HELLO flood ($connect_ms ms)" \
  "no tunnel within 3 s" test "$connect_ms" -ge 0 -a "$connect_ms" -le 3000
check "flood (a): bob sends mallory no more bytes than it received ($out_a <= $in_a)" \
  "amplified" test "$out_a" -le "$in_a" -a "$in_a" -gt 0
cookies=$(json_get "$WORK/bob/bob.toml" 's["admission"]["cookie_replies"]')
check "flood (a): bob answered the flood with cookies and holds no handshake ($cookies cookies)" \
  "no cookie replies counted" test "$cookies" -gt 0

# (b) the rendezvous, while carol registers --------------------------------------------------
count_setup r "{ $M, 10.99.0.0/16 }"
nsbg r "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
R_PID=$LAST_PID
wait_until 5 test -S "$WORK/rv.sock" || die "the rendezvous did not start"
cpu0=$(cpu_ticks "$R_PID")
nsx m python3 "$FLOOD" hello "$R" 3478 mallory "$M" "$COUNT" "$RATE" >"$WORK/flood_b.json" &
FLOOD_PID=$!
track_pid "$FLOOD_PID"
sleep 1
t0=$(ms_now)
start_peer a "$WORK/carol/carol.toml" "$WORK/carol/carol.log"
carol_registered() { [[ $(json_get "$WORK/carol/carol.toml" 's["rendezvous"][0]["registered"]') == 1 ]]; }
if wait_until 10 carol_registered; then
  register_ms=$(($(ms_now) - t0))
else
  register_ms=-1
fi
wait "$FLOOD_PID" || true
cpu1=$(cpu_ticks "$R_PID")
in_b=$(count r from_m) out_b=$(count r to_m)
log "(b) flood $(cat "$WORK/flood_b.json"); the rendezvous got $in_b bytes, sent $out_b back;" \
  "carol registered in $register_ms ms; the rendezvous used $(((cpu1 - cpu0) * 10)) ms of CPU"
check "flood (b): carol registers within 3 s during a HELLO flood ($register_ms ms)" \
  "not registered within 3 s" test "$register_ms" -ge 0 -a "$register_ms" -le 3000
check "flood (b): the rendezvous sends no more bytes back than it received ($out_b <= $in_b)" \
  "amplified" test "$out_b" -le "$in_b" -a "$in_b" -gt 0

# (c) spoofed STUN at the rendezvous ----------------------------------------------------------
nsx r nft reset counters table ip fl >/dev/null
nsx m python3 "$FLOOD" stun "$R" 3478 10.99.0.0/16 "$COUNT" "$RATE" >"$WORK/flood_c.json"
sleep 0.5
in_c=$(count r from_m) out_c=$(count r to_m)
log "(c) flood $(cat "$WORK/flood_c.json"); the rendezvous got $in_c bytes, reflected $out_c"
check "flood (c): a spoofed STUN flood is reflected at less than 1x ($out_c < $in_c)" \
  "reflected at 1x or more" test "$out_c" -lt "$in_c" -a "$in_c" -gt 0
check "flood (c): the rendezvous still serves: carol stays registered" "carol lost her registration" \
  carol_registered
finish
