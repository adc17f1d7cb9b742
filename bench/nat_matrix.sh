#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and PORT_MAPPING are read by lab.sh functions
# bench/nat_matrix.sh: which NAT pairs end direct, with and without port mapping and port
# prediction, how long they take, and the relay bytes they save.
#
# The NAT lab of tests/netns/nat/lab.sh with two sites of each kind: open, full cone, restricted,
# port-restricted, symmetric, and "mapping" (symmetric, with Debian's miniupnpd in the router,
# answering PCP, NAT-PMP and UPnP-IGD). Every pair of kinds runs three times, one pair at a time
# on a fresh UDP port: with `[nat] port_mapping = false` in every peer file (what vpnpeer did
# before port mapping; the mapping routers are then plain symmetric NATs), with the defaults, and
# with the defaults plus `[nat] port_prediction = true`. Per run:
# both peers start at once; the path each side settles on within SETTLE seconds (relayed pairs
# are upgraded as soon as a direct path answers, so the run waits for direct-udp up to then);
# the time from start until both sides were on that path (each daemon's own clock: its uptime
# less the age of its last path change); then MB of TCP through the tunnel, and the bytes
# the rendezvous relayed meanwhile (its relayed_bytes counter). UDP-blocked sites are left out:
# they go over TCP whatever the NAT on the other side does.
#
#   sudo bench/nat_matrix.sh                 # SETTLE=15 MB=10
# Prints a table per condition, the share of pairs direct in each, and the relay bytes saved.
set -euo pipefail
REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../tests/netns/nat/lab.sh
source "$REPO_ROOT/tests/netns/nat/lab.sh"
require_root
require_vpnpeer
require_rendezvous
MINIUPNPD=${MINIUPNPD:-/usr/sbin/miniupnpd}
[[ -x $MINIUPNPD ]] || need_tool miniupnpd miniupnpd-nftables
[[ -x $MINIUPNPD ]] || die "miniupnpd is not installed (apt-get install miniupnpd-nftables)"

SETTLE=${SETTLE:-15}
MB=${MB:-10}
KINDS=(open full restricted port symmetric mapping)
declare -A TWO=([open]="open1 open2" [full]="fc1 fc2" [restricted]="rc1 rc2" [port]="prc1 prc2"
  [symmetric]="sym1 sym2" [mapping]="map1 map2")
ALL=(open1 open2 fc1 fc2 rc1 rc2 prc1 prc2 sym1 sym2 map1 map2)
lab_build "${ALL[@]}"
lab_pki "${ALL[@]}"
rv_start || die "vpnpeer-rendezvous did not start"

rv_relayed() { control_json "$RV_SOCK" "s['counters']['relayed_bytes']"; }
path_of() { json_get "$(peer_cfg "$1")" "peer('$2').get('path') if peer('$2').get('state') == 'established' else 'none'" 2>/dev/null || echo none; }
both_direct() { both_on "$1" "$2" direct-udp; }
# on_path_since H PEER -> seconds from H's start until it was on its current path to PEER (its
# own clock: uptime less the age of the last path change, or of the session)
on_path_since() {
  json_get "$(peer_cfg "$1")" "s['uptime_s'] - ((peer('$2').get('history') or [{}])[-1].get('s_ago') or peer('$2').get('last_handshake_s_ago') or 0)"
}

RESULTS=$WORK/matrix.tsv
: >"$RESULTS"
port=52000
for cond in off on predict; do
  for ((i = 0; i < ${#KINDS[@]}; i++)); do
    for ((j = i; j < ${#KINDS[@]}; j++)); do
      k1=${KINDS[$i]} k2=${KINDS[$j]}
      read -r h1 _ <<<"${TWO[$k1]}"
      if [[ $k1 == "$k2" ]]; then read -r _ h2 <<<"${TWO[$k2]}"; else read -r h2 _ <<<"${TWO[$k2]}"; fi
      PORT_MAPPING=() PORT_PREDICTION=()
      if [[ $cond == off ]]; then for h in "$h1" "$h2"; do PORT_MAPPING[$h]=false; done; fi
      if [[ $cond == predict ]]; then for h in "$h1" "$h2"; do PORT_PREDICTION[$h]=true; done; fi
      PEER_PORT=$((port++))
      pair_start "$h1" "$h2"
      wait_until "$SETTLE" both_direct "$h1" "$h2" || true
      p1=$(path_of "$h1" "$h2") p2=$(path_of "$h2" "$h1")
      secs=-
      if [[ $p1 != none && $p2 != none ]]; then
        s1=$(on_path_since "$h1" "$h2") s2=$(on_path_since "$h2" "$h1")
        secs=$(python3 -c "print(f'{max($s1, $s2):.2f}')")
      fi
      relayed=-
      if [[ $p1 != none && $p2 != none ]]; then
        before=$(rv_relayed)
        if transfer_ok "$h1" "$h2" "${OVERLAY[$h2]}" "$MB"; then
          relayed=$(($(rv_relayed) - before))
        else
          relayed="transfer failed: ${XFER_INFO[t]}"
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$cond" "$k1 x $k2" "$p1" "$p2" "$secs" "$relayed" >>"$RESULTS"
      log "$cond: $k1 x $k2 ($h1, $h2): $p1 / $p2 after ${secs} s, relayed $relayed bytes"
      pair_stop "$h1" "$h2"
    done
  done
done

python3 - "$RESULTS" "$MB" <<'PYEOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mb = sys.argv[2]
by = {}
for cond, pair, p1, p2, secs, relayed in rows:
    by.setdefault(pair, {})[cond] = (p1, p2, secs, relayed)
def path(p1, p2):
    return p1 if p1 == p2 else f"{p1}/{p2}"
print(f"\nvpnpeer NAT pair matrix: path each pair settled on (seconds from start until both were on")
print(f"it), and bytes the rendezvous relayed for {mb} MB of TCP")
conds = ("off", "on", "predict")
names = {"off": "port mapping off", "on": "port mapping on (default)",
         "predict": "mapping and prediction on"}
print(f"{'pair':<26} " + " ".join(f"{names[c]:<34}" for c in conds))
totals = {c: [0, 0, 0] for c in conds}
for pair, c in by.items():
    cells = []
    for cond in conds:
        if cond not in c:
            cells.append("-")
            continue
        p1, p2, secs, relayed = c[cond]
        cells.append(f"{path(p1, p2)} ({secs} s, {relayed} B)")
        t = totals[cond]
        t[0] += 1
        t[1] += p1 == p2 == "direct-udp"
        t[2] += int(relayed) if relayed.isdigit() else 0
    print(f"{pair:<26} " + " ".join(f"{x:<34}" for x in cells))
for cond in conds:
    n, d, r = totals[cond]
    if n:
        print(f"{names[cond]}: {d} of {n} pairs direct ({100 * d / n:.0f}%), {r} bytes relayed in all")
for cond in ("on", "predict"):
    saved = totals["off"][2] - totals[cond][2]
    print(f"relay bytes saved with {names[cond]}: {saved} of {totals['off'][2]} "
          f"({100 * saved / max(totals['off'][2], 1):.0f}%)")
PYEOF
exit 0
