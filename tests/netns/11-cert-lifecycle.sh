#!/usr/bin/env bash
# Certificates and fresh keys with the real binaries:
#   - fresh TLS handshakes every 10 s ([tunnel] rehandshake) under a steady ping lose no packet,
#     and the session index changes each time;
#   - a blocklist added to alice's file and a SIGHUP close her session with bob at once; bob's
#     next handshakes are refused with "on the blocklist"; lifting it (SIGHUP again) lets them
#     meet again;
#   - `cert sign --group` groups show in `cert show` and in the other side's status;
#   - a pinned [[rendezvous]] name that is not the server's keeps the peer from registering.
#
#   ns a (alice) ---- veth ---- ns b (bob, and the rendezvous on 192.168.241.2:3478)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"

pair_prepare
# bob's certificate, re-issued with groups.
rm -f "$WORK/bob/bob.crt" "$WORK/bob/bob.key"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name bob --ip "$B_V4/24" --ip "$B_V6/64" \
  --group db --group ops --out "$WORK/bob/bob" >/dev/null
shown=$("$VPNPEER" cert show "$WORK/bob/bob.crt")
check "cert show lists bob's groups" "said: $shown" \
  eval "grep -q 'group:       db' <<<\"\$shown\" && grep -q 'group:       ops' <<<\"\$shown\""
BOB_FP=$(awk '/^sha256:/ {print $2}' <<<"$shown")

for f in "$A_CFG" "$B_CFG"; do
  sed -i '/^\[tunnel\]/a rehandshake = 10' "$f"
done
# The daemons drop root; alice must still read her file on SIGHUP.
chmod 711 "$WORK"
chmod 755 "$WORK/alice"
chmod 644 "$A_CFG"

if ! pair_up 20; then
  fail "cert lifecycle: tunnel did not come up within 20 s"
  finish
fi
idx0=$(json_get "$A_CFG" "peer('bob').get('local_index', 0)")
hs0=$(json_get "$A_CFG" "peer('bob').get('handshakes', 0)")
groups=$(json_get "$A_CFG" "','.join(peer('bob').get('groups', []))")
check "alice's status shows bob's certified groups ($groups)" "groups '$groups'" test "$groups" = "db,ops"

# 25 s of pings every 50 ms: two fresh handshakes happen under them.
out=$(nsx a ping -c 500 -i 0.05 -W 1 "$B_V4" 2>&1 | tail -3 || true)
loss=$(grep -o '[0-9.]*% packet loss' <<<"$out" | cut -d% -f1)
hs1=$(json_get "$A_CFG" "peer('bob').get('handshakes', 0)")
idx1=$(json_get "$A_CFG" "peer('bob').get('local_index', 0)")
log "500 pings over 25 s: ${loss}% loss; handshakes $hs0 -> $hs1; index $idx0 -> $idx1"
check "fresh handshakes every 10 s under a 20/s ping lose nothing (${loss}% loss)" "$out" \
  test "${loss:-100}" = 0
check "two or more fresh handshakes happened, and the session index changed" \
  "handshakes $hs0 -> $hs1, index $idx0 -> $idx1" \
  test "$hs1" -ge $((hs0 + 2)) -a "$idx1" != "$idx0"

# The blocklist, on reload.
printf '\n[pki]\nblocklist = ["%s"]\n' "$BOB_FP" >>"$A_CFG"
kill -HUP "$A_PID"
wait_until 5 grep -q "reloaded .*1 certificate(s) on the blocklist" "$A_LOG" || true
state=$(peer_state "$A_CFG" bob)
check "SIGHUP with bob's certificate on alice's blocklist closes their session (state $state)" \
  "still $state" test "$state" != established
sleep 6
err=$(json_get "$A_CFG" "peer('bob').get('last_error', '')")
check "bob stays out, refused as on the blocklist" "state $(peer_state "$A_CFG" bob), error '$err'" \
  eval "[[ \$(peer_state \"$A_CFG\" bob) != established && \$err == *'on the blocklist'* ]]"
check "no traffic passes while bob is blocked" "a ping went through" \
  eval "! can_ping a $B_V4 2"
sed -i '/^\[pki\]/,$d' "$A_CFG"
# A file with an error is refused as a whole by `vpnpeer reload`, and nothing changes.
printf '\n[pki]\nblocklist = ["not-a-fingerprint"]\n' >>"$A_CFG"
out=$("$VPNPEER" reload -c "$A_CFG" 2>&1) && rc=0 || rc=$?
check "vpnpeer reload -c refuses a file with an error, with its position (exit $rc)" "said: $out" \
  eval "[[ $rc -eq 2 && \$out == *'alice.toml:'*': pki.blocklist[0]'* ]]"
out=$("$VPNPEER" reload --socket "$WORK/alice.sock" 2>&1) && rc=0 || rc=$?
check "the daemon refuses it too, and keeps running as it was (exit $rc)" "said: $out" \
  eval "[[ $rc -eq 1 && \$out == *'pki.blocklist[0]'* && \$out == *'running configuration stays'* ]]"
check "bob is still blocked after the refused reload" "state $(peer_state "$A_CFG" bob)" \
  eval "[[ \$(peer_state \"$A_CFG\" bob) != established ]]"
sed -i '/^\[pki\]/,$d' "$A_CFG"
out=$("$VPNPEER" reload -c "$A_CFG" 2>&1) && rc=0 || rc=$?
check "vpnpeer reload takes the blocklist away ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'0 certificate(s) on the blocklist'* ]]"
check "with the blocklist lifted they meet again" "no ping within 20 s" \
  wait_until 20 can_ping a "$B_V4"

# A pinned rendezvous name that is not the server's.
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$B_UNDERLAY:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
EOF
nsbg b "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
wait_until 5 grep -q "is up" "$WORK/rv/rv.log" || die "the rendezvous did not start"
printf '\n[[rendezvous]]\naddress = "%s:3478"\nname = "rv-other"\n' "$B_UNDERLAY" >>"$A_CFG"
"$VPNPEER" down -c "$A_CFG" >/dev/null
wait_pid_exit "$A_PID" 5 || true
start_peer a "$A_CFG" "$A_LOG"
A_PID=$LAST_PID
sleep 6
rv_err=$(json_get "$A_CFG" "s['rendezvous'][0].get('last_error', '')")
rv_reg=$(json_get "$A_CFG" "s['rendezvous'][0].get('registered', False)")
check "a pinned rendezvous name that is not the server's keeps alice from registering" \
  "registered=$rv_reg, error '$rv_err'" \
  eval "[[ $rv_reg == 0 && \$rv_err == *\"expected 'rv-other'\"* ]]"
finish
