#!/usr/bin/env bash
# STUN interop: vpnpeer-rendezvous answers coturn's turnutils_stunclient (RFC 5389 and RFC 5780
# mode) and Debian's stun-client (classic RFC 3489, no magic cookie), and `vpnpeer netcheck`
# classifies a NAT-free path as "open", against a server with an
# alternate address (full RFC 5780) and against one with an alternate port only.
#
#   ns rv                                            ns cl
#   +--------------------------------------+         +-------------------------------+
#   | vpnpeer-rendezvous                   |  veth   | turnutils_stunclient          |
#   |   A: 192.0.2.1:3478, alt 192.0.2.2   |         | vpnpeer netcheck              |
#   |      alt_port 3479                   |         |                               |
#   |   B: 192.0.2.1:3480, alt_port 3481   |         |                               |
#   |      (no alt_address)                |         |                               |
#   | eth0 192.0.2.1/24, 192.0.2.2/24 -----+---------+---- eth0 192.0.2.10/24        |
#   +--------------------------------------+         +-------------------------------+
#
# No NAT in between: every mapped address must be the client's own 192.0.2.10.
# EXPECT_RESPONSE_PORT=0 skips the checks of turnutils_stunclient's RFC 5780 mode that need
# RESPONSE-PORT support in the server (for a server without it).
# SERVER_IMPL=coturn runs coturn's turnserver in place of vpnpeer-rendezvous (same addresses;
# coturn's alternate port is always port+1), to check this script and netcheck against an
# independent RFC 5780 implementation.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer

RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
SERVER_IMPL=${SERVER_IMPL:-vpnpeer}
EXPECT_RESPONSE_PORT=${EXPECT_RESPONSE_PORT:-1}
RV_IP=192.0.2.1
RV_ALT_IP=192.0.2.2
CL_IP=192.0.2.10

command -v turnutils_stunclient >/dev/null || die "turnutils_stunclient not found (apt-get install coturn)"
command -v stun >/dev/null || die "stun (the RFC 3489 client) not found (apt-get install stun-client)"
if [[ $SERVER_IMPL == vpnpeer ]]; then
  [[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS"
else
  command -v turnserver >/dev/null || die "turnserver not found (apt-get install coturn)"
fi

ns_create rv
ns_create cl
veth_connect rv eth0 "$RV_IP/24" cl eth0 "$CL_IP/24"
ip -n "$(ns rv)" addr add "$RV_ALT_IP/24" dev eth0

# start_server NAME PORT ALT_PORT [ALT_IP] -> starts one server, waits until PORT is bound
start_server() {
  local name=$1 port=$2 alt_port=$3 alt_ip=${4:-} dir=$WORK/$1 pid
  mkdir -p "$dir"
  if [[ $SERVER_IMPL == vpnpeer ]]; then
    {
      printf '[rendezvous]\nlisten = ["%s:%s"]\nalt_port = %s\n' "$RV_IP" "$port" "$alt_port"
      [[ -n $alt_ip ]] && printf 'alt_address = "%s"\n' "$alt_ip"
      printf 'ca = "%s/pki/ca.crt"\ncert = "%s/pki/rv1.crt"\nkey = "%s/pki/rv1.key"\n' \
        "$WORK" "$WORK" "$WORK"
      printf 'control_socket = "%s/%s.sock"\n' "$WORK" "$name"
    } >"$dir/rendezvous.toml"
    # ip netns exec directly, not the nsx function: $! must be the server, not a subshell,
    # or the cleanup kills the subshell and leaves the server running.
    ip netns exec "$(ns rv)" "$RENDEZVOUS" -c "$dir/rendezvous.toml" </dev/null >"$dir/log" 2>&1 &
  else
    local ips=(--listening-ip="$RV_IP")
    [[ -n $alt_ip ]] && ips+=(--listening-ip="$alt_ip")
    ((alt_port == port + 1)) || die "coturn's alternate port is always port+1"
    ip netns exec "$(ns rv)" turnserver -n "${ips[@]}" --listening-port="$port" --stun-only --no-tls --no-dtls \
      --no-cli --simple-log --log-file=stdout --pidfile="$dir/pid" </dev/null >"$dir/log" 2>&1 &
  fi
  pid=$!
  track_pid "$pid"
  if ! wait_until 5 bash -c "ip netns exec $(ns rv) ss -Hlun 'sport = :$port' | grep -q ':$port'"; then
    fail "$name: server did not bind UDP $port within 5 s"
    sed 's/^/    | /' "$dir/log" | tail -20
    return 1
  fi
}

if [[ $SERVER_IMPL == vpnpeer ]]; then
  make_ca "$WORK/pki" interop >/dev/null
  "$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/pki/rv1" >/dev/null
fi

start_server A 3478 3479 "$RV_ALT_IP" || finish
start_server B 3480 3481 || finish

# --- coturn's client, classic mode: the mapped address is ours --------------------------------
out=$WORK/stunclient.A.txt
nsx cl timeout 10 turnutils_stunclient -p 3478 "$RV_IP" >"$out" 2>&1 || true
check "stunclient: answered with our address $CL_IP" \
  "$(tr '\n' ' ' <"$out" | head -c 600)" \
  grep -Eq "UDP reflexive addr: $CL_IP:[0-9]+" "$out"

# --- coturn's client, RFC 5780 mode: OTHER-ADDRESS and CHANGE-REQUEST honored -----------------
out=$WORK/stunclient.A.5780.txt
nsx cl timeout 15 turnutils_stunclient -f -p 3478 "$RV_IP" >"$out" 2>&1 || true
check "stunclient -f: OTHER-ADDRESS is $RV_ALT_IP:3479" "$(tr '\n' ' ' <"$out" | head -c 800)" \
  grep -q "Other addr: : $RV_ALT_IP:3479" "$out"
# coturn's client sends RESPONSE-PORT along with CHANGE-REQUEST and gives up on the 420 a server
# without RESPONSE-PORT support answers (RFC 5780 allows that answer). netcheck below checks
# CHANGE-REQUEST without RESPONSE-PORT.
if [[ $EXPECT_RESPONSE_PORT == 1 ]]; then
  check "stunclient -f: change ip+port answered from $RV_ALT_IP:3479" \
    "$(tr '\n' ' ' <"$out" | head -c 800)" \
    grep -q "Response origin: : $RV_ALT_IP:3479" "$out"
else
  echo "SKIP: stunclient -f: change ip+port answered (EXPECT_RESPONSE_PORT=0)"
fi
check "stunclient -f: every mapped address is $CL_IP" "$(tr '\n' ' ' <"$out" | head -c 800)" \
  bash -c "grep -q 'reflexive addr' '$out' && ! grep 'reflexive addr' '$out' | grep -vq ' $CL_IP:'"

# --- a classic RFC 3489 client (Debian's stun-client): its NAT-type tests against server A ----
# It sends Binding requests without the magic cookie, with CHANGE-REQUEST for tests II and III,
# and reads MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS (RFC 3489 section 10.1).
out=$WORK/stun-classic.A.txt
nsx cl timeout 20 stun "$RV_IP" -v >"$out" 2>&1 || true
check "stun (RFC 3489): every MappedAddress is $CL_IP" "$(grep -i -m3 'address' "$out" | tr '\n' ' ')" \
  bash -c "grep -q 'MappedAddress = ' '$out' && ! grep 'MappedAddress = ' '$out' | grep -vq '= $CL_IP:'"
check "stun (RFC 3489): change IP answered from $RV_ALT_IP:3478, change port from $RV_IP:3479" \
  "$(grep 'SourceAddress' "$out" | tr '\n' ' ')" \
  bash -c "grep -q 'SourceAddress = $RV_ALT_IP:3478' '$out' && grep -q 'SourceAddress = $RV_IP:3479' '$out'"
check "stun (RFC 3489): CHANGED-ADDRESS is $RV_ALT_IP:3479" "$(grep -m1 'ChangedAddress' "$out")" \
  grep -q "ChangedAddress = $RV_ALT_IP:3479" "$out"
check "stun (RFC 3489): its classification says open (no NAT)" "$(tail -n 3 "$out" | tr '\n' ' ')" \
  grep -Eq '^Primary: Open' "$out"

# --- vpnpeer netcheck: no NAT, full RFC 5780 server -> open -----------------------------------
json_field() {
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print(v if v is not None else "null")' \
    "$1" "$2" 2>/dev/null || echo "<no JSON>"
}
out=$WORK/netcheck.A.json
rc=0
nsx cl timeout 30 "$VPNPEER" netcheck --server "$RV_IP:3478" --json >"$out" 2>"$out.err" || rc=$?
check "netcheck A: exit 0" "exit $rc: $(head -c 300 "$out.err")" test "$rc" = 0
check "netcheck A: nat_type open" "got $(json_field "$out" nat_type): $(head -c 600 "$out")" \
  test "$(json_field "$out" nat_type)" = open
check "netcheck A: public endpoint is $CL_IP" "got $(json_field "$out" public_endpoint)" \
  bash -c "[[ '$(json_field "$out" public_endpoint)' == $CL_IP:* ]]"
check "netcheck A: mapping endpoint-independent, filtering endpoint-independent" \
  "mapping=$(json_field "$out" mapping) filtering=$(json_field "$out" filtering)" \
  test "$(json_field "$out" mapping)/$(json_field "$out" filtering)" = \
  endpoint-independent/endpoint-independent
check "netcheck A: server alternate $RV_ALT_IP:3479" \
  "got $(json_field "$out" server_other_address)" \
  test "$(json_field "$out" server_other_address)" = "$RV_ALT_IP:3479"

# Text output, same server: says "open" in words.
out=$WORK/netcheck.A.txt
rc=0
nsx cl timeout 30 "$VPNPEER" netcheck --server "$RV_IP:3478" >"$out" 2>&1 || rc=$?
check "netcheck A (text): NAT type open" "exit $rc: $(tr '\n' ' ' <"$out" | head -c 600)" \
  grep -Eq '^NAT type: +open$' "$out"

# --- server B: alternate port only -> still open, filtering tested with the port only ---------
out=$WORK/stunclient.B.txt
nsx cl timeout 10 turnutils_stunclient -p 3480 "$RV_IP" >"$out" 2>&1 || true
check "stunclient B: answered with our address $CL_IP" "$(tr '\n' ' ' <"$out" | head -c 600)" \
  grep -Eq "UDP reflexive addr: $CL_IP:[0-9]+" "$out"
out=$WORK/netcheck.B.json
rc=0
nsx cl timeout 30 "$VPNPEER" netcheck --server "$RV_IP:3480" --json >"$out" 2>"$out.err" || rc=$?
if [[ $SERVER_IMPL == vpnpeer ]]; then
  check "netcheck B: nat_type open" \
    "got $(json_field "$out" nat_type) (exit $rc): $(head -c 600 "$out")" \
    test "$(json_field "$out" nat_type)" = open
  check "netcheck B: filtering tested with the port only" \
    "filtering=$(json_field "$out" filtering) with_address=$(json_field "$out" filtering_tested_with_address)" \
    test "$(json_field "$out" filtering)/$(json_field "$out" filtering_tested_with_address)" = \
    endpoint-or-address-dependent/False
else
  # coturn does RFC 5780 only with two addresses: without OTHER-ADDRESS nothing can be tested.
  check "netcheck B (coturn, no RFC 5780): UDP ok, no NAT, type unknown" \
    "got $(json_field "$out" udp_ok)/$(json_field "$out" behind_nat)/$(json_field "$out" nat_type) (exit $rc)" \
    test "$(json_field "$out" udp_ok)/$(json_field "$out" behind_nat)/$(json_field "$out" nat_type)" = \
    True/False/unknown
fi

# --- nothing listening: "UDP blocked" is a result, exit 0 -------------------------------------
out=$WORK/netcheck.none.json
rc=0
nsx cl timeout 30 "$VPNPEER" netcheck --server "$RV_IP:3999" --json --timeout 1 >"$out" 2>"$out.err" || rc=$?
check "netcheck, no server: udp-blocked, exit 0" \
  "got $(json_field "$out" nat_type) (exit $rc)" \
  test "$(json_field "$out" nat_type)/$rc" = udp-blocked/0

echo "$PASSED passed, $FAILED failed"
finish
