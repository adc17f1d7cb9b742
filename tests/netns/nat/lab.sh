# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are read by the scripts that source this file
# tests/netns/nat/lab.sh: a NAT lab in network namespaces for vpnpeer's rendezvous and hole
# punching tests. Source it from a bash script running `set -euo pipefail`.
#
#                  ns "inet": bridge br0 = the public internet, 198.51.100.0/24 (TEST-NET-2)
#   +-------------+-------------+-------------+-------------+-------------+-----------+-------+
#   |             |             |             |             |             |           |       |
#  ns pub      ns r-fc1      ns r-rc1      ns r-prc1     ns r-sym1     ns r-blk   ns open1  ...
#  .1  rendez-  wan .10      wan .20       wan .30       wan .40       wan .50    .61 (no NAT,
#  .2  vous     +.11 (1:1)   +.21 (1:1)    masquerade    snat fully-   UDP out    on the segment)
#               full cone    restricted    port-restr.   random        dropped
#               lan 10.1.1.1 lan 10.2.1.1  lan 10.3.1.1  lan 10.4.1.1  lan 10.5.1.1
#                  |             |           |     |         |             |
#               ns fc1        ns rc1     ns prc1 ns prc1b  ns sym1      ns blk
#               10.1.1.2      10.2.1.2   10.3.1.2 10.3.1.3 10.4.1.2     10.5.1.2
#
#  Second sites of each kind (fc2 .12/.13 10.1.2.0/24, rc2 .22/.23 10.2.2.0/24, prc2 .32
#  10.3.2.0/24, sym2 .42 10.4.2.0/24) and open2 (.62) exist so that every pair, the diagonal
#  included, is two distinct NATs. Each LAN is distinct and no router has a route to another
#  LAN, so a peer can only reach another site through its public (mapped) address.
#
# NAT kinds (nftables in the router namespace, see _nat_rules):
#   full        1:1 snat/dnat of the host to a dedicated public address: any remote may send in.
#   restricted  1:1 NAT + a dynamic set of remote ADDRESSES the host contacted; inbound only from
#               those addresses (any port).
#   port        masquerade: conntrack admits only replies from the exact address:port contacted;
#               Linux keeps the source port when it can, so the mapping is endpoint-independent.
#   symmetric   snat to WAN:20000-60000 fully-random: a new random port for every destination.
#   sequential  symmetric, but ports in sequence: snat to WAN:(20000 + numgen inc mod 8192), so
#               each new mapping (a new destination) takes the next port, as some carrier and
#               office NATs do.
#   blocked     masquerade, but UDP from the LAN is dropped (for later tests; TCP works).
#   mapping     symmetric, and the router runs miniupnpd (PCP, NAT-PMP, UPnP-IGD) for its LAN.
#   upnp        the same, with UPnP-IGD only (miniupnpd's NAT-PMP and PCP off).
#               miniupnpd will not map behind an address of a documentation or private range,
#               so these routers' wan addresses are in 11.0.0.0/24, on the same bridge (an
#               on-link route each way joins the two subnets; nothing leaves the lab).
#   v6only      no IPv4 at all: the router routes the site's IPv6 /64 (SITE6) with a stateful
#               firewall: inbound only what conntrack matches to an outbound flow (exact address
#               and port, like a port-restricted NAT), as IPv6 home routers do.
#   dual        port (IPv4 masquerade) and v6only (IPv6 firewall) at once: a dual-stack host.
# IPv6 (only built when a v6only or dual site is): the bridge is 2001:db8:100::/64, pub is ::1,
# and every router with IPv6 has a route to every site's /64.
# Unsolicited UDP to a router itself is dropped silently, as home routers do (no ICMP back).
#
# Names: namespaces are "$NS_PREFIX<short>" (prefix "vnl-<pid>-"), interfaces live inside them.
# Everything is removed on EXIT by lib.sh's trap (namespaces, tracked pids, WORK), on failure too.

NS_PREFIX=${NS_PREFIX:-vnl-$$-}
NAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$NAT_DIR/../lib.sh"

RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
PUB_IP=198.51.100.1
PUB_ALT_IP=198.51.100.2
PUB_IP6=2001:db8:100::1
RV_PORT=3478
RV_ALT_PORT=3479
PEER_PORT=51820

# site -> "kind wan_ip public_ip lan_prefix hosts"; public_ip is the 1:1 address for full and
# restricted cone, "-" elsewhere. hosts: how many hosts behind the router (names SITE, SITEb).
declare -A SITE=(
  [fc1]="full 198.51.100.10 198.51.100.11 10.1.1 1"
  [fc2]="full 198.51.100.12 198.51.100.13 10.1.2 1"
  [rc1]="restricted 198.51.100.20 198.51.100.21 10.2.1 1"
  [rc2]="restricted 198.51.100.22 198.51.100.23 10.2.2 1"
  [prc1]="port 198.51.100.30 - 10.3.1 2"
  [prc2]="port 198.51.100.32 - 10.3.2 1"
  [sym1]="symmetric 198.51.100.40 - 10.4.1 1"
  [sym2]="symmetric 198.51.100.42 - 10.4.2 1"
  [sym3]="symmetric 198.51.100.44 - 10.4.3 1"
  [seq1]="sequential 198.51.100.90 - 10.9.1 2"
  [seq2]="sequential 198.51.100.92 - 10.9.2 1"
  [blk]="blocked 198.51.100.50 - 10.5.1 1"
  [blk2]="blocked 198.51.100.52 - 10.5.2 1"
  [map1]="mapping 11.0.0.40 - 10.6.1 1"
  [map2]="mapping 11.0.0.42 - 10.6.2 1"
  [upn1]="upnp 11.0.0.44 - 10.6.3 1"
  [mtu1]="port 198.51.100.70 - 10.7.1 1"
  [kat1]="port 198.51.100.72 - 10.7.2 1"
  [kat2]="port 198.51.100.74 - 10.7.3 1"
  [v6a]="v6only - - - 1"
  [v6b]="v6only - - - 1"
  [ds1]="dual 198.51.100.80 - 10.8.1 1"
  [ds2]="dual 198.51.100.82 - 10.8.2 1"
  [open1]="open 198.51.100.61 - - 0"
  [open2]="open 198.51.100.62 - - 0"
)

# IPv6 of the v6only and dual sites: "wan6 lan_prefix6"; the LAN is lan_prefix6::/64, the
# router is ::1 there and the host ::2.
declare -A SITE6=(
  [v6a]="2001:db8:100::80 2001:db8:80"
  [v6b]="2001:db8:100::81 2001:db8:81"
  [ds1]="2001:db8:100::82 2001:db8:82"
  [ds2]="2001:db8:100::83 2001:db8:83"
)

# A smaller uplink: the router's wan link (both ends) has this MTU, and the router sends no ICMP
# "fragmentation needed" for it (filtered, as many firewalls do): a path MTU black hole.
declare -A SITE_MTU=([mtu1]=1280)
# A router that forgets idle UDP flows after this many seconds (conntrack's udp timeouts, both
# the unreplied and the stream one): a NAT with short mapping lifetimes.
declare -A SITE_UDP_TIMEOUT=([kat1]=15 [kat2]=15)

# site_field SITE N -> the Nth field (1-based) of the site's entry
site_field() { local f; read -r -a f <<<"${SITE[$1]}"; printf '%s' "${f[$(($2 - 1))]}"; }
site_kind() { site_field "$1" 1; }

# host_site HOSTNS -> the site the host was built in ("prc1b" is the second host of prc1)
host_site() {
  if [[ -n ${SITE[$1]+x} ]]; then printf '%s' "$1"; else printf '%s' "${1%b}"; fi
}

# Where a host is now: lab_move_host changes both (HOST_AT: site, HOST_ADDR: its address).
declare -A HOST_AT=() HOST_ADDR=()

# host_ip HOSTNS -> the host's own interface address (its current one after lab_move_host)
host_ip() {
  local h=$1 site idx=2
  if [[ -n ${HOST_ADDR[$h]:-} ]]; then printf '%s' "${HOST_ADDR[$h]}"; return; fi
  site=$(host_site "$h")
  [[ $h != "$site" ]] && idx=3
  if [[ $(site_kind "$site") == open ]]; then site_field "$site" 2; return; fi
  printf '%s.%s' "$(site_field "$site" 4)" "$idx"
}

# host_ip6 HOSTNS -> the host's IPv6 address ("" for a site without IPv6)
host_ip6() {
  local site
  site=$(host_site "$1")
  [[ -n ${SITE6[$site]:-} ]] || return 0
  printf '%s::2' "$(cut -d' ' -f2 <<<"${SITE6[$site]}")"
}

# mapped_ip HOSTNS -> the public address the host's traffic leaves with (from where it is now)
mapped_ip() {
  local h=$1 site
  site=${HOST_AT[$h]:-$(host_site "$h")}
  case $(site_kind "$site") in
    full | restricted) site_field "$site" 3 ;;
    open) host_ip "$h" ;;
    *) site_field "$site" 2 ;;
  esac
}

_sysctls() {
  local n=$1
  nsx "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  # No router advertisements or autoconfigured addresses: every IPv6 address is set by the lab.
  nsx "$n" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
}

# _fw6_rules: the IPv6 firewall of v6only and dual routers (forwarded traffic only)
_fw6_rules() {
  cat <<EOF
table ip6 lab_fw6 {
 chain forward { type filter hook forward priority filter; policy drop;
  ct state established,related accept
  iifname "lan" oifname "wan" accept
 }
}
EOF
}

# _lab_v6_routes SITE...: pub and every router with IPv6 reach each site's /64 via its router
_lab_v6_routes() {
  local s t wan6 lan6 others=(pub)
  for t in "$@"; do [[ -n ${SITE6[$t]:-} ]] && others+=("r-$t"); done
  for s in "$@"; do
    [[ -n ${SITE6[$s]:-} ]] || continue
    read -r wan6 lan6 <<<"${SITE6[$s]}"
    for t in "${others[@]}"; do
      [[ $t == "r-$s" ]] && continue
      ip -n "$(ns "$t")" -6 route add "$lan6::/64" via "$wan6" dev wan
    done
  done
}

# _wan_link NS IP [IP2]: veth from NS ("wan") to the bridge in ns inet
_wan_link() {
  local short=$1 ip=$2 ip2=${3:-}
  ip -n "$(ns "$short")" link add wan type veth peer name "p-$short" netns "$(ns inet)"
  ip -n "$(ns inet)" link set "p-$short" master br0 up
  [[ $ip != - ]] && ip -n "$(ns "$short")" addr add "$ip/24" dev wan
  [[ -n $ip2 && $ip2 != - ]] && ip -n "$(ns "$short")" addr add "$ip2/24" dev wan
  ip -n "$(ns "$short")" link set wan up
  [[ $ip == - ]] && return 0
  # The two subnets of the bridge reach each other on-link (see "mapping" above).
  if [[ $ip == 11.0.0.* ]]; then
    ip -n "$(ns "$short")" route add 198.51.100.0/24 dev wan
  else
    ip -n "$(ns "$short")" route add 11.0.0.0/24 dev wan
  fi
}

# _nat_rules KIND WAN_IP PUBLIC_IP HOST_IP -> nftables ruleset text for the router
_nat_rules() {
  local kind=$1 wan=$2 pubip=$3 host=$4
  # Shared by every kind: no unsolicited UDP to the router itself (silent, like home routers).
  printf 'table inet lab_in {\n chain input { type filter hook input priority filter; policy accept;\n'
  printf '  iifname "wan" meta l4proto udp drop\n }\n}\n'
  case $kind in
    full)
      cat <<EOF
table ip lab_nat {
 chain pre { type nat hook prerouting priority dstnat; policy accept;
  iifname "wan" ip daddr $pubip dnat to $host
 }
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" ip saddr $host snat to $pubip
 }
}
EOF
      ;;
    restricted)
      # The set holds remote addresses the host has sent to; entries live 120 s after the last
      # packet out, which is longer than any test and like a NAT's binding lifetime.
      cat <<EOF
table ip lab_nat {
 chain pre { type nat hook prerouting priority dstnat; policy accept;
  iifname "wan" ip daddr $pubip dnat to $host
 }
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" ip saddr $host snat to $pubip
 }
}
table ip lab_filter {
 set contacted { type ipv4_addr; flags dynamic,timeout; timeout 120s; }
 chain forward_lab { type filter hook forward priority filter; policy accept;
  iifname "lan" oifname "wan" update @contacted { ip daddr }
  iifname "wan" oifname "lan" ip saddr @contacted accept
  iifname "wan" oifname "lan" drop
 }
}
EOF
      ;;
    v6only)
      _fw6_rules
      ;;
    dual)
      _nat_rules port "$wan" "$pubip" "$host" | sed 1,5d
      _fw6_rules
      ;;
    port)
      cat <<EOF
table ip lab_nat {
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" masquerade
 }
}
EOF
      ;;
    mapping | upnp)
      # miniupnpd adds its rules to these chains (upnp_table_name = lab_upnp in its file).
      cat <<EOF
table inet lab_upnp {
 chain forward { type filter hook forward priority filter; policy accept;
  jump miniupnpd
 }
 chain miniupnpd {
 }
 chain prerouting { type nat hook prerouting priority dstnat; policy accept;
  jump prerouting_miniupnpd
 }
 chain prerouting_miniupnpd {
 }
 chain postrouting { type nat hook postrouting priority srcnat - 1; policy accept;
  jump postrouting_miniupnpd
 }
 chain postrouting_miniupnpd {
 }
}
EOF
      _nat_rules symmetric "$wan" "$pubip" "$host" | sed 1,5d  # without lab_in again
      ;;
    symmetric)
      cat <<EOF
table ip lab_nat {
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" meta l4proto { tcp, udp } snat to $wan:20000-60000 fully-random
  oifname "wan" snat to $wan
 }
}
EOF
      ;;
    sequential)
      # numgen straight into the port comes out byte-swapped with this nftables (20017 becomes
      # 12622); a map to inet_service values gives the ports in order: 20000, 20001, ...
      local ports
      ports=$(seq 0 8191 | awk '{printf "%s%d : %d", (NR > 1 ? ", " : ""), $1, 20000 + $1}')
      cat <<EOF
table ip lab_nat {
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" meta l4proto { tcp, udp } snat to $wan : numgen inc mod 8192 map { $ports }
  oifname "wan" snat to $wan
 }
}
EOF
      ;;
    blocked)
      cat <<EOF
table ip lab_nat {
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" masquerade
 }
}
table ip lab_filter {
 chain forward_lab { type filter hook forward priority filter; policy accept;
  iifname "lan" meta l4proto udp drop
 }
}
EOF
      ;;
    *) die "unknown NAT kind $kind" ;;
  esac
}

# _miniupnpd SITE LANPREFIX KIND: miniupnpd in the site's router, serving its LAN; log in
# $WORK/miniupnpd.SITE.log. MINIUPNPD overrides the binary (Debian: miniupnpd-nftables).
# KIND upnp turns NAT-PMP and PCP off (one switch in miniupnpd covers both).
_miniupnpd() {
  local s=$1 lan=$2 natpmp=yes conf=$WORK/miniupnpd.$1.conf ready="Listening for NAT-PMP/PCP"
  if [[ $3 == upnp ]]; then
    natpmp=no ready="HTTP listening on port"
  fi
  cat >"$conf" <<EOF
ext_ifname=wan
listening_ip=lan
enable_natpmp=$natpmp
enable_upnp=yes
secure_mode=yes
upnp_table_name=lab_upnp
upnp_nat_table_name=lab_upnp
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
lease_file=$WORK/miniupnpd.$s.leases
allow 1024-65535 $lan.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  nsbg "r-$s" "${MINIUPNPD:-/usr/sbin/miniupnpd}" -d -f "$conf" -P "$WORK/miniupnpd.$s.pid" \
    >"$WORK/miniupnpd.$s.log" 2>&1
  wait_until 5 grep -q "$ready" "$WORK/miniupnpd.$s.log" ||
    die "miniupnpd in r-$s did not start: $(tail -5 "$WORK/miniupnpd.$s.log")"
}

# lab_site SITE: router + hosts (or the bare host for "open") on the public bridge
lab_site() {
  local s=$1 kind wan pubip lan nhosts i h
  read -r kind wan pubip lan nhosts <<<"${SITE[$s]}"
  if [[ $kind == open ]]; then
    ns_create "$s"
    _sysctls "$s"
    _wan_link "$s" "$wan"
    return
  fi
  local r=r-$s wan6='' lan6=''
  ns_create "$r"
  _sysctls "$r"
  nsx "$r" sysctl -qw net.ipv4.ip_forward=1
  _wan_link "$r" "$wan" "$pubip"
  if [[ -n ${SITE6[$s]:-} ]]; then
    read -r wan6 lan6 <<<"${SITE6[$s]}"
    nsx "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip -n "$(ns "$r")" -6 addr add "$wan6/64" dev wan nodad
  fi
  for ((i = 1; i <= nhosts; i++)); do
    h=$s
    ((i > 1)) && h=${s}b
    ns_create "$h"
    _sysctls "$h"
    # Host side "eth0"; router side a bridge "lan", so one or two hosts share the LAN.
    if ((i == 1)); then
      ip -n "$(ns "$r")" link add lan type bridge
      [[ $lan != - ]] && ip -n "$(ns "$r")" addr add "$lan.1/24" dev lan
      [[ -n $lan6 ]] && ip -n "$(ns "$r")" -6 addr add "$lan6::1/64" dev lan nodad
      ip -n "$(ns "$r")" link set lan up
    fi
    ip -n "$(ns "$h")" link add eth0 type veth peer name "l$i" netns "$(ns "$r")"
    ip -n "$(ns "$r")" link set "l$i" master lan up
    if [[ $lan != - ]]; then
      ip -n "$(ns "$h")" addr add "$(host_ip "$h")/24" dev eth0
    fi
    [[ -n $lan6 ]] && ip -n "$(ns "$h")" -6 addr add "$(host_ip6 "$h")/64" dev eth0 nodad
    ip -n "$(ns "$h")" link set eth0 up
    [[ $lan != - ]] && ip -n "$(ns "$h")" route add default via "$lan.1"
    [[ -n $lan6 ]] && ip -n "$(ns "$h")" -6 route add default via "$lan6::1"
  done
  _nat_rules "$kind" "$wan" "$pubip" "$lan.2" | nsx "$r" nft -f - ||
    die "nft rules for $s ($kind) rejected"
  if [[ -n ${SITE_UDP_TIMEOUT[$s]:-} ]]; then
    nsx "$r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="${SITE_UDP_TIMEOUT[$s]}" \
      net.netfilter.nf_conntrack_udp_timeout_stream="${SITE_UDP_TIMEOUT[$s]}"
  fi
  if [[ -n ${SITE_MTU[$s]:-} ]]; then
    ip -n "$(ns "$r")" link set wan mtu "${SITE_MTU[$s]}"
    ip -n "$(ns inet)" link set "p-$r" mtu "${SITE_MTU[$s]}"
    printf 'table inet lab_pmtu {\n chain out { type filter hook output priority filter; policy accept;\n  icmp type destination-unreachable icmp code frag-needed drop\n }\n}\n' |
      nsx "$r" nft -f - || die "nft black hole rule for $s rejected"
  fi
  if [[ $kind == mapping || $kind == upnp ]]; then
    _miniupnpd "$s" "$lan" "$kind"
  fi
}

# lab_build SITE...: the internet bridge, the pub host (two addresses) and the given sites
# (all sites when none given).
lab_build() {
  local sites=("$@") s
  ((${#sites[@]})) || sites=(fc1 fc2 rc1 rc2 prc1 prc2 sym1 sym2 blk open1 open2)
  ns_create inet
  ip -n "$(ns inet)" link add br0 type bridge
  ip -n "$(ns inet)" link set br0 up
  ns_create pub
  _sysctls pub
  _wan_link pub "$PUB_IP" "$PUB_ALT_IP"
  local v6=0
  for s in "${sites[@]}"; do [[ -n ${SITE6[$s]:-} ]] && v6=1; done
  if ((v6)); then
    ip -n "$(ns pub)" -6 addr add "$PUB_IP6/64" dev wan nodad
  fi
  for s in "${sites[@]}"; do lab_site "$s"; done
  ((v6)) && _lab_v6_routes "${sites[@]}"
  # Bounded: the bridge ports forward at once (no STP), but wait for pub to answer ARP/ping.
  if [[ $(site_kind "${sites[0]}") == v6only ]]; then
    wait_until 5 nsx "${sites[0]}" ping -6 -c1 -W1 "$PUB_IP6" >/dev/null ||
      die "lab: ${sites[0]} cannot reach pub over IPv6"
  else
    wait_until 5 nsx "${sites[0]}" ping -c1 -W1 "$PUB_IP" >/dev/null ||
      [[ $(site_kind "${sites[0]}") == blocked ]] || die "lab: ${sites[0]} cannot reach pub"
  fi
}

# lab_hosts_name NAME HOST...: NAME resolves to pub's IPv4 and IPv6 addresses inside each HOST
# (ip netns exec bind-mounts /etc/netns/<namespace>/hosts over /etc/hosts).
lab_hosts_name() {
  local name=$1 h d
  shift
  for h in "$@"; do
    d=/etc/netns/$(ns "$h")
    mkdir -p "$d"
    on_exit "rm -rf '$d'"
    printf '127.0.0.1 localhost
%s %s
%s %s
' "$PUB_IP" "$name" "$PUB_IP6" "$name" >"$d/hosts"
  done
}

# ---------------------------------------------------------------------------------------------
# vpnpeer and vpnpeer-rendezvous
# ---------------------------------------------------------------------------------------------
require_rendezvous() {
  [[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"
}

# lab_pki NAME...: CA, the rendezvous certificate rv1, and one peer certificate per name with
# overlay address 10.42.0.<index+1>/24 (the index in the list given). Sets OVERLAY[name].
declare -A OVERLAY=()
lab_pki() {
  local i=1 n
  make_ca "$WORK/pki" lab >/dev/null
  mkdir -p "$WORK/rv"
  "$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
  for n in "$@"; do
    OVERLAY[$n]=10.42.0.$i
    make_cert "$WORK/pki" "$n" "$WORK/$n" "${OVERLAY[$n]}/24" >/dev/null
    i=$((i + 1))
  done
}

# rv_write: the rendezvous config: UDP on pub's first address with the alternates for STUN, a
# TCP listener on 443 (TLS when LAB_TLS=true, the default) and relaying on (RV_RELAY=false turns
# it off; RV_RELAY_RATE, bytes/s per peer, overrides the default rate limit). LAB_TCP=default
# leaves out every TCP key, in this file and the peers': the rendezvous then listens on TCP (TLS)
# at its UDP port and the peers look for it there; set RV_TCP_PORT=$RV_PORT with it.
RV_CFG=
RV_LOG=
RV_PID=
RV_TCP_PORT=${RV_TCP_PORT:-443}
LAB_TLS=${LAB_TLS:-true}
LAB_TCP=${LAB_TCP:-explicit}
rv_write() {
  RV_CFG=$WORK/rv/rendezvous.toml
  RV_LOG=$WORK/rv/rendezvous.log
  # A unique control socket: several labs may run on one machine at once.
  mkdir -p /run/vpnpeer
  RV_SOCK=/run/vpnpeer/vnl-$$-rv.sock
  on_exit "rm -f '$RV_SOCK'"
  cat >"$RV_CFG" <<EOF
[rendezvous]
listen = ["$PUB_IP:$RV_PORT"$(if [[ ${RV_V6:-0} == 1 ]]; then printf ', "[%s]:%s"' "$PUB_IP6" "$RV_PORT"; fi)]
$(if [[ $LAB_TCP == explicit ]]; then printf 'tcp_listen = ["%s:%s"]\ntcp_tls = %s' "$PUB_IP" "$RV_TCP_PORT" "$LAB_TLS"; fi)
alt_port = $RV_ALT_PORT
alt_address = "$PUB_ALT_IP"
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
control_socket = "$RV_SOCK"

[relay]
enabled = ${RV_RELAY:-true}
EOF
  if [[ -n ${RV_RELAY_RATE:-} ]]; then
    printf 'rate = %s\nburst = %s\ntotal_rate = %s\ntotal_burst = %s\n' "$RV_RELAY_RATE" \
      "${RV_RELAY_BURST:-4000000}" "$RV_RELAY_RATE" "${RV_RELAY_BURST:-4000000}" >>"$RV_CFG"
  fi
}

# rv_tcp_listening: something listens on the rendezvous TCP port in ns pub
rv_tcp_listening() {
  ip netns exec "$(ns pub)" ss -Hltn "sport = :$RV_TCP_PORT" | grep -q ":$RV_TCP_PORT"
}

# rv_start: start vpnpeer-rendezvous in ns pub; waits (bounded) until its UDP port is bound, and
# up to 3 s more for its TCP listener (not fatal here: the TCP tests check it themselves).
rv_start() {
  [[ -n $RV_CFG ]] || rv_write
  echo "--- start $(date +%T.%N) ---" >>"$RV_LOG"
  ip netns exec "$(ns pub)" "$RENDEZVOUS" -c "$RV_CFG" </dev/null >>"$RV_LOG" 2>&1 &
  RV_PID=$!
  track_pid "$RV_PID"
  wait_until 5 bash -c "ip netns exec $(ns pub) ss -Hlun 'sport = :$RV_PORT' | grep -q ':$RV_PORT'" ||
    { log "rendezvous did not bind UDP $RV_PORT within 5 s:"; show_log "$RV_LOG"; return 1; }
  wait_until 3 rv_tcp_listening || log "note: the rendezvous does not listen on TCP $RV_TCP_PORT"
}

rv_kill() {
  [[ -n $RV_PID ]] || return 0
  kill -KILL "$RV_PID" 2>/dev/null || true
  wait "$RV_PID" 2>/dev/null || true
  RV_PID=
}

# peer_write NAME OTHER...: $WORK/NAME/NAME.toml with [[rendezvous]] (UDP, and TCP on 443 with
# tls = LAB_TLS unless LAB_TCP=default), endpoint-less [[peers]] and [paths] (RELAY, RELAY_AFTER, DEMOTE_AFTER,
# UDP_TIMEOUT, PMTU_DISCOVERY; the documented defaults unless set). TCP_LISTEN[NAME]=1 adds tcp_listen = true,
# PORT_MAPPING[NAME]=false adds [nat] port_mapping = false, LEARN_KEEPALIVE[NAME]=false
# [nat] learn_keepalive = false.
# LISTEN[NAME] replaces the listen address 0.0.0.0 (e.g. "[::]"); RV_HOST the rendezvous' address
# (e.g. a name from lab_hosts_name).
# PORT_PREDICTION[NAME]=true adds [nat] port_prediction = true.
declare -A TCP_LISTEN=() PORT_MAPPING=() LEARN_KEEPALIVE=() LISTEN=() PORT_PREDICTION=()
peer_write() {
  local name=$1 o
  shift
  local dir=$WORK/$name
  {
    printf '[peer]\nname = "%s"\naddress = ["%s/24"]\nlisten = "%s:%s"\n' \
      "$name" "${OVERLAY[$name]}" "${LISTEN[$name]:-0.0.0.0}" "$PEER_PORT"
    if [[ ${TCP_LISTEN[$name]:-0} == 1 ]]; then printf 'tcp_listen = true\n'; fi
    printf 'ca = "%s"\ncert = "%s/%s.crt"\nkey = "%s/%s.key"\ncontrol_socket = "%s/%s.sock"\n' \
      "$WORK/pki/ca.crt" "$dir" "$name" "$dir" "$name" "$WORK" "$name"
    printf '\n[tun]\nname = "vpn0"\nmtu = 1400\n'
    printf '\n[tunnel]\nkeepalive = %s\ndead_peer = %s\n' "${KEEPALIVE:-10}" "${DEAD_PEER:-40}"
    if [[ ${PORT_MAPPING[$name]:-} == false || ${LEARN_KEEPALIVE[$name]:-} == false ||
      ${PORT_PREDICTION[$name]:-} == true ]]; then
      printf '\n[nat]\n'
      if [[ ${PORT_MAPPING[$name]:-} == false ]]; then printf 'port_mapping = false\n'; fi
      if [[ ${LEARN_KEEPALIVE[$name]:-} == false ]]; then printf 'learn_keepalive = false\n'; fi
      if [[ ${PORT_PREDICTION[$name]:-} == true ]]; then printf 'port_prediction = true\n'; fi
    fi
    printf '\n[paths]\nrelay = %s\nrelay_after = %s\ndemote_after = %s\nudp_timeout = %s\n' \
      "${RELAY:-true}" "${RELAY_AFTER:-2}" "${DEMOTE_AFTER:-4}" "${UDP_TIMEOUT:-3}"
    if [[ -n ${PMTU_DISCOVERY:-} ]]; then printf 'pmtu_discovery = %s\n' "$PMTU_DISCOVERY"; fi
    printf '\n[[rendezvous]]\naddress = "%s:%s"\n' "${RV_HOST:-$PUB_IP}" "$RV_PORT"
    if [[ $LAB_TCP == explicit ]]; then
      printf 'tcp = "%s:%s"\ntls = %s\n' "$PUB_IP" "$RV_TCP_PORT" "$LAB_TLS"
    fi
    for o in "$@"; do printf '\n[[peers]]\nname = "%s"\n' "$o"; done
  } >"$dir/$name.toml"
}
peer_cfg() { printf '%s/%s/%s.toml' "$WORK" "$1" "$1"; }
peer_log() { printf '%s/%s/%s.log' "$WORK" "$1" "$1"; }

# peer_start NAME HOSTNS: vpnpeer up in the host namespace; PEER_PID[NAME] is its pid
declare -A PEER_PID=()
peer_start() {
  local name=$1 h=$2
  echo "--- start in $h $(date +%T.%N) ---" >>"$(peer_log "$name")"
  start_peer "$h" "$(peer_cfg "$name")" "$(peer_log "$name")"
  PEER_PID[$name]=$LAST_PID
}

# peer_stop NAME: SIGTERM, bounded wait, then SIGKILL; the TUN device goes with the process.
#   A daemon that needed SIGKILL is listed in PEER_STOP_FORCED (README: SIGTERM tears down).
PEER_STOP_FORCED=()
peer_stop() {
  local pid=${PEER_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_pid_exit "$pid" 5; then
    PEER_STOP_FORCED+=("$1")
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  PEER_PID[$1]=
}

# peer_field CFG PEERNAME KEY -> a field of one peer in `vpnpeer status --json` ("" if absent)
peer_field() { json_get "$1" "peer('$2').get('$3', '')"; }

# ---------------------------------------------------------------------------------------------
# the punch matrix: which pairs of NAT kinds can have a direct UDP path
# ---------------------------------------------------------------------------------------------
MATRIX_KINDS=(open full restricted port symmetric)
declare -A KIND_SITES=([open]="open1 open2" [full]="fc1 fc2" [restricted]="rc1 rc2"
  [port]="prc1 prc2" [symmetric]="sym1 sym2" [blocked]="blk blk2")

# pair_hosts K1 K2 -> two host namespaces of those kinds, on two different NATs
pair_hosts() {
  local a b
  read -r a _ <<<"${KIND_SITES[$1]}"
  if [[ $1 == "$2" ]]; then read -r _ b <<<"${KIND_SITES[$2]}"; else read -r b _ <<<"${KIND_SITES[$2]}"; fi
  printf '%s %s' "$a" "$b"
}

# pair_expect K1 K2 -> "ok" where a direct path exists, "fail" where it cannot (without port
# prediction): a symmetric NAT gives the other side an unpredictable port, which only an
# endpoint-independent filter (full cone), an address filter (restricted cone) or no NAT lets in.
pair_expect() {
  local x="$1,$2"
  case $x in
    symmetric,symmetric | port,symmetric | symmetric,port) echo fail ;;
    *) echo ok ;;
  esac
}

# matrix_print TITLE RESULTVAR: RESULTVAR is an associative array "K1,K2" -> cell text
matrix_print() {
  local title=$1 k1 k2 cell
  local -n res=$2
  printf '\n%s\n%-12s' "$title" ""
  for k2 in "${MATRIX_KINDS[@]}"; do printf '%-15s' "$k2"; done
  printf '\n'
  for k1 in "${MATRIX_KINDS[@]}"; do
    printf '%-12s' "$k1"
    for k2 in "${MATRIX_KINDS[@]}"; do
      cell=${res[$k1,$k2]:-${res[$k2,$k1]:-"-"}}
      printf '%-15s' "$cell"
    done
    printf '\n'
  done
  [[ -n ${res[same-nat]:-} ]] && printf '%-12s%s\n' "same NAT" "${res[same-nat]} (prc1 + prc1b)"
  printf '\n'
}

# ---------------------------------------------------------------------------------------------
# a pair of vpnpeer peers that only know each other's names (no endpoint) and the rendezvous
# ---------------------------------------------------------------------------------------------
# pair_start H1 H2: peers named after their host namespaces, each listing the other; needs
# lab_pki to have made certificates for both names. PEER_PORT is the listen port of both.
pair_start() {
  peer_write "$1" "$2"
  peer_write "$2" "$1"
  peer_start "$1" "$1"
  peer_start "$2" "$2"
}
pair_stop() { peer_stop "$1"; peer_stop "$2"; }

# direct_up CFG PEER: PEER is established over a direct UDP path, in CFG's status
direct_up() {
  [[ $(peer_field "$1" "$2" state) == established && $(peer_field "$1" "$2" path) == direct-udp ]]
}
# punch_failed CFG PEER: PEER is reported unreachable with a "no direct path" error
punch_failed() {
  [[ $(peer_field "$1" "$2" state) == unreachable &&
    $(peer_field "$1" "$2" last_error) == *"no direct path"* ]]
}
# peer_summary CFG PEER -> one line with what status says about PEER (for failure messages)
peer_summary() {
  json_get "$1" "' '.join(f'{k}={peer(\"$2\").get(k)!r}' for k in ('state','path','endpoint','last_error','candidates'))" 2>&1 |
    tr -d '\n' || true
}

# status_consistent CFG PEER ENDPOINT MAPPED_IP: CFG's status agrees with a working direct path:
#   the candidate at ENDPOINT is "succeeded", and its one rendezvous is registered and saw us at
#   MAPPED_IP (our NAT's public address).
status_consistent() {
  [[ $(json_get "$1" "(any(c.get('endpoint') == '$3' and c.get('state') == 'succeeded'
        for c in peer('$2').get('candidates', []))
    and len(s.get('rendezvous', [])) == 1
    and all(r.get('registered') is True and str(r.get('reflexive') or '').startswith('$4:')
        for r in s.get('rendezvous', [])))") == 1 ]]
}
status_extract() {
  json_get "$1" "[(c.get('endpoint'), c.get('kind'), c.get('state')) for c in peer('$2').get('candidates', [])], s.get('rendezvous')" 2>&1 | tr -d '\n' || true
}

# ---------------------------------------------------------------------------------------------
# transfers, ping gaps and parallel cases
# ---------------------------------------------------------------------------------------------
# xfer_start TAG FROMNS TONS TOADDR MB [RATE_MiBps] [LIMIT_S]: a checksummed TCP stream
#   (stream.py) from FROMNS to TOADDR (an overlay address in TONS), in the background. With a
#   RATE it is paced so that it lasts; xfer_stop TAG ends it early. Files: $WORK/xfer.PID.TAG.*
declare -A XFER_S=() XFER_R=() XFER_INFO=() XFER_FILE=()
_XFER_PORT=5100
xfer_start() {
  # Files named by the subshell too: cases in parallel (par_run) may use the same TAG.
  local tag=$1 from=$2 to=$3 addr=$4 mb=$5 rate=${6:-0} limit=${7:-0} xf=$WORK/xfer.$BASHPID.$1
  XFER_FILE[$tag]=$xf
  # Default bound: 20 s plus 2 s per MB (a 50 MB relayed transfer in well under two minutes).
  ((limit > 0)) || limit=$((20 + 2 * ${mb%.*}))
  _XFER_PORT=$((_XFER_PORT + 1))
  rm -f "$xf".*
  nsbg "$to" timeout -k 2 $((limit + 5)) python3 "$NAT_DIR/stream.py" recv "$addr" "$_XFER_PORT" \
    "$xf.progress" "$limit" >"$xf.recv" 2>&1
  XFER_R[$tag]=$LAST_PID
  wait_until 5 grep -q listening "$xf.recv" || { XFER_INFO[$tag]="receiver did not start: $(cat "$xf.recv")"; return 1; }
  nsbg "$from" timeout -k 2 $((limit + 5)) python3 "$NAT_DIR/stream.py" send "$addr" "$_XFER_PORT" \
    "$mb" "$rate" "$xf.stop" "$limit" >"$xf.send" 2>&1
  XFER_S[$tag]=$LAST_PID
}
xfer_stop() { : >"${XFER_FILE[$1]}.stop"; }
# xfer_bytes TAG -> bytes the receiver has so far
xfer_bytes() { cat "${XFER_FILE[$1]}.progress" 2>/dev/null || echo 0; }
# xfer_wait TAG [SECONDS]: both ends done and the same byte count and sha256 (> 0 bytes);
#   XFER_INFO[TAG] says what happened ("50.0 MiB in 4.1 s (12.2 MiB/s)" or the error)
xfer_wait() {
  local tag=$1 secs=${2:-300} xf=${XFER_FILE[$1]} s r
  wait_pid_exit "${XFER_S[$tag]}" "$secs" || true
  wait_pid_exit "${XFER_R[$tag]}" 10 || true
  s=$(tail -n 1 "$xf.send" 2>/dev/null) r=$(tail -n 1 "$xf.recv" 2>/dev/null)
  if [[ $s == bytes=* && ${s% secs=*} == "${r% secs=*}" && $s != bytes=0\ * ]]; then
    XFER_INFO[$tag]=$(python3 -c 'import sys; n=int(sys.argv[1]); t=float(sys.argv[2])
print(f"{n/1048576:.1f} MiB in {t:.1f} s ({n/1048576/max(t,1e-3):.1f} MiB/s), sha256 equal")' \
      "$(sed -E 's/bytes=([0-9]+).*/\1/' <<<"$s")" "${r##*secs=}")
    return 0
  fi
  XFER_INFO[$tag]="sender: ${s:-<nothing>}; receiver: ${r:-<nothing>}"
  return 1
}
# transfer_ok FROMNS TONS TOADDR MB: MB of random bytes through the tunnel, sha256 compared
#   (XFER_INFO[t] tells the rate or the error)
transfer_ok() {
  xfer_start t "$1" "$2" "$3" "$4" || return 1
  xfer_wait t
}
# check_transfer FROMNS TONS MB WHAT: transfer_ok to TONS's overlay address as a PASS/FAIL line
check_transfer() {
  if transfer_ok "$1" "$2" "${OVERLAY[$2]}" "$3"; then
    pass "$3 MB $1 -> $2 $4: ${XFER_INFO[t]}"
  else
    fail "$3 MB $1 -> $2 $4: ${XFER_INFO[t]}"
  fi
}

# ping_start TAG FROMNS ADDR INTERVAL_S SECONDS: a timestamped ping (-D) in the background
declare -A PING_PID=() PING_FILE=()
ping_start() {
  local tag=$1 from=$2 addr=$3 iv=$4 secs=$5
  nsbg "$from" ping -D -n -i "$iv" -W 1 -w "$secs" "$addr" >"$WORK/ping.$BASHPID.$tag" 2>&1
  PING_FILE[$tag]=$WORK/ping.$BASHPID.$tag
  PING_PID[$tag]=$LAST_PID
}
# ping_stop TAG: end it now (SIGINT: ping prints its summary)
ping_stop() {
  kill -INT "${PING_PID[$1]}" 2>/dev/null || true
  wait_pid_exit "${PING_PID[$1]}" 5 || kill -KILL "${PING_PID[$1]}" 2>/dev/null || true
}
# ping_gap TAG [SINCE] -> "max_gap_ms lost sent replies": the longest time between two answered
#   echoes (counted from SINCE, a wall-clock time, when given) and how many went unanswered
ping_gap() {
  python3 - "${PING_FILE[$1]}" "${2:-0}" <<'EOF'
import re, sys
since = float(sys.argv[2])
ts, seqs = [], set()
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)", line)
    if m and int(m.group(2)) not in seqs:
        seqs.add(int(m.group(2)))
        ts.append(float(m.group(1)))
sent = max(seqs) if seqs else 0
m = re.search(r"(\d+) packets transmitted", open(sys.argv[1], errors="replace").read())
if m:
    sent = int(m.group(1))
pts = [since] + [t for t in ts if t >= since] if since else ts
gap = max((b - a for a, b in zip(pts, pts[1:])), default=-1)
print(f"{gap * 1000:.0f} {sent - len(ts)} {sent} {len(ts)}")
EOF
}

# par_run TAG cmd...: run a function in a background subshell, its output kept in a file;
# par_wait TAG...: wait for them, print their output in order and count their PASS/FAIL lines.
declare -A PAR_PID=()
par_run() {
  local tag=$1
  shift
  ("$@") >"$WORK/par.$tag.out" 2>&1 &
  PAR_PID[$tag]=$!
}
par_wait() {
  local tag p f
  for tag in "$@"; do
    wait "${PAR_PID[$tag]}" || true
    cat "$WORK/par.$tag.out"
    p=$(grep -c '^PASS: ' "$WORK/par.$tag.out" || true)
    f=$(grep -c '^FAIL: ' "$WORK/par.$tag.out" || true)
    PASSED=$((PASSED + p)) FAILED=$((FAILED + f))
  done
}

# ---------------------------------------------------------------------------------------------
# changing the network under running peers (issue 4: demotion, upgrade, roaming)
# ---------------------------------------------------------------------------------------------
# lab_move_host HOST SITE: move a host to another site while its processes keep running. The
# host gets a second veth into SITE's LAN (lab_roam_link makes it; call that first so that the
# link's own creation is not part of a measured move), then in one `ip -batch`: the old
# interface loses its address and goes down, the new one comes up with a new address and the
# default route via SITE's router. The host's namespace sees RTM_DELADDR/RTM_NEWADDR and route
# events, as a laptop moving between networks does. SITE "home" (or the host's own site) moves
# it back onto eth0. Sites: port, symmetric, blocked (a new LAN address .10 and up) and open
# (a new public address 198.51.100.70 and up, on the internet bridge). Full and restricted cone
# NAT one fixed LAN address 1:1, which the site's own host has, so they are not move targets.
declare -A _ROAM_N=()
_ROAM_OPEN=70
_roam_ifname() { if [[ $2 == "$(host_site "$1")" ]]; then echo eth0; else echo "m-$2"; fi; }
lab_roam_link() {
  local h=$1 site=$2 ifn kind n
  [[ $site == home ]] && site=$(host_site "$h")
  ifn=$(_roam_ifname "$h" "$site")
  ip -n "$(ns "$h")" link show "$ifn" >/dev/null 2>&1 && return 0
  kind=$(site_kind "$site")
  case $kind in
    open)
      ip -n "$(ns "$h")" link add "$ifn" type veth peer name "q-$h" netns "$(ns inet)"
      ip -n "$(ns inet)" link set "q-$h" master br0 up
      _ROAM_OPEN=$((_ROAM_OPEN + 1))
      _ROAM_ADDR[$h,$site]=198.51.100.$_ROAM_OPEN
      ;;
    port | symmetric | blocked)
      ip -n "$(ns "$h")" link add "$ifn" type veth peer name "m-$h" netns "$(ns "r-$site")"
      ip -n "$(ns "r-$site")" link set "m-$h" master lan up
      n=$((${_ROAM_N[$site]:-9} + 1))
      _ROAM_N[$site]=$n
      _ROAM_ADDR[$h,$site]=$(site_field "$site" 4).$n
      ;;
    *) die "lab_move_host: cannot move into $site ($kind NAT has one fixed 1:1 host)" ;;
  esac
}
declare -A _ROAM_ADDR=()
lab_move_host() {
  local h=$1 site=$2 home old new addr gw cmds
  home=$(host_site "$h")
  [[ $site == home ]] && site=$home
  lab_roam_link "$h" "$site"
  old=$(_roam_ifname "$h" "${HOST_AT[$h]:-$home}")
  new=$(_roam_ifname "$h" "$site")
  [[ $old != "$new" ]] || die "lab_move_host: $h is already at $site"
  if [[ $site == "$home" ]]; then addr=$(unset "HOST_ADDR[$h]"; host_ip "$h"); else addr=${_ROAM_ADDR[$h,$site]}; fi
  cmds="addr flush dev $old
link set $old down
link set $new up
addr add $addr/24 dev $new"
  if [[ $(site_kind "$site") != open ]]; then
    gw=$(site_field "$site" 4).1
    cmds+="
route replace default via $gw dev $new"
  fi
  ip -n "$(ns "$h")" -batch - <<<"$cmds" || die "lab_move_host $h $site: ip -batch failed"
  HOST_AT[$h]=$site
  if [[ $site == "$home" ]]; then unset "HOST_ADDR[$h]"; else HOST_ADDR[$h]=$addr; fi
}

# lab_loosen_nat SITE: a symmetric NAT becomes a full cone on its WAN address, in one nft
# transaction: port-preserving snat out, and every UDP packet to the WAN address forwarded to the
# site's host (endpoint-independent filtering). Then the router's conntrack table is flushed, as a
# router reloading its NAT does: else the old random mappings of flows that keep being refreshed
# (the one to the rendezvous) would live on and nobody would ever see the new ones.
# LOOSEN_FLUSH=0 skips the flush.
lab_loosen_nat() {
  local s=$1 kind wan host
  kind=$(site_kind "$s")
  [[ $kind == symmetric ]] || die "lab_loosen_nat: $s is $kind, not symmetric"
  wan=$(site_field "$s" 2)
  host=$(site_field "$s" 4).2
  nsx "r-$s" nft -f - <<EOF || die "lab_loosen_nat $s: nft rejected the rules"
delete table ip lab_nat
table ip lab_nat {
 chain pre { type nat hook prerouting priority dstnat; policy accept;
  iifname "wan" ip daddr $wan meta l4proto udp dnat to $host
 }
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" snat to $wan
 }
}
EOF
  [[ ${LOOSEN_FLUSH:-1} == 0 ]] || lab_flush_conntrack "$s"
}

# lab_drop_path HOSTA HOSTB [PROTO]: from now on drop all PROTO (udp, the default; or "ip":
# everything) between the two hosts' public addresses where it crosses the internet bridge (a
# bridge-family table in ns inet), so their direct path dies and their paths to pub (the
# rendezvous, the relay) do not. Two hosts behind one NAT: dropped on that NAT's LAN bridge.
# lab_undrop_path HOSTA HOSTB: remove it.
_drop_where() {
  local a=$1 b=$2 sa sb
  sa=${HOST_AT[$a]:-$(host_site "$a")} sb=${HOST_AT[$b]:-$(host_site "$b")}
  if [[ $sa == "$sb" && $(site_kind "$sa") != open ]]; then
    echo "r-$sa $(host_ip "$a") $(host_ip "$b")"
  else
    echo "inet $(mapped_ip "$a") $(mapped_ip "$b")"
  fi
}
lab_drop_path() {
  local a=$1 b=$2 proto=${3:-udp} where ia ib match=""
  read -r where ia ib <<<"$(_drop_where "$a" "$b")"
  [[ $proto == ip ]] || match="meta l4proto $proto"
  nsx "$where" nft -f - <<EOF || die "lab_drop_path $a $b: nft rejected the rules"
table bridge lab_drop_${a}_$b {
 chain forward_lab { type filter hook forward priority filter; policy accept;
  ip saddr $ia ip daddr $ib $match counter drop
  ip saddr $ib ip daddr $ia $match counter drop
 }
}
EOF
}
lab_undrop_path() {
  local where
  read -r where _ <<<"$(_drop_where "$1" "$2")"
  nsx "$where" nft delete table bridge "lab_drop_${1}_$2"
}
# lab_drop_count HOSTA HOSTB -> packets dropped so far by lab_drop_path
lab_drop_count() {
  local where
  read -r where _ <<<"$(_drop_where "$1" "$2")"
  nsx "$where" nft list table bridge "lab_drop_${1}_$2" 2>/dev/null |
    awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1)} END {print n + 0}'
}

# lab_flush_conntrack SITE: empty the NAT router's conntrack table (a NAT rebinding: existing
# flows get new mappings on their next packet, or lose them)
lab_flush_conntrack() {
  need_tool conntrack conntrack
  nsx "r-$1" conntrack -F >/dev/null 2>&1 || die "conntrack -F in r-$1 failed"
}

# ---------------------------------------------------------------------------------------------
# paths (docs/paths.md): what `vpnpeer status --json` and `vpnpeer explain` say about a peer
# ---------------------------------------------------------------------------------------------
# on_path CFG PEER PATH: PEER is established on PATH (direct-udp, direct-tcp, relay-udp, relay-tcp)
on_path() {
  [[ $(json_get "$1" "peer('$2').get('state') == 'established' and peer('$2').get('path') == '$3'") == 1 ]]
}
# both_on H1 H2 PATH1 [PATH2]: each side sees the other established on its path
both_on() { on_path "$(peer_cfg "$1")" "$2" "$3" && on_path "$(peer_cfg "$2")" "$1" "${4:-$3}"; }
# path_summary CFG PEER -> what status says about PEER's path, on one line (for messages)
path_summary() {
  json_get "$1" "' '.join(f'{k}={peer(\"$2\").get(k)!r}' for k in ('state','path','endpoint','relay','relay_state','path_reason','nat_type','last_error')) + ' history=' + repr((peer(\"$2\").get('history') or [])[-3:])" 2>&1 |
    tr -d '\n' || true
}
pair_paths() { echo "$1 sees [$(path_summary "$(peer_cfg "$1")" "$2")]; $2 sees [$(path_summary "$(peer_cfg "$2")" "$1")]"; }
# rv_transport CFG -> the transport (udp|tcp) of the first rendezvous in CFG's status
rv_transport() { json_get "$1" "(s.get('rendezvous') or [{}])[0].get('transport', '')"; }
# rv_registered_via CFG TRANSPORT: CFG's first rendezvous is registered, reached over TRANSPORT
rv_registered_via() {
  [[ $(json_get "$1" "(s.get('rendezvous') or [{}])[0].get('registered') is True and (s.get('rendezvous') or [{}])[0].get('transport') == '$2'") == 1 ]]
}
rv_summary() { json_get "$1" 's.get("rendezvous")' 2>&1 | tr -d '\n' || true; }
# explain HOST PEER -> `vpnpeer explain PEER` of the daemon in HOST (bounded)
explain() { nsx "$1" timeout 5 "$VPNPEER" explain "$2" -c "$(peer_cfg "$1")" 2>&1 || true; }
# show_pair_logs H1 H2: the tails of both daemons' logs and the rendezvous log (after a failure)
show_pair_logs() {
  log "$1 log:"; show_log "$(peer_log "$1")" "${SHOW_LINES:-12}"
  log "$2 log:"; show_log "$(peer_log "$2")" "${SHOW_LINES:-12}"
  log "rendezvous log:"; show_log "$RV_LOG" "${SHOW_LINES:-8}"
}
