#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# The rendezvous killed (-9) and restarted, with a direct and a relayed pair up at once:
#   fc1 x prc1   direct-udp: never notices. A ping every 100 ms runs through the whole outage
#                and restart; at most RV_LOSS_TOLERANCE (2) pings lost, the longest gap under 1 s,
#                and still direct-udp at the end.
#   sym1 x sym2  relay-udp: the relay dies with the rendezvous. After the restart (empty state)
#                the peers register again and get a new channel: relayed again with ping (over
#                UDP or, if the outage made them fall back to TCP, over TCP), 5 MB through it
#                intact, and on relay-udp again, each within RV_REREGISTER s (75) of the restart
#                (UDP is retried every 60 s while on TCP).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${PATH_WAIT:-30}
REREG=${RV_REREGISTER:-75}
TOL=${RV_LOSS_TOLERANCE:-2}
OUTAGE=${RV_OUTAGE:-10}
lab_build fc1 prc1 sym1 sym2
lab_pki fc1 prc1 sym1 sym2
rv_start || { fail "rv-restart-relay: vpnpeer-rendezvous did not start"; finish; }

pair_start fc1 prc1
pair_start sym1 sym2
if ! wait_until "$WAIT" both_on fc1 prc1 direct-udp; then
  fail "rv-restart-relay: fc1 x prc1 not on direct-udp within ${WAIT}s: $(pair_paths fc1 prc1)"
  show_pair_logs fc1 prc1
fi
if ! wait_until "$WAIT" both_on sym1 sym2 relay-udp; then
  fail "rv-restart-relay: sym1 x sym2 not on relay-udp within ${WAIT}s: $(pair_paths sym1 sym2)"
  show_pair_logs sym1 sym2
fi
check "rv-restart-relay: before: ping sym1 -> sym2 through the relay" "no reply" can_ping sym1 "${OVERLAY[sym2]}" 3

ping_start direct fc1 "${OVERLAY[prc1]}" 0.1 $((OUTAGE + REREG + 30))
sleep 2
rv_kill
t_kill=$SECONDS
log "rendezvous killed; restarting it in $OUTAGE s"
sleep "$OUTAGE"
check "rv-restart-relay: ${OUTAGE} s without rendezvous: fc1 x prc1 still on direct-udp" "$(pair_paths fc1 prc1)" \
  both_on fc1 prc1 direct-udp
rv_start || { fail "rv-restart-relay: vpnpeer-rendezvous did not start again"; finish; }
t_start=$SECONDS
# relay_back: the relayed pair is established on a relay again (UDP or TCP: a peer that got no
# UDP answer for udp_timeout while the rendezvous was down reaches it over TCP first) and pings
relay_back() {
  [[ $(json_get "$(peer_cfg sym1)" "peer('sym2').get('state') == 'established' and str(peer('sym2').get('path')).startswith('relay-')") == 1 ]] &&
    can_ping sym1 "${OVERLAY[sym2]}"
}
if wait_until "$REREG" relay_back; then
  pass "rv-restart-relay: the relayed pair is back ($(peer_field "$(peer_cfg sym1)" sym2 path) on sym1's side) with ping $((SECONDS - t_start)) s after the restart ($((SECONDS - t_kill)) s after the kill)"
  if transfer_ok sym1 sym2 "${OVERLAY[sym2]}" 5; then
    pass "rv-restart-relay: 5 MB through the new relay channel: ${XFER_INFO[t]}"
  else
    fail "rv-restart-relay: 5 MB through the new relay channel failed: ${XFER_INFO[t]}"
  fi
  # The best path is relay-udp again (UDP to the rendezvous is retried every 60 s while on TCP).
  if wait_until $((REREG - (SECONDS - t_start))) both_on sym1 sym2 relay-udp; then
    pass "rv-restart-relay: back on the best path, relay-udp, $((SECONDS - t_start)) s after the restart"
  else
    fail "rv-restart-relay: not back on relay-udp within ${REREG}s of the restart: $(pair_paths sym1 sym2)"
    log "sym1 rendezvous: $(rv_summary "$(peer_cfg sym1)")"
    log "sym2 rendezvous: $(rv_summary "$(peer_cfg sym2)")"
    show_pair_logs sym1 sym2
  fi
else
  fail "rv-restart-relay: the relayed pair not back (relay + ping) within ${REREG}s of the restart: $(pair_paths sym1 sym2)"
  show_pair_logs sym1 sym2
fi
sleep 2
ping_stop direct
read -r gap lost sent replied <<<"$(ping_gap direct)"
echo "RV-RESTART: direct pair across kill and restart: $lost of $sent pings lost, longest gap ${gap} ms"
check "rv-restart-relay: the direct pair never noticed: $lost of $sent pings lost (<= $TOL), longest gap ${gap} ms (< 1000)" \
  "lost $lost, gap $gap ms" test "$lost" -le "$TOL" -a "$gap" -lt 1000 -a "$sent" -gt 0
check "rv-restart-relay: fc1 x prc1 still on direct-udp at the end" "$(pair_paths fc1 prc1)" both_on fc1 prc1 direct-udp
echo "$PASSED passed, $FAILED failed"
finish
