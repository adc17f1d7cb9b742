#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and tables are read by lab.sh functions
# bench/fallback_time.sh: how long two peers behind symmetric NATs take to talk over the relay.
#
# sym1 and sym2 (symmetric NATs, no direct path possible) in the NAT lab of
# tests/netns/nat/lab.sh, a vpnpeer-rendezvous with relaying on pub. One run: an ICMP pinger in
# sym1's namespace sends an echo to sym2's overlay address every 10 ms; once it runs, both
# `vpnpeer up` start at t0 (rendezvous already up); the first echo reply ends the run. Fallback
# time = first reply - t0: start-up, registration, lookup, punching that cannot work,
# relay_after (2 s by default), the relay channel, the handshake over it and one ping round trip.
# A run counts only if the pair is then on relay-udp. RUNS runs (fresh UDP port each); prints
# every run and the median, min and max; writes bench/results/fallback-<UTC>.json.
#
#   sudo bench/fallback_time.sh                  # RUNS=10, no added delay
#   DELAY_MS=20 sudo bench/fallback_time.sh      # every internet access link adds DELAY_MS/2 each
#                                                # way (nfq_delay, as bench/setup_time.sh does)
#   RUNS=20 RELAY_AFTER=1 sudo bench/fallback_time.sh
# Target: median under 3 s.
set -euo pipefail
REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../tests/netns/nat/lab.sh
source "$REPO_ROOT/tests/netns/nat/lab.sh"
require_root
require_vpnpeer
require_rendezvous

RUNS=${RUNS:-10}
RUN_LIMIT=${RUN_LIMIT:-15}   # seconds before a run counts as failed
DELAY_MS=${DELAY_MS:-0}
A=sym1 B=sym2
lab_build $A $B
lab_pki $A $B
rv_start || die "vpnpeer-rendezvous did not start"

if ((DELAY_MS > 0)); then
  # The same delay as bench/setup_time.sh: nfq_delay (NFQUEUE, user space) in each router and in
  # pub for packets crossing their "wan", so any two endpoints are DELAY_MS apart one way.
  NFQ_DELAY=${NFQ_DELAY:-$REPO_ROOT/build/release/bench/tools/nfq_delay}
  if [[ ! -x $NFQ_DELAY ]]; then
    NFQ_DELAY=$WORK/nfq_delay
    g++ -std=c++20 -O2 -o "$NFQ_DELAY" "$REPO_ROOT/bench/tools/nfq_delay.cpp" -lnetfilter_queue -lnfnetlink ||
      die "cannot build nfq_delay (apt-get install libnetfilter-queue-dev)"
  fi
  need_tool iptables-nft iptables
  delay_ns() {
    local n=$1 rule
    shift
    nsbg "$n" "$NFQ_DELAY" --queue 0 --delay-ms $((DELAY_MS / 2)) 2>>"$WORK/nfq_delay.$n.log"
    for rule in "$@"; do
      # shellcheck disable=SC2086  # a rule is several words on purpose
      nsx "$n" iptables-nft -A $rule -j NFQUEUE --queue-num 0
    done
  }
  delay_ns "r-$A" "FORWARD -o wan" "FORWARD -i wan"
  delay_ns "r-$B" "FORWARD -o wan" "FORWARD -i wan"
  delay_ns pub "OUTPUT -o wan" "INPUT -i wan"
  sleep 0.3
fi

times=()
runs_json=()
for ((run = 1; run <= RUNS; run++)); do
  PEER_PORT=$((52100 + run))
  peer_write $A $B
  peer_write $B $A
  nsbg $A timeout $((RUN_LIMIT + 5)) python3 "$NAT_DIR/first_ping.py" "${OVERLAY[$B]}" "$RUN_LIMIT" \
    >"$WORK/first.$run" 2>&1
  pinger=$LAST_PID
  wait_until 10 grep -q ready "$WORK/first.$run" || die "pinger did not start"
  t0=$(date +%s.%N)
  peer_start $A $A
  peer_start $B $B
  wait "$pinger" || true
  first=$(tail -n 1 "$WORK/first.$run")
  if [[ $first == timeout || -z $first ]]; then
    echo "run $run: no ping reply within ${RUN_LIMIT}s: $(pair_paths $A $B)"
    runs_json+=("{\"run\": $run, \"ms\": null}")
  else
    path=$(peer_field "$(peer_cfg $A)" $B path || true)
    ms=$(python3 -c "print(round(($first - $t0) * 1000))")
    echo "run $run: ${ms} ms (path ${path:-?})"
    runs_json+=("{\"run\": $run, \"ms\": $ms, \"path\": \"${path:-}\"}")
    [[ $path == relay-udp ]] && times+=("$ms")
  fi
  pair_stop $A $B
done

mkdir -p "$REPO_ROOT/bench/results"
out=$REPO_ROOT/bench/results/fallback-$(date -u +%Y%m%dT%H%M%SZ).json
python3 - "$RUNS" "$out" "$(IFS=,; echo "${runs_json[*]}")" "${RELAY_AFTER:-2}" "$DELAY_MS" "${times[@]}" <<'EOF'
import json, statistics, sys
runs, out, rows, relay_after, delay = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
t = [int(x) for x in sys.argv[6:]]
res = {"bench": "fallback_time", "pair": "symmetric x symmetric", "relay_after_s": float(relay_after),
       "delay_ms_one_way": delay,
       "runs": json.loads(f"[{rows}]"), "target_ms": 3000}
if t:
    res.update(median_ms=statistics.median(t), min_ms=min(t), max_ms=max(t), ok_runs=len(t))
json.dump(res, open(out, "w"), indent=1)
print(f"\n{'fallback time, symmetric x symmetric':40s} {'runs':>6s} {'median':>8s} {'min':>7s} {'max':>7s}")
if not t:
    print(f"{'start -> first ping over relay-udp':40s} {0:>3d}/{runs:<2d} {'-':>8s}")
    print(f"no run reached relay-udp; results in {out}"); sys.exit(1)
med = statistics.median(t)
print(f"{'start -> first ping over relay-udp':40s} {len(t):>3d}/{runs:<2d} {med:>6.0f}ms {min(t):>5d}ms {max(t):>5d}ms")
print(f"target < 3000 ms: {'met' if med < 3000 else 'NOT met'} (relay_after {relay_after} s, "
      f"{delay} ms one-way delay); results in {out}")
sys.exit(0 if len(t) == runs else 1)
EOF
