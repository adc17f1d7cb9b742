#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Relay through the rendezvous where no direct path can exist (docs/paths.md):
#   symmetric x symmetric            (sym1, sym2)
#   port-restricted x symmetric      (prc1, sym3)
# The two pairs run at once. For each: both sides established on relay-udp within RELAY_WAIT s
# (relay_after 2 s, then a channel and the handshake over it), ping both ways through the tunnel,
# 50 MB over TCP through the tunnel with the same sha256 at both ends, status names the relay
# (peers[].relay) and a reason, and `vpnpeer explain` says that a symmetric NAT is why.
# Env: RELAY_WAIT (s, 30), RELAY_MB (50).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${RELAY_WAIT:-30}
MB=${RELAY_MB:-50}
lab_build sym1 sym2 prc1 sym3
lab_pki sym1 sym2 prc1 sym3
rv_start || { fail "relay: vpnpeer-rendezvous did not start"; finish; }

# relay_case LABEL H1 H2: one pair, in its own subshell (par_run)
relay_case() {
  local label=$1 a=$2 b=$3 t0 ca cb why=""
  ca=$(peer_cfg "$a") cb=$(peer_cfg "$b")
  t0=$SECONDS
  pair_start "$a" "$b"
  if ! wait_until "$WAIT" both_on "$a" "$b" relay-udp; then
    fail "$label: not both established on relay-udp within ${WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
    pair_stop "$a" "$b"
    return
  fi
  pass "$label: both established on relay-udp in $((SECONDS - t0)) s"
  check "$label: ping $a -> $b through the relay" "no reply" wait_until 5 can_ping "$a" "${OVERLAY[$b]}"
  check "$label: ping $b -> $a through the relay" "no reply" can_ping "$b" "${OVERLAY[$a]}" 3
  if transfer_ok "$a" "$b" "${OVERLAY[$b]}" "$MB"; then
    pass "$label: $MB MB $a -> $b through the relay: ${XFER_INFO[t]}"
  else
    why="${XFER_INFO[t]}"
    fail "$label: $MB MB $a -> $b through the relay failed: $why"
  fi
  check "$label: still on relay-udp after the transfer" "$(pair_paths "$a" "$b")" both_on "$a" "$b" relay-udp
  check "$label: $a's status names the relay (198.51.100.1:3478) and a reason" "$(path_summary "$ca" "$b")" \
    eval "[[ \$(json_get $ca \"str(peer('$b').get('relay')).startswith('$PUB_IP:') and bool(peer('$b').get('path_reason'))\") == 1 ]]"
  # The peer's NAT type comes with an introduction after its discovery finished (a few seconds
  # after start; the background direct retries bring new introductions): wait for it, bounded.
  local ex i
  for ((i = 0; i < 25; i++)); do
    ex=$(explain "$a" "$b")
    grep -qiE "^why:.*(peer's symmetric|both sides symmetric)" <<<"$ex" && break
    sleep 1
  done
  check "$label: vpnpeer explain $b (on $a) says relay, and why names the peer's symmetric NAT" \
    "explain printed: $(head -c 600 <<<"$ex" | tr '\n' '|')" \
    eval "grep -qiE \"^why:.*(peer's symmetric|both sides symmetric)\" <<<\"\$ex\" && grep -qi relay <<<\"\$ex\""
  log "$label: explain $b on $a:"
  head -n 12 <<<"$ex" | while IFS= read -r l; do log "  > $l"; done
  [[ -z $why ]] || show_pair_logs "$a" "$b"
  pair_stop "$a" "$b"
  check "$label: both daemons exited on SIGTERM within 5 s" "needed SIGKILL: ${PEER_STOP_FORCED[*]}" \
    test "${#PEER_STOP_FORCED[@]}" -eq 0
}

par_run sym relay_case "relay sym x sym" sym1 sym2
par_run prc relay_case "relay prc x sym" prc1 sym3
par_wait sym prc
check "relay: vpnpeer-rendezvous still running" "it exited" kill -0 "$RV_PID"
echo "$PASSED passed, $FAILED failed"
finish
