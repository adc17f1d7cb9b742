#!/usr/bin/env bash
# kill -9 one side, restart it: the tunnel must come back by itself within a bounded time,
# without touching the surviving side. Done for each side in turn (first alice, then bob), as
# the two sides play different roles in the handshake.
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpnpeer "alice"            |                | vpnpeer "bob"              |
#   |   round 1: kill -9, up     |                |   round 2: kill -9, up     |
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

RECOVER=${RESTART_RECOVER:-30}

pair_prepare
if ! pair_up 20; then
  fail "restart: tunnel did not come up within 20 s"
  finish
fi

# restart_round VICTIM_NS VICTIM_NAME SURVIVOR_NS SURVIVOR_NAME
restart_round() {
  local vns=$1 vname=$2 sns=$3 sname=$4 vcfg vlog scfg slog vpid vaddr saddr
  if [[ $vns == a ]]; then
    vcfg=$A_CFG vlog=$A_LOG vpid=$A_PID vaddr=$A_V4 scfg=$B_CFG slog=$B_LOG saddr=$B_V4
  else
    vcfg=$B_CFG vlog=$B_LOG vpid=$B_PID vaddr=$B_V4 scfg=$A_CFG slog=$A_LOG saddr=$A_V4
  fi
  local hs_before
  hs_before=$(json_get "$scfg" "peer('$vname').get('handshakes', 0)")

  kill -KILL "$vpid"
  wait "$vpid" 2>/dev/null || true
  # The kernel removes a non-persistent TUN device when its last fd closes.
  check "restart $vname: vpn0 gone after kill -9" "vpn0 still exists in ns $vns" \
    wait_until 5 eval "! nsx $vns ip link show vpn0"

  # Same config again; a stale control socket left by kill -9 is the daemon's to handle.
  echo "--- restart after kill -9 ---" >>"$vlog"
  start_peer "$vns" "$vcfg" "$vlog"
  vpid=$LAST_PID
  if [[ $vns == a ]]; then A_PID=$vpid; else B_PID=$vpid; fi
  local t0=$SECONDS
  if wait_until "$RECOVER" can_ping "$vns" "$saddr"; then
    pass "restart $vname: $vname->$sname ping back $((SECONDS - t0)) s after the restart"
  else
    fail "restart $vname: no ping $vname->$sname within ${RECOVER}s of the restart"
    show_log "$vlog" 15
    show_log "$slog" 15
  fi
  check "restart $vname: $sname->$vname ping" "no reply from $vaddr within 10 s" \
    wait_until 10 can_ping "$sns" "$vaddr"
  check "restart $vname: daemon still running" "$vname exited: $(tail -n 1 "$vlog")" kill -0 "$vpid"
  local hs_after
  hs_after=$(json_get "$scfg" "peer('$vname').get('handshakes', 0)" || echo 0)
  check "restart $vname: $sname counted a new handshake ($hs_before -> $hs_after)" \
    "handshake count did not increase" test "$hs_after" -gt "$hs_before"
}

restart_round a alice b bob
restart_round b bob a alice
finish
