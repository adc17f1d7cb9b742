#!/usr/bin/env bash
# bench/bench.sh: vpnpeer side by side with the bare link, OpenVPN 2.6, wireguard-go and Nebula,
# one tool at a time, on the same two-namespace topology, in one run.
#
#   ns a (client side)                           ns b (server side)
#   +---------------------------+                +---------------------------+
#   | iperf3 -c / ping           |                | iperf3 -s                  |
#   | <tool> tunnel dev, 10.4x.0.1 |  <tunnel>    | <tool> tunnel dev, 10.4x.0.2 |
#   | eth0  10.99.0.1/24 --------+-- veth -------+-------- eth0 10.99.0.2/24 |
#   +---------------------------+  MTU 1500      +---------------------------+
#
# Every tunnel uses inner MTU 1400 so the tools move the same packets. Per tool:
#   TCP 1 stream and 4 streams (iperf3, BENCH_SECS s each), UDP packet rate with 64-byte
#   payloads (iperf3 -u -b 0), ping RTT (50 x 0.1 s), CPU-seconds per GB of the tunnel
#   processes at both ends during the 1-stream run, RSS of the client-side process idle and
#   peak under load.
#
#   bench/bench.sh [tool...]        tools: bare vpnpeer openvpn wireguard-go nebula (default all),
#                                   and vpnpeer-nooffload (vpnpeer with `offloads = []`),
#                                   vpnpeer-udp-offloads, vpnpeer-tun-offloads (one kind only),
#                                   vpnpeer-2workers (`workers = 2`: sealing and opening on 2 threads)
#
# Output: a table on stdout and bench/results/<UTC date-time>.json. Needs root.
# Environment: BENCH_SECS (default 10), VPNPEER (default build/release/client/vpnpeer).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export REPO_ROOT
export NS_PREFIX=vpb-$$-  # read by lib.sh: bench namespaces are told apart from tests
# shellcheck source=../tests/netns/lib.sh
source "$REPO_ROOT/tests/netns/lib.sh"
require_root

BENCH_SECS=${BENCH_SECS:-10}
TOOLS=("$@")
((${#TOOLS[@]})) || TOOLS=(bare vpnpeer openvpn wireguard-go nebula)
A_ETH=10.99.0.1
B_ETH=10.99.0.2
RAW=$WORK/raw
mkdir -p "$RAW" "$BENCH_DIR/results"

# The tools under comparison are Debian packages; install whichever are missing (Nebula is
# optional: if it cannot be installed its section is skipped).
want=(iperf3 iputils-ping python3 openssl openvpn wireguard-go wireguard-tools nebula iproute2 procps)
missing=()
for p in "${want[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    echo "warning: apt-get failed; tools that are still missing will be skipped"
fi
for bin in iperf3 ping python3; do
  command -v "$bin" >/dev/null || die "$bin missing (apt-get install iperf3 iputils-ping python3)"
done

# shellcheck source=tools/common.sh
source "$BENCH_DIR/tools/common.sh"
for t in "${TOOLS[@]}"; do
  f=$BENCH_DIR/tools/$t.sh
  [[ -f $f ]] || die "unknown tool '$t' (no $f)"
  # shellcheck source=/dev/null
  source "$f"
done

ns_create a
ns_create b
veth_connect a eth0 "$A_ETH/24" b eth0 "$B_ETH/24" 1500

for t in "${TOOLS[@]}"; do
  fn=${t//-/_}
  out=$RAW/$t
  mkdir -p "$out"
  printf '\n=== %s\n' "$t"
  # Each tool's setup sets TARGET (bob's tunnel address) and PIDS_A/PIDS_B (tunnel processes),
  # or returns non-zero with a reason in SKIP_REASON.
  TARGET="" PIDS_A=() PIDS_B=() SKIP_REASON=""
  if "${fn}_up" "$out" && wait_until 30 can_ping a "$TARGET"; then
    measure "$t" "$out" || echo "  measurement incomplete for $t"
  else
    [[ -n $SKIP_REASON ]] || SKIP_REASON="tunnel did not pass a ping within 30 s"
    echo "  SKIPPED: $SKIP_REASON"
    printf '%s\n' "$SKIP_REASON" >"$out/skipped"
    for lf in "$out"/*.log; do [[ -f $lf ]] && { echo "  $lf:"; show_log "$lf" 8; }; done
  fi
  "${fn}_down" || true
  stop_pids "${PIDS_A[@]}" "${PIDS_B[@]}"
done

result=$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ).json
python3 "$BENCH_DIR/report.py" "$RAW" "$result" "${TOOLS[@]}"
echo "results: $result"
