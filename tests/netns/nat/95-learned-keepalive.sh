#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Learned keepalive: the routers of kat1 and kat2 forget idle UDP flows after 15 s (lab.sh
# SITE_UDP_TIMEOUT), and every peer is configured with a 30 s keepalive, too long for them.
# Two pairs at once: kat1 x fc1 with the default ([nat] learn_keepalive), kat2 x fc2 without it
# (the control: what this lab does to a peer that does not learn).
#   1. kat1 measures its NAT's mapping lifetime against the rendezvous (RFC 5780 RESPONSE-PORT,
#      extra test sockets): status says idle mappings were kept 10 s and gone after 20 s (the
#      idle times tried around 15 s), and the keepalive interval drops to 8 s;
#   2. 50 s after start, 20 s after both sides' 30 s keepalives (so 5 s after a 15 s mapping is
#      gone), fc1's ping reaches kat1 through kat1's NAT at the first try; fc2's first ping to
#      kat2 is lost at kat2's NAT (the control: the lab's NAT does forget);
#   3. meanwhile `vpnpeer netcheck --mapping-lifetime` in kat2 measures the same 10 / 20 s.
# Env: KA_WAIT (s, 45).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${KA_WAIT:-45}
lab_build kat1 kat2 fc1 fc2
lab_pki kat1 kat2 fc1 fc2
rv_start || { fail "learned keepalive: vpnpeer-rendezvous did not start"; finish; }

lifetime() { json_get "$(peer_cfg "$1")" "(s.get('nat_mapping_lifetime') or {}).get('$2')"; }
measured() { [[ $(lifetime kat1 state) == done ]]; }

nc=$WORK/netcheck.kat2.json
nsbg kat2 timeout 120 "$VPNPEER" netcheck --server "$PUB_IP:$RV_PORT" --mapping-lifetime --json \
  >"$nc" 2>"$nc.err"
NC_PID=$LAST_PID

KEEPALIVE=30 DEAD_PEER=120
LEARN_KEEPALIVE=([kat2]=false)
PEER_PORT=51890
t0=$SECONDS
pair_start kat1 fc1
pair_start kat2 fc2
for p in "kat1 fc1" "kat2 fc2"; do
  read -r a b <<<"$p"
  if wait_until 30 both_on "$a" "$b" direct-udp; then
    pass "$a x $b: direct-udp both ways in $((SECONDS - t0)) s"
  else
    fail "$a x $b: not direct within 30 s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
  fi
done
if wait_until "$WAIT" measured; then
  pass "kat1 measured its NAT's mapping lifetime in $((SECONDS - t0)) s: kept $(lifetime kat1 kept_s) s, gone after $(lifetime kat1 lost_s) s"
else
  fail "kat1: mapping lifetime not measured within ${WAIT}s: $(json_get "$(peer_cfg kat1)" "s.get('nat_mapping_lifetime')")"
  show_log "$(peer_log kat1)" 20
fi
check "the lifetime brackets the router's 15 s" "kept $(lifetime kat1 kept_s), lost $(lifetime kat1 lost_s)" \
  test "$(lifetime kat1 kept_s)-$(lifetime kat1 lost_s)" = "10-20"
ka=$(json_get "$(peer_cfg kat1)" "s.get('keepalive_s')")
check "kat1 keeps alive every 8 s instead of the configured 30 ($ka)" "$ka" \
  python3 -c "import sys; sys.exit(0 if abs(float('$ka') - 8.0) < 0.01 else 1)"
words() { ip netns exec "$(ns kat1)" "$VPNPEER" status -c "$(peer_cfg kat1)" 2>&1 | grep 'nat mapping lifetime'; }
check "status says so in words: $(words)" "$(words)" \
  bash -c "ip netns exec $(ns kat1) $VPNPEER status -c $(peer_cfg kat1) | grep -q 'nat mapping lifetime: idle mappings kept 10 s, gone after 20 s; keepalive every 8.0 s'"
check "kat2 (learn_keepalive = false) keeps the configured 30 s" "$(lifetime kat2 state)" \
  test "$(lifetime kat2 state)" = off

# 2. 50 s after start: the configured keepalives went out at about 30 s, so a 15 s mapping that
# only they refresh is gone.
left=$((t0 + 50 - SECONDS))
((left > 0)) && sleep "$left"
check "fc1 reaches kat1 through kat1's NAT at the first ping" "lost: kat1's mapping expired" \
  can_ping fc1 "${OVERLAY[kat1]}" 1
check "control: fc2's first ping to kat2 is lost at kat2's NAT (the lab's NAT forgets)" \
  "it arrived: the control proves nothing" bash -c "! ip netns exec $(ns fc2) ping -n -q -c 1 -W 1 ${OVERLAY[kat2]} >/dev/null 2>&1"
pair_stop kat1 fc1
pair_stop kat2 fc2

wait_pid_exit "$NC_PID" 60 || true
nc_lt=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["nat_mapping_lifetime"]; print(m["state"], m["kept_s"], m["lost_s"], m["note"])' "$nc" 2>/dev/null || echo "<none>")
check "netcheck --mapping-lifetime in kat2: done, kept 10 s, gone after 20 s (${nc_lt})" \
  "$(head -c 300 "$nc.err")" test "$nc_lt" = "done 10 20 "
echo "$PASSED passed, $FAILED failed"
finish
