#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Port prediction ([nat] port_prediction, docs/paths.md rule 14) between a port-restricted cone
# NAT (prc1: masquerade) and a symmetric NAT that picks a random port for every destination
# (sym1: nftables snat fully-random over 40,000 ports). Without it the pair is relayed (nat/40).
# PRED_TRIALS times, each with a fresh port (so fresh NAT state), both peers are started
# together and should end on direct-udp within PRED_WAIT: sym1 on one of its prediction sockets,
# prc1 sending to one of sym1's random public ports. Shown per trial: the time to direct-udp, how many ports prc1
# sprayed. Then, on the last pair: ping and a checksummed transfer over the predicted path, and
# sym1 closing its unused prediction sockets once the punch is over.
# Env: PRED_TRIALS (3), PRED_WAIT (s, 30), PRED_MB (20).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

TRIALS=${PRED_TRIALS:-3}
WAIT=${PRED_WAIT:-30}
MB=${PRED_MB:-20}
lab_build prc1 sym1
lab_pki prc1 sym1
rv_start || { fail "port prediction: vpnpeer-rendezvous did not start"; finish; }

PORT_PREDICTION=([prc1]=true [sym1]=true)
PORT_MAPPING=([prc1]=false [sym1]=false)  # no router here maps; do not wait for one
LEARN_KEEPALIVE=([prc1]=false [sym1]=false)  # its test sockets would blur the socket count
prediction() { peer_field "$(peer_cfg "$1")" "$2" prediction; }
# udp_sockets NS: UDP sockets open in the namespace
udp_sockets() { nsx "$1" ss -Huan | wc -l; }

times=()
direct=0
for ((i = 1; i <= TRIALS; i++)); do
  PEER_PORT=$((51900 + i))
  t0=$SECONDS
  pair_start prc1 sym1
  if wait_until "$WAIT" both_on prc1 sym1 direct-udp; then
    direct=$((direct + 1))
    times+=($((SECONDS - t0)))
    pass "trial $i: direct-udp both ways in $((SECONDS - t0)) s; prc1: $(prediction prc1 sym1); sym1: $(prediction sym1 prc1)"
  else
    fail "trial $i: not direct within ${WAIT}s: $(pair_paths prc1 sym1); prc1: $(prediction prc1 sym1); sym1: $(prediction sym1 prc1)"
    show_pair_logs prc1 sym1
  fi
  ((i == TRIALS)) || pair_stop prc1 sym1
done
echo "port prediction: $direct of $TRIALS trials direct; seconds to direct-udp: ${times[*]:-none}"
# Now and then (1 trial in 18 here) a punch finds nothing although its whole budget went out:
# the expected hits are then about 8, so this is not chance, and the cause is not found yet
# (docs/paths.md rule 14). The next punch has always found a path. So one slow trial of three
# is allowed; two mean prediction is broken.
check "direct in at least $((TRIALS - 1)) of $TRIALS trials ($direct)" "$direct of $TRIALS" \
  test "$direct" -ge "$((TRIALS - 1))"

# The last pair for the checks below: a trial that missed gets one more punch.
if both_on prc1 sym1 direct-udp || wait_until 35 both_on prc1 sym1 direct-udp; then
  check "prc1 sends to one of sym1's public ports" "$(pair_paths prc1 sym1)" \
    test "$(peer_field "$(peer_cfg prc1)" sym1 endpoint | cut -d: -f1)" = 198.51.100.40
  check "ping prc1 -> sym1" "no reply" wait_until 5 can_ping prc1 "${OVERLAY[sym1]}"
  check "ping sym1 -> prc1" "no reply" can_ping sym1 "${OVERLAY[prc1]}" 3
  check_transfer sym1 prc1 "$MB" "over the predicted path"
  # The punch lasts 10 s: then only the tunnel's socket and the one prediction socket in use
  # stay open.
  if wait_until 20 test "$(udp_sockets sym1)" -le 2; then
    pass "sym1 closes its unused prediction sockets after the punch (2 UDP sockets left)"
  else
    fail "sym1 keeps $(udp_sockets sym1) UDP sockets open: $(nsx sym1 ss -Huanp | head -5)"
  fi
  check "status agrees: $(prediction sym1 prc1)" "$(prediction sym1 prc1)" \
    grep -q "opener: 1 prediction sockets open" <<<"$(prediction sym1 prc1)"
  check "still direct-udp" "$(pair_paths prc1 sym1)" both_on prc1 sym1 direct-udp
else
  fail "the last pair is not direct: $(pair_paths prc1 sym1)"
fi
pair_stop prc1 sym1
echo "$PASSED passed, $FAILED failed"
finish
