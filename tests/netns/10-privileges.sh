#!/usr/bin/env bash
# Least privilege with the real binaries: after start, `vpnpeer up` runs as the unprivileged
# default user (vpnpeer if it exists, else nobody) with CAP_NET_ADMIN only, no bounding or ambient
# capabilities, no supplementary groups and NoNewPrivs, read from /proc/PID/status while the
# tunnel works; it still roams (alice's underlay address changes) and answers `status` and `down`.
# The rendezvous, which bound TCP port 443 first, runs with no capability at all. A key file others
# may read is refused by `check` and by `up`; `user = "root"` keeps root (the "before" figures).
#
#   ns a (alice)  ---- veth ----  ns b (bob, and the rendezvous on 192.168.241.2:3478 / tcp 443)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"

pair_prepare
EXPECTED_USER=nobody
getent passwd vpnpeer >/dev/null && EXPECTED_USER=vpnpeer
EXPECTED_UID=$(id -u "$EXPECTED_USER")

# field PID NAME -> the value of NAME: in /proc/PID/status (whitespace squeezed)
field() { awk -v k="$2:" '$1 == k {$1 = ""; sub(/^ /, ""); print; exit}' "/proc/$1/status"; }
caps_of() { printf 'CapEff %s CapPrm %s CapBnd %s CapAmb %s' "$(field "$1" CapEff)" \
  "$(field "$1" CapPrm)" "$(field "$1" CapBnd)" "$(field "$1" CapAmb)"; }

# The "before": the same daemon told to stay root.
sed -i '/^\[peer\]/a user = "root"' "$A_CFG"
start_peer a "$A_CFG" "$A_LOG"
ROOT_PID=$LAST_PID
wait_until 5 test -S "$WORK/alice.sock" || die "alice (as root) did not start"
log "user = \"root\": Uid $(field "$ROOT_PID" Uid); $(caps_of "$ROOT_PID")"
"$VPNPEER" down -c "$A_CFG" >/dev/null
wait_pid_exit "$ROOT_PID" 5 || die "alice (as root) did not stop"
sed -i '/^user = "root"$/d' "$A_CFG"

if ! pair_up 20; then
  fail "privileges: tunnel did not come up within 20 s"
  finish
fi
log "after start: Uid $(field "$A_PID" Uid); Groups '$(field "$A_PID" Groups)';" \
  "$(caps_of "$A_PID"); NoNewPrivs $(field "$A_PID" NoNewPrivs)"
uids=$(field "$A_PID" Uid)
check "up runs as $EXPECTED_USER (real, effective, saved, fs uid all $EXPECTED_UID)" "Uid: $uids" \
  test "$uids" = "$EXPECTED_UID $EXPECTED_UID $EXPECTED_UID $EXPECTED_UID"
check "up keeps CAP_NET_ADMIN only (effective and permitted 0x1000), nothing in bounding or ambient" \
  "$(caps_of "$A_PID")" test "$(caps_of "$A_PID")" = \
  "CapEff 0000000000001000 CapPrm 0000000000001000 CapBnd 0000000000000000 CapAmb 0000000000000000"
check "up has no supplementary groups and NoNewPrivs set" \
  "Groups '$(field "$A_PID" Groups)', NoNewPrivs $(field "$A_PID" NoNewPrivs)" \
  test -z "$(field "$A_PID" Groups)" -a "$(field "$A_PID" NoNewPrivs)" = 1
check "the start-up log says who it runs as" "log: $(grep -m1 'running as' "$A_LOG" || true)" \
  grep -q "running as user $EXPECTED_USER, capabilities: cap_net_admin" "$A_LOG"
check "status answers after the drop" "no status" peer_established "$A_CFG" bob

# Roaming after the drop: alice's underlay address changes under the running daemon.
nsx a ip addr del "$A_UNDERLAY/24" dev eth0
nsx a ip addr add 192.168.241.11/24 dev eth0
check "alice roams to a new underlay address after the drop and the tunnel carries traffic" \
  "no ping within 15 s" wait_until 15 can_ping a "$B_V4"
endpoint=$(json_get "$B_CFG" "peer('alice').get('endpoint', '')")
check "bob follows alice to 192.168.241.11 ($endpoint)" "bob still sends to $endpoint" \
  test "$endpoint" = "192.168.241.11:$PORT"

# The rendezvous, in ns b, binding TCP 443 before it drops everything.
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$B_UNDERLAY:3478"]
tcp_listen = ["$B_UNDERLAY:443"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
control_socket = "$WORK/rv.sock"
EOF
nsbg b "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
R_PID=$LAST_PID
wait_until 5 grep -q "running as user" "$WORK/rv/rv.log" || die "the rendezvous did not start"
log "rendezvous: Uid $(field "$R_PID" Uid); $(caps_of "$R_PID"); NoNewPrivs $(field "$R_PID" NoNewPrivs)"
check "the rendezvous runs as $EXPECTED_USER with no capability at all" "$(caps_of "$R_PID")" \
  test "$(field "$R_PID" Uid | cut -d' ' -f1)" = "$EXPECTED_UID" -a "$(caps_of "$R_PID")" = \
  "CapEff 0000000000000000 CapPrm 0000000000000000 CapBnd 0000000000000000 CapAmb 0000000000000000"
check "the rendezvous still listens on TCP 443" "not listening" \
  eval "nsx b ss -ltn | grep -q '$B_UNDERLAY:443'"

# `down` through the control socket still works after the drop.
"$VPNPEER" down -c "$A_CFG" >/dev/null
check "down stops the unprivileged daemon" "still running" wait_pid_exit "$A_PID" 5

# Key files others may read.
chmod 644 "$WORK/alice/alice.key"
out=$("$VPNPEER" check -c "$A_CFG" 2>&1) && rc=0 || rc=$?
check "check refuses a 0644 key (exit $rc)" "said: $out" \
  eval "[[ $rc -eq 2 && \$out == *'is readable by group or others; run \`chmod 600'* ]]"
out=$(nsx a "$VPNPEER" up -c "$A_CFG" 2>&1) && rc=0 || rc=$?
check "up refuses a 0644 key (exit $rc)" "said: $out" \
  eval "[[ $rc -eq 1 && \$out == *'is readable by group or others'* ]]"
finish
