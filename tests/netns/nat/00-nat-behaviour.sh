#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and result tables are read by lab.sh functions; checks call functions indirectly
# The NAT lab itself, tested without vpnpeer: from every host, UDP probes to a plain python
# server on pub (198.51.100.1/.2, ports 3478/3479) show the mapped address, whether the mapping
# is the same for three destinations (cone) or not (symmetric), and whether an answer from
# another address or another port gets in (filtering). If these facts are wrong, every vpnpeer
# result on the lab would be meaningless, so this runs first. Topology: see lab.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root

lab_build
nsbg pub python3 -u "$NAT_DIR/udp_probe.py" server "$PUB_IP" "$PUB_ALT_IP" "$RV_PORT" "$RV_ALT_PORT" \
  >"$WORK/probe-server.log" 2>&1
wait_until 5 grep -q ready "$WORK/probe-server.log" || die "probe server did not start"

# expected facts per NAT kind (port_kept only where the lab makes it deterministic)
declare -A EXPECT=(
  [open]="reachable=1 same_mapping=1 port_kept=1 other_addr=1 other_port=1"
  [full]="reachable=1 same_mapping=1 port_kept=1 other_addr=1 other_port=1"
  [restricted]="reachable=1 same_mapping=1 port_kept=1 other_addr=0 other_port=1"
  [port]="reachable=1 same_mapping=1 other_addr=0 other_port=0"
  [symmetric]="reachable=1 same_mapping=0 other_addr=0 other_port=0"
  [blocked]="reachable=0"
)

# facts_match GOT WANTED -> every key=value of WANTED appears in GOT
facts_match() {
  local kv
  for kv in $2; do [[ " $1 " == *" $kv "* ]] || return 1; done
}

for h in open1 open2 fc1 fc2 rc1 rc2 prc1 prc1b prc2 sym1 sym2 blk; do
  kind=$(site_kind "$(host_site "$h")")
  want=${EXPECT[$kind]}
  [[ $kind != blocked ]] && want+=" mapped_ip=$(mapped_ip "$h")"
  got=$(nsx "$h" timeout 20 python3 "$NAT_DIR/udp_probe.py" client "$PUB_IP" "$PUB_ALT_IP" \
    "$RV_PORT" "$RV_ALT_PORT" 2>&1 || true)
  check "$h ($kind): $want" "got: $got" facts_match "$got" "$want"
done

# The lab must not leak: a site reaches another only through public addresses.
check "isolation: fc1 cannot reach rc1's private address" "10.2.1.2 answered from fc1" \
  eval "! can_ping fc1 $(host_ip rc1)"
check "isolation: prc1 cannot reach sym1's private address" "10.4.1.2 answered from prc1" \
  eval "! can_ping prc1 $(host_ip sym1)"
# The UDP-blocked site still has a working NAT for everything else (it is UDP that is blocked).
check "blk: ping to pub goes through (only UDP is blocked)" "no ping reply from pub" \
  can_ping blk "$PUB_IP"
# Two hosts behind one NAT reach each other on their LAN.
check "prc1 and prc1b share a LAN" "no ping reply from $(host_ip prc1b)" \
  can_ping prc1 "$(host_ip prc1b)"

# A naive hole punch with plain UDP (udp_probe.py punch) between every pair of NAT kinds: the
# lab must let through exactly the pairs the vpnpeer matrix (10-punch-matrix.sh) expects to
# work, so an "expected-fail" there is the NATs, not the lab. The same-NAT pair must NOT punch
# through its public address: the lab has no hairpinning, so vpnpeer needs the LAN candidates.
raw_punch() {
  local h1=$1 h2=$2 tag=$1-$2 p1 p2 r1 r2
  nsbg "$h1" timeout 10 python3 "$NAT_DIR/udp_probe.py" punch "$PUB_IP" "$RV_PORT" \
    "$WORK/$tag.1" "$WORK/$tag.2" 5 >"$WORK/$tag.out1" 2>&1
  p1=$LAST_PID
  nsbg "$h2" timeout 10 python3 "$NAT_DIR/udp_probe.py" punch "$PUB_IP" "$RV_PORT" \
    "$WORK/$tag.2" "$WORK/$tag.1" 5 >"$WORK/$tag.out2" 2>&1
  p2=$LAST_PID
  wait "$p1" || true
  wait "$p2" || true
  r1=$(cat "$WORK/$tag.out1") r2=$(cat "$WORK/$tag.out2")
  RAW_DETAIL="$h1: $r1 | $h2: $r2"
  [[ $r1 == punched=1* && $r2 == punched=1* ]]
}
declare -A RAW=()
for ((i = 0; i < ${#MATRIX_KINDS[@]}; i++)); do
  for ((j = i; j < ${#MATRIX_KINDS[@]}; j++)); do
    k1=${MATRIX_KINDS[i]} k2=${MATRIX_KINDS[j]}
    read -r h1 h2 <<<"$(pair_hosts "$k1" "$k2")"
    want=$(pair_expect "$k1" "$k2")
    if raw_punch "$h1" "$h2"; then got=ok; else got=fail; fi
    if [[ $got == "$want" ]]; then
      RAW[$k1,$k2]=$([[ $got == ok ]] && echo ok || echo expected-fail)
      pass "raw punch $k1 x $k2 ($h1, $h2): $got as expected"
    else
      RAW[$k1,$k2]=FAIL
      fail "raw punch $k1 x $k2 ($h1, $h2): wanted $want, got $got: $RAW_DETAIL"
    fi
  done
done
if raw_punch prc1 prc1b; then
  RAW[same-nat]=FAIL
  fail "raw punch same NAT (prc1, prc1b) went through the public address: the lab hairpins"
else
  RAW[same-nat]=expected-fail
  pass "raw punch same NAT (prc1, prc1b) fails through the public address (no hairpinning)"
fi
matrix_print "plain-UDP punch through the lab (no vpnpeer):" RAW
finish
