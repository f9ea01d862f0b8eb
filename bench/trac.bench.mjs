// Trac: bk trac hotcopy of a generated environment (≥ 500 MB SQLite database and ≥ 1 GB of attachments at
// BENCH_SCALE=1) beside the baseline `cp -a` + `sqlite3 .backup` on the same data. Wall time and peak RSS of
// each, and the longest time a concurrent writer (one ticket insert every 5 ms, busy timeout 60 s) waited
// for a commit while the copy ran — trac-admin holds the write lock for its whole copy. In rollback-journal
// mode (Trac's default) a consistent copy needs a read lock while the database pages are copied, so writers
// wait up to about that long; in WAL mode they do not wait for the copy at all.
import {spawn} from 'node:child_process'
import {readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {benchDir, bk, cleanup, measure, printTable, repoRoot, scale, sh} from './lib.mjs'

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

const work = benchDir('trac')
try {
  const env = join(work, 'env')
  const started = Date.now()
  makeExampleEnvironment(env, {tickets, wikiPages: 200, attachments, attachmentBytes, descriptionBytes})
  sh('sync')
  const dbFile = join(env, 'db/trac.db')
  const dbMB = statSync(dbFile).size / 2 ** 20
  const filesMB = Number(sh(`du -sm ${JSON.stringify(join(env, 'files'))} | cut -f1`).trim())
  console.log(
    `generated a Trac env in ${((Date.now() - started) / 1000).toFixed(0)} s: ${tickets} tickets, database ${dbMB.toFixed(0)} MB, ${attachments} attachments ${filesMB} MB`,
  )

  const baseDest = join(work, 'baseline')
  const base = measure(
    `cp -a ${JSON.stringify(env)} ${JSON.stringify(baseDest)} && sqlite3 -cmd ".timeout 60000" ${JSON.stringify(dbFile)} ".backup '${join(baseDest, 'db/trac.db')}'"`,
    {shell: true},
  )
  cleanup(baseDest)
  sh('sync')
  const bkDest = join(work, 'bk')
  const ours = measure(bk('trac', 'hotcopy', env, bkDest, '-q'))
  cleanup(bkDest)
  sh('sync')
  // the same with a writer inserting tickets all along (sqlite3's .backup restarts whenever another process
  // writes, so it is not run under the writer: at 0.02 scale it needed 50 s for a 12 MB database)
  const busy = await withWriter(dbFile, () => measure(bk('trac', 'hotcopy', env, bkDest, '-q')))
  const check = sh(`sqlite3 ${JSON.stringify(join(bkDest, 'db/trac.db'))} 'PRAGMA integrity_check'`).trim()
  cleanup(bkDest)

  // the same database in WAL mode: readers never block writers there
  sh(`sqlite3 ${JSON.stringify(dbFile)} 'PRAGMA journal_mode=WAL' >/dev/null`)
  const wal = await withWriter(dbFile, () => measure(bk('trac', 'hotcopy', env, bkDest, '-q')))
  const walCheck = sh(`sqlite3 ${JSON.stringify(join(bkDest, 'db/trac.db'))} 'PRAGMA integrity_check'`).trim()
  cleanup(bkDest)

  printTable(`Trac hotcopy: ${dbMB.toFixed(0)} MB SQLite database + ${filesMB} MB attachments`, [
    {case: 'idle env', tool: 'cp -a + sqlite3 .backup', ...base, ratio: 1},
    {case: 'idle env', tool: 'bk trac hotcopy', ...ours, ratio: ours.seconds / base.seconds},
    {
      case: 'writer inserting every 5 ms',
      tool: 'bk trac hotcopy',
      ...busy,
      ratio: busy.seconds / base.seconds,
      note: `writer: ${busy.writer.commits} commits during the copy, longest wait ${busy.writer.maxWaitMs.toFixed(0)} ms, p99 ${busy.writer.p99Ms.toFixed(1)} ms; copy integrity_check ${check}`,
    },
    {
      case: 'same, database in WAL mode',
      tool: 'bk trac hotcopy',
      ...wal,
      ratio: wal.seconds / base.seconds,
      note: `writer: ${wal.writer.commits} commits during the copy, longest wait ${wal.writer.maxWaitMs.toFixed(0)} ms, p99 ${wal.writer.p99Ms.toFixed(1)} ms; copy integrity_check ${walCheck}`,
    },
  ])
  writeFileSync(join(work, 'done'), '')
} finally {
  cleanup(work)
}
