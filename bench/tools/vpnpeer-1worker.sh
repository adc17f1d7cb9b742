# shellcheck shell=bash
# vpnpeer sealing on its loop thread only ([tunnel] workers = 1), so that a run shows what the
# sealing threads are worth next to the default (one per core).
# shellcheck source=vpnpeer.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpnpeer.sh"
vpnpeer_1worker_up() { VPNPEER_WORKERS=1 vpnpeer_up "$@"; }
vpnpeer_1worker_down() { vpnpeer_down "$@"; }
