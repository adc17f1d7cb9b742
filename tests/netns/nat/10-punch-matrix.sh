#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and result tables are read by lab.sh functions; checks call functions indirectly
# vpnpeer hole punching across every pair of NAT kinds of the lab (lab.sh), plus two hosts
# behind one NAT. One lab and one vpnpeer-rendezvous for the whole matrix; only the two peers
# are restarted between pairs, each pair on a fresh UDP port so no NAT binding of an earlier
# pair can help a later one. The peers know each other's names only ([[peers]] without
# endpoint) and the rendezvous ([[rendezvous]]).
#
#   where a direct path exists (00-nat-behaviour.sh shows that plain UDP gets through):
#     both sides: state "established", path "direct-udp", endpoint at the other's public
#     address (its LAN address for the same-NAT pair: the lab does not hairpin); ping through
#     the tunnel; 5 MB over TCP (socat) through the tunnel with the same sha256.
#   where none does (symmetric x symmetric, port-restricted x symmetric):
#     both sides: state "unreachable" and last_error containing "no direct path"; no ping.
#
# Env: PUNCH_WAIT (s, default 20) bounds each wait; TRANSFER_MB (default 5).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${PUNCH_WAIT:-20}
MB=${TRANSFER_MB:-5}
HOSTS=(open1 open2 fc1 fc2 rc1 rc2 prc1 prc1b prc2 sym1 sym2)

lab_build open1 open2 fc1 fc2 rc1 rc2 prc1 prc2 sym1 sym2
lab_pki "${HOSTS[@]}"
rv_start || { fail "matrix: vpnpeer-rendezvous did not start"; finish; }

declare -A CELL=()
PAIR_NO=0

# run_pair LABEL H1 H2 WANT [LAN]: one cell; WANT is ok|fail; LAN=1: expect LAN endpoints
run_pair() {
  local label=$1 h1=$2 h2=$3 want=$4 lan=${5:-0}
  local c1 c2 t0 why="" e1 e2 want1 want2
  PAIR_NO=$((PAIR_NO + 1))
  PEER_PORT=$((51820 + PAIR_NO))
  c1=$(peer_cfg "$h1") c2=$(peer_cfg "$h2")
  t0=$SECONDS
  pair_start "$h1" "$h2"
  if [[ $want == ok ]]; then
    if ! wait_until "$WAIT" eval "direct_up $c1 $h2 && direct_up $c2 $h1"; then
      why="not established+direct-udp within ${WAIT}s: $h1 sees [$(peer_summary "$c1" "$h2")]; $h2 sees [$(peer_summary "$c2" "$h1")]"
    else
      local secs=$((SECONDS - t0))
      if ((lan)); then want1=$(host_ip "$h2") want2=$(host_ip "$h1"); else
        want1=$(mapped_ip "$h2") want2=$(mapped_ip "$h1"); fi
      e1=$(peer_field "$c1" "$h2" endpoint || true)
      e2=$(peer_field "$c2" "$h1" endpoint || true)
      if [[ $e1 != "$want1:"* || $e2 != "$want2:"* ]]; then
        why="endpoints $h1->$e1 $h2->$e2, wanted $want1:* and $want2:*"
      elif ! wait_until 5 can_ping "$h1" "${OVERLAY[$h2]}"; then
        why="no ping $h1 -> ${OVERLAY[$h2]} through the tunnel"
      elif ! can_ping "$h2" "${OVERLAY[$h1]}"; then
        why="no ping $h2 -> ${OVERLAY[$h1]} through the tunnel"
      elif ! transfer_ok "$h1" "$h2" "${OVERLAY[$h2]}" "$MB"; then
        why="$MB MB over TCP $h1 -> $h2 through the tunnel failed or arrived changed"
      else
        CELL[$label]=ok
        pass "$label ($h1, $h2): direct-udp in ${secs}s ($e1 / $e2), ping both ways, $MB MB sha256 ok"
      fi
      # What status says must match the path that works (separate from the cell: connectivity).
      check "$label: $h1's status: candidate $e1 succeeded, rendezvous registered, reflexive $(mapped_ip "$h1")" \
        "$(status_extract "$c1" "$h2")" status_consistent "$c1" "$h2" "$e1" "$(mapped_ip "$h1")"
      check "$label: $h2's status: candidate $e2 succeeded, rendezvous registered, reflexive $(mapped_ip "$h2")" \
        "$(status_extract "$c2" "$h1")" status_consistent "$c2" "$h1" "$e2" "$(mapped_ip "$h2")"
    fi
  else
    if ! wait_until "$WAIT" eval "punch_failed $c1 $h2 && punch_failed $c2 $h1"; then
      why="not reported unreachable/\"no direct path\" within ${WAIT}s: $h1 sees [$(peer_summary "$c1" "$h2")]; $h2 sees [$(peer_summary "$c2" "$h1")]"
    elif can_ping "$h1" "${OVERLAY[$h2]}"; then
      why="reported unreachable, yet ping through the tunnel works"
    else
      CELL[$label]=expected-fail
      pass "$label ($h1, $h2): unreachable, last_error \"$(peer_field "$c1" "$h2" last_error)\""
    fi
  fi
  if [[ -n $why ]]; then
    CELL[$label]=FAIL
    fail "$label ($h1, $h2): $why"
    log "$h1 log:"; show_log "$(peer_log "$h1")" 12
    log "$h2 log:"; show_log "$(peer_log "$h2")" 12
  fi
  pair_stop "$h1" "$h2"
  # Peers must not have taken the rendezvous down with them.
  kill -0 "$RV_PID" 2>/dev/null || { fail "$label: vpnpeer-rendezvous exited"; show_log "$RV_LOG"; rv_start || true; }
}

for ((i = 0; i < ${#MATRIX_KINDS[@]}; i++)); do
  for ((j = i; j < ${#MATRIX_KINDS[@]}; j++)); do
    k1=${MATRIX_KINDS[i]} k2=${MATRIX_KINDS[j]}
    read -r h1 h2 <<<"$(pair_hosts "$k1" "$k2")"
    run_pair "$k1,$k2" "$h1" "$h2" "$(pair_expect "$k1" "$k2")"
  done
done
run_pair same-nat prc1 prc1b ok 1

check "every peer exited on SIGTERM within 5 s" "needed SIGKILL: ${PEER_STOP_FORCED[*]}" \
  test "${#PEER_STOP_FORCED[@]}" -eq 0
matrix_print "vpnpeer punch matrix (ok / expected-fail / FAIL):" CELL
echo "$PASSED passed, $FAILED failed"
finish
