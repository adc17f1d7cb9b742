#!/usr/bin/env bash
# Reload beyond the peer list, with the real binaries, while alice pings bob 20 times a second
# the whole time (no ping may be lost):
#   - a [[rendezvous]] entry added to alice's file: she registers; its name pin changed to
#     another server's name: refused by the new handshake; the entry removed: the session closes;
#   - a renewed certificate for alice, its key root's only: the reload is refused with the reason
#     (the daemon no longer runs as root) and nothing changes; the key given to the daemon's user:
#     the reload takes it, status shows the new fingerprint, and bob sees it at the next
#     handshake;
#   - a key that needs a restart ([tun] mtu): the reload names it and keeps the running value;
#   - the rendezvous reloads relay off and a shorter refresh, and a renewed certificate.
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
for f in "$A_CFG" "$B_CFG"; do
  sed -i '/^\[tunnel\]/a rehandshake = 10' "$f"
done
# The daemons drop root; alice must still read her file, and her folder, on reload.
chmod 711 "$WORK"
chmod 755 "$WORK/alice"
chmod 644 "$A_CFG"

mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$B_UNDERLAY:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
refresh = 25
control_socket = "$WORK/rv.sock"
EOF
chmod 755 "$WORK/rv"
chmod 644 "$WORK/rv/rv.toml"
nsbg b "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
RV_PID=$LAST_PID
wait_until 5 grep -q "is up" "$WORK/rv/rv.log" || die "the rendezvous did not start"

if ! pair_up 20; then
  fail "reload: tunnel did not come up within 20 s"
  finish
fi
RUN_AS=$(sed -n 's/.*running as user \([^,]*\),.*/\1/p' "$A_LOG" | head -1)
log "alice runs as ${RUN_AS:-?}"

nsx a ping -c 1200 -i 0.05 -W 1 "$B_V4" >"$WORK/ping.txt" 2>&1 &
PING_PID=$!
track_pid "$PING_PID"
sleep 1

reload_alice() { "$VPNPEER" reload -c "$A_CFG" 2>&1; }
rv_json() { control_json "$WORK/rv.sock" "$1"; }

# --- [[rendezvous]] ---
printf '\n[[rendezvous]]\naddress = "%s:3478"\n' "$B_UNDERLAY" >>"$A_CFG"
out=$(reload_alice) && rc=0 || rc=$?
check "reload with a new [[rendezvous]] entry ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'1 rendezvous server(s), list changed'* ]]"
check "alice registers with the rendezvous she was given" "not registered within 10 s" \
  wait_until 10 eval "[[ \$(json_get \"$A_CFG\" \"s['rendezvous'][0].get('registered', False)\") == 1 ]]"
rv_hs=$(rv_json "s['counters']['handshakes']")
out=$(reload_alice) && rc=0 || rc=$?
sleep 2
check "a reload that changes nothing keeps the rendezvous session (handshakes $rv_hs)" \
  "exit $rc, handshakes now $(rv_json "s['counters']['handshakes']")" \
  eval "[[ $rc -eq 0 && \$(rv_json \"s['counters']['handshakes']\") == $rv_hs ]]"
sed -i "s/^address = \"$B_UNDERLAY:3478\"\$/&\nname = \"rv-other\"/" "$A_CFG"
out=$(reload_alice) && rc=0 || rc=$?
sleep 4
rv_err=$(json_get "$A_CFG" "s['rendezvous'][0].get('last_error', '')")
check "a pin changed to another name is checked by a new handshake and refused" \
  "exit $rc, error '$rv_err'" eval "[[ $rc -eq 0 && \$rv_err == *\"expected 'rv-other'\"* ]]"
sed -i '/^\[\[rendezvous\]\]$/,$d' "$A_CFG"
out=$(reload_alice) && rc=0 || rc=$?
check "the entry removed: no rendezvous left ($out)" "exit $rc, $(json_get "$A_CFG" "len(s['rendezvous'])") left" \
  eval "[[ $rc -eq 0 && \$(json_get \"$A_CFG\" \"len(s['rendezvous'])\") == 0 ]]"

# --- a renewed certificate ---
old_fp=$(json_get "$A_CFG" "s['certificates']['fingerprint']")
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name alice --ip "$A_V4/24" --ip "$A_V6/64" --days 400 \
  --out "$WORK/alice/renewed" >/dev/null
mv "$WORK/alice/renewed.crt" "$WORK/alice/alice.crt"
mv "$WORK/alice/renewed.key" "$WORK/alice/alice.key"
new_fp=$("$VPNPEER" cert show "$WORK/alice/alice.crt" | awk '/^sha256:/ {print $2}')
if [[ ${RUN_AS:-root} != root ]]; then
  out=$(reload_alice) && rc=0 || rc=$?
  check "a renewed key only root may read refuses the reload, saying why (exit $rc)" "said: $out" \
    eval "[[ $rc -ne 0 && \$out == *'no longer runs as root'* && \$out == *'running configuration stays'* ]]"
  check "and the running certificate stays" "fingerprint now $(json_get "$A_CFG" "s['certificates']['fingerprint']")" \
    test "$(json_get "$A_CFG" "s['certificates']['fingerprint']")" = "$old_fp"
  chown "$RUN_AS" "$WORK/alice/alice.key"
fi
out=$(reload_alice) && rc=0 || rc=$?
check "the reload takes the renewed certificate ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'alice.crt renewed (valid until'* ]]"
check "status shows the new fingerprint" "fingerprint $(json_get "$A_CFG" "s['certificates']['fingerprint']"), expected $new_fp" \
  test "$(json_get "$A_CFG" "s['certificates']['fingerprint']")" = "$new_fp"
check "bob sees alice's new certificate after the next handshake" \
  "bob still sees $(json_get "$B_CFG" "peer('alice').get('cert_fingerprint', '')")" \
  wait_until 15 eval "[[ \$(json_get \"$B_CFG\" \"peer('alice').get('cert_fingerprint', '')\") == $new_fp ]]"

# --- a key that needs a restart ---
sed -i 's/^mtu = 1400$/mtu = 1300/' "$A_CFG"
out=$(reload_alice) && rc=0 || rc=$?
check "a changed [tun] mtu is named as needing a restart ($out)" "exit $rc: $out" \
  eval "[[ $rc -eq 0 && \$out == *'[tun] mtu changed; it takes effect at the next restart'* ]]"
mtu=$(nsx a cat /sys/class/net/vpn0/mtu)
check "and the device keeps its MTU (1400)" "MTU $mtu" test "$mtu" = 1400

wait "$PING_PID" || true
loss=$(grep -o '[0-9.]*% packet loss' "$WORK/ping.txt" | cut -d% -f1)
check "1200 pings to bob across every reload lose nothing (${loss}% loss)" \
  "$(tail -2 "$WORK/ping.txt")" test "${loss:-100}" = 0

# --- the rendezvous ---
rv_old=$(rv_json "s['certificate']['fingerprint']")
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --days 200 \
  --out "$WORK/rv/renewed" >/dev/null
mv "$WORK/rv/renewed.crt" "$WORK/rv/rv1.crt"
mv "$WORK/rv/renewed.key" "$WORK/rv/rv1.key"
chown "$(stat -c %U /proc/"$RV_PID")" "$WORK/rv/rv1.key"
sed -i 's/^refresh = 25$/refresh = 10/' "$WORK/rv/rv.toml"
printf '\n[relay]\nenabled = false\n' >>"$WORK/rv/rv.toml"
kill -HUP "$RV_PID"
wait_until 5 grep -q "reloaded .*relay (off) applied" "$WORK/rv/rv.log" || true
check "the rendezvous reloads relay off and refresh 10 s" \
  "relay $(rv_json "s['relay']"), refresh $(rv_json "s['refresh_s']")" \
  eval "[[ \$(rv_json \"s['relay']\") == False && \$(rv_json \"int(s['refresh_s'])\") == 10 ]]"
check "and uses its renewed certificate" "fingerprint $(rv_json "s['certificate']['fingerprint']")" \
  eval "[[ \$(rv_json \"s['certificate']['fingerprint']\") != $rv_old ]]"
printf '\n[[rendezvous]]\naddress = "%s:3478"\n' "$B_UNDERLAY" >>"$A_CFG"
sed -i 's/^mtu = 1300$/mtu = 1400/' "$A_CFG"
reload_alice >/dev/null || true
check "alice registers with the renewed rendezvous" "not registered within 10 s" \
  wait_until 10 eval "[[ \$(json_get \"$A_CFG\" \"s['rendezvous'][0].get('registered', False)\") == 1 ]]"
sed -i 's/^listen = .*/listen = ["0.0.0.0:3478"]/' "$WORK/rv/rv.toml"
kill -HUP "$RV_PID"
check "the rendezvous names a changed listen as needing a restart" "no warning in its log" \
  wait_until 5 grep -q "\[rendezvous\] listen changed; needs a restart" "$WORK/rv/rv.log"
finish
