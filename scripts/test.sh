#!/usr/bin/env bash
# The whole test suite: installs, builds, lints, type-checks the tests and checks core's API reference first, then runs every project's tests once (vitest projects),
# and ends with one plain summary line ("N passed, N failed, N skipped").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm lint
# vitest strips types without checking them; core's API reference must say what every export is for
bash scripts/typecheck-tests.sh
node scripts/api-docs.mjs --check
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
