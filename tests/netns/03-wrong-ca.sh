#!/usr/bin/env bash
# A peer presenting a certificate from ANOTHER CA must be rejected: no tunnel, and the victim's
# `status --json` shows the failure. Run in both orientations (impostor as alice, then as bob),
# because only one side of a TLS handshake gets to verify first: whichever side that is, one
# orientation makes the victim's own certificate check the thing that stops the tunnel.
#
#   round 1:  ns a: IMPOSTOR "alice"  <---->  ns b: victim "bob"
#   round 2:  ns a: victim "alice"    <---->  ns b: IMPOSTOR "bob"
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpnpeer "alice"            |                | vpnpeer "bob"              |
#   |  (impostor: cert and CA    |                |  (impostor: cert and CA    |
#   |   from CA "evil")          |                |   from CA "evil")          |
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

WATCH=${WRONG_CA_WATCH:-12}

pair_prepare
make_ca "$WORK/evil" evil >/dev/null

# impostor_cfg GENUINE_CFG NAME V4 V6 -> prints the path of an impostor copy of the peer file:
# same name and addresses, certificate and CA from "evil" (a vpnpeer only starts when its own
# certificate verifies against its CA, so the impostor must trust "evil").
impostor_cfg() {
  local cfg=$1 name=$2 v4=$3 v6=$4 dir=$WORK/impostor-$2
  make_cert "$WORK/evil" "$name" "$dir" "$v4/24" "$v6/64" >/dev/null
  sed -e "s|^ca = .*|ca = \"$WORK/evil/ca.crt\"|" \
    -e "s|^cert = .*|cert = \"$dir/$name.crt\"|" \
    -e "s|^key = .*|key = \"$dir/$name.key\"|" "$cfg" >"$dir/$name.toml"
  echo "$dir/$name.toml"
}

local_rejections=0

# round LABEL IMPOSTOR_NS IMPOSTOR_CFG VICTIM_NS VICTIM_CFG IMPOSTOR_NAME VICTIM_TARGET
round() {
  local label=$1 ins=$2 icfg=$3 vns=$4 vcfg=$5 iname=$6 target=$7
  local ilog=$WORK/$label-impostor.log vlog=$WORK/$label-victim.log ipid vpid
  start_peer "$ins" "$icfg" "$ilog"
  ipid=$LAST_PID
  start_peer "$vns" "$vcfg" "$vlog"
  vpid=$LAST_PID
  wait_until 10 test -S "$(sed -n 's/^control_socket = "\(.*\)"/\1/p' "$vcfg")" || true

  # Watch: the victim must never report the impostor established, and no ping may pass.
  local established=0 pinged=0 deadline=$((SECONDS + WATCH))
  while ((SECONDS < deadline)); do
    [[ $(peer_state "$vcfg" "$iname" 2>/dev/null) == established ]] && established=1
    can_ping "$ins" "$target" && pinged=1
  done

  # Without a running impostor the checks below would pass trivially.
  if ! kill -0 "$ipid" 2>/dev/null; then
    fail "wrong ca ($label): the impostor exited, nothing was tested: $(tail -n 1 "$ilog")"
    return
  fi
  check "wrong ca ($label): victim never established the impostor" "victim reported it established" \
    test "$established" -eq 0
  check "wrong ca ($label): no traffic through the tunnel" "a ping from the impostor got a reply" \
    test "$pinged" -eq 0
  local err
  err=$(json_get "$vcfg" "peer('$iname').get('last_error', '')" 2>/dev/null || echo "")
  local hs
  hs=$(json_get "$vcfg" 'drop("handshake_failed") + drop("auth_failed")' 2>/dev/null || echo 0)
  check "wrong ca ($label): victim's status shows the rejection (handshake_failed+auth_failed=$hs, last_error='$err')" \
    "no handshake/auth drop and no last_error" eval '[[ $hs -gt 0 || -n $err ]]'
  # "peer rejected ..." means the impostor refused the victim; anything else is the victim's own
  # verdict on the impostor's certificate.
  if [[ -n $err && $err != *"peer rejected"* && $err != *"timed out"* ]]; then
    local_rejections=$((local_rejections + 1))
  fi
  kill -TERM "$ipid" "$vpid" 2>/dev/null || true
  wait_pid_exit "$ipid" 10 || kill -KILL "$ipid" 2>/dev/null || true
  wait_pid_exit "$vpid" 10 || kill -KILL "$vpid" 2>/dev/null || true
  wait "$ipid" "$vpid" 2>/dev/null || true
  ((FAILED == 0)) || { show_log "$vlog" 10; show_log "$ilog" 10; }
}

round "impostor alice" a "$(impostor_cfg "$A_CFG" alice "$A_V4" "$A_V6")" b "$B_CFG" alice "$B_V4"
round "impostor bob" b "$(impostor_cfg "$B_CFG" bob "$B_V4" "$B_V6")" a "$A_CFG" bob "$A_V4"
check "wrong ca: a victim itself rejected the impostor's certificate in $local_rejections of 2 rounds" \
  "in both rounds only the impostor refused (or it timed out): the victim's own check never ran" \
  test "$local_rejections" -ge 1
finish
