# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# vpnpeer: certificates from its own CLI, one peer file per side, `vpnpeer up` in each namespace.
vpnpeer_up() {
  local d=$1
  if [[ ! -x $VPNPEER ]]; then
    SKIP_REASON="vpnpeer binary not found at $VPNPEER (build it with scripts/setup)"
    return 1
  fi
  if ! { "$VPNPEER" cert ca --name bench --out "$d/ca" &&
    "$VPNPEER" cert sign --ca "$d/ca" --name alice --ip 10.42.0.1/24 --out "$d/alice" &&
    "$VPNPEER" cert sign --ca "$d/ca" --name bob --ip 10.42.0.2/24 --out "$d/bob"; } >"$d/cert.log" 2>&1; then
    SKIP_REASON="vpnpeer cert failed: $(tail -n 1 "$d/cert.log")"
    return 1
  fi
  write_peer "$d/alice.toml" alice 10.42.0.1/24 0.0.0.0:51820 "$d/ca.crt" "$d/alice.crt" "$d/alice.key" \
    "$d/alice.sock" "bob=$B_ETH:51820"
  write_peer "$d/bob.toml" bob 10.42.0.2/24 0.0.0.0:51820 "$d/ca.crt" "$d/bob.crt" "$d/bob.key" \
    "$d/bob.sock" "alice=$A_ETH:51820"
  if [[ -n ${VPNPEER_OFFLOADS:-} ]]; then  # e.g. '[]': the same tunnel without kernel offloads
    sed -i "/^\[tunnel\]/a offloads = $VPNPEER_OFFLOADS" "$d/alice.toml" "$d/bob.toml"
  fi
  if [[ -n ${VPNPEER_WORKERS:-} ]]; then  # sealing threads per side (default: one per core)
    sed -i "/^\[tunnel\]/a workers = $VPNPEER_WORKERS" "$d/alice.toml" "$d/bob.toml"
  fi
  start_peer a "$d/alice.toml" "$d/alice.log"
  PIDS_A=("$LAST_PID")
  # VPNPEER_PIN_A / _B: CPUs for that side's vpnpeer (taskset -c syntax), all its threads
  if [[ -n ${VPNPEER_PIN_A:-} ]]; then taskset -a -cp "$VPNPEER_PIN_A" "$LAST_PID" >/dev/null; fi
  start_peer b "$d/bob.toml" "$d/bob.log"
  PIDS_B=("$LAST_PID")
  if [[ -n ${VPNPEER_PIN_B:-} ]]; then taskset -a -cp "$VPNPEER_PIN_B" "$LAST_PID" >/dev/null; fi
  TARGET=10.42.0.2
}
vpnpeer_down() { :; }
