# shellcheck shell=bash
# vpnpeer with the UDP offloads only ([tunnel] offloads = ["udp-gso", "udp-gro"]): with
# vpnpeer-tun-offloads and vpnpeer-nooffload, each technique's share of the default's speed.
# shellcheck source=vpnpeer.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpnpeer.sh"
vpnpeer_udp_offloads_up() { VPNPEER_OFFLOADS='["udp-gso", "udp-gro"]' vpnpeer_up "$@"; }
vpnpeer_udp_offloads_down() { vpnpeer_down "$@"; }
