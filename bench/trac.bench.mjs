// Trac: bk trac hotcopy of a generated environment (≥ 500 MB SQLite database and ≥ 1 GB of attachments at
// BENCH_SCALE=1), paired round by round (BENCH_ROUNDS) with an anchor on the same data: the real
// `trac-admin <env> hotcopy <dest>` when BK_BENCH_TRAC_ADMIN names the command that runs trac-admin (e.g.
// "env PYTHONPATH=<trac source> python3 -m trac.admin.console"), otherwise `cp -a` + `sqlite3 .backup` (the table
// says which). BK_BENCH_BEFORE=<another built checkout> adds that checkout's bk as a contender (before/after).
// Wall time and peak RSS of each, and the longest time a concurrent writer (one ticket insert every 5 ms, busy
// timeout 60 s) waited for a commit while the copy ran — trac-admin holds the write lock for its whole copy. In
// rollback-journal mode (Trac's default) a consistent copy needs a read lock while the database pages are copied,
// so writers wait up to about that long; in WAL mode they do not wait for the copy at all.
import {spawn} from 'node:child_process'
import {readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {benchDir, bk, cleanup, discard, measure, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

const {makeExampleEnvironment} = await import(join(repoRoot, 'packages/plugin-trac/dist/index.js'))
const requireFromPlugin = createRequire(join(repoRoot, 'packages/plugin-trac/package.json'))
const sqliteModule = requireFromPlugin.resolve('better-sqlite3')

const dbTarget = Math.round(500 * 1024 * 1024 * scale)
const attachmentsTarget = Math.round(1024 * 1024 * 1024 * scale)
const descriptionBytes = 10 * 1024
const attachmentBytes = 8 * 1024 * 1024
const tickets = Math.max(50, Math.ceil(dbTarget / (descriptionBytes + 600)))
const attachments = Math.max(2, Math.ceil(attachmentsTarget / attachmentBytes))

// A writer in its own process: inserts a ticket every 5 ms, records how long each commit took (lock waits
// included), and on SIGTERM writes {commits, maxWaitMs, p99Ms} to its report file.
const writerSource = `
const Database = require(${JSON.stringify(sqliteModule)});
const fs = require('node:fs');
const [dbFile, report] = process.argv.slice(1);
const db = new Database(dbFile, {timeout: 60000});
const ins = db.prepare("INSERT INTO ticket (type, time, changetime, status, summary, description) VALUES ('defect', 1, 1, 'new', 'bench writer', 'x')");
const waits = [];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const tick = () => {
  if (stop) {
    waits.sort((a, b) => a - b);
    fs.writeFileSync(report, JSON.stringify({commits: waits.length, maxWaitMs: waits.at(-1) ?? 0, p99Ms: waits[Math.floor(waits.length * 0.99)] ?? 0}));
    db.close();
    process.exit(0);
  }
  const t = process.hrtime.bigint();
  ins.run();
  waits.push(Number(process.hrtime.bigint() - t) / 1e6);
  setTimeout(tick, 5);
};
fs.writeFileSync(report + '.ready', '1');
tick();
`

async function withWriter(dbFile, run) {
  const report = `${dbFile}.writer.json`
  rmSync(report, {force: true})
  rmSync(`${report}.ready`, {force: true})
  const child = spawn(process.execPath, ['-e', writerSource, dbFile, report], {stdio: ['ignore', 'ignore', 'inherit']})
  for (let i = 0; i < 500; i++) {
    try {
      statSync(`${report}.ready`)
      break
    } catch {
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  let result
  try {
    result = run()
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.on('exit', r))
  }
  const stats = JSON.parse(readFileSync(report, 'utf8'))
  rmSync(report, {force: true})
  rmSync(`${report}.ready`, {force: true})
  return {...result, writer: stats}
}

const tracAdmin = process.env.BK_BENCH_TRAC_ADMIN?.trim()
const before = process.env.BK_BENCH_BEFORE?.trim()
const q = JSON.stringify

/** argv of the anchor: trac-admin's hotcopy, or cp -a + sqlite3 .backup. */
function anchor(env, dest) {
  if (tracAdmin) return {tool: 'trac-admin hotcopy', argv: `${tracAdmin} ${q(env)} hotcopy ${q(dest)} >/dev/null`}
  const db = join(env, 'db/trac.db')
  return {
    tool: 'cp -a + sqlite3 .backup (no trac-admin: BK_BENCH_TRAC_ADMIN unset)',
    argv: `cp -a ${q(env)} ${q(dest)} && sqlite3 -cmd ".timeout 60000" ${q(db)} ".backup '${join(dest, 'db/trac.db')}'"`,
  }
}

/** bk of another built checkout (BK_BENCH_BEFORE), with its own plugin list. */
function bkBefore(...args) {
  return [process.execPath, join(before, 'apps/bk/bin/run.js'), ...args]
}

const work = benchDir('trac')
try {
  const env = join(work, 'env')
  const started = Date.now()
  await makeExampleEnvironment(env, {tickets, wikiPages: 200, attachments, attachmentBytes, descriptionBytes})
  sh('sync')
  const dbFile = join(env, 'db/trac.db')
  const dbMB = statSync(dbFile).size / 2 ** 20
  const filesMB = Number(sh(`du -sm ${q(join(env, 'files'))} | cut -f1`).trim())
  console.log(
    `generated a Trac env in ${((Date.now() - started) / 1000).toFixed(0)} s: ${tickets} tickets, database ${dbMB.toFixed(0)} MB, ${attachments} attachments ${filesMB} MB`,
  )
  const dest = join(work, 'copy')
  const base = anchor(env, dest)
  const contenders = [{tool: 'bk trac hotcopy', argv: bk('trac', 'hotcopy', env, dest, '-q')}]
  if (before) {
    contenders.unshift({
      tool: 'bk trac hotcopy (before)',
      argv: bkBefore('trac', 'hotcopy', env, dest, '-q'),
      options: {env: {BK_DATA_DIR: join(before, '.bk-dev')}},
    })
  }
  // untimed between runs: the previous copy moved aside (see discard) and its dirty pages written, so no run pays
  // for another's
  const prepare = () => {
    discard(dest)
    sh('sync')
  }
  const rows = paired('idle env', {tool: base.tool, argv: base.argv, options: {shell: true}}, contenders, prepare)
  prepare()

  // a writer inserting tickets all along (sqlite3's .backup restarts whenever another process writes, so the
  // fallback anchor is not run under the writer: at 0.02 scale it needed 50 s for a 12 MB database)
  const underWriter = (label, argv, options) => {
    const run = withWriter(dbFile, () => measure(argv, options))
    return run.then((r) => {
      const check = sh(`sqlite3 ${q(join(dest, 'db/trac.db'))} 'PRAGMA integrity_check'`).trim()
      prepare()
      return {
        case: label,
        ...r,
        note: `writer: ${r.writer.commits} commits during the copy, longest wait ${r.writer.maxWaitMs.toFixed(0)} ms, p99 ${r.writer.p99Ms.toFixed(1)} ms; copy integrity_check ${check}`,
      }
    })
  }
  const idleAnchor = rows[0].seconds
  const busy = []
  if (tracAdmin) {
    busy.push({
      tool: base.tool,
      ...(await underWriter('writer inserting every 5 ms', base.argv, {shell: true})),
    })
  }
  busy.push({
    tool: 'bk trac hotcopy',
    ...(await underWriter('writer inserting every 5 ms', bk('trac', 'hotcopy', env, dest, '-q'))),
  })
  // the same database in WAL mode: readers never block writers there
  sh(`sqlite3 ${q(dbFile)} 'PRAGMA journal_mode=WAL' >/dev/null`)
  busy.push({
    tool: 'bk trac hotcopy',
    ...(await underWriter('same, database in WAL mode', bk('trac', 'hotcopy', env, dest, '-q'))),
  })
  for (const row of busy) row.ratio = row.seconds / idleAnchor

  printTable(`Trac hotcopy: ${dbMB.toFixed(0)} MB SQLite database + ${filesMB} MB attachments`, [...rows, ...busy])
  console.log('(writer rows: one run each, ratio to the median idle anchor)')
  writeFileSync(join(work, 'done'), '')
} finally {
  cleanup(work)
}
