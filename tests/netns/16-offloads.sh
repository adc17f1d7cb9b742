#!/usr/bin/env bash
# Kernel offloads, each forced on and off ([tunnel] offloads), with the real binaries: for each
# setting a checksummed TCP transfer over the tunnel's IPv4 and IPv6 addresses must arrive
# intact, status must show which offloads are in use, and those in use must have carried
# traffic (TSO reads and UDP GSO runs at the sender, UDP GRO reads and coalesced TUN writes at
# the receiver). Without loss, 800 UDP datagrams sent with UDP_SEGMENT must arrive intact too,
# and with tun-uso alice must have cut UDP super-packets herself. One pair mixes a peer with
# every offload and one with none. Last, with 5% of the tunnel's UDP datagrams dropped at random
# each way (nftables numgen), the transfers must still arrive intact with every offload on and
# with none. Cases with `workers = 2` seal and open
# on two threads: the same transfers arrive intact, and status shows alice's batches split over
# both threads with none failed, and bob opening received batches. Last before the loss cases, a
# kernel that refuses USO, then TSO too (refuse_offload.py), must leave the transfers intact.
#
#   ns a (alice, sender) ---- veth ---- ns b (bob, receiver)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
command -v socat >/dev/null || die "socat missing (scripts/setup installs it)"
MB=${OFFLOAD_MB:-40}

pair_prepare
head -c "${MB}M" /dev/urandom >"$WORK/send.bin"
sent_sum=$(sha256sum <"$WORK/send.bin" | cut -d' ' -f1)

# transfer ADDR PORT -> 0 if the file arrives with the same sha256
transfer() {
  local addr=$1 port=$2 six=""
  [[ $addr == *:* ]] && six=6
  rm -f "$WORK/recv.bin"
  nsbg b timeout 60 socat -u "TCP${six}-LISTEN:$port,reuseaddr" "OPEN:$WORK/recv.bin,creat,trunc"
  local rx=$LAST_PID
  wait_until 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :$port' | grep -q $port" || return 1
  local dst=$addr
  [[ -n $six ]] && dst="[$addr]"
  nsx a timeout 60 socat -u "FILE:$WORK/send.bin" "TCP${six}:$dst:$port,connect-timeout=5" || return 1
  wait "$rx" || true
  [[ $(sha256sum <"$WORK/recv.bin" | cut -d' ' -f1) == "$sent_sum" ]]
}

# udp_gso_transfer ADDR PORT -> how many of 800 datagrams, sent by alice with UDP_SEGMENT (8 per
# send), bob received intact (with tun-uso, alice's TUN device hands them over uncut)
udp_gso_transfer() {
  local out=$WORK/udp_gso.out
  : >"$out"
  nsbg b timeout 30 python3 "$(dirname "$0")/udp_gso.py" recv "$2" 800 10 >"$out"
  local rx=$LAST_PID
  wait_until 5 grep -q ready "$out" || return 0
  nsx a timeout 20 python3 "$(dirname "$0")/udp_gso.py" send "$1" "$2" 800 || true
  wait "$rx" || true
  tail -n 1 "$out"
}

set_offloads() {  # FILE LIST ("default" leaves the key out)
  sed -i '/^offloads = /d' "$1"
  [[ $2 == default ]] || sed -i "/^\[tunnel\]/a offloads = $2" "$1"
}

set_workers() {  # FILE N ("default" leaves the key out)
  sed -i '/^workers = /d' "$1"
  [[ $2 == default ]] || sed -i "/^\[tunnel\]/a workers = $2" "$1"
}

off() { json_get "$1" "int(s['offloads']['$2'])"; }

run_case() {  # NAME ALICE_LIST BOB_LIST EXPECT_A(tso,gso) EXPECT_B(tun_gro,gro) [WORKERS]
  local name=$1 alist=$2 blist=$3 ea=$4 eb=$5 workers=${6:-default}
  set_offloads "$A_CFG" "$alist"
  set_offloads "$B_CFG" "$blist"
  set_workers "$A_CFG" "$workers"
  set_workers "$B_CFG" "$workers"
  if ! pair_up 20; then
    fail "$name: tunnel did not come up"
    return
  fi
  check "$name: $MB MB over IPv4 arrive intact" "transfer failed" transfer "$B_V4" 5001
  check "$name: $MB MB over IPv6 arrive intact" "transfer failed" transfer "$B_V6" 5002
  if [[ ${LOSS:-0} == 0 ]]; then
    local got
    got=$(udp_gso_transfer "$B_V4" 5003)
    check "$name: 800 UDP datagrams sent 8 per UDP_SEGMENT send arrive intact (at least 98%)" \
      "received intact: ${got:-none}" test "${got:-0}" -ge 784
  fi
  local a_uso want_uso=0
  a_uso=$(off "$A_CFG" tun_uso)
  [[ $alist == default || $alist == *tun-uso* ]] && want_uso=1
  [[ -n ${REFUSED:-} ]] && want_uso=0  # the kernel refuses it
  check "$name: status shows alice tun-uso = $want_uso" "alice tun_uso $a_uso" \
    test "$a_uso" = "$want_uso"
  if [[ $a_uso == 1 && ${LOSS:-0} == 0 ]]; then
    check "$name: alice cut UDP super-packets (uso_reads > 0)" \
      "alice $(json_get "$A_CFG" "s['offloads']")" \
      test "$(json_get "$A_CFG" "s['offloads']['uso_reads']")" -gt 0
  fi
  local a_tso a_gso b_tgro b_gro
  a_tso=$(off "$A_CFG" tun_tso)
  a_gso=$(off "$A_CFG" udp_gso)
  b_tgro=$(off "$B_CFG" tun_gro)
  b_gro=$(off "$B_CFG" udp_gro)
  check "$name: status shows alice tun-tso,udp-gso = $ea and bob tun-gro,udp-gro = $eb" \
    "alice $a_tso,$a_gso bob $b_tgro,$b_gro" test "$a_tso,$a_gso/$b_tgro,$b_gro" = "$ea/$eb"
  local carried=1
  [[ $a_tso == 1 && $(json_get "$A_CFG" "s['offloads']['tso_reads']") == 0 ]] && carried=0
  [[ $a_gso == 1 && $(json_get "$A_CFG" "s['offloads']['gso_sends']") == 0 ]] && carried=0
  [[ $b_tgro == 1 && $(json_get "$B_CFG" "s['offloads']['tun_gro_writes']") == 0 ]] && carried=0
  [[ $b_gro == 1 && $(json_get "$B_CFG" "s['offloads']['gro_reads']") == 0 ]] && carried=0
  check "$name: every offload in use carried traffic" \
    "alice $(json_get "$A_CFG" "s['offloads']") bob $(json_get "$B_CFG" "s['offloads']")" \
    test "$carried" = 1
  if [[ $workers != default ]]; then
    local sealing
    sealing=$(json_get "$A_CFG" "s['workers']")
    check "$name: alice seals on $workers threads, batches split over them, none failed" \
      "alice workers $sealing" \
      test "$(json_get "$A_CFG" "int(s['workers']['threads'] == $workers and s['workers']['parallel_batches'] > 0 and s['workers']['failures'] == 0)")" = 1
    sealing=$(json_get "$B_CFG" "s['workers']")
    check "$name: bob opens received batches on $workers threads" "bob workers $sealing" \
      test "$(json_get "$B_CFG" "int(s['workers']['threads'] == $workers and s['workers']['opened'] > 0)")" = 1
  fi
  "$VPNPEER" down -c "$A_CFG" >/dev/null 2>&1 || true
  "$VPNPEER" down -c "$B_CFG" >/dev/null 2>&1 || true
  wait_pid_exit "$A_PID" 10 || true
  wait_pid_exit "$B_PID" 10 || true
}

run_case "all offloads" default default "1,1" "1,1"
run_case "none" "[]" "[]" "0,0" "0,0"
run_case "UDP only" '["udp-gso", "udp-gro"]' '["udp-gso", "udp-gro"]' "0,1" "0,1"
run_case "TUN only" '["tun-tso", "tun-gro"]' '["tun-tso", "tun-gro"]' "1,0" "1,0"
run_case "TSO without coalescing" '["tun-tso"]' '["tun-tso"]' "1,0" "0,0"
run_case "TSO without USO" '["tun-tso", "tun-gro"]' '["tun-tso", "tun-gro"]' "1,0" "1,0"
run_case "USO alone" '["tun-uso"]' '["tun-uso"]' "0,0" "0,0"
run_case "all at alice, none at bob" default "[]" "1,1" "0,0"
run_case "all offloads, 2 worker threads" default default "1,1" "1,1" 2
run_case "none, 2 worker threads" "[]" "[]" "0,0" "0,0" 2

# A kernel that refuses offloads: a seccomp filter makes alice's TUNSETOFFLOAD fail with EINVAL
# for the given bits, as a kernel before 6.2 answers the USO ones. Each offload falls back on its
# own, status and the log say so, and the same transfers arrive intact (without USO the kernel
# cuts UDP_SEGMENT sends itself; without TSO too, alice reads packet by packet).
refuse() {  # NAME MASK EXPECT_A(tso,gso) LOG_LINE
  START_WRAP_a="python3 $(dirname "$0")/refuse_offload.py $2" REFUSED=1 \
    run_case "$1" default default "$3" "1,1"
  check "$1: alice's log says: $4" "$(grep -i 'offloads:\|refused' "$A_LOG" | tail -2)" \
    grep -q "$4" "$A_LOG"
}
refuse "USO refused by the kernel" 0x60 "1,1" "TUN USO not available"
refuse "TSO and USO refused by the kernel" 0x66 "0,1" "the TUN device refused TSO"

# 5% loss each way on the underlay (UDP only: the tunnel's datagrams), offloads on and off.
LOSS=5
for n in a b; do
  nsx "$n" nft -f - <<EOF
table inet offload_loss {
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto udp numgen random mod 100 < 5 counter drop
  }
}
EOF
done
run_case "all offloads, 5% loss" default default "1,1" "1,1"
run_case "none, 5% loss" "[]" "[]" "0,0" "0,0"
run_case "all offloads, 5% loss, 2 worker threads" default default "1,1" "1,1" 2
dropped=$(nsx b nft list table inet offload_loss | grep -o 'packets [0-9]*' | awk '{print $2}')
check "the loss rule dropped tunnel datagrams at bob ($dropped)" "dropped ${dropped:-0}" \
  test "${dropped:-0}" -gt 100
finish
