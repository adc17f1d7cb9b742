# shellcheck shell=bash
# vpnpeer sealing and opening on two threads per side ([tunnel] workers = 2), so that a run shows
# what the worker threads are worth next to the default (half the cores: one on this machine).
# shellcheck source=vpnpeer.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpnpeer.sh"
vpnpeer_2workers_up() { VPNPEER_WORKERS=2 vpnpeer_up "$@"; }
vpnpeer_2workers_down() { vpnpeer_down "$@"; }
