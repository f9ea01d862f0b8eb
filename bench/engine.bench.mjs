// Core copy and SQLite engines: copyTree beside `cp -a` and `rsync -a --link-dest` (20k small files at
// BENCH_SCALE=1, as a ZODB blob folder), sqliteBackup beside `sqlite3 .backup` (a 400 MB rollback-journal
// database, Trac's default mode). Paired rounds, medians; BK_CORE_BEFORE=<a core dist folder> adds a "before" row.
import {spawnSync} from 'node:child_process'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, cleanup, discard, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

const files = Math.max(1000, Math.round(20000 * scale))
const dbBytes = Math.round(400 * 1024 * 1024 * scale)
const runner = join(repoRoot, 'bench', 'engine-run.mjs')
const before = process.env.BK_CORE_BEFORE
const bkRows = (args) => {
  const rows = [{tool: 'bk', argv: [process.execPath, runner, ...args]}]
  if (before)
    rows.push({tool: 'bk before', argv: [process.execPath, runner, ...args], options: {env: {BK_CORE: before}}})
  return rows
}

const work = benchDir('engine')
try {
  const blobs = join(work, 'blobs')
  const body = Buffer.alloc(16 * 1024, 'b')
  for (let n = 0; n < files; n++) {
    const sub = join(blobs, `0x${(n % 256).toString(16)}`, `0x${(n % 7).toString(16)}`)
    if (n < 256 * 7) mkdirSync(sub, {recursive: true})
    body.write(`${n}`, 0)
    writeFileSync(join(sub, `${n}.blob`), body.subarray(0, 1024 + ((n * 997) % (15 * 1024))))
  }
  const out = (name) => join(work, name)
  const clean = () => discard(out('copy'))
  const rows = []
  rows.push(
    ...paired(
      `copy ${files} blobs`,
      {tool: 'cp -a', argv: ['cp', '-a', blobs, out('copy')]},
      bkRows(['copy', blobs, out('copy')]),
      clean,
    ),
  )
  sh(`cp -a "${blobs}" "${out('first')}"`)
  rows.push(
    ...paired(
      `copy ${files} unchanged blobs, linking from the last copy`,
      {tool: 'rsync -a --link-dest', argv: ['rsync', '-a', `--link-dest=${out('first')}`, `${blobs}/`, out('copy')]},
      bkRows(['copy', blobs, out('copy'), out('first')]),
      clean,
    ),
  )
  const db = out('src.db')
  const sqlite = spawnSync('sqlite3', [db], {
    input: `PRAGMA page_size=4096; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${Math.ceil(dbBytes / 1100)})
INSERT INTO t (v) SELECT randomblob(1000) FROM c;`,
  })
  if (sqlite.status !== 0) throw new Error(`sqlite3 failed: ${sqlite.stderr}`)
  const cleanDb = () => rmSync(out('copy.db'), {force: true})
  rows.push(
    ...paired(
      `SQLite online backup ${(dbBytes / 2 ** 20).toFixed(0)} MB, rollback journal`,
      {tool: 'sqlite3 .backup', argv: ['sqlite3', db, `.backup '${out('copy.db')}'`]},
      bkRows(['sqlite', db, out('copy.db')]),
      cleanDb,
    ),
  )
  printTable('copy and SQLite engines (paired rounds, medians)', rows)
} finally {
  cleanup(work)
}
