#!/usr/bin/env bash
# Type-check every package's tests (vitest strips types without checking them): tsc -p tsconfig.test.json in each
# package that has one, two at a time; prints the errors and fails when any package has one.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
names=()
for config in packages/*/tsconfig.test.json apps/*/tsconfig.test.json; do
  dir=$(dirname "$config")
  (cd "$dir" && ../../node_modules/.bin/tsc -p tsconfig.test.json --pretty false) > "$logs/${dir//\//_}.log" 2>&1 &
  pids+=($!)
  names+=("$dir")
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || { cat "$logs/${names[0]//\//_}.log"; status=1; }
    rm -f "$logs/${names[0]//\//_}.log"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { cat "$logs/${names[$i]//\//_}.log"; status=1; }
  rm -f "$logs/${names[$i]//\//_}.log"
done
[ $status -eq 0 ] && echo "typecheck-tests: every package's tests type-check"
exit $status
