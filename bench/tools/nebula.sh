# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# Nebula: nebula-cert CA and host certs, static host map (no lighthouse), allow-all firewall.
nebula_up() {
  local d=$1 n other
  { command -v nebula && command -v nebula-cert; } >/dev/null ||
    { SKIP_REASON="nebula not installed (optional; apt-get install nebula)"; return 1; }
  {
    nebula-cert ca -name bench -out-crt "$d/ca.crt" -out-key "$d/ca.key" &&
      nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name a -ip 10.45.0.1/24 \
        -out-crt "$d/a.crt" -out-key "$d/a.key" &&
      nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name b -ip 10.45.0.2/24 \
        -out-crt "$d/b.crt" -out-key "$d/b.key"
  } >"$d/nebula-cert.log" 2>&1 || { SKIP_REASON="nebula-cert failed: $(tail -n 1 "$d/nebula-cert.log")"; return 1; }
  for n in a b; do
    if [[ $n == a ]]; then other="10.45.0.2: [\"$B_ETH:4242\"]"; else other="10.45.0.1: [\"$A_ETH:4242\"]"; fi
    cat >"$d/$n.yml" <<YML
pki:
  ca: $d/ca.crt
  cert: $d/$n.crt
  key: $d/$n.key
static_host_map:
  "${other%%:*}": ${other#*: }
lighthouse:
  am_lighthouse: false
  hosts: []
listen:
  host: 0.0.0.0
  port: 4242
punchy:
  punch: false
tun:
  dev: nebula1
  mtu: 1400
logging:
  level: info
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
YML
  done
  nsbg a nebula -config "$d/a.yml" >"$d/nebula-a.log" 2>&1
  PIDS_A=("$LAST_PID")
  nsbg b nebula -config "$d/b.yml" >"$d/nebula-b.log" 2>&1
  PIDS_B=("$LAST_PID")
  TARGET=10.45.0.2
}
nebula_down() { :; }
