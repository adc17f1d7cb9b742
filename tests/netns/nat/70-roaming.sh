#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Roaming (docs/paths.md, rule 7): a peer's underlay changes under a running session; the session
# survives with the same overlay address. During every event a ping runs every 50 ms from the
# other peer to the roamer's overlay address, and a paced TCP stream (2 MiB/s) runs to it; after
# it: the longest ping gap (printed), the stream intact, the pair established on direct-udp again
# and the other side sending to the roamer's new endpoint. Gap bounds: ROAM_MAX_GAP ms (2000) for
# a move, which the roamer sees (rtnetlink); REBIND_MAX_GAP ms (6000) for a conntrack flush, which
# no host sees: when the roamer has nothing to send, only the other side's liveness probes find
# it (demote_after 4 s, then the relay and sending on both paths, rule 6), so 4 s + 2 s margin.
#
#   prc1 x fc1   prc1's host moves to prc2's site (lab_move_host: new LAN address, new router,
#                new public address 198.51.100.32; rtnetlink events in its namespace), then
#                back home (198.51.100.30), then its NAT's conntrack is flushed (port-restricted:
#                the filter state is lost, the mapping comes back the same);
#   sym1 x fc2   sym1's NAT's conntrack is flushed: a symmetric NAT gives the running flow a new
#                random port, a rebinding nothing on the host sees: the liveness probes find it.
# The two pairs run at once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

MOVE_GAP=${ROAM_MAX_GAP:-2000}
FLUSH_GAP=${REBIND_MAX_GAP:-6000}
WAIT=${PATH_WAIT:-30}
lab_build prc1 prc2 fc1 sym1 fc2
lab_pki prc1 fc1 sym1 fc2
rv_start || { fail "roam: vpnpeer-rendezvous did not start"; finish; }
lab_roam_link prc1 prc2

# roam_event LABEL ROAMER OTHER EXPECT MAX_GAP ACTION...: EXPECT is the other side's endpoint
# for the roamer afterwards: "ip:ADDR" (that address, any port), "changed" (not the one before)
# or "same"; MAX_GAP the longest ping gap allowed (ms)
roam_event() {
  local label=$1 r=$2 o=$3 want=$4 max=$5 co ep0 t tag=${1// /_} gap lost sent replied ok
  shift 5
  co=$(peer_cfg "$o")
  ep0=$(peer_field "$co" "$r" endpoint || true)
  ping_start "$tag" "$o" "${OVERLAY[$r]}" 0.05 60
  xfer_start "$tag" "$o" "$r" "${OVERLAY[$r]}" 400 2 90
  sleep 3
  t=$(date +%s.%N)
  "$@"
  case $want in
    ip:*) ok="[[ \$(peer_field $co $r endpoint) == ${want#ip:}:* ]]" ;;
    changed) ok="[[ \$(peer_field $co $r endpoint) != '$ep0' ]]" ;;
    *) ok=true ;;
  esac
  if wait_until 15 eval "$ok && both_on $r $o direct-udp"; then
    pass "$label: $o now sends to $r at $(peer_field "$co" "$r" endpoint) (was $ep0), both on direct-udp"
  else
    fail "$label: not on direct-udp with $o sending to the new endpoint ($want) within 15 s: $(pair_paths "$r" "$o")"
    show_pair_logs "$r" "$o"
  fi
  sleep 3
  ping_stop "$tag"
  xfer_stop "$tag"
  read -r gap lost sent replied <<<"$(ping_gap "$tag" "$t")"
  echo "ROAM: $label: longest ping gap ${gap} ms, $lost of $sent pings lost"
  check "$label: ping every 50 ms: longest gap ${gap} ms <= ${max} ms ($lost of $sent lost)" \
    "gap ${gap} ms" test "$gap" -ge 0 -a "$gap" -le "$max"
  if xfer_wait "$tag" 30; then
    pass "$label: the stream across it arrived intact: ${XFER_INFO[$tag]}"
  else
    fail "$label: the stream across it failed: ${XFER_INFO[$tag]}"
  fi
}

move_pair() {
  local r=prc1 o=fc1
  pair_start "$r" "$o"
  if ! wait_until "$WAIT" both_on "$r" "$o" direct-udp; then
    fail "roam: $r x $o not on direct-udp within ${WAIT}s: $(pair_paths "$r" "$o")"
    show_pair_logs "$r" "$o"; pair_stop "$r" "$o"; return
  fi
  sleep 3  # the standby relay (rule 3), as in steady state
  roam_event "roam: $r moves to prc2's site" "$r" "$o" ip:198.51.100.32 "$MOVE_GAP" lab_move_host "$r" prc2
  roam_event "roam: $r moves back home" "$r" "$o" ip:198.51.100.30 "$MOVE_GAP" lab_move_host "$r" home
  roam_event "roam: conntrack flush at $r's port-restricted NAT" "$r" "$o" same "$FLUSH_GAP" lab_flush_conntrack prc1
  check "roam: $r kept its overlay address ${OVERLAY[$r]}" "$(nsx "$r" ip -br addr show vpn0)" \
    eval "nsx $r ip -br addr show vpn0 | grep -q ' ${OVERLAY[$r]}/24'"
  pair_stop "$r" "$o"
}

rebind_pair() {
  local r=sym1 o=fc2
  pair_start "$r" "$o"
  if ! wait_until "$WAIT" both_on "$r" "$o" direct-udp; then
    fail "roam: $r x $o not on direct-udp within ${WAIT}s: $(pair_paths "$r" "$o")"
    show_pair_logs "$r" "$o"; pair_stop "$r" "$o"; return
  fi
  sleep 3
  roam_event "roam: conntrack flush at $r's symmetric NAT (rebinding)" "$r" "$o" changed "$FLUSH_GAP" lab_flush_conntrack sym1
  pair_stop "$r" "$o"
}

par_run move move_pair
par_run rebind rebind_pair
par_wait move rebind
echo "$PASSED passed, $FAILED failed"
finish
