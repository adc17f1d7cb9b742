#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and tables are read by lab.sh functions
# bench/relay_throughput.sh: vpnpeer TCP throughput through the relay, as a ratio to direct.
#
# fc1 and fc2 (full cone NATs) in the NAT lab of tests/netns/nat/lab.sh, a vpnpeer-rendezvous on
# pub. The same two hosts, peers restarted on a fresh port for each path:
#   direct-udp  nothing in the way;
#   relay-udp   UDP between the two public addresses dropped (lab_drop_path): the pair is
#               relayed by the rendezvous over UDP;
#   relay-tcp   all UDP from both public addresses dropped at the internet bridge: both reach the
#               rendezvous over TCP (tls = LAB_TLS, true by default) and are relayed over it.
# Each: iperf3 TCP, 1 stream, BENCH_SECS (10) s, fc1 -> fc2 overlay addresses. The rendezvous's
# per-peer relay rate limit is raised to RV_RELAY_RATE (1e9 bytes/s) so that the figure is the
# relay's capacity, not the configured limit (12.5 MB/s by default). Everything (two peers, the
# rendezvous, iperf3) shares the machine's cores: compare the ratios, from one run.
# Prints a table and writes bench/results/relay-throughput-<UTC>.json.
#
#   sudo bench/relay_throughput.sh
#   BENCH_SECS=5 LAB_TLS=false sudo bench/relay_throughput.sh
set -euo pipefail
REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../tests/netns/nat/lab.sh
source "$REPO_ROOT/tests/netns/nat/lab.sh"
require_root
require_vpnpeer
require_rendezvous
need_tool iperf3 iperf3

SECS=${BENCH_SECS:-10}
RV_RELAY_RATE=${RV_RELAY_RATE:-1000000000}
RV_RELAY_BURST=${RV_RELAY_BURST:-16000000}
A=fc1 B=fc2
lab_build $A $B
lab_pki $A $B
rv_start || die "vpnpeer-rendezvous did not start"

# block_udp_to_all ON|OFF: all UDP from both hosts' public addresses dropped on the bridge
block_udp() {
  if [[ $1 == on ]]; then
    nsx inet nft -f - <<EOF
table bridge lab_block_udp {
 chain forward_lab { type filter hook forward priority filter; policy accept;
  ip saddr { $(mapped_ip $A), $(mapped_ip $B) } meta l4proto udp drop
 }
}
EOF
  else
    nsx inet nft delete table bridge lab_block_udp
  fi
}

declare -A MBPS=() CPU=()
n=0
for path in direct-udp relay-udp relay-tcp; do
  n=$((n + 1))
  PEER_PORT=$((52200 + n))
  case $path in
    relay-udp) lab_drop_path $A $B ;;
    relay-tcp) block_udp on ;;
  esac
  pair_start $A $B
  if ! wait_until 40 both_on $A $B "$path"; then
    echo "$path: the pair did not settle on $path: $(pair_paths $A $B)"
    MBPS[$path]=0
  else
    # The server binds to the overlay address, which exists once the tunnel is up; one test each.
    nsbg $B timeout $((SECS + 40)) iperf3 -s -1 -B "${OVERLAY[$B]}" -p 5201 >"$WORK/iperf3-server.$path.log" 2>&1
    sleep 2
    if nsx $A timeout $((SECS + 20)) iperf3 -c "${OVERLAY[$B]}" -B "${OVERLAY[$A]}" -p 5201 -t "$SECS" -J \
      >"$WORK/iperf3.$path.json" 2>&1; then
      MBPS[$path]=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["end"]["sum_received"]["bits_per_second"]/1e6, 1))' "$WORK/iperf3.$path.json")
    else
      echo "$path: iperf3 failed: $(tail -c 300 "$WORK/iperf3.$path.json")"
      MBPS[$path]=0
    fi
    got=$(peer_field "$(peer_cfg $A)" $B path || true)
    [[ $got == "$path" ]] || echo "$path: note: the pair was on $got at the end of the run"
  fi
  pair_stop $A $B
  case $path in
    relay-udp) lab_undrop_path $A $B ;;
    relay-tcp) block_udp off ;;
  esac
done

mkdir -p "$REPO_ROOT/bench/results"
res=$REPO_ROOT/bench/results/relay-throughput-$(date -u +%Y%m%dT%H%M%SZ).json
python3 - "$res" "$SECS" "$LAB_TLS" "${MBPS[direct-udp]}" "${MBPS[relay-udp]}" "${MBPS[relay-tcp]}" <<'EOF'
import json, sys
out, secs, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d, ru, rt = (float(x) for x in sys.argv[4:7])
res = {"bench": "relay_throughput", "tool": "iperf3 TCP 1 stream", "secs": secs, "relay_tcp_tls": tls == "true",
       "mbit_s": {"direct-udp": d, "relay-udp": ru, "relay-tcp": rt}}
print(f"\n{'path (iperf3 TCP, 1 stream, ' + str(secs) + ' s)':36s} {'Mbit/s':>9s} {'ratio to direct':>16s}")
for name, v in (("direct-udp", d), ("relay-udp", ru), ("relay-tcp" + (" (TLS)" if tls == "true" else ""), rt)):
    ratio = v / d if d > 0 else 0
    res.setdefault("ratio_to_direct", {})[name.split()[0]] = round(ratio, 3)
    print(f"{name:36s} {v:>9.1f} {ratio:>16.2f}")
json.dump(res, open(out, "w"), indent=1)
print(f"results in {out}")
sys.exit(0 if d > 0 and ru > 0 and rt > 0 else 1)
EOF
