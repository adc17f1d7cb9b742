#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Path MTU: mtu1's uplink carries 1280-byte packets and its router sends no ICMP about it (a black
# hole, lab.sh SITE_MTU). The TUN MTU is 1400, so full-size tunnel datagrams (1452 bytes) vanish
# there. With path MTU discovery (the default):
#   0. the control: with discovery off, a 1400-byte ping (a 1452-byte tunnel datagram) is lost,
#      so the lab really is a black hole;
#   1. mtu1 x fc1 goes direct-udp; both ends find the path's MTU (1280 - 28 bytes of IPv4 and UDP
#      - 24 of tunnel overhead = 1228 inner bytes) and status says so;
#   2. a 1400-byte ping with DF is answered locally by ICMP "fragmentation needed" naming that
#      MTU; one that fits goes through; a 1400-byte ping without DF goes through (its tunnel
#      datagram is sent fragmentable);
#   3. MB of TCP each way with the same sha256 (the SYNs are clamped to the path, so no segment is
#      too big even before the sender hears of the MTU);
#   4. mtu1 x sym1 is relayed (port x symmetric): the relayed path's MTU is found the same way
#      (3 bytes less: the relay header) and a transfer goes through the relay.
# Env: PMTU_WAIT (s, 30), PMTU_MB (20).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${PMTU_WAIT:-30}
MB=${PMTU_MB:-20}
WANT=1228
lab_build mtu1 fc1 sym1
lab_pki mtu1 fc1 sym1
rv_start || { fail "path MTU: vpnpeer-rendezvous did not start"; finish; }

mtu_of() { json_get "$(peer_cfg "$1")" "peer('$2').get('mtu', 0)"; }
pmtu_done() {
  [[ $(json_get "$(peer_cfg "$1")" "peer('$2').get('pmtu_state')") == done ]]
}
# mtu_found H PEER [MTU]: H's search is done at the path's MTU (WANT unless given)
mtu_found() {
  pmtu_done "$1" "$2" && (($(mtu_of "$1" "$2") == ${3:-$WANT}))
}
# ping_too_big H ADDR: a 1400-byte DF ping is refused locally with the path MTU in the message
ping_too_big() {
  local out
  out=$(nsx "$1" ping -n -c 1 -W 1 -M do -s 1372 "$2" 2>&1 || true)
  PING_OUT=$out
  grep -Eq "mtu ?= ?12[0-9][0-9]|[Mm]essage too long, mtu=12[0-9][0-9]" <<<"$out"
}
ping_sized() { nsx "$1" ping -n -q -c 1 -W 2 -M "$3" -s "$4" "$2" >/dev/null 2>&1; }

# 0. The control: without discovery, what does not fit is lost.
PEER_PORT=51879
PMTU_DISCOVERY=false
pair_start mtu1 fc1
if wait_until "$WAIT" both_on mtu1 fc1 direct-udp; then
  check "discovery off: status says off" "$(mtu_of fc1 mtu1)" \
    test "$(json_get "$(peer_cfg fc1)" "peer('mtu1').get('pmtu_state')")" = off
  check "discovery off: a ping that fits goes through" "no reply" \
    ping_sized fc1 "${OVERLAY[mtu1]}" do 1000
  check "discovery off: a 1400-byte ping is lost in the black hole" "it got through" \
    bash -c "! ip netns exec $(ns fc1) ping -n -q -c 2 -W 1 -M dont -s 1372 ${OVERLAY[mtu1]} >/dev/null 2>&1"
else
  fail "discovery off: mtu1 x fc1 not direct within ${WAIT}s: $(pair_paths mtu1 fc1)"
fi
pair_stop mtu1 fc1
unset PMTU_DISCOVERY

# 1. Direct: the search finds the black hole.
PEER_PORT=51880
t0=$SECONDS
pair_start mtu1 fc1
if wait_until "$WAIT" both_on mtu1 fc1 direct-udp; then
  pass "mtu1 x fc1: direct-udp both ways in $((SECONDS - t0)) s"
else
  fail "mtu1 x fc1: not direct within ${WAIT}s: $(pair_paths mtu1 fc1)"
  show_pair_logs mtu1 fc1
fi
for side in "mtu1 fc1" "fc1 mtu1"; do
  read -r a b <<<"$side"
  if wait_until "$WAIT" mtu_found "$a" "$b"; then
    pass "$a finds the path MTU to $b: $(mtu_of "$a" "$b") (path allows $WANT) in $((SECONDS - t0)) s"
  else
    fail "$a: path MTU to $b not found within ${WAIT}s: mtu $(mtu_of "$a" "$b"), $(json_get "$(peer_cfg "$a")" "peer('$b').get('pmtu_state')")"
  fi
done
found=$(mtu_of fc1 mtu1)

# 2. What the TUN side sees.
if ping_too_big fc1 "${OVERLAY[mtu1]}"; then
  pass "a 1400-byte DF ping gets 'fragmentation needed' from the tunnel: $(grep -Eo 'mtu ?= ?[0-9]+' <<<"$PING_OUT" | head -1)"
else
  fail "no 'fragmentation needed' for a 1400-byte DF ping: $(head -c 300 <<<"$PING_OUT")"
fi
check "a DF ping of the path's size ($found bytes) goes through" "no reply" \
  ping_sized fc1 "${OVERLAY[mtu1]}" do $((found - 28))
check "a 1400-byte ping without DF goes through (fragmentable)" "no reply" \
  ping_sized fc1 "${OVERLAY[mtu1]}" dont 1372
check "and the other way" "no reply" ping_sized mtu1 "${OVERLAY[fc1]}" dont 1372

# 3. TCP both ways, checksummed.
if transfer_ok fc1 mtu1 "${OVERLAY[mtu1]}" "$MB"; then
  pass "$MB MB fc1 -> mtu1 over the 1280 path: ${XFER_INFO[t]}"
else
  fail "$MB MB fc1 -> mtu1 failed: ${XFER_INFO[t]}"
fi
if transfer_ok mtu1 fc1 "${OVERLAY[fc1]}" "$MB"; then
  pass "$MB MB mtu1 -> fc1 over the 1280 path: ${XFER_INFO[t]}"
else
  fail "$MB MB mtu1 -> fc1 failed: ${XFER_INFO[t]}"
fi
drops=$(json_get "$(peer_cfg fc1)" "dict(s.get('drops', {})).get('too_big_for_path', 0)" 2>/dev/null || echo "?")
log "fc1 refused $drops inner packets as too big for the path"
pair_stop mtu1 fc1

# 4. Relayed.
PEER_PORT=51881
t0=$SECONDS
pair_start mtu1 sym1
if wait_until "$WAIT" both_on mtu1 sym1 relay-udp; then
  pass "mtu1 x sym1: relay-udp both ways in $((SECONDS - t0)) s"
  if wait_until "$WAIT" mtu_found sym1 mtu1 $((WANT - 3)); then
    pass "sym1 finds the relayed path's MTU to mtu1: $(mtu_of sym1 mtu1) (the relay header takes 3 bytes)"
  else
    fail "sym1: relayed path MTU not found: mtu $(mtu_of sym1 mtu1), $(json_get "$(peer_cfg sym1)" "peer('mtu1').get('pmtu_state')")"
  fi
  if transfer_ok sym1 mtu1 "${OVERLAY[mtu1]}" "$MB"; then
    pass "$MB MB sym1 -> mtu1 through the relay: ${XFER_INFO[t]}"
  else
    fail "$MB MB sym1 -> mtu1 through the relay failed: ${XFER_INFO[t]}"
  fi
else
  fail "mtu1 x sym1: not relayed within ${WAIT}s: $(pair_paths mtu1 sym1)"
  show_pair_logs mtu1 sym1
fi
pair_stop mtu1 sym1
echo "$PASSED passed, $FAILED failed"
finish
