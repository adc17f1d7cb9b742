# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# wireguard-go (user space) configured with wg(8). The interfaces get distinct names because
# the UAPI sockets live in /var/run/wireguard/, which both namespaces share.
wireguard_go_up() {
  local d=$1
  { command -v wireguard-go && command -v wg; } >/dev/null ||
    { SKIP_REASON="wireguard-go or wg not installed (apt-get install wireguard-go wireguard-tools)"; return 1; }
  wg genkey | tee "$d/a.key" | wg pubkey >"$d/a.pub"
  wg genkey | tee "$d/b.key" | wg pubkey >"$d/b.pub"
  # Foreground, so the pid we hold is the process doing the work.
  nsbg a env WG_PROCESS_FOREGROUND=1 wireguard-go wgbencha >"$d/wg-a.log" 2>&1
  PIDS_A=("$LAST_PID")
  nsbg b env WG_PROCESS_FOREGROUND=1 wireguard-go wgbenchb >"$d/wg-b.log" 2>&1
  PIDS_B=("$LAST_PID")
  wait_until 5 test -S /var/run/wireguard/wgbencha.sock || { SKIP_REASON="wireguard-go a did not start"; return 1; }
  wait_until 5 test -S /var/run/wireguard/wgbenchb.sock || { SKIP_REASON="wireguard-go b did not start"; return 1; }
  nsx a wg set wgbencha private-key "$d/a.key" listen-port 51821 \
    peer "$(cat "$d/b.pub")" allowed-ips 10.44.0.2/32 endpoint "$B_ETH:51821"
  nsx b wg set wgbenchb private-key "$d/b.key" listen-port 51821 \
    peer "$(cat "$d/a.pub")" allowed-ips 10.44.0.1/32 endpoint "$A_ETH:51821"
  nsx a ip addr add 10.44.0.1/24 dev wgbencha
  nsx b ip addr add 10.44.0.2/24 dev wgbenchb
  nsx a ip link set wgbencha mtu 1400 up
  nsx b ip link set wgbenchb mtu 1400 up
  TARGET=10.44.0.2
}
wireguard_go_down() { :; }
