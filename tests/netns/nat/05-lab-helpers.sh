#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# The lab's own tools for the path tests (40-80) and bench/, tested without vpnpeer: if these are
# wrong, a vpnpeer result on them means nothing. Plain UDP (echo_probe.py, udp_probe.py), ping and
# TCP between namespaces:
#   lab_move_host     a running process's UDP flow leaves from the new site's public address after
#                     the move (prc1 -> prc2's LAN -> the open internet -> home), the host's
#                     namespace sees rtnetlink address events, and nothing answers on the old one;
#   lab_loosen_nat    a symmetric NAT becomes a port-preserving full cone (udp_probe.py facts);
#   lab_drop_path     a direct UDP path between two sites dies while both still reach pub, and
#                     comes back with lab_undrop_path;
#   lab_flush_conntrack  a symmetric NAT gives a running flow a new public port (a rebinding);
#   xfer_* / transfer_ok  checksummed TCP streams (a paced one stopped early too);
#   ping_gap / echo_probe gap  measure a known outage (all IP dropped for about 1 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root

lab_build prc1 prc2 sym1 sym2 fc1 fc2 open1 open2
nsbg pub python3 -u "$NAT_DIR/echo_probe.py" server "$PUB_IP" 7000 >"$WORK/echo-server.log" 2>&1
wait_until 5 grep -q ready "$WORK/echo-server.log" || die "echo server did not start"
nsbg pub python3 -u "$NAT_DIR/udp_probe.py" server "$PUB_IP" "$PUB_ALT_IP" "$RV_PORT" "$RV_ALT_PORT" \
  >"$WORK/probe-server.log" 2>&1
wait_until 5 grep -q ready "$WORK/probe-server.log" || die "probe server did not start"

# srcs_since FILE T -> the distinct sources (as the server saw them) of replies sent after T
srcs_since() { awk -v t="$2" '!/^#/ && $2 >= t {print $4}' "$1" | sort -u | tr '\n' ' '; }

# --- lab_move_host: one long-running UDP flow, moved three times ------------------------------
out=$WORK/echo.move
nsbg prc1 timeout 40 python3 -u "$NAT_DIR/echo_probe.py" client "$PUB_IP" 7000 20 30 "$out" >/dev/null 2>&1
client=$LAST_PID
nsbg prc1 timeout 40 ip monitor address route >"$WORK/monitor.prc1" 2>&1
lab_roam_link prc1 prc2
lab_roam_link prc1 open1
sleep 1
t1=$(date +%s.%N)
lab_move_host prc1 prc2
sleep 1.5
t2=$(date +%s.%N)
lab_move_host prc1 open1
sleep 1.5
t3=$(date +%s.%N)
lab_move_host prc1 home
sleep 1.5
t4=$(date +%s.%N)
sleep 0.3
s1=$(awk -v a="$t1" -v b="$t2" '!/^#/ && $2 >= a + 0.3 && $2 < b {print $4}' "$out" | sort -u | tr '\n' ' ')
s2=$(awk -v a="$t2" -v b="$t3" '!/^#/ && $2 >= a + 0.3 && $2 < b {print $4}' "$out" | sort -u | tr '\n' ' ')
s3=$(awk -v a="$t3" -v b="$t4" '!/^#/ && $2 >= a + 0.3 && $2 < b {print $4}' "$out" | sort -u | tr '\n' ' ')
s0=$(awk -v a="$t1" '!/^#/ && $2 < a {print $4}' "$out" | sort -u | tr '\n' ' ')
check "move: before, the flow leaves prc1's NAT (198.51.100.30)" "sources: $s0" \
  eval "[[ '$s0' == '198.51.100.30:'*' ' && '$s0' != *' '*' '* ]]"
check "move: prc1 -> prc2's LAN: the same process's flow now leaves from 198.51.100.32" "sources: $s1" \
  eval "[[ '$s1' == '198.51.100.32:'*' ' && '$s1' != *' '*' '* ]]"
check "move: -> the open internet: from its own public address ${_ROAM_ADDR[prc1,open1]}" "sources: $s2" \
  eval "[[ '$s2' == '${_ROAM_ADDR[prc1,open1]}:'*' ' && '$s2' != *' '*' '* ]]"
check "move: -> home: from 198.51.100.30 again" "sources: $s3" \
  eval "[[ '$s3' == '198.51.100.30:'*' ' && '$s3' != *' '*' '* ]]"
# After each move: the first answer to a datagram sent after it (the lab switches at once; 2 s
# leaves room for a loaded machine).
firsts=""
for t in "$t1" "$t2" "$t3"; do
  read -r first _ <<<"$(python3 "$NAT_DIR/echo_probe.py" gap "$out" "$t")"
  firsts+="$first "
done
all_within() { local f; for f in $1; do ((f >= 0 && f <= $2)) || return 1; done; }
check "move: the flow answered soon after each move (first answers after ${firsts}ms)" "first answers: $firsts" \
  all_within "$firsts" 2000
check "move: prc1's namespace saw address events (RTM_DELADDR/NEWADDR)" \
  "$(head -c 300 "$WORK/monitor.prc1")" \
  eval "grep -q '^Deleted.*inet 10.3.1.2/24' '$WORK/monitor.prc1' && grep -q 'inet 10.3.2.10/24' '$WORK/monitor.prc1'"
check "move: prc1 is home again with its own address and route" "$(nsx prc1 ip -br addr)" \
  eval "[[ \$(host_ip prc1) == 10.3.1.2 && \$(mapped_ip prc1) == 198.51.100.30 ]] && can_ping prc1 $PUB_IP"
kill "$client" 2>/dev/null || true

# --- lab_loosen_nat ---------------------------------------------------------------------------
probe() { nsx "$1" timeout 20 python3 "$NAT_DIR/udp_probe.py" client "$PUB_IP" "$PUB_ALT_IP" "$RV_PORT" "$RV_ALT_PORT" 2>&1 || true; }
before=$(probe sym1)
check "loosen: sym1 is symmetric before (same_mapping=0)" "$before" eval "[[ ' $before ' == *' same_mapping=0 '* ]]"
lab_loosen_nat sym1
after=$(probe sym1)
check "loosen: sym1 is then a port-preserving full cone" "$after" \
  eval "[[ ' $after ' == *' same_mapping=1 '* && ' $after ' == *' other_addr=1 '* && ' $after ' == *' port_kept=1 '* ]]"

# --- lab_drop_path ----------------------------------------------------------------------------
N_PUNCH=0
punch() {
  local tag=punch$((N_PUNCH += 1)) p1 r1 r2
  nsbg "$1" timeout 10 python3 "$NAT_DIR/udp_probe.py" punch "$PUB_IP" "$RV_PORT" \
    "$WORK/$tag.1" "$WORK/$tag.2" 3 >"$WORK/$tag.out1" 2>&1
  p1=$LAST_PID
  r2=$(nsx "$2" timeout 10 python3 "$NAT_DIR/udp_probe.py" punch "$PUB_IP" "$RV_PORT" \
    "$WORK/$tag.2" "$WORK/$tag.1" 3 2>&1 || true)
  wait "$p1" || true
  r1=$(cat "$WORK/$tag.out1")
  echo "${r1%% *} / ${r2%% *}"
}
p=$(punch fc1 fc2)
check "drop: fc1 <-> fc2 punch through before" "$p" eval "[[ '$p' == 'punched=1 / punched=1' ]]"
lab_drop_path fc1 fc2
p=$(punch fc1 fc2)
check "drop: fc1 <-> fc2 no UDP after lab_drop_path" "$p" eval "[[ '$p' == 'punched=0 / punched=0' ]]"
check "drop: the drop rule counted packets" "count $(lab_drop_count fc1 fc2)" test "$(lab_drop_count fc1 fc2)" -gt 0
r=$(probe fc1)
check "drop: fc1 still reaches pub over UDP" "$r" eval "[[ ' $r ' == *' reachable=1 '* ]]"
lab_undrop_path fc1 fc2
p=$(punch fc1 fc2)
check "drop: fc1 <-> fc2 punch through again after lab_undrop_path" "$p" eval "[[ '$p' == 'punched=1 / punched=1' ]]"

# --- lab_flush_conntrack ----------------------------------------------------------------------
out=$WORK/echo.flush
nsbg sym2 timeout 20 python3 -u "$NAT_DIR/echo_probe.py" client "$PUB_IP" 7000 20 6 "$out" >/dev/null 2>&1
sleep 2
t1=$(date +%s.%N)
lab_flush_conntrack sym2
sleep 2
a=$(awk -v t="$t1" '!/^#/ && $2 < t {print $4}' "$out" | sort -u | tr '\n' ' ')
b=$(awk -v t="$t1" '!/^#/ && $2 > t + 0.2 {print $4}' "$out" | sort -u | tr '\n' ' ')
check "flush: sym2's running flow gets a new public port (before: $a, after: $b)" "before: $a after: $b" \
  eval "[[ -n '$a' && -n '$b' && '$a' != '$b' && '$a$b' == '198.51.100.42:'*' 198.51.100.42:'*' ' ]]"

# --- transfers --------------------------------------------------------------------------------
if transfer_ok open1 open2 "$(host_ip open2)" 20; then
  pass "transfer_ok: 20 MB open1 -> open2: ${XFER_INFO[t]}"
else
  fail "transfer_ok: 20 MB open1 -> open2: ${XFER_INFO[t]}"
fi
xfer_start paced open2 open1 "$(host_ip open1)" 100 2 30
sleep 2
xfer_stop paced
check "xfer: a paced stream stopped early arrives intact" "${XFER_INFO[paced]:-}" xfer_wait paced 15
check "xfer: it was paced (2 MiB/s for ~2 s: 2-8 MiB)" "${XFER_INFO[paced]}" \
  eval "[[ '${XFER_INFO[paced]}' =~ ^[2-8]\\.[0-9]\\ MiB ]]"

# --- ping_gap and echo_probe gap, on a known 1 s outage ----------------------------------------
ping_start g open1 "$(host_ip open2)" 0.05 6
nsbg open2 python3 -u "$NAT_DIR/echo_probe.py" server "$(host_ip open2)" 7001 >"$WORK/echo2.log" 2>&1
wait_until 5 grep -q ready "$WORK/echo2.log"
nsbg open1 timeout 10 python3 -u "$NAT_DIR/echo_probe.py" client "$(host_ip open2)" 7001 10 5 "$WORK/echo.gap" >/dev/null 2>&1
sleep 2
# The outage is what the nft commands make of `sleep 1` on a loaded machine: bound it by the
# moments around each command (ta..tb drop, tc..td undrop) and check the tools against that.
ms_now() { date +%s%3N; }
ta=$(ms_now)
lab_drop_path open1 open2 ip
tb=$(ms_now)
t0=$(python3 -c "print($tb / 1000)")
sleep 1
tc=$(ms_now)
lab_undrop_path open1 open2
td=$(ms_now)
lo=$((tc - tb)) hi=$((td - ta))
sleep 2.5
ping_stop g
read -r gap lost sent replied <<<"$(ping_gap g)"
check "ping_gap: the outage (${lo}-${hi} ms) shows as a gap of $gap ms ($lost of $sent lost)" "gap $gap ms" \
  test "$gap" -ge $((lo - 60)) -a "$gap" -le $((hi + 160))
read -r first maxgap _ _ <<<"$(python3 "$NAT_DIR/echo_probe.py" gap "$WORK/echo.gap" "$t0")"
check "echo_probe gap: first answer ${first} ms after the drop (outage ${lo}-${hi} ms; max gap $maxgap ms)" \
  "first $first ms" test "$first" -ge $((lo - 50)) -a "$first" -le $((hi + 150)) -a "$maxgap" -ge "$first"
echo "$PASSED passed, $FAILED failed"
finish
