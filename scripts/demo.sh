#!/usr/bin/env bash
# Quick start: install, build, then run bk's main job on the bundled example data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
node scripts/demo.mjs
