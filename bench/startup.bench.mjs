// Start-up: `bk --help` with all five workspace plugins installed (BK_DATA_DIR=.bk-dev, as every bench's bk runs)
// beside bare `node -e 0`, in paired rounds (BENCH_ROUNDS, at least 9 here: runs are short, more rounds steady
// the median). Reports wall time and peak RSS of each.
import {join} from 'node:path'

process.env.BENCH_ROUNDS = String(Math.max(9, Number(process.env.BENCH_ROUNDS ?? '9')))
// imported after BENCH_ROUNDS is set: lib.mjs reads it once
const {paired, printTable, repoRoot} = await import('./lib.mjs')

const rows = paired('start-up', {tool: 'node -e 0', argv: [process.execPath, '-e', '0']}, [
  {
    tool: 'bk --help (five plugins)',
    argv: [process.execPath, join(repoRoot, 'apps/bk/bin/run.js'), '--help'],
    note: 'oclif reads every plugin manifest; no command module is imported',
  },
])
printTable('bk start-up (paired rounds, medians)', rows)
