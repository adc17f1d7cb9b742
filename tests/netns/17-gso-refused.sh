#!/usr/bin/env bash
# UDP GSO refused by the kernel, with the real binaries: the underlay link has MTU 1280 and the
# tunnel MTU 1400, so a GSO run of 1452-byte datagrams is larger than the route allows and the
# kernel refuses it. The sender must say so once, turn GSO off towards that peer only, and carry
# on without it (the kernel fragments each datagram), so a checksummed transfer still arrives.
# Path MTU discovery (the default) sizes the tunnel's packets for the link and never sends such a
# run, so it is turned off here: this is the fallback for when it is off, or cannot tell (a
# peer that does not answer probes). 18-path-mtu.sh is the same link with discovery on.
#
#   ns a (alice) ---- veth, MTU 1280 ---- ns b (bob)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
command -v socat >/dev/null || die "socat missing (scripts/setup installs it)"

UNDERLAY_MTU=1280 pair_prepare
printf '\n[paths]\npmtu_discovery = false\n' | tee -a "$A_CFG" >>"$B_CFG"
if ! pair_up 20; then
  fail "gso refused: tunnel did not come up within 20 s"
  finish
fi
ok=0
socat_transfer_ok 20 && ok=1
check "20 MB over a 1280-byte underlay arrive intact" "$XFER_SUMS" test "$ok" = 1

refusals=$(grep -c "UDP GSO refused towards $B_UNDERLAY" "$A_LOG" || true)
check "alice logged the refusal once, naming bob's address ($refusals)" \
  "$(grep -i 'gso' "$A_LOG" | head -3)" test "$refusals" = 1
check "UDP GSO stays on for the socket (other destinations may still use it)" \
  "udp_gso $(json_get "$A_CFG" "int(s['offloads']['udp_gso'])")" \
  test "$(json_get "$A_CFG" "int(s['offloads']['udp_gso'])")" = 1
finish
