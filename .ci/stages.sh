#!/usr/bin/env bash
# The stages of `make test`, each timed. Any failing stage fails the run. The durations are
# printed as a table and kept in .cache/ci/stages.json (docs/testing.md keeps them per release).
set -euo pipefail
cd "$(dirname "$0")/.."
declare -a report=()
declare -a record=()
total_start=$SECONDS
finish() {
  printf '%s\n' "--- stage durations" "${report[@]}"
  printf '%-12s %5ss\n' total $((SECONDS - total_start))
  mkdir -p .cache/ci
  local IFS=,
  printf '{"stages": {%s}, "total": %s}\n' "${record[*]}" $((SECONDS - total_start)) \
    > .cache/ci/stages.json
}
stage() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== stage ${name}: $*"
  if "$@"; then
    report+=("$(printf '%-12s %5ss  ok' "$name" $((SECONDS - start)))")
    record+=("\"$name\": $((SECONDS - start))")
  else
    local rc=$?
    report+=("$(printf '%-12s %5ss  FAILED (%s)' "$name" $((SECONDS - start)) "$rc")")
    record+=("\"$name\": $((SECONDS - start))")
    finish
    exit "$rc"
  fi
}
stage setup make -s setup
stage lint make -s lint
stage unit make -s unit
# Molecule scenarios and the own-container tests run beside the lab tests (soc2audit.ci all):
# the lab stream waits on daemons much of its time, and the side jobs fill those waits.
stage suite make -s suite
finish
