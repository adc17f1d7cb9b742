#!/usr/bin/env bash
# A peer presenting a certificate from ANOTHER CA must be rejected: no tunnel, and the
# victim's status shows the failure.
#
#   ns a                                         ns b (victim)
#   +---------------------------+                +---------------------------+
#   | vpnpeer "alice" (IMPOSTOR) |                | vpnpeer "bob"              |
#   |  cert signed by CA "evil"  |                |  trusts only CA "corp"     |
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

WATCH=${WRONG_CA_WATCH:-15}

pair_prepare
# Replace alice's identity with one from a different CA, same name and address, and let the
# impostor trust its own CA (so the only thing wrong is the chain bob sees).
make_ca "$WORK/evil" evil >/dev/null
make_cert "$WORK/evil" alice "$WORK/alice" "$A_V4/24" "$A_V6/64" >/dev/null
sed -i "s|^ca = .*|ca = \"$WORK/evil/ca.crt\"|" "$A_CFG"

start_peer a "$A_CFG" "$A_LOG"
start_peer b "$B_CFG" "$B_LOG"
wait_until 10 test -S "$WORK/bob.sock" || true

# Watch for WATCH seconds: bob must never report alice established, and no ping may pass.
established=0 pinged=0
deadline=$((SECONDS + WATCH))
while ((SECONDS < deadline)); do
  [[ $(peer_state "$B_CFG" alice 2>/dev/null) == established ]] && established=1
  can_ping a "$B_V4" && pinged=1
done

check "wrong ca: bob never established alice" "bob reported alice established" test "$established" -eq 0
check "wrong ca: no traffic through the tunnel" "a ping from the impostor got a reply" test "$pinged" -eq 0

# Evidence of rejection in bob's status: a handshake/auth drop counter or a peer error.
evidence=$(json_get "$B_CFG" '"drops=%d last_error=%r" % (drops_total(), peer("alice").get("last_error", ""))' 2>/dev/null || echo "status unavailable")
rejected() {
  [[ $(json_get "$B_CFG" 'drops_total() > 0 or bool(peer("alice").get("last_error"))') == 1 ]]
}
check "wrong ca: bob's status shows the rejection ($evidence)" "no drop counted and no last_error for alice" rejected
if ((FAILED)); then show_log "$B_LOG" 15; fi
finish
