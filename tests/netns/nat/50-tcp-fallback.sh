#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# A site whose firewall drops all UDP from its LAN (blk, blk2: lab.sh "blocked") still connects,
# over TCP to the rendezvous on 198.51.100.1:443 (docs/paths.md, rule 8):
#   blk  x prc1   blk registers over TCP (status rendezvous[0].transport "tcp") and reaches prc1
#                 through the relay: relay-tcp on blk's side, relay-udp on prc1's;
#   blk2 x open1  open1 accepts TCP (tcp_listen = true, a public host): direct-tcp on both sides.
# Both pairs run at once; each: ping both ways and 50 MB over TCP through the tunnel with the same
# sha256. All of it three times: the rendezvous's TCP listener on 443 with TLS (tcp_tls = true,
# peers tls = true), without (false / false), and with no TCP key in any file (LAB_TCP=default:
# the rendezvous listens on TCP with TLS at its UDP port, and the peers find it there); the
# rendezvous is restarted in between.
# Env: TCP_WAIT (s, 30: udp_timeout 3 s, TCP, registration, relay_after and the handshake), TCP_MB (50).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${TCP_WAIT:-30}
# rv_tcp_fallback_is CFG ENDPOINT: the peer's status names ENDPOINT as its rendezvous' TCP fallback
rv_tcp_fallback_is() { [[ $(json_get "$1" "(s.get('rendezvous') or [{}])[0].get('tcp')") == "$2" ]]; }
MB=${TCP_MB:-50}
lab_build blk blk2 prc1 open1
lab_pki blk blk2 prc1 open1
TCP_LISTEN[open1]=1

# tcp_case LABEL BLOCKED OTHER PATH_BLOCKED PATH_OTHER
tcp_case() {
  local label=$1 a=$2 b=$3 pa=$4 pb=$5 t0 ca why=""
  ca=$(peer_cfg "$a")
  t0=$SECONDS
  pair_start "$a" "$b"
  if wait_until "$WAIT" rv_registered_via "$ca" tcp; then
    pass "$label: $a registered with the rendezvous over TCP in $((SECONDS - t0)) s"
  else
    fail "$label: $a not registered over TCP within ${WAIT}s: rendezvous $(rv_summary "$ca")"
  fi
  if [[ $LAB_TCP == default ]]; then
    check "$label: $a's status names the fallback found without a tcp key" "$(rv_summary "$ca")" \
      rv_tcp_fallback_is "$ca" "$PUB_IP:$RV_PORT"
  fi
  if ! wait_until "$WAIT" both_on "$a" "$b" "$pa" "$pb"; then
    fail "$label: not established ($a: $pa, $b: $pb) within ${WAIT}s: $(pair_paths "$a" "$b")"
    show_pair_logs "$a" "$b"
    pair_stop "$a" "$b"
    return
  fi
  pass "$label: established in $((SECONDS - t0)) s, $pa on $a's side, $pb on $b's"
  check "$label: ping $a -> $b" "no reply" wait_until 5 can_ping "$a" "${OVERLAY[$b]}"
  check "$label: ping $b -> $a" "no reply" can_ping "$b" "${OVERLAY[$a]}" 3
  if transfer_ok "$a" "$b" "${OVERLAY[$b]}" "$MB"; then
    pass "$label: $MB MB $a -> $b: ${XFER_INFO[t]}"
  else
    why=${XFER_INFO[t]}
    fail "$label: $MB MB $a -> $b failed: $why"
  fi
  check "$label: still $pa / $pb after the transfer" "$(pair_paths "$a" "$b")" both_on "$a" "$b" "$pa" "$pb"
  [[ -z $why ]] || show_pair_logs "$a" "$b"
  pair_stop "$a" "$b"
}

n=0
for mode in tls-false tls-true default; do
  if [[ $mode == default ]]; then
    LAB_TCP=default LAB_TLS=true RV_TCP_PORT=$RV_PORT
  else
    LAB_TCP=explicit LAB_TLS=${mode#tls-} RV_TCP_PORT=443
  fi
  rv_kill
  rv_write
  rv_start || { fail "tcp ($mode): vpnpeer-rendezvous did not start"; continue; }
  check "tcp ($mode): the rendezvous listens on TCP $PUB_IP:$RV_TCP_PORT" "nothing listens" rv_tcp_listening
  PEER_PORT=$((51830 + n))
  n=$((n + 1))
  par_run "relay$mode" tcp_case "tcp ($mode) blocked x port-restricted" blk prc1 relay-tcp relay-udp
  par_run "direct$mode" tcp_case "tcp ($mode) blocked x open with tcp_listen" blk2 open1 direct-tcp direct-tcp
  par_wait "relay$mode" "direct$mode"
done
echo "$PASSED passed, $FAILED failed"
finish
