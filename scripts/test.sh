#!/usr/bin/env bash
# The whole test suite: installs, builds and lints first, then runs every project's tests once (vitest projects),
# and ends with one plain summary line ("N passed, N failed, N skipped").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm lint
report=$(mktemp)
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  const skipped = r.numPendingTests + r.numTodoTests
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`)
' "$report" || true
rm -f "$report"
exit $status
