# shellcheck shell=bash
# vpnpeer with the TUN offloads only ([tunnel] offloads = ["tun-tso", "tun-gro"]).
# shellcheck source=vpnpeer.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpnpeer.sh"
vpnpeer_tun_offloads_up() { VPNPEER_OFFLOADS='["tun-tso", "tun-gro"]' vpnpeer_up "$@"; }
vpnpeer_tun_offloads_down() { vpnpeer_down "$@"; }
