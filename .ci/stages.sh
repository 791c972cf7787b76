#!/usr/bin/env bash
# The stages of `make test`, each timed. Any failing stage fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -a report=()
stage() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== stage ${name}: $*"
  if "$@"; then
    report+=("$(printf '%-12s %5ss  ok' "$name" $((SECONDS - start)))")
  else
    local rc=$?
    report+=("$(printf '%-12s %5ss  FAILED (%s)' "$name" $((SECONDS - start)) "$rc")")
    printf '%s\n' "--- stage durations" "${report[@]}"
    exit "$rc"
  fi
}
stage setup make -s setup
stage lint make -s lint
stage unit make -s unit
stage molecule make -s molecule
stage integration make -s integration
printf '%s\n' "--- stage durations" "${report[@]}"
