#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and result tables are read by lab.sh functions; checks call functions indirectly
# The rendezvous is only needed to meet: once two peers have punched through, killing it must
# not hurt the tunnel, and when it comes back the peers must register again by themselves.
#
#   prc1 (port-restricted cone) <-- punched UDP --> rc1 (restricted cone), via pub (rendezvous)
#
#   1. both established over direct-udp, both report the rendezvous registered;
#   2. kill -9 the rendezvous: ping right away; both peers notice (registered false) within
#      RV_REREGISTER s; a keepalive interval later ping both ways still works, still established;
#   3. start it again (empty state): both report registered again within RV_REREGISTER s (60);
#   4. proof that the new instance really knows them: restart rc1 on ANOTHER UDP port. prc1's
#      old endpoint for rc1 is now dead and prc1's NAT only lets in what prc1 sent to, so the
#      two can only meet again through an introduction by the restarted rendezvous.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${PUNCH_WAIT:-20}
# A restarted rendezvous has no sessions: the peers notice when their refresh (every 25 s) or
# keepalives go unanswered (dead_peer 40 s), so allow dead_peer plus a retry after the restart.
REREG=${RV_REREGISTER:-60}
KEEPALIVE=${KEEPALIVE:-10}

lab_build prc1 rc1
lab_pki prc1 rc1
rv_start || { fail "rv-restart: vpnpeer-rendezvous did not start"; finish; }
A=prc1 B=rc1
CA=$(peer_cfg $A) CB=$(peer_cfg $B)

# rv_registered CFG: every [[rendezvous]] entry of the top-level "rendezvous" list is registered
rv_registered() {
  [[ $(json_get "$1" 'all(r.get("registered") is True for r in s.get("rendezvous", [])) and len(s.get("rendezvous", [])) > 0') == 1 ]]
}
# rv_unregistered CFG: the daemon answers and reports none of its rendezvous registered
rv_unregistered() {
  [[ $(json_get "$1" 'len(s.get("rendezvous", [])) > 0 and not any(r.get("registered") is True for r in s["rendezvous"])') == 1 ]]
}
rv_summary() { json_get "$1" 's.get("rendezvous")' 2>&1 | tr -d '\n' || true; }

pair_start $A $B
if ! wait_until "$WAIT" eval "direct_up $CA $B && direct_up $CB $A"; then
  fail "rv-restart: $A and $B not established over direct-udp within ${WAIT}s: $A sees [$(peer_summary "$CA" $B)]; $B sees [$(peer_summary "$CB" $A)]"
  show_log "$(peer_log $A)"; show_log "$(peer_log $B)"; show_log "$RV_LOG"
  finish
fi
pass "rv-restart: $A and $B established over direct-udp through the rendezvous"
check "rv-restart: both report the rendezvous registered" "$A: $(rv_summary "$CA"); $B: $(rv_summary "$CB")" \
  eval "rv_registered $CA && rv_registered $CB"

rv_kill
t_kill=$SECONDS
check "rv-restart: rendezvous killed: $A -> $B ping right away" "no reply" can_ping $A "${OVERLAY[$B]}" 3
# The peers must notice the loss (else "registered" after the restart would prove nothing).
if wait_until "$REREG" eval "rv_unregistered $CA && rv_unregistered $CB"; then
  pass "rv-restart: both report the rendezvous not registered $((SECONDS - t_kill)) s after it died"
else
  fail "rv-restart: rendezvous not reported unregistered within ${REREG}s of its death (status \"rendezvous\"): $A: $(rv_summary "$CA"); $B: $(rv_summary "$CB")"
fi
sleep $((KEEPALIVE + 2))
gone=$((SECONDS - t_kill))
check "rv-restart: ${gone} s without rendezvous: $A -> $B ping" "no reply" can_ping $A "${OVERLAY[$B]}" 3
check "rv-restart: ${gone} s without rendezvous: $B -> $A ping" "no reply" can_ping $B "${OVERLAY[$A]}" 3
check "rv-restart: ${gone} s without rendezvous: still established on both sides" \
  "$A sees [$(peer_summary "$CA" $B)]; $B sees [$(peer_summary "$CB" $A)]" \
  eval "direct_up $CA $B && direct_up $CB $A"

t0=$SECONDS
rv_start || { fail "rv-restart: vpnpeer-rendezvous did not start again"; finish; }
if wait_until "$REREG" eval "rv_registered $CA && rv_registered $CB"; then
  pass "rv-restart: both peers registered again $((SECONDS - t0)) s after the restart"
else
  fail "rv-restart: not reported registered again within ${REREG}s (status \"rendezvous\"): $A: $(rv_summary "$CA"); $B: $(rv_summary "$CB")"
fi

# 4: rc1 on another port; only the restarted rendezvous can bring the two together again.
peer_stop $B
PEER_PORT=$((PEER_PORT + 1))
peer_write $B $A
peer_start $B $B
t0=$SECONDS
if wait_until "$WAIT" eval "direct_up $CA $B && direct_up $CB $A && can_ping $B ${OVERLAY[$A]}"; then
  pass "rv-restart: $B on a new port met $A again through the restarted rendezvous in $((SECONDS - t0)) s"
else
  fail "rv-restart: $B on a new port did not meet $A again within ${WAIT}s: $A sees [$(peer_summary "$CA" $B)]; $B sees [$(peer_summary "$CB" $A)]"
  show_log "$(peer_log $B)" 15; show_log "$RV_LOG" 15
fi
echo "$PASSED passed, $FAILED failed"
finish
