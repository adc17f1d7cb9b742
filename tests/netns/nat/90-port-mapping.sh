#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# Port mapping against a real router implementation: map1 and map2 sit behind symmetric NATs
# whose routers run Debian's miniupnpd (lab.sh kind "mapping"). Symmetric x symmetric is relayed
# without a mapping (nat/40); here:
#   1. [nat] port_mapping off on both: relay-udp, and miniupnpd holds no mapping;
#   2. the default (on): each peer maps its port with PCP (status: port_mapping mapped, pcp, the
#      router's wan address), announces it as a "mapped" candidate, and the pair ends on
#      direct-udp both ways; ping and 20 MB with the same sha256 through the direct path;
#   3. stopping the peers deletes their mappings (the router's nft rules for them are gone);
#   4. sym1 x map1 and prc1 x map1 (relayed without a mapping, nat/40) end on direct-udp to
#      map1's mapped endpoint;
#   5. upn1's router offers UPnP-IGD only (lab.sh kind "upnp"): PCP and NAT-PMP get no answer,
#      the peer maps through UPnP, upn1 x sym1 ends on direct-udp to that endpoint, and stopping
#      deletes the mapping;
# and before that, `vpnpeer netcheck` reports map1's router maps with PCP and upn1's with UPnP,
# and deletes its test mappings again.
# Env: MAP_WAIT (s, 30), MAP_MB (20).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous
MINIUPNPD=${MINIUPNPD:-/usr/sbin/miniupnpd}
[[ -x $MINIUPNPD ]] || need_tool miniupnpd miniupnpd-nftables
[[ -x $MINIUPNPD ]] || { fail "port mapping: miniupnpd is not installed (apt-get install miniupnpd-nftables)"; finish; }

WAIT=${MAP_WAIT:-30}
MB=${MAP_MB:-20}
lab_build map1 map2 upn1 sym1 prc1
lab_pki map1 map2 upn1 sym1 prc1
rv_start || { fail "port mapping: vpnpeer-rendezvous did not start"; finish; }

# router_maps SITE PORT: the router's nftables hold a DNAT rule to PORT (a mapping)
router_maps() {
  nsx "r-$1" nft list table inet lab_upnp 2>/dev/null | grep -q "dnat ip to .*:$2"
}
# at_mapped H PEER: H sends to PEER's mapped endpoint
at_mapped() { [[ $(peer_field "$(peer_cfg "$1")" "$2" endpoint) == "$(map_field "$(peer_cfg "$2")" external)" ]]; }
router_clear() { ! router_maps "$1" "$2"; }
map_field() { json_get "$1" "(s.get('port_mapping') or {}).get('$2')"; }
map_state_is() { [[ $(map_field "$1" state) == "$2" ]]; }
external_at() { [[ $(map_field "$1" external) == "$2":* ]]; }
mapped_as() { [[ $(map_field "$1" state) == mapped && $(map_field "$1" protocol) == "$2" ]]; }
# via_mapping: one side sends to the other's mapped endpoint (the other answers from a port its
# symmetric NAT picked, so its own view shows that one)
via_mapping() {
  [[ $(peer_field "$ca" map2 endpoint) == "$(map_field "$cb" external)" ||
    $(peer_field "$cb" map1 endpoint) == "$(map_field "$ca" external)" ]]
}

# 0. netcheck asks the router too, and deletes its test mapping again.
for site in map1 upn1; do
  want=pcp
  [[ $site == upn1 ]] && want=upnp
  nc=$WORK/netcheck.$site.json
  nsx "$site" timeout 30 "$VPNPEER" netcheck --server "$PUB_IP:$RV_PORT" --json >"$nc" 2>"$nc.err" || true
  nc_map=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["port_mapping"]; print(m["state"], m["protocol"], m["external"])' "$nc" 2>/dev/null || echo "<no port_mapping>")
  check "netcheck in $site: the router maps with $want (${nc_map})" "$(head -c 300 "$nc.err")" \
    test "${nc_map% *}" = "mapped $want"
  check "netcheck in $site: its test mapping is gone afterwards" "a rule stays" \
    wait_until 5 router_clear "$site" "${nc_map##*:}"
done

# 1. Port mapping off: symmetric x symmetric stays relayed.
PEER_PORT=51850
PORT_MAPPING=([map1]=false [map2]=false)
pair_start map1 map2
if wait_until "$WAIT" both_on map1 map2 relay-udp; then
  pass "mapping off: relay-udp both ways, as for any symmetric pair"
else
  fail "mapping off: not relayed within ${WAIT}s: $(pair_paths map1 map2)"
fi
check "mapping off: status says off" "$(map_field "$(peer_cfg map1)" state)" \
  map_state_is "$(peer_cfg map1)" off
check "mapping off: the router maps nothing" "a rule exists" router_clear map1 51850
pair_stop map1 map2

# 2. The default: both map with PCP and go direct.
PEER_PORT=51851
PORT_MAPPING=()
t0=$SECONDS
pair_start map1 map2
ca=$(peer_cfg map1) cb=$(peer_cfg map2)
if wait_until "$WAIT" mapped_as "$ca" pcp && wait_until 5 mapped_as "$cb" pcp; then
  pass "map1 and map2 map their port with PCP in $((SECONDS - t0)) s: $(map_field "$ca" external), $(map_field "$cb" external)"
else
  fail "no PCP mapping within ${WAIT}s: map1 $(json_get "$ca" "s.get('port_mapping')"), map2 $(json_get "$cb" "s.get('port_mapping')")"
  log "miniupnpd map1:"; show_log "$WORK/miniupnpd.map1.log" 10
fi
check "the mapped endpoint is the router's wan address" "$(map_field "$ca" external)" \
  external_at "$ca" 11.0.0.40
# Waits: a listing taken while miniupnpd changes the table can come back short.
check "miniupnpd forwards map1's port" "no DNAT rule: $(nsx r-map1 nft list table inet lab_upnp 2>&1 | grep -E "dnat|udp" | head -5)" \
  wait_until 5 router_maps map1 51851
if wait_until "$WAIT" both_on map1 map2 direct-udp; then
  pass "symmetric x symmetric with mappings: direct-udp both ways in $((SECONDS - t0)) s"
else
  fail "not direct within ${WAIT}s: $(pair_paths map1 map2)"
  show_pair_logs map1 map2
fi
check "the direct path goes to a mapped endpoint" "$(pair_paths map1 map2)" via_mapping
check "ping map1 -> map2" "no reply" wait_until 5 can_ping map1 "${OVERLAY[map2]}"
check "ping map2 -> map1" "no reply" can_ping map2 "${OVERLAY[map1]}" 3
if transfer_ok map1 map2 "${OVERLAY[map2]}" "$MB"; then
  pass "$MB MB map1 -> map2 direct: ${XFER_INFO[t]}"
else
  fail "$MB MB map1 -> map2 failed: ${XFER_INFO[t]}"
fi
check "still direct-udp after the transfer" "$(pair_paths map1 map2)" both_on map1 map2 direct-udp

# 3. Stopping deletes the mappings.
peer_stop map1
peer_stop map2
check "map1's mapping is deleted when it stops" "the rule stays" \
  wait_until 5 router_clear map1 51851
check "map2's mapping is deleted when it stops" "the rule stays" \
  wait_until 5 router_clear map2 51851

# 4. One mapped side is enough: the two other pairs the matrix relays (nat/40: symmetric x
# symmetric, port-restricted x symmetric) go direct when the symmetric side's router maps.
n=0
for other in sym1 prc1; do
  PEER_PORT=$((51860 + n))
  n=$((n + 1))
  t0=$SECONDS
  pair_start "$other" map1
  if wait_until "$WAIT" both_on "$other" map1 direct-udp; then
    pass "$(site_kind "$other") x symmetric with a mapping: direct-udp both ways in $((SECONDS - t0)) s"
    check "$other reaches map1 at its mapped endpoint" "$(pair_paths "$other" map1)" \
      at_mapped "$other" map1
    check "ping $other -> map1" "no reply" wait_until 5 can_ping "$other" "${OVERLAY[map1]}"
  else
    fail "$(site_kind "$other") x symmetric with a mapping: not direct within ${WAIT}s: $(pair_paths "$other" map1)"
    show_pair_logs "$other" map1
  fi
  pair_stop "$other" map1
done

# 5. A router with UPnP-IGD only.
PEER_PORT=51870
t0=$SECONDS
pair_start upn1 sym1
cu=$(peer_cfg upn1)
if wait_until "$WAIT" mapped_as "$cu" upnp; then
  pass "upn1 maps its port with UPnP-IGD in $((SECONDS - t0)) s: $(map_field "$cu" external)"
else
  fail "no UPnP mapping within ${WAIT}s: $(json_get "$cu" "s.get('port_mapping')")"
  log "miniupnpd upn1:"; show_log "$WORK/miniupnpd.upn1.log" 10
fi
check "the UPnP mapping is at the router's wan address" "$(map_field "$cu" external)" \
  external_at "$cu" 11.0.0.44
upnp_port=$(map_field "$cu" external)
upnp_port=${upnp_port##*:}
check "miniupnpd forwards upn1's port" "no DNAT rule: $(nsx r-upn1 nft list table inet lab_upnp 2>&1 | grep -E "dnat|udp" | head -5)" wait_until 5 router_maps upn1 51870
if wait_until "$WAIT" both_on upn1 sym1 direct-udp; then
  pass "symmetric x symmetric with a UPnP mapping: direct-udp both ways in $((SECONDS - t0)) s"
  check "sym1 reaches upn1 at its mapped endpoint" "$(pair_paths upn1 sym1)" at_mapped sym1 upn1
  check "ping sym1 -> upn1" "no reply" wait_until 5 can_ping sym1 "${OVERLAY[upn1]}"
else
  fail "UPnP mapping: not direct within ${WAIT}s: $(pair_paths upn1 sym1)"
  show_pair_logs upn1 sym1
fi
pair_stop upn1 sym1
check "upn1's UPnP mapping is deleted when it stops" "the rule stays" \
  wait_until 5 router_clear upn1 "$upnp_port"
echo "$PASSED passed, $FAILED failed"
finish
