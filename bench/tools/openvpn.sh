# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# OpenVPN 2.6: UDP, TLS peer-to-peer (--tls-server/--tls-client) with a throwaway CA made by the
# openssl CLI, AES-256-GCM data channel, tun, user-space data path (DCO disabled so the cost
# lands in the process we measure).
openvpn_up() {
  local d=$1 n
  command -v openvpn >/dev/null || { SKIP_REASON="openvpn not installed (apt-get install openvpn)"; return 1; }
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=bench-ca -keyout "$d/ca.key" -out "$d/ca.crt" &&
      for n in server client; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$n" \
          -keyout "$d/$n.key" -out "$d/$n.csr" &&
          openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -sha256 -out "$d/$n.crt" || return 1
      done
  } >"$d/openssl.log" 2>&1 || { SKIP_REASON="openssl CA generation failed"; return 1; }

  local common=(--dev tun --proto udp --port 1194 --data-ciphers AES-256-GCM --cipher AES-256-GCM
    --tun-mtu 1400 --ca "$d/ca.crt" --disable-dco --verb 3 --ping 10 --persist-tun)
  nsbg b openvpn "${common[@]}" --local "$B_ETH" --remote "$A_ETH" --tls-server --dh none \
    --cert "$d/server.crt" --key "$d/server.key" --ifconfig 10.43.0.2 10.43.0.1 \
    </dev/null >"$d/openvpn-b.log" 2>&1
  PIDS_B=("$LAST_PID")
  nsbg a openvpn "${common[@]}" --local "$A_ETH" --remote "$B_ETH" --tls-client \
    --cert "$d/client.crt" --key "$d/client.key" --ifconfig 10.43.0.1 10.43.0.2 \
    </dev/null >"$d/openvpn-a.log" 2>&1
  PIDS_A=("$LAST_PID")
  TARGET=10.43.0.2
}
openvpn_down() { :; }
