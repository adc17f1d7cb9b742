#!/usr/bin/env bash
# The rendezvous' Prometheus endpoint with the real binaries, while it relays:
#   - alice and bob cannot reach each other directly (nftables drops UDP between them), so the
#     rendezvous relays their tunnel; a scrape of GET /metrics passes `promtool check metrics`;
#   - across a 3 s ping, relayed bytes and packets grow, one relay channel is bound and two
#     peers are registered;
#   - huge, slow, malformed and too many requests to the metrics listener are refused, and the
#     relay carries on: the ping still passes and the next scrape is answered.
#
#            ns x (bridge br0, 192.168.244.0/24)
#     +---------+---------+
#   ns a      ns b      ns r
#   alice     bob       rendezvous (metrics on 127.0.0.1:9477 inside ns r)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
require_root
require_vpnpeer
RENDEZVOUS=${RENDEZVOUS:-$REPO_ROOT/build/release/rendezvous/vpnpeer-rendezvous}
[[ -x $RENDEZVOUS ]] || die "vpnpeer-rendezvous not found at $RENDEZVOUS (build it)"
need_tool nft nftables
if ! command -v promtool >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
    >/dev/null 2>&1 || die "promtool missing and prometheus could not be installed"
fi

A=192.168.244.1 B=192.168.244.2 R=192.168.244.3
ns_create x
ip -n "$(ns x)" link add br0 type bridge
ip -n "$(ns x)" link set br0 up
for pair in a:$A b:$B r:$R; do
  n=${pair%%:*} addr=${pair#*:}
  ns_create "$n"
  ip -n "$(ns x)" link add "p$n" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns x)" link set "p$n" master br0 up
  ip -n "$(ns "$n")" addr add "$addr/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
done
nsx r ip link set lo up
# No direct path between alice and bob: only the relay works.
for pair in a:$B b:$A; do
  nsx "${pair%%:*}" nft -f - <<NFT
table ip nodirect {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr ${pair#*:} drop
  }
}
NFT
done

make_ca "$WORK/pki" corp >/dev/null
make_cert "$WORK/pki" alice "$WORK/alice" 10.42.0.1/24 >/dev/null
make_cert "$WORK/pki" bob "$WORK/bob" 10.42.0.2/24 >/dev/null
mkdir -p "$WORK/rv"
"$VPNPEER" cert sign --ca "$WORK/pki/ca" --name rv1 --rendezvous --out "$WORK/rv/rv1" >/dev/null
write_peer "$WORK/alice/alice.toml" alice 10.42.0.1/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/alice/alice.crt" "$WORK/alice/alice.key" "$WORK/alice.sock" ""
write_peer "$WORK/bob/bob.toml" bob 10.42.0.2/24 "0.0.0.0:$PORT" "$WORK/pki/ca.crt" \
  "$WORK/bob/bob.crt" "$WORK/bob/bob.key" "$WORK/bob.sock" ""
printf '\n[[peers]]\nname = "bob"\n\n[[rendezvous]]\naddress = "%s:3478"\n' "$R" >>"$WORK/alice/alice.toml"
printf '\n[metrics]\nlisten = "127.0.0.1:9478"\n' >>"$WORK/alice/alice.toml"
printf '\n[[peers]]\nname = "alice"\n\n[[rendezvous]]\naddress = "%s:3478"\n' "$R" >>"$WORK/bob/bob.toml"
cat >"$WORK/rv/rv.toml" <<EOF
[rendezvous]
listen = ["$R:3478"]
ca = "$WORK/pki/ca.crt"
cert = "$WORK/rv/rv1.crt"
key = "$WORK/rv/rv1.key"

[metrics]
listen = "127.0.0.1:9477"
EOF

scrape() { nsx r python3 -c '
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:9477/metrics", timeout=5).read().decode())'; }
# metric FILE NAME[{labels}] -> its value (0 if absent)
metric() { awk -v k="$2" '$1 == k {print $2; found = 1} END {if (!found) print 0}' "$1"; }

nsbg r "$RENDEZVOUS" -c "$WORK/rv/rv.toml" >>"$WORK/rv/rv.log" 2>&1
wait_until 5 grep -q "metrics on http://127.0.0.1:9477/metrics" "$WORK/rv/rv.log" ||
  die "the rendezvous did not start its metrics listener: $(tail -3 "$WORK/rv/rv.log")"
start_peer a "$WORK/alice/alice.toml" "$WORK/alice/alice.log"
start_peer b "$WORK/bob/bob.toml" "$WORK/bob/bob.log"
check "alice and bob meet over the relay" "no ping within 20 s" wait_until 20 can_ping a 10.42.0.2
path=$(json_get "$WORK/alice/alice.toml" "peer('bob').get('path', '')")
check "their path is relay-udp ($path)" "path $path" test "$path" = relay-udp

scrape >"$WORK/m1.txt"
out=$(promtool check metrics <"$WORK/m1.txt" 2>&1) && rc=0 || rc=$?
check "promtool check metrics accepts the scrape" "exit $rc: $out" test "$rc" -eq 0
nsx a ping -c 15 -i 0.2 -W 1 10.42.0.2 >/dev/null 2>&1 || true
scrape >"$WORK/m2.txt"
b1=$(metric "$WORK/m1.txt" vpnpeer_rendezvous_relayed_bytes_total)
b2=$(metric "$WORK/m2.txt" vpnpeer_rendezvous_relayed_bytes_total)
p1=$(metric "$WORK/m1.txt" vpnpeer_rendezvous_relayed_packets_total)
p2=$(metric "$WORK/m2.txt" vpnpeer_rendezvous_relayed_packets_total)
log "relayed bytes $b1 -> $b2, packets $p1 -> $p2 across 15 pings"
check "relayed bytes and packets grow while traffic is relayed" "bytes $b1 -> $b2, packets $p1 -> $p2" \
  test "$b2" -gt "$b1" -a "$p2" -ge $((p1 + 30))
check "one relay channel, two registered peers" \
  "channels $(metric "$WORK/m2.txt" vpnpeer_rendezvous_relay_channels), peers $(metric "$WORK/m2.txt" vpnpeer_rendezvous_registered_peers)" \
  test "$(metric "$WORK/m2.txt" vpnpeer_rendezvous_relay_channels)" = 1 -a \
  "$(metric "$WORK/m2.txt" vpnpeer_rendezvous_registered_peers)" = 2
check "process metrics are there" "no process_resident_memory_bytes" \
  test "$(metric "$WORK/m2.txt" process_resident_memory_bytes)" -gt 1000000

# alice's own endpoint: per-peer path, traffic and RTT.
peer_scrape() { nsx a python3 -c '
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:9478/metrics", timeout=5).read().decode())'; }
peer_scrape >"$WORK/p1.txt"
out=$(promtool check metrics <"$WORK/p1.txt" 2>&1) && rc=0 || rc=$?
check "promtool check metrics accepts alice's scrape" "exit $rc: $out" test "$rc" -eq 0
nsx a ping -c 10 -i 0.2 -W 1 10.42.0.2 >/dev/null 2>&1 || true
peer_scrape >"$WORK/p2.txt"
tx1=$(metric "$WORK/p1.txt" 'vpnpeer_peer_transmit_bytes_total{peer="bob"}')
tx2=$(metric "$WORK/p2.txt" 'vpnpeer_peer_transmit_bytes_total{peer="bob"}')
check "alice's metrics show bob up, on relay-udp, bytes to him growing ($tx1 -> $tx2)" \
  "$(grep 'peer="bob"' "$WORK/p2.txt" | head -5 | tr '\n' ';')" \
  eval "[[ \$(metric '$WORK/p2.txt' 'vpnpeer_peer_up{peer=\"bob\"}') == 1 && \
          \$(metric '$WORK/p2.txt' 'vpnpeer_peer_path{peer=\"bob\",path=\"relay-udp\"}') == 1 && $tx2 -gt $tx1 ]]"

# Hostile requests to the metrics listener.
nsx r python3 - <<'PY' >"$WORK/abuse.txt"
import socket, time
def ask(data, wait=0.0, read=True):
    s = socket.create_connection(("127.0.0.1", 9477), timeout=8)
    s.sendall(data)
    if wait:
        time.sleep(wait)
    got = b""
    try:
        while read:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    s.close()
    return got.split(b"\r\n", 1)[0].decode(errors="replace")
print("huge", ask(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n"))
print("malformed", ask(b"\x16\x03\x01 not http\r\n\r\n"))
print("post", ask(b"POST /metrics HTTP/1.1\r\n\r\n"))
print("path", ask(b"GET /../../etc/passwd HTTP/1.1\r\n\r\n"))
# 40 connections that never finish their request, then one slow one that the server cuts off.
held = [socket.create_connection(("127.0.0.1", 9477)) for _ in range(40)]
for h in held:
    h.sendall(b"GET /met")
print("slow", ask(b"GET /met", wait=0, read=True) or "closed")
for h in held:
    h.close()
PY
log "abuse answers: $(tr '\n' ';' <"$WORK/abuse.txt")"
check "a 100 KB request gets 431" "$(cat "$WORK/abuse.txt")" grep -q "^huge HTTP/1.1 431" "$WORK/abuse.txt"
check "a malformed request gets 400" "$(cat "$WORK/abuse.txt")" grep -q "^malformed HTTP/1.1 400" "$WORK/abuse.txt"
check "POST gets 405 and an unknown path 404" "$(cat "$WORK/abuse.txt")" \
  eval "grep -q '^post HTTP/1.1 405' '$WORK/abuse.txt' && grep -q '^path HTTP/1.1 404' '$WORK/abuse.txt'"
check "a slow request is closed without an answer" "$(cat "$WORK/abuse.txt")" \
  grep -q "^slow closed" "$WORK/abuse.txt"
check "the relay carries on after the abuse" "ping failed" can_ping a 10.42.0.2 3
scrape >"$WORK/m3.txt"
check "the next scrape is answered" "empty scrape" grep -q vpnpeer_rendezvous_build_info "$WORK/m3.txt"
finish
