# shellcheck shell=bash
# shellcheck disable=SC2034  # TARGET, PIDS_A, PIDS_B, SKIP_REASON are read by bench.sh
# The bare veth: the ceiling every tunnel is measured against. No process to watch.
bare_up() { TARGET=$B_ETH; }
bare_down() { :; }
