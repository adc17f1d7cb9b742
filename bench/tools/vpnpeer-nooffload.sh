# shellcheck shell=bash
# vpnpeer with every kernel offload turned off ([tunnel] offloads = []), so that a run shows
# what the offloads are worth next to the default.
# shellcheck source=vpnpeer.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpnpeer.sh"
vpnpeer_nooffload_up() { VPNPEER_OFFLOADS='[]' vpnpeer_up "$@"; }
vpnpeer_nooffload_down() { vpnpeer_down "$@"; }
