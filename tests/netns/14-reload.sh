#!/usr/bin/env bash
# Live reload of the peer list with the real binaries: while alice pings bob 20 times a second,
# carol is added to alice's file and `vpnpeer reload` brings her in (alice reaches her) without
# losing a ping to bob; removing her again closes her session and her traffic stops.
#
#            ns x (bridge br0, 192.168.245.0/24)
#     +---------+---------+
#   ns a      ns b      ns c
#   alice     bob       carol
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

A=192.168.245.1 B=192.168.245.2 C=192.168.245.3
ns_create x
ip -n "$(ns x)" link add br0 type bridge
ip -n "$(ns x)" link set br0 up
for pair in a:$A b:$B c:$C; do
  n=${pair%%:*} addr=${pair#*:}
  ns_create "$n"
  ip -n "$(ns x)" link add "p$n" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns x)" link set "p$n" master br0 up
  ip -n "$(ns "$n")" addr add "$addr/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
done
make_ca "$WORK/pki" corp >/dev/null
for p in alice:1 bob:2 carol:3; do
  make_cert "$WORK/pki" "${p%%:*}" "$WORK/${p%%:*}" "10.42.0.${p#*:}/24" >/dev/null
done
cfg() { echo "$WORK/$1/$1.toml"; }
write_peer "$(cfg alice)" alice 10.42.0.1/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/alice/alice.crt" "$WORK/alice/alice.key" "$WORK/alice.sock" "bob=$B:$PORT"
write_peer "$(cfg bob)" bob 10.42.0.2/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/bob/bob.crt" "$WORK/bob/bob.key" "$WORK/bob.sock" "alice=$A:$PORT"
write_peer "$(cfg carol)" carol 10.42.0.3/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/carol/carol.crt" "$WORK/carol/carol.key" "$WORK/carol.sock" "alice=$A:$PORT"
# alice's daemon drops root and re-reads her file on reload.
chmod 711 "$WORK"
chmod 755 "$WORK/alice"
chmod 644 "$(cfg alice)"

start_peer a "$(cfg alice)" "$WORK/alice/alice.log"
start_peer b "$(cfg bob)" "$WORK/bob/bob.log"
start_peer c "$(cfg carol)" "$WORK/carol/carol.log"
check "alice and bob are up" "no ping within 15 s" wait_until 15 can_ping a 10.42.0.2
check "carol is not one of alice's peers yet" "carol reached alice" eval "! can_ping c 10.42.0.1 2"
idx=$(json_get "$(cfg alice)" "peer('bob').get('local_index', 0)")

nsx a ping -c 200 -i 0.05 -W 1 10.42.0.2 >"$WORK/ping.txt" 2>&1 &
PING_PID=$!
track_pid "$PING_PID"
sleep 1
printf '\n[[peers]]\nname = "carol"\nendpoint = "%s:%s"\n' "$C" "$PORT" >>"$(cfg alice)"
out=$("$VPNPEER" reload -c "$(cfg alice)" 2>&1) && rc=0 || rc=$?
check "vpnpeer reload adds carol ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'2 peer(s) (1 added, 0 removed)'* ]]"
check "alice reaches carol after the reload" "no ping within 15 s" wait_until 15 can_ping a 10.42.0.3
wait "$PING_PID" || true
loss=$(grep -o '[0-9.]*% packet loss' "$WORK/ping.txt" | cut -d% -f1)
check "the 200 pings to bob across the reload lose nothing (${loss}% loss)" "$(tail -2 "$WORK/ping.txt")" \
  test "${loss:-100}" = 0
check "bob's session was not touched (index $idx)" "index now $(json_get "$(cfg alice)" "peer('bob').get('local_index', 0)")" \
  test "$(json_get "$(cfg alice)" "peer('bob').get('local_index', 0)")" = "$idx"

sed -i '/^\[\[peers\]\]$/{N;/carol/{N;d}}' "$(cfg alice)"
out=$("$VPNPEER" reload -c "$(cfg alice)" 2>&1) && rc=0 || rc=$?
check "vpnpeer reload removes carol ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'1 peer(s) (0 added, 1 removed)'* ]]"
check "carol is gone from alice's status" "still listed" \
  test "$(json_get "$(cfg alice)" "peer('carol').get('name', '')")" = ""
check "carol's traffic no longer reaches alice" "carol still pings alice" eval "! can_ping c 10.42.0.1 2"
check "bob still does" "bob lost" can_ping a 10.42.0.2 2
finish
