#!/usr/bin/env bash
# kill -9 one side, restart it: the tunnel must come back by itself within a bounded time,
# without touching the surviving side.
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpnpeer "alice"            |                | vpnpeer "bob"              |
#   |   kill -9, then `up` again |                |   keeps running            |
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
handshakes_before=$(json_get "$B_CFG" 'peer("alice").get("handshakes", 0)')

kill -KILL "$A_PID"
wait "$A_PID" 2>/dev/null || true
# The kernel removes a non-persistent TUN device when its last fd closes.
check "restart: vpn0 gone after kill -9" "vpn0 still exists in ns a" \
  wait_until 5 eval '! nsx a ip link show vpn0'

# Restart with the same config (the stale control socket is the daemon's problem to handle).
echo "--- restart ---" >>"$A_LOG"
start_peer a "$A_CFG" "$A_LOG"
A_PID=$LAST_PID
t0=$SECONDS
if wait_until "$RECOVER" can_ping a "$B_V4"; then
  pass "restart: alice->bob ping back after $((SECONDS - t0)) s"
else
  fail "restart: no ping alice->bob within ${RECOVER}s of the restart"
  show_log "$A_LOG" 15
  show_log "$B_LOG" 15
fi
check "restart: bob->alice ping" "no reply from $A_V4 within 10 s" wait_until 10 can_ping b "$A_V4"
check "restart: alice daemon still running" "alice exited: $(tail -n 1 "$A_LOG")" kill -0 "$A_PID"
handshakes_after=$(json_get "$B_CFG" 'peer("alice").get("handshakes", 0)' || echo "?")
check "restart: bob counted a new handshake ($handshakes_before -> $handshakes_after)" \
  "handshake count did not increase" test "${handshakes_after//\?/0}" -gt "$handshakes_before"
finish
