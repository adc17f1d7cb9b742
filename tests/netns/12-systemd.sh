#!/usr/bin/env bash
# The service side with the real binaries and systemd's own tools:
#   - `systemd-analyze verify` accepts both units (ExecStart pointed at this build), and
#     `systemd-analyze security` rates them no worse than MEDIUM;
#   - under a fake NOTIFY_SOCKET with WATCHDOG_USEC, `up` sends READY=1 (with a STATUS) once the
#     tunnel is up, WATCHDOG=1 at half the interval, RELOADING=1 then READY=1 on SIGHUP, and
#     STOPPING=1 on SIGTERM; the rendezvous sends READY=1 and STOPPING=1 the same way;
#   - with JOURNAL_STREAM naming its stderr, each log line is "<priority>message" (no timestamp),
#     so `journalctl -p` filters by level.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"
command -v systemd-analyze >/dev/null || die "systemd-analyze missing (package systemd)"

# Units, with ExecStart pointing at this build.
mkdir -p "$WORK/units"
for u in vpnpeer@.service vpnpeer-rendezvous.service; do
  sed -e "s|/usr/bin/vpnpeer-rendezvous|$RENDEZVOUS|" -e "s|/usr/bin/vpnpeer |$VPNPEER |" \
    "$REPO_ROOT/packaging/systemd/$u" >"$WORK/units/$u"
done
cp "$WORK/units/vpnpeer@.service" "$WORK/units/vpnpeer@alice.service"
man_flag=--man=no
man -w vpnpeer >/dev/null 2>&1 && man_flag=--man=yes
for u in vpnpeer@alice.service vpnpeer-rendezvous.service; do
  out=$(cd "$WORK/units" && systemd-analyze verify "$man_flag" "./$u" 2>&1) && rc=0 || rc=$?
  check "systemd-analyze verify accepts $u" "exit $rc: $out" test "$rc" -eq 0 -a -z "$out"
  sec=$(cd "$WORK/units" && systemd-analyze security --offline=yes "./$u" 2>&1 | tail -1)
  log "$sec"
  check "systemd-analyze security rates $u no worse than MEDIUM" "$sec" \
    eval "grep -Eq 'exposure level for .*: [0-9.]+ (OK|MEDIUM)' <<<\"\$sec\""
done

# A fake systemd: a datagram socket that records every notification.
cat >"$WORK/notify.py" <<'PY'
import os, socket, sys, time
path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)  # the daemon writes to it after dropping root
s.settimeout(0.2)
end = time.time() + seconds
with open(out, "a") as f:
    while time.time() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        for line in data.decode(errors="replace").splitlines():
            f.write(f"{time.time():.3f} {line}\n")
            f.flush()
PY
pair_prepare
python3 "$WORK/notify.py" "$WORK/notify.sock" "$WORK/notify.log" 40 &
track_pid $!
wait_until 5 test -S "$WORK/notify.sock" || die "the fake notify socket did not appear"
chmod 711 "$WORK"
start_peer b "$B_CFG" "$B_LOG"
# alice under the fake systemd, with a 2 s watchdog and her stderr marked as the journal.
touch "$A_LOG"
stream=$(stat -c '%d:%i' "$A_LOG")
ip netns exec "$(ns a)" env NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=2000000 \
  JOURNAL_STREAM="$stream" "$VPNPEER" up -c "$A_CFG" </dev/null >>"$A_LOG" 2>&1 &
A_PID=$!
track_pid "$A_PID"
check "READY=1 arrives once alice is up, with a status line" "notifications: $(cat "$WORK/notify.log" 2>/dev/null)" \
  wait_until 10 grep -q "READY=1" "$WORK/notify.log"
grep -q "STATUS=alice is up on vpn0" "$WORK/notify.log" || fail "no STATUS line with READY=1: $(cat "$WORK/notify.log")"
check "alice still reaches bob" "no ping" wait_until 15 can_ping a "$B_V4"
sleep 3
dogs=$(grep -c "WATCHDOG=1" "$WORK/notify.log" || true)
check "WATCHDOG=1 comes at half the 2 s interval ($dogs so far)" "only $dogs" test "$dogs" -ge 3
kill -HUP "$A_PID"
check "SIGHUP: RELOADING=1, then READY=1 again" "notifications: $(tail -5 "$WORK/notify.log")" \
  wait_until 5 eval "grep -A3 RELOADING=1 '$WORK/notify.log' | grep -q READY=1"
kill -TERM "$A_PID"
check "SIGTERM: STOPPING=1" "notifications: $(tail -3 "$WORK/notify.log")" \
  wait_until 5 grep -q "STOPPING=1" "$WORK/notify.log"
wait_pid_exit "$A_PID" 10 || fail "alice did not stop"
first=$(head -1 "$A_LOG")
check "journal lines start with a syslog priority and carry no timestamp ($first)" "log: $(head -3 "$A_LOG")" \
  eval "grep -q '^<6>alice is up' '$A_LOG' && ! grep -Eq '^[0-9]{4}-' '$A_LOG'"

# The rendezvous, the same way.
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$B_UNDERLAY:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
EOF
: >"$WORK/notify.log"
ip netns exec "$(ns b)" env NOTIFY_SOCKET="$WORK/notify.sock" "$RENDEZVOUS" -c "$WORK/rv/rv.toml" \
  </dev/null >>"$WORK/rv/rv.log" 2>&1 &
R_PID=$!
track_pid "$R_PID"
check "the rendezvous sends READY=1 once its sockets are bound" "notifications: $(cat "$WORK/notify.log")" \
  wait_until 10 grep -q "READY=1" "$WORK/notify.log"
kill -TERM "$R_PID"
check "the rendezvous sends STOPPING=1 on SIGTERM" "notifications: $(cat "$WORK/notify.log")" \
  wait_until 5 grep -q "STOPPING=1" "$WORK/notify.log"
finish
