#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2119,SC2317  # lab.sh reads some variables; checks call functions indirectly
# The IPv6 underlay. The rendezvous listens on IPv4 and IPv6 (RV_V6); the peers know it by a name
# with both addresses (lab_hosts_name) and listen on "[::]" (dual stack). Sites (lab.sh):
#   v6a, v6b  IPv6 only, behind a stateful IPv6 firewall (inbound only replies to the exact
#             address and port contacted: like a port-restricted NAT);
#   ds1, ds2  dual stack: that firewall for IPv6, masquerade for IPv4;
#   prc1      IPv4 only (port-restricted NAT; its peer listens on 0.0.0.0).
# Shown:
#   1. v6a x v6b: direct-udp over IPv6 through both firewalls; ping and a checksummed transfer;
#   2. ds1 x ds2: direct-udp, on IPv6 (preferred, RFC 8421); each registered over one family and
#      told the server its other one (ALSO_HERE): its status has a reflexive endpoint of each
#      family, and the rendezvous' status has the other as "also_at";
#   3. ds1 x v6b over IPv6 and ds1 x prc1 over IPv4: direct-udp; ds1 registered over one family,
#      so one of the two reached it at the endpoint it announced with ALSO_HERE;
#   4. v6a x prc1: no common family: relay-udp both ways (the rendezvous relays between its IPv6
#      and IPv4 sockets), and ping through it;
#   5. ds1 with UDP to the rendezvous' first address silently dropped (broken IPv6, or IPv4):
#      registered over UDP at its other address within 3 s (RFC 8305 race: status "via"), and
#      still direct with ds2.
# Env: V6_WAIT (s, 20), V6_MB (MB, 20).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
require_root
require_vpnpeer
require_rendezvous

WAIT=${V6_WAIT:-20}
MB=${V6_MB:-20}
RV_V6=1 LAB_TCP=default RV_TCP_PORT=$RV_PORT
lab_build v6a v6b ds1 ds2 prc1
lab_pki v6a v6b ds1 ds2 prc1
lab_hosts_name rv.lab v6a v6b ds1 ds2 prc1
RV_HOST=rv.lab
LISTEN=([v6a]="[::]" [v6b]="[::]" [ds1]="[::]" [ds2]="[::]")
rv_start || { fail "ipv6: vpnpeer-rendezvous did not start"; finish; }

rv_field() { json_get "$(peer_cfg "$1")" "(s.get('rendezvous') or [{}])[0].get('$2')"; }
# on_v6 A B: A sends to B at an IPv6 endpoint ("[...]:port")
on_v6() { [[ $(peer_field "$(peer_cfg "$1")" "$2" endpoint) == \[* ]]; }
both_v6() { on_v6 "$1" "$2" && on_v6 "$2" "$1"; }
on_v4() { [[ $(peer_field "$(peer_cfg "$1")" "$2" endpoint) != \[* ]]; }
rv_also_at() {
  control_json "$RV_SOCK" "' '.join(str(p.get('also_at')) for p in s['peers'] if p['name'] == '$1')"
}
# up_pair A B PATH: both see each other on PATH within WAIT (PASS/FAIL line)
up_pair() {
  local t0=$SECONDS
  if wait_until "$WAIT" both_on "$1" "$2" "$3"; then
    pass "$1 x $2: $3 both ways in $((SECONDS - t0)) s"
  else
    fail "$1 x $2: not $3 within ${WAIT}s: $(pair_paths "$1" "$2")"
    show_pair_logs "$1" "$2"
    return 1
  fi
}
xfer() { check_transfer "$1" "$2" "$MB" "$3"; }

PEER_PORT=51897
echo "--- IPv6 only on both sides"
pair_start v6a v6b
if up_pair v6a v6b direct-udp; then
  check "v6a sends to v6b at an IPv6 endpoint" "$(pair_paths v6a v6b)" on_v6 v6a v6b
  check "v6a's reflexive endpoint is its own IPv6 address (no NAT)" "$(rv_field v6a reflexive)" \
    test "$(rv_field v6a reflexive)" = "[$(host_ip6 v6a)]:$PEER_PORT"
  check "ping v6a -> v6b" "no reply" wait_until 5 can_ping v6a "${OVERLAY[v6b]}"
  xfer v6a v6b "over IPv6"
fi
pair_stop v6a v6b

echo "--- dual stack on both sides"
pair_start ds1 ds2
if up_pair ds1 ds2 direct-udp; then
  check "ds1 and ds2 settle on IPv6 (preferred)" "$(pair_paths ds1 ds2)" \
    wait_until 10 both_v6 ds1 ds2
  check "ping ds1 -> ds2" "no reply" wait_until 5 can_ping ds1 "${OVERLAY[ds2]}"
  xfer ds2 ds1 "over IPv6"
fi
ref=$(rv_field ds1 reflexive) alt=$(rv_field ds1 reflexive_alt) first=$(rv_field ds1 endpoint)
check "ds1 knows its public endpoint in both families ($ref, $alt)" "reflexive $ref, reflexive_alt $alt" \
  test -n "$ref" -a -n "$alt" -a "${ref:0:1}${alt:0:1}" != "[[" -a "$ref" != "$alt"
check "the rendezvous keeps ds1's other family (also_at $(rv_also_at ds1))" "$(rv_also_at ds1)" \
  test "$(rv_also_at ds1)" = "$alt"
pair_stop ds1 ds2

echo "--- dual stack and IPv6 only"
PEER_PORT=51896
pair_start ds1 v6b
if up_pair ds1 v6b direct-udp; then
  check "v6b reaches ds1 over IPv6 through ds1's firewall" "$(pair_paths ds1 v6b)" on_v6 v6b ds1
  check "ping v6b -> ds1" "no reply" wait_until 5 can_ping v6b "${OVERLAY[ds1]}"
fi
alt6=$(rv_field ds1 reflexive_alt)
pair_stop ds1 v6b

echo "--- dual stack and IPv4 only"
PEER_PORT=51898
pair_start ds1 prc1
if up_pair ds1 prc1 direct-udp; then
  check "prc1 reaches ds1 over IPv4 at ds1's masqueraded address" "$(pair_paths ds1 prc1)" \
    on_v4 prc1 ds1
  check "ping prc1 -> ds1" "no reply" wait_until 5 can_ping prc1 "${OVERLAY[ds1]}"
fi
alt4=$(rv_field ds1 reflexive_alt)
pair_stop ds1 prc1
# ds1 registers over one family (the resolver's first), so one of the two partners above could
# only reach it at the endpoint it announced with ALSO_HERE.
check "v6b or prc1 used the endpoint ds1 announced with ALSO_HERE ($alt6 / $alt4)" \
  "reflexive_alt $alt6 / $alt4" test -n "$alt6" -a -n "$alt4"

echo "--- dual stack, and the rendezvous' first address gives no answer"
PEER_PORT=51895
# Drop our UDP to the address ds1 used first above, so the handshake there hears nothing.
if [[ $first == \[* ]]; then
  block="ip6 daddr $PUB_IP6 udp dport $RV_PORT drop" other="$PUB_IP:$RV_PORT"
else
  block="ip daddr $PUB_IP udp dport $RV_PORT drop" other="[$PUB_IP6]:$RV_PORT"
fi
nsx ds1 nft -f - <<EOF
table inet lab_broken {
  chain out {
    type filter hook output priority 0;
    $block
  }
}
EOF
t0=$SECONDS
pair_start ds1 ds2
registered_udp() { [[ $(rv_field ds1 registered) == 1 && $(rv_field ds1 transport) == udp ]]; }
if wait_until 3 registered_udp; then
  pass "ds1 registered over UDP in $((SECONDS - t0)) s with $first dropped"
else
  fail "ds1 not registered over UDP within 3 s with $first dropped: $(rv_field ds1 state), transport $(rv_field ds1 transport), $(rv_field ds1 last_error)"
fi
check "ds1 reaches the rendezvous via $other ($(rv_field ds1 via): $(rv_field ds1 via_reason))" \
  "via $(rv_field ds1 via)" test "$(rv_field ds1 via)" = "$other"
up_pair ds1 ds2 direct-udp || true
pair_stop ds1 ds2
nsx ds1 nft delete table inet lab_broken

echo "--- IPv6 only and IPv4 only"
PEER_PORT=51899
pair_start v6a prc1
if up_pair v6a prc1 relay-udp; then
  check "ping v6a -> prc1 through the relay" "no reply" wait_until 5 can_ping v6a "${OVERLAY[prc1]}"
  check "ping prc1 -> v6a through the relay" "no reply" can_ping prc1 "${OVERLAY[v6a]}" 3
fi
pair_stop v6a prc1
echo "$PASSED passed, $FAILED failed"
finish
