#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and tables are read by lab.sh functions
# bench/handover.sh: the roaming handover gap of vpnpeer (docs/paths.md, rule 7).
#
# prc1 (behind a port-restricted NAT) and fc1 (full cone) on direct-udp, in the NAT lab of
# tests/netns/nat/lab.sh. Two timestamped UDP echo flows run through the tunnel, one datagram
# every ECHO_MS (10) ms each way: prc1 -> fc1 (the mover's own traffic) and fc1 -> prc1 (traffic
# toward the mover, which needs the mover to announce itself first). A run moves prc1's host to
# the other site (lab_move_host, alternately to prc2's LAN and back home: a new LAN address,
# router and public address, rtnetlink events in its namespace) and measures, for each flow, the
# time from the move to the first answer to a datagram sent after it. The handover gap of the run
# is the later of the two: from the move until traffic flows both ways again. RUNS (10) runs;
# prints every run and the medians; writes bench/results/handover-<UTC>.json.
#
#   sudo bench/handover.sh            # RUNS=10 ECHO_MS=10
# Target: median under 500 ms.
set -euo pipefail
REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../tests/netns/nat/lab.sh
source "$REPO_ROOT/tests/netns/nat/lab.sh"
require_root
require_vpnpeer
require_rendezvous

RUNS=${RUNS:-10}
ECHO_MS=${ECHO_MS:-10}
RUN_LIMIT=${RUN_LIMIT:-8}   # seconds after the move before a run counts as failed
A=prc1 B=fc1
lab_build prc1 prc2 fc1
lab_pki $A $B
rv_start || die "vpnpeer-rendezvous did not start"
lab_roam_link $A prc2
pair_start $A $B
wait_until 30 both_on $A $B direct-udp || die "$A x $B not on direct-udp: $(pair_paths $A $B)"
sleep 3  # the standby relay (rule 3) is bound in steady state
for h in $A $B; do
  nsbg "$h" python3 -u "$NAT_DIR/echo_probe.py" server "${OVERLAY[$h]}" 7000 >"$WORK/echo-server.$h" 2>&1
  wait_until 5 grep -q ready "$WORK/echo-server.$h" || die "echo server in $h did not start"
done

rows=()
for ((run = 1; run <= RUNS; run++)); do
  if ((run % 2)); then to=prc2; else to=home; fi
  for h in $A $B; do
    other=$B
    [[ $h == "$B" ]] && other=$A
    rm -f "$WORK/echo.$run.$h"
    nsbg "$h" timeout $((RUN_LIMIT + 10)) python3 -u "$NAT_DIR/echo_probe.py" client "${OVERLAY[$other]}" 7000 \
      "$ECHO_MS" $((RUN_LIMIT + 2)) "$WORK/echo.$run.$h" >/dev/null 2>&1
  done
  sleep 1
  t=$(date +%s.%N)
  lab_move_host $A $to
  sleep "$RUN_LIMIT"
  sleep 1.5   # the clients end by themselves
  read -r out _ <<<"$(python3 "$NAT_DIR/echo_probe.py" gap "$WORK/echo.$run.$A" "$t")"
  read -r in _ <<<"$(python3 "$NAT_DIR/echo_probe.py" gap "$WORK/echo.$run.$B" "$t")"
  path=$(peer_field "$(peer_cfg $B)" $A path || true)
  ep=$(peer_field "$(peer_cfg $B)" $A endpoint || true)
  echo "run $run: prc1 -> $to: mover->peer ${out} ms, peer->mover ${in} ms (fc1 sends to $ep, $path)"
  rows+=("$run $to $out $in $path")
  sleep 2
done

res=$REPO_ROOT/bench/results/handover-$(date -u +%Y%m%dT%H%M%SZ).json
printf '%s\n' "${rows[@]}" >"$WORK/rows"
python3 - "$res" "$ECHO_MS" "$WORK/rows" <<'EOF'
import json, statistics, sys
out, echo_ms = sys.argv[1], int(sys.argv[2])
runs = []
for line in open(sys.argv[3]):
    r, to, a, b, path = (line.split() + [""])[:5]
    a, b = int(a), int(b)
    both = max(a, b) if a >= 0 and b >= 0 else -1
    runs.append({"run": int(r), "to": to, "mover_to_peer_ms": a, "peer_to_mover_ms": b,
                 "handover_ms": both, "path_after": path})
ok = [x for x in runs if x["handover_ms"] >= 0]
def med(k):
    v = [x[k] for x in ok]
    return statistics.median(v) if v else None
res = {"bench": "handover", "pair": "port-restricted (moving) x full cone", "echo_ms": echo_ms,
       "runs": runs, "target_ms": 500}
print(f"\n{'handover gap (ms), median of ' + str(len(ok)) + '/' + str(len(runs)):40s} {'median':>8s} {'min':>6s} {'max':>6s}")
for k, name in (("mover_to_peer_ms", "mover -> peer"), ("peer_to_mover_ms", "peer -> mover"),
                ("handover_ms", "both ways again (the gap)")):
    v = [x[k] for x in ok]
    if v:
        res[k.replace("_ms", "") + "_median_ms"] = statistics.median(v)
        print(f"{name:40s} {statistics.median(v):>8.0f} {min(v):>6d} {max(v):>6d}")
json.dump(res, open(out, "w"), indent=1)
m = med("handover_ms")
print(f"target < 500 ms: {'met' if m is not None and m < 500 else 'NOT met'}; results in {out}")
sys.exit(0 if len(ok) == len(runs) else 1)
EOF
