#!/usr/bin/env bash
# The network key with the real binaries (docs/hardening.md, "Network key"):
#   - alice and bob (network_key = a key file) register at the rendezvous (same key), are
#     introduced and ping each other; no plain handshake packet (0x41/0x42) crosses the bridge,
#     only sealed ones (0x43), counted by nftables on the UDP payload's first byte;
#   - status on both programs shows the same fingerprint; `vpnpeer check` prints it;
#   - mallory without the key floods bob and the rendezvous with padded HELLOs and STUN requests
#     and gets 0 bytes back (the same HELLOs draw cookies from an unkeyed peer: 08-flood);
#   - carol, a member's certificate with another key, never registers; the rendezvous logs the
#     mismatch exactly once however often she retries;
#   - `vpnpeer netcheck -c alice.toml` (sealed STUN) finds the public endpoint; `--server` (plain)
#     gets no answer.
#
#            ns x (bridge br0, 192.168.243.0/24)
#     +---------+---------+---------+
#     |         |         |         |
#   ns a      ns b      ns r      ns m
#   alice     bob       rendezvous mallory, carol
#   .1        .2        .3         .4
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"
need_tool nft nftables
FLOOD=$(dirname "$0")/flood.py

A=192.168.243.1 B=192.168.243.2 R=192.168.243.3 M=192.168.243.4
ns_create x
ip -n "$(ns x)" link add br0 type bridge
ip -n "$(ns x)" link set br0 up
for pair in a:$A b:$B r:$R m:$M; do
  n=${pair%%:*} addr=${pair#*:}
  ns_create "$n"
  ip -n "$(ns x)" link add "p$n" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns x)" link set "p$n" master br0 up
  ip -n "$(ns "$n")" addr add "$addr/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
done

make_ca "$WORK/pki" corp >/dev/null
for p in alice:1 bob:2 carol:3; do
  make_cert "$WORK/pki" "${p%%:*}" "$WORK/${p%%:*}" "10.42.0.${p#*:}/24" >/dev/null
done
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
"$VPNPEER" network-key new "$WORK/network.key" >/dev/null
"$VPNPEER" network-key new "$WORK/other.key" >/dev/null
fingerprint=$("$VPNPEER" network-key show "$WORK/network.key" | awk '{print $2}')

# peer_file NAME N KEYFILE: a peer that finds the others through the rendezvous only.
peer_file() {
  local name=$1 n=$2 key=$3 f="$WORK/$1/$1.toml"
  write_peer "$f" "$name" "10.42.0.$n/24" "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
    "$WORK/$name/$name.crt" "$WORK/$name/$name.key" "$WORK/$name.sock" ""
  # network_key belongs to [peer]: put it after the first line.
  sed -i "1a network_key = \"$key\"" "$f"
  for other in alice bob; do
    [[ $other == "$name" ]] || printf '\n[[peers]]\nname = "%s"\n' "$other" >>"$f"
  done
  printf '\n[[rendezvous]]\naddress = "%s:3478"\n' "$R" >>"$f"
}
peer_file alice 1 "$WORK/network.key"
peer_file bob 2 "$WORK/network.key"
peer_file carol 3 "$WORK/other.key"
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$R:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"
network_key = "$WORK/network.key"
control_socket = "$WORK/rv.sock"
EOF

check_out=$("$VPNPEER" check -c "$WORK/alice/alice.toml" 2>&1 || true)
check "check prints the network key's fingerprint" "check said: $check_out" \
  grep -q "fingerprint $fingerprint" <<<"$check_out"
chmod 640 "$WORK/other.key"
loose=$("$VPNPEER" check -c "$WORK/carol/carol.toml" 2>&1 || true)
check "check refuses a network key others can read, with the fix" "check said: $loose" \
  grep -q "readable by group or others; run \`chmod 600" <<<"$loose"
chmod 600 "$WORK/other.key"

# Sealed and plain handshake packets on the bridge side of each namespace, by first payload byte.
for n in a b r; do
  nsx "$n" nft -f - <<NFT
table ip nk {
  counter plain {}
  counter sealed {}
  counter to_m {}
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr $M counter name "to_m"
    udp length > 8 @th,64,8 { 0x41, 0x42 } counter name "plain"
    udp length > 8 @th,64,8 0x43 counter name "sealed"
  }
}
NFT
done
# count NS NAME -> packets (plain, sealed) or bytes (to_m)
count() {
  local field=packets
  [[ $2 == to_m ]] && field=bytes
  nsx "$1" nft list counter ip nk "$2" |
    awk -v f="$field" '{for (i = 1; i <= NF; i++) if ($i == f) {print $(i + 1); exit}}'
}
rv_json() {
  ip netns exec "$(ns r)" python3 - "$WORK/rv.sock" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"VPNPEER/1 status json\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
st = json.loads(data.split(b"\n", 1)[1])
print(eval(sys.argv[2], {"s": st}))
PY
}

nsbg r "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
wait_until 5 test -S "$WORK/rv.sock" || die "the rendezvous did not start"
start_peer a "$WORK/alice/alice.toml" "$WORK/alice/alice.log"
start_peer b "$WORK/bob/bob.toml" "$WORK/bob/bob.log"
check "alice and bob, with the same key, meet through the rendezvous and ping" \
  "no tunnel within 15 s" wait_until 15 can_ping a 10.42.0.2
plain=$(($(count a plain) + $(count b plain) + $(count r plain)))
sealed=$(($(count a sealed) + $(count b sealed) + $(count r sealed)))
log "handshake packets sent: $plain plain, $sealed sealed"
check "no plain handshake packet left any namespace ($plain plain, $sealed sealed)" \
  "plain handshake packets on the wire" test "$plain" -eq 0 -a "$sealed" -gt 0
fp_a=$(json_get "$WORK/alice/alice.toml" 's["network_key"]["fingerprint"]')
fp_r=$(rv_json 's["network_key"]["fingerprint"]')
check "alice's and the rendezvous' status show the key's fingerprint ($fp_a, $fp_r)" \
  "fingerprints differ from $fingerprint" test "$fp_a" = "$fingerprint" -a "$fp_r" = "$fingerprint"

# mallory: HELLOs and STUN without the key.
nsx m python3 "$FLOOD" hello "$B" "$PORT" alice "$M" 300 300 >/dev/null
nsx m python3 "$FLOOD" hello "$R" 3478 mallory "$M" 300 300 >/dev/null
nsx m python3 "$FLOOD" stun "$R" 3478 "$M" 300 300 >/dev/null
sleep 0.5
back_b=$(count b to_m) back_r=$(count r to_m)
check "bob and the rendezvous send nothing back to a host without the key ($back_b, $back_r bytes)" \
  "they answered" test "$back_b" -eq 0 -a "$back_r" -eq 0
missing_b=$(json_get "$WORK/bob/bob.toml" 'drop("network_key_missing")')
check "bob counts the plain HELLOs as network_key_missing ($missing_b)" "not counted" \
  test "$missing_b" -ge 300

# carol: a member's certificate and another key. She retries for 8 s.
start_peer m "$WORK/carol/carol.toml" "$WORK/carol/carol.log"
sleep 8
carol_reg=$(json_get "$WORK/carol/carol.toml" 's["rendezvous"][0]["registered"]')
check "carol, with another key, does not register" "carol registered" test "$carol_reg" = 0
mismatch_logs=$(grep -c "does not open with our network key" "$WORK/rv/rv.log" || true)
mismatch_count=$(rv_json 's["drops"].get("network_key_mismatch", 0)')
check "the rendezvous logs the mismatch once ($mismatch_logs lines for $mismatch_count drops)" \
  "logged $mismatch_logs times" test "$mismatch_logs" -eq 1 -a "$mismatch_count" -gt 1

# netcheck: sealed with the peer file's key; plain with --server.
nc_sealed=$(nsx a "$VPNPEER" netcheck -c "$WORK/alice/alice.toml" --json --timeout 1 || true)
nc_plain=$(nsx a "$VPNPEER" netcheck --server "$R:3478" --json --timeout 0.5 || true)
ok_sealed=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["udp_ok"]))' "$nc_sealed")
ok_plain=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["udp_ok"]))' "$nc_plain")
check "netcheck -c (sealed STUN) is answered; netcheck --server (plain) is not" \
  "sealed $ok_sealed, plain $ok_plain" test "$ok_sealed" = 1 -a "$ok_plain" = 0
check "alice and bob still ping" "tunnel lost" can_ping a 10.42.0.2 3
finish
