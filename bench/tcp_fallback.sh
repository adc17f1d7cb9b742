#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and TCP_LISTEN are read by lab.sh functions
# bench/tcp_fallback.sh: vpnpeer's direct TCP path next to OpenVPN 2.6 over TCP, on the same two
# hosts of the NAT lab (tests/netns/nat/lab.sh):
#   blk2   behind a NAT that drops all UDP from its LAN (TCP works);
#   open1  a public host; its vpnpeer accepts TCP (tcp_listen = true).
# vpnpeer: both register with the rendezvous on pub (blk2 over TCP, TLS), and end on direct-tcp
# (blk2 connects to open1's tcp candidate). OpenVPN: --proto tcp-server on open1, tcp-client in
# blk2, AES-256-GCM, DCO off, tun MTU 1400 as in bench.sh. Each: iperf3 TCP, 1 stream,
# BENCH_SECS (10) s, blk2 -> open1 through the tunnel, and the CPU seconds of both tunnel
# processes per GB moved. Everything shares the machine's cores: compare the ratio, from one run.
#
#   sudo bench/tcp_fallback.sh
set -euo pipefail
REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../tests/netns/nat/lab.sh
source "$REPO_ROOT/tests/netns/nat/lab.sh"
require_root
require_vpnpeer
require_rendezvous
need_tool iperf3 iperf3
need_tool openvpn openvpn

SECS=${BENCH_SECS:-10}
A=blk2 B=open1
lab_build $A $B
lab_pki $A $B
rv_start || die "vpnpeer-rendezvous did not start"

# cpu_ticks PID... -> utime + stime of the processes, in clock ticks
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
# run_iperf NAME SERVER_ADDR CLIENT_ADDR PID...: one iperf3 run; sets MBPS[NAME] and CPU[NAME]
declare -A MBPS=() CPU=()
run_iperf() {
  local name=$1 srv=$2 cli=$3 c0 c1 gb mb
  shift 3
  nsbg $B timeout $((SECS + 40)) iperf3 -s -1 -B "$srv" -p 5201 >"$WORK/iperf3-server.$name.log" 2>&1
  sleep 2
  c0=$(cpu_ticks "$@")
  if nsx $A timeout $((SECS + 20)) iperf3 -c "$srv" -B "$cli" -p 5201 -t "$SECS" -J \
    >"$WORK/iperf3.$name.json" 2>&1; then
    c1=$(cpu_ticks "$@")
    read -r mb gb < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["end"]; print(round(d["sum_received"]["bits_per_second"]/1e6, 1), d["sum_received"]["bytes"]/1e9)' "$WORK/iperf3.$name.json")
    MBPS[$name]=$mb
    CPU[$name]=$(python3 -c "print(round(($c1 - $c0) / $(getconf CLK_TCK) / $gb, 2))")
  else
    echo "$name: iperf3 failed: $(tail -c 300 "$WORK/iperf3.$name.json")"
    MBPS[$name]=0 CPU[$name]=0
  fi
}

# vpnpeer: direct-tcp
TCP_LISTEN[$B]=1
PEER_PORT=52300
pair_start $A $B
if wait_until 40 both_on $A $B direct-tcp; then
  run_iperf vpnpeer "${OVERLAY[$B]}" "${OVERLAY[$A]}" "${PEER_PID[$A]}" "${PEER_PID[$B]}"
  got=$(peer_field "$(peer_cfg $A)" $B path || true)
  [[ $got == direct-tcp ]] || echo "vpnpeer: note: the pair was on $got at the end of the run"
else
  echo "vpnpeer: the pair did not settle on direct-tcp: $(pair_paths $A $B)"
  MBPS[vpnpeer]=0 CPU[vpnpeer]=0
fi
pair_stop $A $B

# OpenVPN over TCP between the same hosts (a throwaway CA from the openssl CLI)
d=$WORK/openvpn
mkdir -p "$d"
{
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench-ca -keyout "$d/ca.key" -out "$d/ca.crt"
  for n in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$n" \
      -keyout "$d/$n.key" -out "$d/$n.csr"
    openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 2 -sha256 -out "$d/$n.crt"
  done
} >"$d/openssl.log" 2>&1 || die "openssl CA generation failed: $(tail -3 "$d/openssl.log")"
common=(--dev tun --data-ciphers AES-256-GCM --cipher AES-256-GCM --tun-mtu 1400 --ca "$d/ca.crt"
  --disable-dco --verb 3 --ping 10)
srv_ip=$(host_ip $B)
nsbg $B openvpn "${common[@]}" --proto tcp-server --local "$srv_ip" --port 1194 --tls-server \
  --dh none --cert "$d/server.crt" --key "$d/server.key" --ifconfig 10.43.0.2 10.43.0.1 \
  </dev/null >"$d/openvpn-b.log" 2>&1
ob=$LAST_PID
nsbg $A openvpn "${common[@]}" --proto tcp-client --remote "$srv_ip" --port 1194 --tls-client \
  --cert "$d/client.crt" --key "$d/client.key" --ifconfig 10.43.0.1 10.43.0.2 \
  </dev/null >"$d/openvpn-a.log" 2>&1
oa=$LAST_PID
if wait_until 30 grep -q "Initialization Sequence Completed" "$d/openvpn-a.log"; then
  run_iperf openvpn-tcp 10.43.0.2 10.43.0.1 "$oa" "$ob"
else
  echo "openvpn: no tunnel within 30 s: $(tail -5 "$d/openvpn-a.log")"
  MBPS[openvpn-tcp]=0 CPU[openvpn-tcp]=0
fi
kill "$oa" "$ob" 2>/dev/null || true

mkdir -p "$REPO_ROOT/bench/results"
res=$REPO_ROOT/bench/results/tcp-fallback-$(date -u +%Y%m%dT%H%M%SZ).json
python3 - "$res" "$SECS" "${MBPS[vpnpeer]}" "${CPU[vpnpeer]}" "${MBPS[openvpn-tcp]}" "${CPU[openvpn-tcp]}" <<'EOF'
import json, sys
out, secs = sys.argv[1], int(sys.argv[2])
v, vc, o, oc = (float(x) for x in sys.argv[3:7])
print(f"\n{'over TCP (iperf3 TCP, 1 stream, ' + str(secs) + ' s)':40s} {'Mbit/s':>9s} {'CPU s/GB':>9s}")
print(f"{'vpnpeer direct-tcp':40s} {v:>9.1f} {vc:>9.2f}")
print(f"{'OpenVPN 2.6 tcp':40s} {o:>9.1f} {oc:>9.2f}")
ratio = v / o if o > 0 else 0
print(f"vpnpeer / OpenVPN: {ratio:.2f}x throughput, {vc / oc if oc > 0 else 0:.2f}x CPU per GB")
json.dump({"bench": "tcp_fallback", "secs": secs, "mbit_s": {"vpnpeer-direct-tcp": v, "openvpn-tcp": o},
           "cpu_s_per_gb": {"vpnpeer-direct-tcp": vc, "openvpn-tcp": oc}, "ratio": round(ratio, 3)},
          open(out, "w"), indent=1)
print(f"results in {out}")
sys.exit(0 if v > 0 and o > 0 else 1)
EOF
