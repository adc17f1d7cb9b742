#!/usr/bin/env bash
# A packet entering alice's tunnel with an inner source address alice's certificate does not
# cover (10.42.0.99) must never reach bob's stack. Counted with nftables in ns b.
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   |       10.42.0.99/32 (spoof)|                | nft: count saddr .99 / .1  |
#   |   vpnpeer "alice"          |                |   on iif vpn0              |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

SPOOF=10.42.0.99

pair_prepare
if ! pair_up 20; then
  fail "spoofed source: tunnel did not come up within 20 s"
  finish
fi

# Count what arrives on bob's vpn0, before any routing decision.
nsx b nft -f - <<NFT
table inet vpt {
  counter spoofed {}
  counter genuine {}
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    iifname "vpn0" ip saddr $SPOOF counter name "spoofed"
    iifname "vpn0" ip saddr $A_V4 counter name "genuine"
  }
}
NFT
counter() { nsx b nft list counter inet vpt "$1" | awk '/packets/ {print $2; exit}'; }

bad_src() { json_get "$1" 'drop("bad_inner_source")'; }
a_before=$(bad_src "$A_CFG") b_before=$(bad_src "$B_CFG")

nsx a ip addr add "$SPOOF/32" dev vpn0
# 10 pings from the spoofed source; every one must be lost.
nsx a ping -n -q -c 10 -i 0.1 -W 1 -I "$SPOOF" "$B_V4" >/dev/null 2>&1 || true
# And 5 genuine ones, proving the counters see traffic at all.
nsx a ping -n -q -c 5 -i 0.1 -W 1 -I "$A_V4" "$B_V4" >/dev/null 2>&1 || true
sleep 0.5

spoofed=$(counter spoofed)
genuine=$(counter genuine)
a_delta=$(($(bad_src "$A_CFG") - a_before)) b_delta=$(($(bad_src "$B_CFG") - b_before))

check "spoofed source: counters see genuine traffic ($genuine packets)" "0 genuine packets counted: the check below would prove nothing" \
  test "${genuine:-0}" -ge 5
check "spoofed source: nothing from $SPOOF reached bob" "$spoofed spoofed packets arrived on bob's vpn0" \
  test "${spoofed:-1}" -eq 0
# Either end may refuse the packet (the receiver must; a sender may too), but each of the 10 must
# be counted as bad_inner_source somewhere, not lost silently.
check "spoofed source: all 10 counted as bad_inner_source (alice +$a_delta, bob +$b_delta)" \
  "fewer than 10 bad_inner_source drops counted" test $((a_delta + b_delta)) -ge 10
finish
