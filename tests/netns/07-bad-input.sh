#!/usr/bin/env bash
# Bad input: `vpnpeer check` on malformed files exits 2 with file:line:col diagnostics, and
# `vpnpeer up` on a UDP port already taken fails fast with one clear sentence and no leftovers.
#
#   ns a
#   +--------------------------------------------+
#   | socat holds UDP 0.0.0.0:51820              |
#   | vpnpeer up (listen 0.0.0.0:51820) -> error |
#   | lo only                                    |
#   +--------------------------------------------+
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
command -v socat >/dev/null || die "socat missing (scripts/setup installs it)"

pair_prepare

# run_check FILE -> sets RC and OUT
run_check() {
  if OUT=$(timeout 10 "$VPNPEER" check -c "$1" 2>&1); then RC=0; else RC=$?; fi
}
# diag_count FILE OUT -> number of lines shaped "FILE:LINE:COL: ..."
diag_count() { grep -cE "^$(printf '%s' "$1" | sed 's/[.[\*^$/]/\\&/g'):[0-9]+:[0-9]+: " <<<"$2" || true; }

# 0. the good file passes (otherwise the failures below prove nothing)
run_check "$A_CFG"
check "check: valid file exits 0" "exit $RC: $(head -n 3 <<<"$OUT")" test "$RC" -eq 0

# 1. TOML syntax error on line 3
bad=$WORK/syntax.toml
printf '[peer]\nname = "alice"\naddress = ["10.42.0.1/24"\nlisten = "0.0.0.0:1"\n' >"$bad"
run_check "$bad"
n=$(diag_count "$bad" "$OUT")
check "check: syntax error exits 2" "exit $RC" test "$RC" -eq 2
check "check: syntax error reported as file:line:col ($n line(s))" "output was: $(head -n 3 <<<"$OUT")" \
  test "$n" -ge 1

# 2. well-formed TOML with three independent semantic errors: all must be reported at once
bad=$WORK/semantic.toml
sed -e 's|^listen = .*|listen = "0.0.0.0:99999"|' \
    -e 's|^mtu = .*|mtu = 12|' \
    -e 's|^address = .*|address = ["10.42.0.300/24"]|' "$A_CFG" >"$bad"
run_check "$bad"
n=$(diag_count "$bad" "$OUT")
check "check: semantic errors exit 2" "exit $RC" test "$RC" -eq 2
check "check: all 3 semantic errors reported as file:line:col ($n)" "output was: $(head -n 5 <<<"$OUT")" \
  test "$n" -ge 3
# The listen error is on a known line; its diagnostic must point at it.
line=$(grep -n '^listen' "$bad" | cut -d: -f1)
check "check: listen error points at line $line" "no diagnostic for line $line" \
  grep -qE ":$line:[0-9]+: " <<<"$OUT"

# 3. port already in use
nsbg a socat -u "UDP4-RECV:$PORT,bind=0.0.0.0" OPEN:/dev/null
if ! wait_until 5 bash -c "ip netns exec $(ns a) ss -Hlun 'sport = :$PORT' | grep -q $PORT"; then
  fail "port in use: could not occupy UDP $PORT"
  finish
fi
t0=$SECONDS
if OUT=$(nsx a timeout 15 "$VPNPEER" up -c "$A_CFG" </dev/null 2>&1); then RC=0; else RC=$?; fi
took=$((SECONDS - t0))
check "port in use: up exits non-zero" "exit $RC" eval '[[ $RC -ne 0 && $RC -ne 124 ]]'
check "port in use: fails within 5 s (took ${took}s)" "took ${took}s" test "$took" -le 5
# One clear sentence: a short message naming the port, not a dump.
lines=$(grep -c . <<<"$OUT" || true)
check "port in use: message names port $PORT" "output: $(head -n 3 <<<"$OUT")" grep -q "$PORT" <<<"$OUT"
check "port in use: message is short ($lines line(s))" "output has $lines lines" test "$lines" -le 3
check "port in use: no vpn0 left behind" "vpn0 exists after the failed start" eval '! nsx a ip link show vpn0 >/dev/null 2>&1'
printf '  message: %s\n' "$(head -n 1 <<<"$OUT")"
finish
