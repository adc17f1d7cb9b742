#!/usr/bin/env bash
# Path MTU discovery with the real binaries on the link of 17-gso-refused.sh (underlay MTU 1280,
# tunnel MTU 1400), this time with discovery on, the default: both sides find 1228 inner bytes
# (1280 - 20 - 8 - 24), no GSO run is ever refused, a 1400-byte IPv4 ping with DF is answered
# by "fragmentation needed" from the tunnel, a 1280-byte IPv6 packet (the size every IPv6 link
# must carry) crosses, and 20 MB over TCP arrive intact.
#
#   ns a (alice) ---- veth, MTU 1280 ---- ns b (bob)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
command -v socat >/dev/null || die "socat missing (scripts/setup installs it)"

UNDERLAY_MTU=1280 pair_prepare
if ! pair_up 20; then
  fail "path mtu: tunnel did not come up within 20 s"
  finish
fi
found() {
  [[ $(json_get "$1" "peer('$2').get('pmtu_state')") == done &&
    $(json_get "$1" "peer('$2').get('mtu')") == 1228 ]]
}
check "alice finds the path MTU to bob: 1228" "$(json_get "$A_CFG" "peer('bob').get('mtu')")" \
  wait_until 10 found "$A_CFG" bob
check "bob finds the path MTU to alice: 1228" "$(json_get "$B_CFG" "peer('alice').get('mtu')")" \
  wait_until 10 found "$B_CFG" alice
out=$(nsx a ping -n -c 1 -W 1 -M do -s 1372 "$B_V4" 2>&1 || true)
check "a 1400-byte DF ping gets 'fragmentation needed' naming 1228" "$(head -c 200 <<<"$out")" \
  grep -Eq "mtu ?= ?1228" <<<"$out"
ping6_1280() { nsx a ping -6 -n -q -c 2 -W 2 -s 1232 "$B_V6" >/dev/null 2>&1; }
check "a 1280-byte IPv6 ping crosses (sent fragmentable)" "no reply" ping6_1280
ok=0
socat_transfer_ok 20 && ok=1
check "20 MB over the 1280-byte underlay arrive intact" "$XFER_SUMS" test "$ok" = 1

refusals=$(grep -c "UDP GSO refused" "$A_LOG" || true)
check "no GSO run was refused ($refusals)" "$(grep -i 'gso' "$A_LOG" | head -3)" test "$refusals" = 0
finish
