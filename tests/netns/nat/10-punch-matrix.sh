#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and result tables are read by lab.sh functions; checks call functions indirectly
# Every pair connects, on the best path possible (docs/paths.md): every pair of NAT kinds of the
# lab (lab.sh: open, full cone, restricted, port-restricted, symmetric, UDP-blocked) and two hosts
# behind one NAT. One lab and one vpnpeer-rendezvous for the whole matrix; pairs that share no
# host run at once (MATRIX_PAR at a time), each on a fresh UDP port so that no NAT binding of an
# earlier pair can help a later one. The peers know each other's names only ([[peers]] without
# endpoint) and the rendezvous ([[rendezvous]] with its UDP and TCP addresses); the open hosts
# accept TCP (tcp_listen = true), as a public host can.
#
#   best path, seen from each side:
#     direct-udp  where punching works (00-nat-behaviour.sh shows plain UDP gets through), with
#                 the endpoint at the other's public address (its LAN address for the same-NAT
#                 pair: the lab does not hairpin) and a status that agrees (candidate succeeded,
#                 rendezvous registered, reflexive address at our NAT);
#     relay-udp   symmetric x symmetric and port-restricted x symmetric: no direct path exists;
#     direct-tcp  UDP-blocked x open: the open host accepts TCP;
#     relay-tcp   UDP-blocked x anything else, on the blocked side (relay-udp on the other side,
#                 which reaches the relay over UDP); the blocked side registers over TCP.
#   every pair: ping both ways through the tunnel, 5 MB over TCP with the same sha256.
#
# Env: PUNCH_WAIT (s, default 30) bounds each wait; TRANSFER_MB (5); MATRIX_PAR (4).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${PUNCH_WAIT:-30}
MB=${TRANSFER_MB:-5}
PAR=${MATRIX_PAR:-4}
MATRIX_KINDS=(open full restricted port symmetric blocked)
HOSTS=(open1 open2 fc1 fc2 rc1 rc2 prc1 prc1b prc2 sym1 sym2 blk blk2)

lab_build open1 open2 fc1 fc2 rc1 rc2 prc1 prc2 sym1 sym2 blk blk2
lab_pki "${HOSTS[@]}"
TCP_LISTEN[open1]=1
TCP_LISTEN[open2]=1
rv_start || { fail "matrix: vpnpeer-rendezvous did not start"; finish; }
rv_tcp_listening || fail "matrix: the rendezvous does not listen on TCP $RV_TCP_PORT (blocked pairs cannot connect)"

# best_paths K1 K2 -> "PATH1 PATH2": the best path as seen by the K1 side and by the K2 side
best_paths() {
  case "$1,$2" in
    blocked,blocked) echo "relay-tcp relay-tcp" ;;
    blocked,open) echo "direct-tcp direct-tcp" ;;
    open,blocked) echo "direct-tcp direct-tcp" ;;
    blocked,*) echo "relay-tcp relay-udp" ;;
    *,blocked) echo "relay-udp relay-tcp" ;;
    *) if [[ $(pair_expect "$1" "$2") == ok ]]; then echo "direct-udp direct-udp"; else echo "relay-udp relay-udp"; fi ;;
  esac
}

# run_pair NO LABEL H1 H2 PATH1 PATH2 [LAN]: one cell, in a subshell (par_run). Prints
#   "CELL: LABEL TEXT" for the table. LAN=1: the direct endpoints are LAN addresses.
run_pair() {
  local no=$1 label=$2 h1=$3 h2=$4 p1=$5 p2=$6 lan=${7:-0}
  local c1 c2 t0 why="" e1 e2 want1 want2 secs h
  PEER_PORT=$((51820 + no))
  c1=$(peer_cfg "$h1") c2=$(peer_cfg "$h2")
  t0=$SECONDS
  pair_start "$h1" "$h2"
  if ! wait_until "$WAIT" both_on "$h1" "$h2" "$p1" "$p2"; then
    why="not established on $p1 / $p2 within ${WAIT}s: $(pair_paths "$h1" "$h2")"
  else
    secs=$((SECONDS - t0))
    if [[ $p1 == direct-udp ]]; then
      if ((lan)); then want1=$(host_ip "$h2") want2=$(host_ip "$h1"); else
        want1=$(mapped_ip "$h2") want2=$(mapped_ip "$h1"); fi
    else
      want1="" want2=""
    fi
    e1=$(peer_field "$c1" "$h2" endpoint || true)
    e2=$(peer_field "$c2" "$h1" endpoint || true)
    if [[ $e1 != "$want1"* || $e2 != "$want2"* ]]; then
      why="endpoints $h1->$e1 $h2->$e2, wanted $want1:* and $want2:*"
    elif ! wait_until 5 can_ping "$h1" "${OVERLAY[$h2]}"; then
      why="no ping $h1 -> ${OVERLAY[$h2]} through the tunnel"
    elif ! can_ping "$h2" "${OVERLAY[$h1]}" 3; then
      why="no ping $h2 -> ${OVERLAY[$h1]} through the tunnel"
    elif ! transfer_ok "$h1" "$h2" "${OVERLAY[$h2]}" "$MB"; then
      why="$MB MB over TCP $h1 -> $h2 through the tunnel: ${XFER_INFO[t]}"
    else
      pass "$label ($h1, $h2): $p1 / $p2 in ${secs}s ($e1 / $e2), ping both ways, $MB MB sha256 ok"
    fi
    if [[ $p1 == direct-udp ]]; then
      # What status says must match the path that works (separate from the cell: connectivity).
      check "$label: $h1's status: candidate $e1 succeeded, rendezvous registered, reflexive $(mapped_ip "$h1")" \
        "$(status_extract "$c1" "$h2")" status_consistent "$c1" "$h2" "$e1" "$(mapped_ip "$h1")"
      check "$label: $h2's status: candidate $e2 succeeded, rendezvous registered, reflexive $(mapped_ip "$h2")" \
        "$(status_extract "$c2" "$h1")" status_consistent "$c2" "$h1" "$e2" "$(mapped_ip "$h2")"
    fi
    for h in "$h1" "$h2"; do
      [[ $(site_kind "$(host_site "$h")") == blocked ]] || continue
      check "$label: $h registered with the rendezvous over TCP" "$(rv_summary "$(peer_cfg "$h")")" \
        rv_registered_via "$(peer_cfg "$h")" tcp
    done
  fi
  if [[ -n $why ]]; then
    echo "CELL: $label FAIL"
    fail "$label ($h1, $h2): $why"
    show_pair_logs "$h1" "$h2"
  elif [[ $p1 == "$p2" ]]; then
    echo "CELL: $label $p1"
  else
    echo "CELL: $label $p1/${p2#*-}"
  fi
  pair_stop "$h1" "$h2"
  check "$label: both daemons exited on SIGTERM within 5 s" "needed SIGKILL: ${PEER_STOP_FORCED[*]}" \
    test "${#PEER_STOP_FORCED[@]}" -eq 0
}

# The schedule: rounds of at most PAR pairs that share no host (diagonal pairs first, as they
# need both hosts of their kind). Lines "ROUND LABEL H1 H2 K1 K2".
schedule=$(python3 - "$PAR" "${MATRIX_KINDS[*]}" "$(for k in "${MATRIX_KINDS[@]}"; do printf '%s=%s;' "$k" "${KIND_SITES[$k]}"; done)" <<'EOF'
import sys
par, kinds = int(sys.argv[1]), sys.argv[2].split()
sites = {k: v.split() for k, v in (x.split("=") for x in sys.argv[3].split(";") if x)}
items = [(f"{k1},{k2}", k1, k2) for i, k1 in enumerate(kinds) for k2 in kinds[i:]]
items.sort(key=lambda x: x[1] != x[2])
items.append(("same-nat", "port", "port"))
rounds = []
for label, k1, k2 in items:
    if label == "same-nat":
        options = [("prc1", "prc1b")]
    elif k1 == k2:
        options = [tuple(sites[k1])]
    else:
        options = [(a, b) for a in sites[k1] for b in sites[k2]]
    for r in rounds:
        if len(r) >= par:
            continue
        used = {h for _, h1, h2, _, _ in r for h in (h1, h2)}
        o = next((o for o in options if not set(o) & used), None)
        if o:
            r.append((label, *o, k1, k2))
            break
    else:
        rounds.append([(label, *options[0], k1, k2)])
for i, r in enumerate(rounds):
    for label, h1, h2, k1, k2 in r:
        print(i, label, h1, h2, k1, k2)
EOF
)
nrounds=$(($(tail -n 1 <<<"$schedule" | cut -d' ' -f1) + 1))
log "$(wc -l <<<"$schedule") pairs in $nrounds rounds of at most $PAR"
declare -A CELL=()
no=0
for ((r = 0; r < nrounds; r++)); do
  tags=()
  while read -r _ label h1 h2 k1 k2; do
    no=$((no + 1))
    read -r p1 p2 <<<"$(best_paths "$k1" "$k2")"
    lan=0
    [[ $label == same-nat ]] && lan=1
    par_run "p$no" run_pair "$no" "$label" "$h1" "$h2" "$p1" "$p2" "$lan"
    tags+=("p$no")
  done < <(awk -v r="$r" '$1 == r' <<<"$schedule")
  par_wait "${tags[@]}"
  for t in "${tags[@]}"; do
    while read -r _ label cell; do CELL[$label]=$cell; done < <(grep '^CELL: ' "$WORK/par.$t.out")
  done
  # Peers must not have taken the rendezvous down with them.
  kill -0 "$RV_PID" 2>/dev/null || { fail "matrix round $r: vpnpeer-rendezvous exited"; show_log "$RV_LOG"; rv_start || true; }
done

matrix_print "vpnpeer path matrix (the path each pair settled on; X/tcp: X on one side, relay-tcp on the UDP-blocked side; FAIL: not on the best path):" CELL
echo "$PASSED passed, $FAILED failed"
finish
