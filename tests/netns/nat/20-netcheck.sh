#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # PEER_PORT and result tables are read by lab.sh functions; checks call functions indirectly
# `vpnpeer netcheck --server 198.51.100.1:3478 --json` from a host behind each NAT kind of the
# lab must classify it: open, full-cone, restricted-cone, port-restricted-cone, symmetric,
# udp-blocked. The rendezvous listens on 198.51.100.1:3478 with alt_port 3479 and alt_address
# 198.51.100.2, so netcheck can ask for answers from another port and another address: that is
# what tells a full cone from a restricted one. 00-nat-behaviour.sh shows with plain UDP that
# each site really behaves as its kind says. Each host runs netcheck once, on a fresh lab,
# because a restricted cone remembers every address the host contacted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

lab_build open1 fc1 rc1 prc1 sym1 blk
lab_pki
rv_start || { fail "netcheck: vpnpeer-rendezvous did not start"; finish; }

declare -A WANT=([open1]=open [fc1]=full-cone [rc1]=restricted-cone [prc1]=port-restricted-cone
  [sym1]=symmetric [blk]=udp-blocked)

for h in open1 fc1 rc1 prc1 sym1 blk; do
  out=$WORK/netcheck.$h.json
  rc=0
  nsx "$h" timeout 30 "$VPNPEER" netcheck --server "$PUB_IP:$RV_PORT" --json >"$out" 2>"$out.err" || rc=$?
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("nat_type", "<none>"))' \
    "$out" 2>/dev/null || echo "<no JSON>")
  check "netcheck $h: nat_type ${WANT[$h]}" \
    "got $got (exit $rc): $(head -c 400 "$out" | tr -d '\n') $(head -c 200 "$out.err" | tr -d '\n')" \
    test "$got" = "${WANT[$h]}"
  # Where UDP gets out, the public endpoint netcheck reports must be the one the NAT gives.
  if [[ $h != blk ]]; then
    pubep=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("public_endpoint"))' \
      "$out" 2>/dev/null || echo "<no JSON>")
    check "netcheck $h: public_endpoint at $(mapped_ip "$h")" "got $pubep" \
      test "${pubep%:*}" = "$(mapped_ip "$h")"
  fi
done
echo "$PASSED passed, $FAILED failed"
finish
