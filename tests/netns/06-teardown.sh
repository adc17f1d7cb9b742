#!/usr/bin/env bash
# Clean teardown: `vpnpeer down` (alice) and SIGTERM (bob) both end the daemon promptly with
# status 0 and leave no TUN device, no route and no control socket behind (in a directory of the
# unprivileged user the daemons become; elsewhere the next start removes a socket left behind).
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpnpeer "alice"            |                | vpnpeer "bob"              |
#   |   stopped by `down`        |                |   stopped by SIGTERM       |
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

pair_prepare
# The daemons drop root after start; their control sockets live in a directory of the user they
# become (as systemd's RuntimeDirectory= gives a service), so they can remove them at exit.
RUN_USER=nobody
getent passwd vpnpeer >/dev/null && RUN_USER=vpnpeer
chmod 711 "$WORK"
install -d -m 0755 -o "$RUN_USER" "$WORK/run"
sed -i "s|^control_socket = .*|control_socket = \"$WORK/run/alice.sock\"|" "$A_CFG"
sed -i "s|^control_socket = .*|control_socket = \"$WORK/run/bob.sock\"|" "$B_CFG"
if ! pair_up 20; then
  fail "teardown: tunnel did not come up within 20 s"
  finish
fi

# leftovers NS SOCKET -> prints what is left (empty if clean)
leftovers() {
  local n=$1 sock=$2
  nsx "$n" ip link show vpn0 >/dev/null 2>&1 && echo -n "tun device vpn0; "
  [[ -n $(nsx "$n" ip -4 route show dev vpn0 2>/dev/null) ]] && echo -n "ipv4 route; "
  nsx "$n" ip -4 route show | grep -q '10\.42\.' && echo -n "ipv4 route to 10.42/24; "
  nsx "$n" ip -6 route show | grep -q '^fd42:' && echo -n "ipv6 route to fd42::/64; "
  [[ -e $sock ]] && echo -n "control socket $sock; "
  true
}

# alice: vpnpeer down through the control socket
if timeout 10 "$VPNPEER" down -c "$A_CFG" >"$WORK/down.out" 2>&1; then down_rc=0; else down_rc=$?; fi
check "teardown: 'vpnpeer down' exits 0" "exit $down_rc: $(head -c 200 "$WORK/down.out")" test "$down_rc" -eq 0
if wait_pid_exit "$A_PID" 10; then
  wait "$A_PID" && a_rc=0 || a_rc=$?
  check "teardown: alice exits 0 after down" "exit status $a_rc" test "$a_rc" -eq 0
else
  fail "teardown: alice still running 10 s after 'vpnpeer down'"
fi
left=$(leftovers a "$WORK/run/alice.sock")
check "teardown: nothing left in ns a after down" "left: $left" test -z "$left"

# bob: SIGTERM
kill -TERM "$B_PID"
if wait_pid_exit "$B_PID" 10; then
  wait "$B_PID" && b_rc=0 || b_rc=$?
  check "teardown: bob exits 0 after SIGTERM" "exit status $b_rc" test "$b_rc" -eq 0
else
  fail "teardown: bob still running 10 s after SIGTERM"
fi
left=$(leftovers b "$WORK/run/bob.sock")
check "teardown: nothing left in ns b after SIGTERM" "left: $left" test -z "$left"
finish
