#!/usr/bin/env bash
# Two peers, ICMP both ways through the tunnel, IPv4 and IPv6 inner addresses.
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   |       fd42::1/64           |                |       fd42::2/64           |
#   |   vpnpeer "alice"          |  veth "internet"   vpnpeer "bob"            |
#   | eth0  192.168.241.1/24 ----+----------------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

pair_prepare
if ! pair_up 20; then
  fail "ping: tunnel did not come up within 20 s"
  finish
fi

check "ping ipv4 alice->bob" "no reply from $B_V4 (3 tries)" can_ping a "$B_V4" 3
check "ping ipv4 bob->alice" "no reply from $A_V4 (3 tries)" can_ping b "$A_V4" 3
# IPv6 needs DAD to finish on vpn0 before the kernel uses the address; allow a few seconds.
check "ping ipv6 alice->bob" "no reply from $B_V6 within 10 s" wait_until 10 can_ping a "$B_V6"
check "ping ipv6 bob->alice" "no reply from $A_V6 within 10 s" wait_until 10 can_ping b "$A_V6"

# The status must agree with what the pings showed.
check "status: both sides established" "state alice->bob='$(peer_state "$A_CFG" bob)' bob->alice='$(peer_state "$B_CFG" alice)'" \
  eval 'peer_established "$A_CFG" bob && peer_established "$B_CFG" alice'
finish
