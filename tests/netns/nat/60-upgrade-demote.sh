#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Paths change under a running transfer (docs/paths.md, rules 4-6). Two pairs at once:
#
#   upgrade  sym1 x sym2 on relay-udp. A paced TCP stream (2 MiB/s) runs sym1 -> sym2; then
#            sym1's NAT is loosened (lab_loosen_nat: the symmetric rule becomes a port-preserving
#            full cone, and the router's conntrack is emptied as a NAT reload does). Within
#            UPGRADE_WAIT s (90) both sides must be on direct-udp by themselves, the stream
#            arrives intact, and ping works on the new path.
#   demote   fc1 x prc1 on direct-udp. A paced stream runs fc1 -> prc1; then every UDP packet
#            between the two public addresses is dropped (lab_drop_path; both still reach the
#            rendezvous). Within DEMOTE_WAIT s (10) both sides must be on relay-udp, the stream
#            keeps moving (more bytes 5 s later) and arrives intact. Then the drop is lifted: the
#            pair goes back to direct-udp within BACK_WAIT s (60; the hold-down is 5 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

UPGRADE_WAIT=${UPGRADE_WAIT:-90}
DEMOTE_WAIT=${DEMOTE_WAIT:-10}
BACK_WAIT=${BACK_WAIT:-60}
WAIT=${PATH_WAIT:-30}
lab_build sym1 sym2 fc1 prc1
lab_pki sym1 sym2 fc1 prc1
rv_start || { fail "paths: vpnpeer-rendezvous did not start"; finish; }

upgrade_case() {
  local a=sym1 b=sym2 t0
  pair_start "$a" "$b"
  if ! wait_until "$WAIT" both_on "$a" "$b" relay-udp; then
    fail "upgrade: $a x $b not on relay-udp within ${WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
    pair_stop "$a" "$b"
    return
  fi
  pass "upgrade: $a x $b established on relay-udp"
  xfer_start up "$a" "$b" "${OVERLAY[$b]}" 400 2 $((UPGRADE_WAIT + 60))
  sleep 3
  lab_loosen_nat "$a"
  t0=$SECONDS
  if wait_until "$UPGRADE_WAIT" both_on "$a" "$b" direct-udp; then
    pass "upgrade: $a's NAT loosened: both on direct-udp by themselves after $((SECONDS - t0)) s"
    sleep 3
  else
    fail "upgrade: $a's NAT loosened: not both on direct-udp within ${UPGRADE_WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
  fi
  xfer_stop up
  if xfer_wait up 30; then
    pass "upgrade: the stream across the upgrade arrived intact: ${XFER_INFO[up]}"
  else
    fail "upgrade: the stream across the upgrade failed: ${XFER_INFO[up]}"
  fi
  check "upgrade: ping $b -> $a on the new path" "no reply" can_ping "$b" "${OVERLAY[$a]}" 3
  pair_stop "$a" "$b"
}

demote_case() {
  local a=fc1 b=prc1 t0 n0 n1 back
  pair_start "$a" "$b"
  if ! wait_until "$WAIT" both_on "$a" "$b" direct-udp; then
    fail "demote: $a x $b not on direct-udp within ${WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
    pair_stop "$a" "$b"
    return
  fi
  pass "demote: $a x $b established on direct-udp"
  # Give the standby relay (rule 3) a moment to be bound, as it is in steady state.
  sleep 3
  xfer_start down "$a" "$b" "${OVERLAY[$b]}" 400 2 $((DEMOTE_WAIT + BACK_WAIT + 60))
  sleep 3
  lab_drop_path "$a" "$b"
  t0=$(date +%s.%N)
  if wait_until "$DEMOTE_WAIT" both_on "$a" "$b" relay-udp; then
    pass "demote: direct path dropping everything: both on relay-udp $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s later"
  else
    fail "demote: direct path dropping everything: not both on relay-udp within ${DEMOTE_WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
  fi
  n0=$(xfer_bytes down)
  sleep 5
  n1=$(xfer_bytes down)
  check "demote: the stream goes on over the relay ($(((n1 - n0) / 1024)) KiB in 5 s)" \
    "received $n0 then $n1 bytes" test "$n1" -gt $((n0 + 1048576))
  check "demote: $a's status gives a reason for the relay" "$(path_summary "$(peer_cfg "$a")" "$b")" \
    eval "[[ -n \$(peer_field $(peer_cfg "$a") $b path_reason) ]]"
  lab_undrop_path "$a" "$b"
  back=$SECONDS
  if wait_until "$BACK_WAIT" both_on "$a" "$b" direct-udp; then
    pass "demote: drop lifted: back on direct-udp after $((SECONDS - back)) s"
  else
    fail "demote: drop lifted: not back on direct-udp within ${BACK_WAIT}s: $(pair_paths "$a" "$b")"
  fi
  xfer_stop down
  if xfer_wait down 30; then
    pass "demote: the stream across demotion and return arrived intact: ${XFER_INFO[down]}"
  else
    fail "demote: the stream across demotion and return failed: ${XFER_INFO[down]}"
    show_pair_logs "$a" "$b"
  fi
  pair_stop "$a" "$b"
}

par_run up upgrade_case
par_run down demote_case
par_wait up down
echo "$PASSED passed, $FAILED failed"
finish
