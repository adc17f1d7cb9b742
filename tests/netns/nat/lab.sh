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
#   blocked     masquerade, but UDP from the LAN is dropped (for later tests; TCP works).
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
  [blk]="blocked 198.51.100.50 - 10.5.1 1"
  [open1]="open 198.51.100.61 - - 0"
  [open2]="open 198.51.100.62 - - 0"
)

# site_field SITE N -> the Nth field (1-based) of the site's entry
site_field() { local f; read -r -a f <<<"${SITE[$1]}"; printf '%s' "${f[$(($2 - 1))]}"; }
site_kind() { site_field "$1" 1; }

# host_ip HOSTNS -> the host's own interface address ("prc1b" is the second host of prc1)
host_ip() {
  local h=$1 site=${1%b} idx=2
  [[ $h != "$site" ]] && idx=3
  if [[ $(site_kind "$site") == open ]]; then site_field "$site" 2; return; fi
  printf '%s.%s' "$(site_field "$site" 4)" "$idx"
}

# mapped_ip HOSTNS -> the public address the host's traffic leaves with
mapped_ip() {
  local site=${1%b}
  case $(site_kind "$site") in
    full | restricted) site_field "$site" 3 ;;
    *) site_field "$site" 2 ;;
  esac
}

_sysctls() {
  local n=$1
  nsx "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# _wan_link NS IP [IP2]: veth from NS ("wan") to the bridge in ns inet
_wan_link() {
  local short=$1 ip=$2 ip2=${3:-}
  ip -n "$(ns "$short")" link add wan type veth peer name "p-$short" netns "$(ns inet)"
  ip -n "$(ns inet)" link set "p-$short" master br0 up
  ip -n "$(ns "$short")" addr add "$ip/24" dev wan
  [[ -n $ip2 && $ip2 != - ]] && ip -n "$(ns "$short")" addr add "$ip2/24" dev wan
  ip -n "$(ns "$short")" link set wan up
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
    port)
      cat <<EOF
table ip lab_nat {
 chain post { type nat hook postrouting priority srcnat; policy accept;
  oifname "wan" masquerade
 }
}
EOF
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
  local r=r-$s
  ns_create "$r"
  _sysctls "$r"
  nsx "$r" sysctl -qw net.ipv4.ip_forward=1
  _wan_link "$r" "$wan" "$pubip"
  for ((i = 1; i <= nhosts; i++)); do
    h=$s
    ((i > 1)) && h=${s}b
    ns_create "$h"
    _sysctls "$h"
    # Host side "eth0"; router side a bridge "lan", so one or two hosts share the LAN.
    if ((i == 1)); then
      ip -n "$(ns "$r")" link add lan type bridge
      ip -n "$(ns "$r")" addr add "$lan.1/24" dev lan
      ip -n "$(ns "$r")" link set lan up
    fi
    ip -n "$(ns "$h")" link add eth0 type veth peer name "l$i" netns "$(ns "$r")"
    ip -n "$(ns "$r")" link set "l$i" master lan up
    ip -n "$(ns "$h")" addr add "$(host_ip "$h")/24" dev eth0
    ip -n "$(ns "$h")" link set eth0 up
    ip -n "$(ns "$h")" route add default via "$lan.1"
  done
  _nat_rules "$kind" "$wan" "$pubip" "$lan.2" | nsx "$r" nft -f - ||
    die "nft rules for $s ($kind) rejected"
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
  for s in "${sites[@]}"; do lab_site "$s"; done
  # Bounded: the bridge ports forward at once (no STP), but wait for pub to answer ARP/ping.
  wait_until 5 nsx "${sites[0]}" ping -c1 -W1 "$PUB_IP" >/dev/null ||
    [[ $(site_kind "${sites[0]}") == blocked ]] || die "lab: ${sites[0]} cannot reach pub"
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

# rv_write: the rendezvous config (listen on pub's first address, alt port and alt address)
RV_CFG=
RV_LOG=
RV_PID=
rv_write() {
  RV_CFG=$WORK/rv/rendezvous.toml
  RV_LOG=$WORK/rv/rendezvous.log
  # A unique control socket: several labs may run on one machine at once.
  mkdir -p /run/vpnpeer
  RV_SOCK=/run/vpnpeer/vnl-$$-rv.sock
  on_exit "rm -f '$RV_SOCK'"
  cat >"$RV_CFG" <<EOF
[rendezvous]
listen = ["$PUB_IP:$RV_PORT"]
alt_port = $RV_ALT_PORT
alt_address = "$PUB_ALT_IP"
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
control_socket = "$RV_SOCK"
EOF
}

# rv_start: start vpnpeer-rendezvous in ns pub; waits (bounded) until its UDP port is bound
rv_start() {
  [[ -n $RV_CFG ]] || rv_write
  echo "--- start $(date +%T.%N) ---" >>"$RV_LOG"
  ip netns exec "$(ns pub)" "$RENDEZVOUS" -c "$RV_CFG" </dev/null >>"$RV_LOG" 2>&1 &
  RV_PID=$!
  track_pid "$RV_PID"
  wait_until 5 bash -c "ip netns exec $(ns pub) ss -Hlun 'sport = :$RV_PORT' | grep -q ':$RV_PORT'" ||
    { log "rendezvous did not bind UDP $RV_PORT within 5 s:"; show_log "$RV_LOG"; return 1; }
}

rv_kill() {
  [[ -n $RV_PID ]] || return 0
  kill -KILL "$RV_PID" 2>/dev/null || true
  wait "$RV_PID" 2>/dev/null || true
  RV_PID=
}

# peer_write NAME OTHER...: $WORK/NAME/NAME.toml with [[rendezvous]] and endpoint-less [[peers]]
peer_write() {
  local name=$1 o
  shift
  local dir=$WORK/$name
  {
    printf '[peer]\nname = "%s"\naddress = ["%s/24"]\nlisten = "0.0.0.0:%s"\n' \
      "$name" "${OVERLAY[$name]}" "$PEER_PORT"
    printf 'ca = "%s"\ncert = "%s/%s.crt"\nkey = "%s/%s.key"\ncontrol_socket = "%s/%s.sock"\n' \
      "$WORK/pki/ca.crt" "$dir" "$name" "$dir" "$name" "$WORK" "$name"
    printf '\n[tun]\nname = "vpn0"\nmtu = 1400\n'
    printf '\n[tunnel]\nkeepalive = %s\ndead_peer = %s\n' "${KEEPALIVE:-10}" "${DEAD_PEER:-40}"
    printf '\n[[rendezvous]]\naddress = "%s:%s"\n' "$PUB_IP" "$RV_PORT"
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
  [port]="prc1 prc2" [symmetric]="sym1 sym2")

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

# transfer_ok FROMNS TONS TOADDR MB: MB of random bytes over TCP (socat) through the tunnel,
# sha256 compared; every step bounded.
transfer_ok() {
  local from=$1 to=$2 addr=$3 mb=$4 port=5001 srv
  head -c "$((mb * 1024 * 1024))" /dev/urandom >"$WORK/blob.$from"
  rm -f "$WORK/recv.$to"
  nsbg "$to" timeout 30 socat -u "TCP-LISTEN:$port,bind=$addr,reuseaddr" "CREATE:$WORK/recv.$to"
  srv=$LAST_PID
  wait_until 5 bash -c "ip netns exec $(ns "$to") ss -Hltn 'sport = :$port' | grep -q ':$port'" ||
    return 1
  nsx "$from" timeout 30 socat -u "OPEN:$WORK/blob.$from" "TCP:$addr:$port,connect-timeout=5" || return 1
  wait_pid_exit "$srv" 10 || return 1
  [[ $(sha256sum <"$WORK/blob.$from") == "$(sha256sum <"$WORK/recv.$to")" ]]
}
