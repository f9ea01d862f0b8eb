// Restore from an SQLite follow location: a generation of many small commits (40 000 at BENCH_SCALE=1: a hot
// counter updated by each, a row inserted by every third, as a tracker's ticket changes do), shipped by core's
// follower while a writer commits, then restored by bk (core's SqliteFollowRestore: snapshot + every segment
// replayed, PRAGMA integrity_check, the file fsynced) beside `sqlite3 .backup` of the live database (the same
// database made from the original, no replay), in paired rounds. BK_CORE_BEFORE=<a core dist folder> adds the
// restore of another build of core. Every restore is checked against the live database's rows.
import {execFileSync} from 'node:child_process'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {benchDir, cleanup, discard, paired, printTable, repoRoot, scale} from './lib.mjs'

const {SqliteFollower} = await import(join(repoRoot, 'packages/core/dist/follow/index.js'))
const Database = createRequire(join(repoRoot, 'packages/core/package.json'))('better-sqlite3')
const commits = Math.max(2000, Math.round(40000 * scale))
const work = benchDir('follow-restore')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
try {
  const db = join(work, 'app.db')
  const conn = new Database(db)
  conn.pragma('journal_mode = WAL')
  conn.pragma('wal_autocheckpoint = 0') // the follower checkpoints (--checkpoint-frames high: one generation)
  conn.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT); CREATE TABLE counter (n INTEGER)')
  conn.exec('INSERT INTO counter VALUES (0)')
  const insert = conn.prepare('INSERT INTO t (pad) VALUES (?)')
  const update = conn.prepare('UPDATE counter SET n = n + 1')
  for (let i = 0; i < 2000; i++) insert.run('x'.repeat(300))
  const location = join(work, 'location')
  const follower = new SqliteFollower(
    {app: 'bench', db},
    {location, pollMs: 50, checkpointFrames: 1e9},
    {info() {}, note() {}, shipped() {}},
  )
  const running = follower.run()
  await sleep(300)
  for (let i = 0; i < commits; i++) {
    update.run()
    if (i % 3 === 0) insert.run('y'.repeat(200))
    if (i % 1000 === 0) await sleep(20) // the follower ships as the writer goes
  }
  await sleep(500)
  follower.stop('done')
  const shipped = await running
  const rowsOf = (file) =>
    execFileSync('sqlite3', [file, 'SELECT count(*), sum(length(pad)), (SELECT n FROM counter) FROM t'], {
      encoding: 'utf8',
    }).trim()
  const live = rowsOf(db)
  conn.close()
  console.log(
    `follow location: ${shipped.commits} commits in ${shipped.shipments} shipments, ${(shipped.bytes / 2 ** 20).toFixed(0)} MiB of frames; the database holds ${live}`,
  )
  const out = (name) => join(work, name)
  const runner = join(repoRoot, 'bench', 'follow-restore-run.mjs')
  const bks = [{tool: 'bk (follow restore)', argv: [process.execPath, runner, location, out('bk.db')]}]
  if (process.env.BK_CORE_BEFORE)
    bks.push({
      tool: 'bk before',
      argv: [process.execPath, runner, location, out('before.db')],
      options: {env: {BK_CORE: process.env.BK_CORE_BEFORE}},
    })
  const reset = () => discard(...['anchor.db', 'bk.db', 'before.db'].map(out))
  const rows = paired(
    `restore ${shipped.commits} commits`,
    {tool: 'sqlite3 .backup of the live db', argv: ['sqlite3', db, `.backup '${out('anchor.db')}'`]},
    bks,
    reset,
  )
  // each once more, untimed, its result checked (a round's prepare moved the earlier ones' away)
  reset()
  execFileSync('sqlite3', [db, `.backup '${out('anchor.db')}'`])
  for (const b of bks) execFileSync(b.argv[0], b.argv.slice(1), {env: {...process.env, ...b.options?.env}})
  for (const name of ['anchor.db', 'bk.db', ...(bks.length > 1 ? ['before.db'] : [])]) {
    const got = rowsOf(out(name))
    if (got !== live) throw new Error(`${name} holds ${got}, the live database ${live}`)
  }
  printTable('Follow restore (SQLite)', rows)
} finally {
  cleanup(work)
}
