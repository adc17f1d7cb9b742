#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Port prediction in lockstep ([nat] port_prediction, docs/paths.md rule 14) between two
# symmetric NATs that allocate ports in sequence (seq1, seq2: nftables snat to
# WAN:numgen inc, a new port for every destination, each the next one).
# 1. netcheck behind seq1 finds the NAT symmetric and its step (port_stride 1).
# 2. Without prediction the pair ends relayed, and says what could help.
# 3. With it, LOCK_TRIALS times on a fresh port (fresh NAT state), both peers are started
#    together and should end on direct-udp within LOCK_WAIT: each reads its NAT's next port
#    before its lookup, and both probe the other NAT's next ports in step. Shown per trial: the
#    time to direct-udp and what each side probed.
# 4. On the last pair: ping and a checksummed transfer over the predicted path.
# Env: LOCK_TRIALS (3), LOCK_WAIT (s, 30), LOCK_MB (20).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

TRIALS=${LOCK_TRIALS:-3}
WAIT=${LOCK_WAIT:-30}
MB=${LOCK_MB:-20}
lab_build seq1 seq2
lab_pki seq1 seq2
rv_start || { fail "lockstep: vpnpeer-rendezvous did not start"; finish; }

out=$WORK/netcheck.seq1.json
nsx seq1 timeout 30 "$VPNPEER" netcheck --server "$PUB_IP:$RV_PORT" --json >"$out" 2>"$out.err" ||
  true
got=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["nat_type"], r["port_stride"])' "$out" 2>&1 || true)
check "netcheck seq1: symmetric, ports in sequence with step 1" "got: $got" test "$got" = "symmetric 1"

PORT_MAPPING=([seq1]=false [seq2]=false)       # no router here maps; do not wait for one
LEARN_KEEPALIVE=([seq1]=false [seq2]=false)    # its test sockets would take ports meanwhile
prediction() { peer_field "$(peer_cfg "$1")" "$2" prediction; }
stride() { json_get "$(peer_cfg "$1")" "s.get('nat_port_stride')"; }

# 2. Relayed without prediction.
PEER_PORT=51800
pair_start seq1 seq2
if wait_until "$WAIT" both_on seq1 seq2 relay-udp; then
  sleep 12  # the punch lasts 10 s: nothing direct may come of it
  check "without prediction: relayed" "$(pair_paths seq1 seq2)" both_on seq1 seq2 relay-udp
  reason=$(peer_field "$(peer_cfg seq1)" seq2 path_reason)
  check "the reason names port prediction: $reason" "$reason" grep -q "port_prediction = true" <<<"$reason"
else
  fail "without prediction: not relayed within ${WAIT}s: $(pair_paths seq1 seq2)"
  show_pair_logs seq1 seq2
fi
pair_stop seq1 seq2

# 3. Lockstep.
PORT_PREDICTION=([seq1]=true [seq2]=true)
times=()
direct=0
for ((i = 1; i <= TRIALS; i++)); do
  PEER_PORT=$((51900 + i))
  t0=$SECONDS
  pair_start seq1 seq2
  if wait_until "$WAIT" both_on seq1 seq2 direct-udp; then
    direct=$((direct + 1))
    times+=($((SECONDS - t0)))
    pass "trial $i: direct-udp both ways in $((SECONDS - t0)) s; seq1: $(prediction seq1 seq2); seq2: $(prediction seq2 seq1)"
  else
    fail "trial $i: not direct within ${WAIT}s: $(pair_paths seq1 seq2); seq1: $(prediction seq1 seq2); seq2: $(prediction seq2 seq1)"
    show_pair_logs seq1 seq2
  fi
  ((i == TRIALS)) || pair_stop seq1 seq2
done
echo "lockstep: $direct of $TRIALS trials direct; seconds to direct-udp: ${times[*]:-none}"
check "direct in every trial ($direct of $TRIALS)" "$direct of $TRIALS" test "$direct" -eq "$TRIALS"

# 4. The last pair.
if both_on seq1 seq2 direct-udp; then
  check "seq1 sends to seq2's public address" "$(pair_paths seq1 seq2)" \
    test "$(peer_field "$(peer_cfg seq1)" seq2 endpoint | cut -d: -f1)" = 198.51.100.92
  check "status: seq1's NAT allocates with step 1 ($(stride seq1))" "$(stride seq1)" test "$(stride seq1)" = 1
  check "status: lockstep ($(prediction seq1 seq2))" "$(prediction seq1 seq2)" \
    grep -q "^lockstep: " <<<"$(prediction seq1 seq2)"
  check "ping seq1 -> seq2" "no reply" wait_until 5 can_ping seq1 "${OVERLAY[seq2]}"
  check "ping seq2 -> seq1" "no reply" can_ping seq2 "${OVERLAY[seq1]}" 3
  check_transfer seq2 seq1 "$MB" "over the lockstep path"
  check "still direct-udp" "$(pair_paths seq1 seq2)" both_on seq1 seq2 direct-udp
else
  fail "the last pair is not direct: $(pair_paths seq1 seq2)"
fi
pair_stop seq1 seq2
echo "$PASSED passed, $FAILED failed"
finish
