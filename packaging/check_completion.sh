#!/usr/bin/env bash
# ctest "bash_completion": the vpnpeer completion offers subcommands, sub-subcommands and options.
set -euo pipefail
[[ -f /usr/share/bash-completion/bash_completion ]] ||
  { echo "bash-completion is missing (scripts/setup installs it)"; exit 1; }
# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
source "$1"
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _vpnpeer vpnpeer "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  echo "${COMPREPLY[*]}"
}
fail=0
expect() {
  local want=$1
  shift
  local got
  got=$(complete_words "$@")
  if [[ " $got " == *" $want "* ]]; then echo "ok: '$*' offers $want"; else
    echo "FAILED: '$*' offers '$got', not $want"
    fail=1
  fi
}
expect cert vpnpeer ce
expect reload vpnpeer rel
expect network-key vpnpeer net
expect sign vpnpeer cert s
expect --group vpnpeer cert sign --gr
expect --json vpnpeer status --js
expect warn vpnpeer up --log-level w
expect p256 vpnpeer cert ca --key-type p
exit $fail
