// Start-up: `bk --help`, `bk --version` and `bk trac list --help` with all five workspace plugins installed
// (BK_DATA_DIR=.bk-dev, as every bench's bk runs) beside bare `node -e 0`, in paired rounds (BENCH_ROUNDS, at least 9
// here: runs are short, more rounds steady the median). Reports wall time and peak RSS of each. Each bk line runs
// once untimed first, so the timed runs replay the start-up cache as every run but a user's first does; the
// `BK_STARTUP_CACHE=off` line is oclif rendering it (the first run, and any run after a plugin changed).
// BENCH_BK_BEFORE=<checkout> adds that checkout's `bk --help` (built, with its own .bk-dev) to the same rounds.
import {join} from 'node:path'

process.env.BENCH_ROUNDS = String(Math.max(9, Number(process.env.BENCH_ROUNDS ?? '9')))
// imported after BENCH_ROUNDS is set: lib.mjs reads it once
const {measure, paired, printTable, repoRoot} = await import('./lib.mjs')

const bk = (root, ...args) => [process.execPath, join(root, 'apps/bk/bin/run.js'), ...args]
const contenders = [
  {tool: 'bk --help (five plugins)', argv: bk(repoRoot, '--help'), note: 'replayed from the start-up cache'},
  {tool: 'bk --version', argv: bk(repoRoot, '--version'), note: 'replayed'},
  {tool: 'bk trac list --help', argv: bk(repoRoot, 'trac', 'list', '--help'), note: 'replayed'},
  {
    tool: 'bk --help, BK_STARTUP_CACHE=off',
    argv: bk(repoRoot, '--help'),
    options: {env: {BK_STARTUP_CACHE: 'off'}},
    note: 'oclif reads every plugin manifest; no command module is imported',
  },
]
const before = process.env.BENCH_BK_BEFORE
if (before) {
  contenders.push({
    tool: `bk --help (five plugins), ${process.env.BENCH_BK_BEFORE_LABEL ?? 'before'}`,
    argv: bk(before, '--help'),
    options: {env: {BK_DATA_DIR: join(before, '.bk-dev')}},
    note: 'the other checkout, same rounds',
  })
}
for (const c of contenders) measure(c.argv, c.options ?? {}) // untimed: records the start-up cache entry
const rows = paired('start-up', {tool: 'node -e 0', argv: [process.execPath, '-e', '0']}, contenders)
printTable('bk start-up (paired rounds, medians)', rows)
