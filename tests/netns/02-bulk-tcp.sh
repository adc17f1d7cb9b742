#!/usr/bin/env bash
# 200 MB of random data over one TCP connection through the tunnel; sha256 must match.
#
#   ns a (sender)                                ns b (receiver)
#   +---------------------------+                +---------------------------+
#   | socat FILE -> TCP          |                | socat TCP-LISTEN:5001      |
#   |   -> 10.42.0.2:5001        |                |   -> file                  |
#   | vpn0  10.42.0.1/24  alice  |                | vpn0  10.42.0.2/24  bob    |
#   | eth0  192.168.241.1/24 ----+-- veth --------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
command -v socat >/dev/null || die "socat missing (scripts/setup installs it)"

SIZE_MB=${BULK_MB:-200}
TIMEOUT=${BULK_TIMEOUT:-180}

pair_prepare
if ! pair_up 20; then
  fail "bulk tcp: tunnel did not come up within 20 s"
  finish
fi

head -c "${SIZE_MB}M" /dev/urandom >"$WORK/send.bin"
sent_sum=$(sha256sum <"$WORK/send.bin" | cut -d' ' -f1)

nsbg b timeout "$TIMEOUT" socat -u "TCP-LISTEN:5001,bind=$B_V4,reuseaddr" "OPEN:$WORK/recv.bin,creat,trunc"
rx=$LAST_PID
# `ss` succeeds with empty output, so look for the port in what it prints.
if ! wait_until 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5001' | grep -q 5001"; then
  fail "bulk tcp: receiver did not start listening"
  finish
fi

start=$SECONDS
if nsx a timeout "$TIMEOUT" socat -u "FILE:$WORK/send.bin" "TCP:$B_V4:5001,connect-timeout=5"; then
  send_ok=1
else
  send_ok=0
fi
wait "$rx" || true
elapsed=$((SECONDS - start))
recv_sum=$(sha256sum <"$WORK/recv.bin" 2>/dev/null | cut -d' ' -f1 || true)
recv_size=$(stat -c %s "$WORK/recv.bin" 2>/dev/null || echo 0)

if ((send_ok)) && [[ $sent_sum == "$recv_sum" ]]; then
  pass "bulk tcp: ${SIZE_MB} MB in ${elapsed}s, sha256 ${sent_sum:0:16}... matches"
else
  fail "bulk tcp: sender ok=$send_ok, received $recv_size bytes, sha256 sent ${sent_sum:0:16} got ${recv_sum:0:16} (limit ${TIMEOUT}s)"
  show_log "$A_LOG" 10
  show_log "$B_LOG" 10
fi
finish
