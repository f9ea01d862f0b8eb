// Start-up: `bk --help`, `bk --version` and `bk trac list --help` with all five workspace plugins installed
// (BK_DATA_DIR=.bk-dev, as every bench's bk runs) beside bare `node -e 0`, in paired rounds (BENCH_ROUNDS, at least 9
// here: runs are short, more rounds steady the median). Reports wall time and peak RSS of each. Each bk line runs
// once untimed first, so the timed runs replay the start-up cache as every run but a user's first does; the
// `BK_STARTUP_CACHE=off` line is oclif rendering it (the first run, and any run after a plugin changed).
// The `list` lines are real command runs on an empty backup location: what every command pays before its own work
// (oclif's config of bk and the command's plugin, from the command index the untimed run wrote; the command's module
// graph, flag parsing, the output). The `BK_STARTUP_CACHE=off` one loads every plugin's manifest, as the first run
// and any run after a plugin changed do.
// BENCH_BK_BEFORE=<checkout> adds that checkout's lines (built, with its own .bk-dev) to the same rounds.
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

process.env.BENCH_ROUNDS = String(Math.max(9, Number(process.env.BENCH_ROUNDS ?? '9')))
// imported after BENCH_ROUNDS is set: lib.mjs reads it once
const {benchDir, cleanup, measure, paired, printTable, repoRoot} = await import('./lib.mjs')

const empty = benchDir('startup')
const bk = (root, ...args) => [process.execPath, join(root, 'apps/bk/bin/run.js'), ...args]
/** The command runs, for this checkout and for the "before" one. */
const commands = (root, label, env) =>
  [
    {tool: `bk trac list <empty>${label}`, argv: bk(root, 'trac', 'list', '--location', empty)},
    {tool: `bk roundup list <empty> --json${label}`, argv: bk(root, 'roundup', 'list', '--location', empty, '--json')},
    {tool: `bk zodb list <empty>${label}`, argv: bk(root, 'zodb', 'list', '--location', empty)},
  ].map((c) => ({
    ...c,
    options: {env},
    note: label ? 'same rounds' : 'a command run: bk and the plugin (command index)',
  }))

/** Node importing one module and exiting: the parts of a command run, with no oclif config and no command run. */
const importOnly = (file) => [process.execPath, '--input-type=module', '-e', `await import('${pathToFileURL(file)}')`]
const oclifCore = createRequire(join(repoRoot, 'apps/bk/package.json')).resolve('@oclif/core')
const parts = [
  {
    tool: 'import @oclif/core',
    argv: importOnly(oclifCore),
    options: {env: {OCLIF_DISABLE_ENGINE_WARNING: '1'}}, // as bin/run.js sets it
    note: "oclif's barrel, which every command module imports: the floor of a command run",
  },
  {
    tool: 'import the trac list command module',
    argv: importOnly(join(repoRoot, 'packages/plugin-trac/dist/commands/trac/list.js')),
    options: {env: {OCLIF_DISABLE_ENGINE_WARNING: '1'}},
    note: "oclif's barrel and the command's bk module graph, no config",
  },
]

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
  ...commands(repoRoot, '', {}),
  {
    tool: 'bk trac list <empty>, BK_STARTUP_CACHE=off',
    argv: bk(repoRoot, 'trac', 'list', '--location', empty),
    options: {env: {BK_STARTUP_CACHE: 'off'}},
    note: 'a command run with every plugin loaded (no command index)',
  },
  ...parts,
]
const before = process.env.BENCH_BK_BEFORE
if (before) {
  const label = `, ${process.env.BENCH_BK_BEFORE_LABEL ?? 'before'}`
  const env = {BK_DATA_DIR: join(before, '.bk-dev')}
  contenders.push(
    {tool: `bk --help (five plugins)${label}`, argv: bk(before, '--help'), options: {env}, note: 'same rounds'},
    ...commands(before, label, env),
  )
}
try {
  for (const c of contenders) measure(c.argv, c.options ?? {}) // untimed: records the start-up cache entry
  const rows = paired('start-up', {tool: 'node -e 0', argv: [process.execPath, '-e', '0']}, contenders)
  printTable('bk start-up (paired rounds, medians)', rows)
} finally {
  cleanup(empty)
}
