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
# 4. The same with seq1's NAT busy: its second host (seq1b) opens a new flow to pub every
#    1/LOCK_BUSY_RATE s throughout, so seq1's ports move on between the reading and the probes.
#    The client's probes shift along (one port every 4 probes), so this should still end direct.
# 5. On the last quiet pair: ping and a checksummed transfer over the predicted path.
# Env: LOCK_TRIALS (3), LOCK_WAIT (s, 30), LOCK_MB (20), LOCK_BUSY_TRIALS (3), LOCK_BUSY_RATE
# (new flows a second, 10).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

TRIALS=${LOCK_TRIALS:-3}
BUSY_TRIALS=${LOCK_BUSY_TRIALS:-3}
BUSY_RATE=${LOCK_BUSY_RATE:-10}
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

# trials LABEL COUNT PORT_BASE KEEP_LAST: COUNT pairs started together on fresh ports (fresh NAT
# state), each given WAIT s to reach direct-udp; the last one is left running if KEEP_LAST is 1.
# Sets DIRECT (how many did) and TIMES (their seconds).
trials() {
  local label=$1 count=$2 base=$3 keep_last=$4 i t0
  DIRECT=0
  TIMES=()
  for ((i = 1; i <= count; i++)); do
    PEER_PORT=$((base + i))
    t0=$SECONDS
    pair_start seq1 seq2
    if wait_until "$WAIT" both_on seq1 seq2 direct-udp; then
      DIRECT=$((DIRECT + 1))
      TIMES+=($((SECONDS - t0)))
      pass "${label}trial $i: direct-udp both ways in $((SECONDS - t0)) s; seq1: $(prediction seq1 seq2); seq2: $(prediction seq2 seq1)"
    else
      fail "${label}trial $i: not direct within ${WAIT}s: $(pair_paths seq1 seq2); seq1: $(prediction seq1 seq2); seq2: $(prediction seq2 seq1)"
      show_pair_logs seq1 seq2
    fi
    ((keep_last && i == count)) || pair_stop seq1 seq2
  done
}

# 3. Lockstep.
PORT_PREDICTION=([seq1]=true [seq2]=true)
trials "" "$TRIALS" 51900 1
direct=$DIRECT
times=("${TIMES[@]}")
echo "lockstep: $direct of $TRIALS trials direct; seconds to direct-udp: ${times[*]:-none}"
check "direct in every trial ($direct of $TRIALS)" "$direct of $TRIALS" test "$direct" -eq "$TRIALS"

# 5. The last quiet pair.
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

# 4. seq1's NAT busy with another host's new flows (bounded: BUSY_RATE a second for 120 s at
# most, to pub's discard port range, which nothing answers).
nsbg seq1b timeout 130 python3 -c '
import socket, sys, time
dst, rate = sys.argv[1], float(sys.argv[2])
for i in range(int(120 * rate)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"busy", (dst, 20000 + i % 20000))
    s.close()
    time.sleep(1 / rate)
' "$PUB_IP" "$BUSY_RATE"
busy_pid=$LAST_PID
trials "busy " "$BUSY_TRIALS" 51950 0
busy_direct=$DIRECT
busy_times=("${TIMES[@]}")
kill "$busy_pid" 2>/dev/null || true
echo "lockstep with seq1's NAT busy ($BUSY_RATE new flows a second): $busy_direct of $BUSY_TRIALS trials direct; seconds to direct-udp: ${busy_times[*]:-none}"
check "busy NAT: direct in every trial ($busy_direct of $BUSY_TRIALS)" "$busy_direct of $BUSY_TRIALS" \
  test "$busy_direct" -eq "$BUSY_TRIALS"
echo "$PASSED passed, $FAILED failed"
finish
