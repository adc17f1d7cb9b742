# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the scripts that source this file
# tests/netns/lib.sh: shared helpers for the vpnpeer network-namespace tests and scripts/demo.
#
# Source it from a bash script that runs `set -euo pipefail`. It provides:
#   - namespaces and veth pairs with unique names (prefix "vpt-<pid>-"), removed on EXIT;
#   - background processes tracked by pid and killed (by pid) on EXIT;
#   - bounded waits (wait_until), assertions that print PASS/FAIL lines;
#   - vpnpeer helpers: CA/cert generation, peer files, start/stop, status --json queries.
#
# Everything created lives in namespaces named "$NS_PREFIX*" and in "$WORK" (a private temp
# dir); nothing is sent outside those namespaces.

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VPNPEER=${VPNPEER:-$REPO_ROOT/build/release/client/vpnpeer}
NS_PREFIX=${NS_PREFIX:-vpt-$$-}
# Keep the work dir short: control sockets live there and sun_path is limited to 108 bytes.
WORK=$(mktemp -d "/tmp/vpt-$$-XXXX")

_NAMESPACES=()
_PIDS=()
_CLEANUP_HOOKS=()
PASSED=0
FAILED=0

log() { printf '  %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }

# check "<case name>" "<reason if it fails>" cmd...   -> PASS/FAIL line, never aborts the script
check() {
  local name=$1 reason=$2
  shift 2
  if "$@"; then pass "$name"; else fail "$name: $reason"; fi
}

# Exit status of a test script: non-zero if any case failed (or none ran at all).
# A sanitizer report in any daemon log under $WORK is a failure too (for VPNPEER=build/asan/...).
finish() {
  local f
  while IFS= read -r f; do
    fail "sanitizer report in $(basename "$f"): $(grep -m1 -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$f")"
  done < <(grep -rlE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$WORK" --include='*.log' 2>/dev/null || true)
  if ((FAILED > 0 || PASSED == 0)); then exit 1; fi
  exit 0
}

# ---------------------------------------------------------------------------------------------
# cleanup
# ---------------------------------------------------------------------------------------------
on_exit() { _CLEANUP_HOOKS+=("$*"); }

_cleanup() {
  local rc=$?
  set +e
  local hook pid ns
  for hook in "${_CLEANUP_HOOKS[@]}"; do eval "$hook"; done
  # Pids started by background subshells (par_run in nat/lab.sh) are only in the pid file.
  if [[ -f $WORK/.pids ]]; then
    while read -r pid; do _PIDS+=("$pid"); done <"$WORK/.pids"
  fi
  for pid in "${_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Give daemons a moment to remove their TUN devices; then force.
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for ns in "${_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ ${KEEP_WORK:-0} == 1 ]]; then
    echo "work dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# track_pid PID: kill it on exit (also when tracked from a background subshell: the pid file)
track_pid() { _PIDS+=("$1"); echo "$1" >>"$WORK/.pids"; }

# need_tool CMD PACKAGE: install the Debian PACKAGE when CMD is missing (as scripts/test does)
need_tool() {
  command -v "$1" >/dev/null && return 0
  echo "installing $2 (for $1)" >&2
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2")
  "${apt[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && "${apt[@]}" >/dev/null 2>&1; } ||
    die "$1 missing and apt-get install $2 failed"
}

# ---------------------------------------------------------------------------------------------
# namespaces
# ---------------------------------------------------------------------------------------------
require_root() { [[ $EUID -eq 0 ]] || die "must run as root (network namespaces, TUN)"; }

# ns_create SHORT -> creates "$NS_PREFIX$SHORT" with lo up; prints nothing
ns_create() {
  local ns=$NS_PREFIX$1
  ip netns add "$ns"
  _NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
}

ns() { printf '%s%s' "$NS_PREFIX" "$1"; }
nsx() { local n=$1; shift; ip netns exec "$NS_PREFIX$n" "$@"; }

# veth_connect NS1 IF1 ADDR1/LEN NS2 IF2 ADDR2/LEN [MTU]
veth_connect() {
  local n1=$NS_PREFIX$1 i1=$2 a1=$3 n2=$NS_PREFIX$4 i2=$5 a2=$6 mtu=${7:-1500}
  # Create in the first namespace directly, so the host never sees the interfaces.
  ip -n "$n1" link add "$i1" mtu "$mtu" type veth peer name "$i2" netns "$n2"
  ip -n "$n2" link set "$i2" mtu "$mtu"
  ip -n "$n1" addr add "$a1" dev "$i1"
  ip -n "$n2" addr add "$a2" dev "$i2"
  ip -n "$n1" link set "$i1" up
  ip -n "$n2" link set "$i2" up
}

# ---------------------------------------------------------------------------------------------
# waiting
# ---------------------------------------------------------------------------------------------
# wait_until SECONDS cmd...   -> 0 as soon as cmd succeeds, 1 after SECONDS (polls every 0.2 s)
wait_until() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  "$@" >/dev/null 2>&1
}

# wait_pid_exit PID SECONDS -> 0 if the process is gone within SECONDS
wait_pid_exit() {
  local pid=$1 secs=$2 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# vpnpeer
# ---------------------------------------------------------------------------------------------
require_vpnpeer() {
  [[ -x $VPNPEER ]] || die "vpnpeer binary not found at $VPNPEER (build with scripts/setup)"
}

# make_ca DIR NAME -> DIR/ca.crt DIR/ca.key
make_ca() {
  mkdir -p "$1"
  "$VPNPEER" cert ca --name "$2" --out "$1/ca"
}

# make_cert CADIR NAME OUTDIR IP [IP...] -> OUTDIR/NAME.crt, OUTDIR/NAME.key
make_cert() {
  local cadir=$1 name=$2 out=$3
  shift 3
  local args=() ip
  for ip in "$@"; do args+=(--ip "$ip"); done
  mkdir -p "$out"
  "$VPNPEER" cert sign --ca "$cadir/ca" --name "$name" "${args[@]}" --out "$out/$name"
}

# write_peer FILE NAME "ADDR[,ADDR]" LISTEN CA CERT KEY SOCKET "PEERNAME=ENDPOINT[ ...]" [TUN]
write_peer() {
  local file=$1 name=$2 addrs=$3 listen=$4 ca=$5 cert=$6 key=$7 sock=$8 peers=$9 tun=${10:-vpn0}
  local a list="" p
  IFS=',' read -ra a <<<"$addrs"
  for p in "${a[@]}"; do list+="${list:+, }\"$p\""; done
  {
    printf '[peer]\nname = "%s"\naddress = [%s]\nlisten = "%s"\n' "$name" "$list" "$listen"
    printf 'ca = "%s"\ncert = "%s"\nkey = "%s"\ncontrol_socket = "%s"\n' "$ca" "$cert" "$key" "$sock"
    printf '\n[tun]\nname = "%s"\nmtu = 1400\n' "$tun"
    printf '\n[tunnel]\nkeepalive = %s\ndead_peer = %s\n' "${KEEPALIVE:-10}" "${DEAD_PEER:-40}"
    for p in $peers; do
      printf '\n[[peers]]\nname = "%s"\nendpoint = "%s"\n' "${p%%=*}" "${p#*=}"
    done
  } >"$file"
}

# nsbg NS cmd... : run cmd in the background inside the namespace; sets LAST_PID (the pid of
#   cmd itself, since `ip netns exec` execs it) and kills it on exit. Don't wrap this in a
#   subshell or pipeline: $! would then be a bash process, not cmd.
nsbg() {
  local n=$1
  shift
  ip netns exec "$NS_PREFIX$n" "$@" &
  LAST_PID=$!
  track_pid "$LAST_PID"
}

# start_peer NS CONFIG LOGFILE -> sets LAST_PID; the daemon runs in the namespace in background.
#   START_WRAP_<NS>, if set, is a command (split on spaces) the daemon is started through, which
#   must exec it (tests/netns/refuse_offload.py).
start_peer() {
  local n=$1 cfg=$2 logf=$3 wrap_var="START_WRAP_$1"
  local -a wrap=()
  read -r -a wrap <<<"${!wrap_var:-}"
  ip netns exec "$NS_PREFIX$n" "${wrap[@]}" "$VPNPEER" up -c "$cfg" </dev/null >>"$logf" 2>&1 &
  LAST_PID=$!
  track_pid "$LAST_PID"
}

# status_json CONFIG -> prints `vpnpeer status --json` (bounded to 5 s)
status_json() { timeout 5 "$VPNPEER" status -c "$1" --json; }

# control_json SOCKET PYEXPR -> PYEXPR with `s` bound to the status object a control socket
#   answers (vpnpeer-rendezvous, which has no `status -c` of its own)
control_json() {
  printf 'VPNPEER/1 status json\n' | timeout 5 python3 -c '
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
body = json.loads(data.split(b"\n", 1)[1])
print(eval(sys.argv[2], {"s": body}))' "$1" "$2"
}

# socat_transfer_ok MB: MB of random bytes from ns a to B_V4:5001 in ns b over TCP (socat), both
#   ends bounded by 60 s; true if the receiver wrote the same sha256. XFER_SUMS says what arrived.
socat_transfer_ok() {
  local rx sent recv
  head -c "$1M" /dev/urandom >"$WORK/send.bin"
  sent=$(sha256sum <"$WORK/send.bin" | cut -d' ' -f1)
  nsbg b timeout 60 socat -u "TCP-LISTEN:5001,bind=$B_V4,reuseaddr" "OPEN:$WORK/recv.bin,creat,trunc"
  rx=$LAST_PID
  wait_until 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5001' | grep -q 5001" ||
    die "receiver did not listen"
  nsx a timeout 60 socat -u "FILE:$WORK/send.bin" "TCP:$B_V4:5001,connect-timeout=5" || true
  wait "$rx" || true
  recv=$(sha256sum <"$WORK/recv.bin" 2>/dev/null | cut -d' ' -f1 || true)
  XFER_SUMS="sha256 ${recv:0:16}, sent ${sent:0:16}"
  [[ $sent == "$recv" ]]
}

# json_get CONFIG PYEXPR -> evaluates PYEXPR with `s` bound to the status object.
#   json_get alice.toml 's["peers"][0]["state"]'
json_get() {
  local out
  out=$(status_json "$1") || return 1
  python3 -c '
import json, sys
s = json.loads(sys.stdin.read())
def peer(name):
    return next((p for p in s.get("peers", []) if p.get("name") == name), {})
def drop(key):
    return int(s.get("drops", {}).get(key, 0) or 0)
def drops_total():
    return sum(int(v or 0) for v in s.get("drops", {}).values())
v = eval(sys.argv[1])
print(v if not isinstance(v, bool) else int(v))
' "$2" <<<"$out"
}

# peer_state CONFIG PEERNAME -> prints the state string ("" if unknown)
peer_state() { json_get "$1" "peer('$2').get('state', '')"; }
peer_established() { [[ $(peer_state "$1" "$2") == established ]]; }

# can_ping NS ADDR [COUNT]: succeeds if at least one echo reply comes back (1 s per try)
can_ping() {
  local n=$1 addr=$2 count=${3:-1} six=()
  [[ $addr == *:* ]] && six=(-6)
  ip netns exec "$NS_PREFIX$n" ping "${six[@]}" -n -q -c "$count" -W 1 "$addr" >/dev/null 2>&1
}

# show_log FILE: print the tail of a daemon log (used on failure, so reasons are visible)
show_log() { [[ -f $1 ]] && sed -e 's/^/    | /' "$1" | tail -n "${2:-20}"; }

# ---------------------------------------------------------------------------------------------
# the standard two-peer topology (used by most cases and by scripts/demo)
#
#   ns a                                         ns b
#   +---------------------------+                +---------------------------+
#   | vpn0  10.42.0.1/24         |                | vpn0  10.42.0.2/24         |
#   |       fd42::1/64           |                |       fd42::2/64           |
#   |   vpnpeer "alice"          |  veth "internet"   vpnpeer "bob"            |
#   | eth0  192.168.241.1/24 ----+----------------+---- eth0 192.168.241.2/24  |
#   +---------------------------+   UDP 51820    +---------------------------+
# ---------------------------------------------------------------------------------------------
A_UNDERLAY=192.168.241.1
B_UNDERLAY=192.168.241.2
A_V4=10.42.0.1
B_V4=10.42.0.2
A_V6=fd42::1
B_V6=fd42::2
PORT=51820

# pair_prepare: namespaces, veth, CA, certs and peer files (nothing started).
#   Sets A_CFG, B_CFG, A_LOG, B_LOG.
pair_prepare() {
  ns_create a
  ns_create b
  veth_connect a eth0 "$A_UNDERLAY/24" b eth0 "$B_UNDERLAY/24" "${UNDERLAY_MTU:-1500}"
  make_ca "$WORK/pki" corp >/dev/null
  make_cert "$WORK/pki" alice "$WORK/alice" "$A_V4/24" "$A_V6/64" >/dev/null
  make_cert "$WORK/pki" bob "$WORK/bob" "$B_V4/24" "$B_V6/64" >/dev/null
  A_CFG=$WORK/alice/alice.toml
  B_CFG=$WORK/bob/bob.toml
  A_LOG=$WORK/alice/alice.log
  B_LOG=$WORK/bob/bob.log
  write_peer "$A_CFG" alice "$A_V4/24,$A_V6/64" "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
    "$WORK/alice/alice.crt" "$WORK/alice/alice.key" "$WORK/alice.sock" "bob=$B_UNDERLAY:$PORT"
  write_peer "$B_CFG" bob "$B_V4/24,$B_V6/64" "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
    "$WORK/bob/bob.crt" "$WORK/bob/bob.key" "$WORK/bob.sock" "alice=$A_UNDERLAY:$PORT"
}

# pair_up [SECONDS]: start both daemons and wait until alice can ping bob through the tunnel.
#   Sets A_PID, B_PID. Returns 1 (after printing both logs) if the tunnel does not come up.
pair_up() {
  local secs=${1:-20}
  start_peer a "$A_CFG" "$A_LOG"
  A_PID=$LAST_PID
  start_peer b "$B_CFG" "$B_LOG"
  B_PID=$LAST_PID
  if ! wait_until "$secs" can_ping a "$B_V4"; then
    log "tunnel did not come up within ${secs}s; alice log:"
    show_log "$A_LOG"
    log "bob log:"
    show_log "$B_LOG"
    return 1
  fi
}
