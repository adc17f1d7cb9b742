#!/usr/bin/env bash
# bench/worker_gain.sh: what a second worker thread is worth to the sending end, measured where
# the rest of the tunnel does not compete for the cores (issue 11: "with one end pinned to one
# core, the gain from a second worker thread shown").
#
# bench.sh measures the whole tunnel: on 2 cores, iperf3, both vpnpeer ends and the kernel keep
# both cores busy, so a second thread per end has nothing to run on. Here only alice's sending
# half is under test, and her end (vpnpeer's loop thread and the program that sends through the
# tunnel) is pinned to core 0, so core 1 is free for a worker thread:
#
#   ns a                                                ns b
#   udp_gso_send (core 0) -> vpn0 (tun-uso: 64 KiB)     nft: data packets dropped in prerouting
#   alice (loop thread core 0): read, cut, seal,        (bob, pinned to core 1, keeps the
#     UDP GSO send  -------------- veth --------------> session: keepalives and probes pass)
#
# The load is UDP in 64 KiB GSO sends, 8 per sendmmsg, at a fixed offered rate (OFFER_GBPS, more
# than alice can carry), so it costs little and wakes up rarely. Bob's data packets are dropped
# before any socket (nft, by vpnpeer's data packet type), so the receiving half costs nearly
# nothing. Configurations (CONFIGS), ROUNDS times in turn:
#   1w-core0     workers = 1, alice pinned to core 0    (the sending end on one core)
#   1w-cores01   workers = 1, alice on cores 0-1        (control: the extra core, no worker)
#   2w-cores01   workers = 2, alice on cores 0-1        (the scheduler places both threads)
#   2w-lane1     workers = 2, loop thread on core 0, worker thread (vpn-lane-1) on core 1
# Throughput is alice's inner bytes sent to bob (status tx_bytes) over the run, in Gbit/s; CPU is
# alice's utime+stime per GB. Output: a table on stdout and bench/results/worker-gain-<UTC>.json.
#
#   ROUNDS=3 SECS=10 OFFER_GBPS=20 GEN_CPUS=0 bench/worker_gain.sh     (root; 2 cores or more)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export REPO_ROOT
export NS_PREFIX=vpw-$$-
# shellcheck source=../tests/netns/lib.sh
source "$REPO_ROOT/tests/netns/lib.sh"
require_root
require_vpnpeer

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
OFFER_GBPS=${OFFER_GBPS:-20}
GEN_CPUS=${GEN_CPUS:-0}
CONFIGS=${CONFIGS:-1w-core0 1w-cores01 2w-cores01 2w-lane1}
GEN=${UDP_GSO_SEND:-$REPO_ROOT/build/release/bench/tools/udp_gso_send}
[[ -x $GEN ]] || die "udp_gso_send not found at $GEN (cmake --build build/release --target udp_gso_send)"
(($(nproc) >= 2)) || die "needs 2 cores or more"
for bin in nft taskset python3; do command -v "$bin" >/dev/null || die "$bin missing"; done
A_ETH=10.99.0.1
B_ETH=10.99.0.2
RAW=$WORK/raw
mkdir -p "$RAW" "$BENCH_DIR/results"
# shellcheck source=tools/common.sh
source "$BENCH_DIR/tools/common.sh"
# shellcheck source=tools/vpnpeer.sh
source "$BENCH_DIR/tools/vpnpeer.sh"

ns_create a
ns_create b
veth_connect a eth0 "$A_ETH/24" b eth0 "$B_ETH/24" 1500
# Data packets (type 0x50 or 0x51: the top 7 bits are 0x28) to bob's port are dropped before
# routing; keepalives (0x52), path MTU probes (padded keepalives) and handshakes pass.
nsx b nft -f - <<'EOF'
table inet sink {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    udp dport 51820 @th,64,7 0x28 counter drop
  }
}
EOF

# run NAME WORKERS ALICE_CPUS LANE_CPUS ROUND -> appends one JSON line to $RAW/runs.jsonl
#   (LANE_CPUS empty: the worker threads stay where ALICE_CPUS put them)
run() {
  local name=$1 workers=$2 cpus=$3 lane_cpus=$4 d="$RAW/$1-$5" t0 t1 tx0 tx1 gen_out
  mkdir -p "$d"
  VPNPEER_WORKERS=$workers VPNPEER_PIN_A=$cpus VPNPEER_PIN_B=1 vpnpeer_up "$d" ||
    die "vpnpeer did not start: ${SKIP_REASON:-}"
  # A ping is data too and is dropped at bob: wait for the session instead.
  wait_until 30 peer_established "$d/alice.toml" bob || {
    show_log "$d/alice.log" 10
    die "$name: no session within 30 s"
  }
  if [[ -n $lane_cpus ]]; then  # the worker threads (named vpn-lane-N) on their own CPUs
    local t
    for t in /proc/"${PIDS_A[0]}"/task/*; do
      if [[ $(cat "$t/comm" 2>/dev/null) == vpn-lane-* ]]; then
        taskset -cp "$lane_cpus" "${t##*/}" >/dev/null
      fi
    done
  fi
  tx0=$(json_get "$d/alice.toml" "peer('bob').get('tx_bytes', 0)")
  t0=$(cpu_ticks "${PIDS_A[@]}")
  gen_out=$(nsx a taskset -c "$GEN_CPUS" timeout $((SECS + 10)) "$GEN" --dest 10.42.0.2:9 --seconds "$SECS" \
    --gbps "$OFFER_GBPS") || die "$name: udp_gso_send failed"
  t1=$(cpu_ticks "${PIDS_A[@]}")
  tx1=$(json_get "$d/alice.toml" "peer('bob').get('tx_bytes', 0)")
  status_json "$d/alice.toml" >"$d/alice-status.json" || true
  python3 - "$name" "$workers" "$cpus" "$tx0" "$tx1" "$((t1 - t0))" "$CLK_TCK" "$SECS" "$gen_out" \
    "$d/alice-status.json" >>"$RAW/runs.jsonl" <<'EOF'
import json, sys
name, workers, cpus, tx0, tx1, ticks, hz, secs, gen, status = sys.argv[1:]
g = dict(kv.split("=") for kv in gen.split())
try:
    s = json.load(open(status))
except (OSError, ValueError):
    s = {}
off, wk = s.get("offloads", {}), s.get("workers", {})
gbits = (int(tx1) - int(tx0)) * 8 / float(g["seconds"]) / 1e9
cpu = int(ticks) / int(hz)
print(json.dumps({
    "config": name, "workers": int(workers), "alice_cpus": cpus,
    "inner_gbit_s": round(gbits, 3),
    "alice_cpu_s": round(cpu, 2),
    "alice_cpu_s_per_gb": round(cpu / max((int(tx1) - int(tx0)) / 1e9, 1e-9), 3),
    "offered_gbit_s": round(int(g["bytes"]) * 8 / float(g["seconds"]) / 1e9, 3),
    "generator_cpu_s": float(g["cpu_seconds"]),
    "uso_reads": off.get("uso_reads"), "gso_sends": off.get("gso_sends"),
    "threads": wk.get("threads"), "parallel_batches": wk.get("parallel_batches"),
}))
EOF
  tail -n 1 "$RAW/runs.jsonl" | sed 's/^/  /'
  stop_pids "${PIDS_A[@]}" "${PIDS_B[@]}"
}

cut -d' ' -f1 /proc/loadavg >"$RAW/loadavg_start"
for ((r = 1; r <= ROUNDS; r++)); do
  printf '\n=== round %d of %d\n' "$r" "$ROUNDS"
  for c in $CONFIGS; do
    case $c in
      1w-core0) run "$c" 1 0 "" "$r" ;;
      1w-cores01) run "$c" 1 0,1 "" "$r" ;;
      2w-cores01) run "$c" 2 0,1 "" "$r" ;;
      2w-lane1) run "$c" 2 0 1 "$r" ;;
      *) die "unknown configuration $c" ;;
    esac
  done
done
cut -d' ' -f1 /proc/loadavg >"$RAW/loadavg_end"

result=$BENCH_DIR/results/worker-gain-$(date -u +%Y%m%dT%H%M%SZ).json
python3 - "$RAW" "$result" "$CONFIGS" <<'EOF'
import json, statistics, sys
raw, out, configs = sys.argv[1:]
configs = configs.split()
runs = [json.loads(l) for l in open(f"{raw}/runs.jsonl")]
load = [open(f"{raw}/loadavg_{k}").read().strip() for k in ("start", "end")]
med = {}
print(f"\nalice's sending half, inner Gbit/s (load average {load[0]} -> {load[1]})")
print(f"{'config':<12} {'runs':<28} {'median':>7} {'cpu s/GB':>9}")
for c in configs:
    rs = [r for r in runs if r["config"] == c]
    g = [r["inner_gbit_s"] for r in rs]
    med[c] = statistics.median(g)
    cpu = statistics.median(r["alice_cpu_s_per_gb"] for r in rs)
    print(f"{c:<12} {' '.join(f'{x:.2f}' for x in g):<28} {med[c]:>7.2f} {cpu:>9.3f}")
base = med[configs[0]]
ratios = {c: round(med[c] / base, 3) if base else None for c in configs}
print(f"ratios to {configs[0]}: " + ", ".join(f"{c} {ratios[c]}x" for c in configs[1:]))
json.dump({"runs": runs, "median_gbit_s": med, "ratio_to_first": ratios, "loadavg": load},
          open(out, "w"), indent=1)
EOF
echo "results: $result"
