// Roundup: bk roundup export, backup and migrate-backend of a generated sqlite tracker (20 000 issues,
// 3 messages each with their db/files content, a 32 KiB file on every 5th issue, journals; BENCH_SCALE scales
// the issue count). Baselines available here: `sqlite3 .dump` + `cp -a db/files` for export (a plain-text
// copy of the same data, no Roundup format), `sqlite3 .backup` + `tar czf` of the home for backup.
// migrate-backend (sqlite → PostgreSQL, verified by exporting both) has no baseline tool here.
import {execFileSync} from 'node:child_process'
import {join} from 'node:path'
import {benchDir, bk, cleanup, measure, printTable, repoRoot, scale, sh} from './lib.mjs'

const {makeExampleTracker} = await import(join(repoRoot, 'packages/plugin-roundup/dist/index.js'))

const issues = Math.max(200, Math.round(20000 * scale))
const work = benchDir('roundup')
const pgName = `bk_bench_roundup_${process.pid}`
const psql = (sql) => execFileSync('psql', ['-h', '127.0.0.1', '-U', 'root', '-d', 'postgres', '-XAtqc', sql])
try {
  const home = join(work, 'tracker')
  const started = Date.now()
  const made = await makeExampleTracker(home, {issues})
  sh('sync')
  const dbMB = Number(sh(`du -sm ${JSON.stringify(join(home, 'db/db'))} | cut -f1`).trim())
  const filesMB = Number(sh(`du -sm ${JSON.stringify(join(home, 'db/files'))} | cut -f1`).trim())
  console.log(
    `generated a tracker in ${((Date.now() - started) / 1000).toFixed(0)} s: ${made.issues} issues, ${made.messages} messages, ${made.files} files; database ${dbMB} MB, db/files ${filesMB} MB`,
  )

  const q = JSON.stringify
  const baseExport = measure(
    `mkdir ${q(join(work, 'dump'))} && sqlite3 ${q(join(home, 'db/db'))} .dump > ${q(join(work, 'dump/db.sql'))} && cp -a ${q(join(home, 'db/files'))} ${q(join(work, 'dump/files'))}`,
    {shell: true},
  )
  cleanup(join(work, 'dump'))
  sh('sync')
  const ourExport = measure(bk('roundup', 'export', home, join(work, 'export'), '-q'))
  cleanup(join(work, 'export'))
  sh('sync')
  const ourTables = measure(bk('roundup', 'export', home, join(work, 'tables'), '--no-files', '-q'))
  cleanup(join(work, 'tables'))
  sh('sync')

  const baseBackup = measure(
    `mkdir ${q(join(work, 'base'))} && sqlite3 ${q(join(home, 'db/db'))} ".backup '${join(work, 'base/db')}'" && tar czf ${q(join(work, 'base/home.tar.gz'))} -C ${q(work)} --exclude=tracker/db/db --exclude=tracker/db/db-wal --exclude=tracker/db/db-shm tracker`,
    {shell: true},
  )
  cleanup(join(work, 'base'))
  sh('sync')
  const ourBackup = measure(bk('roundup', 'backup', home, '--location', join(work, 'backups'), '-q'))
  cleanup(join(work, 'backups'))
  sh('sync')

  psql(`DROP DATABASE IF EXISTS ${pgName}`)
  const ourMigrate = measure(
    bk(
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1:5432/${pgName}`,
      '--no-swap',
      '--new-home',
      join(work, 'pg-home'),
      '-q',
    ),
  )

  printTable(
    `Roundup: ${made.issues} issues, ${made.messages} messages, ${made.files} files (db ${dbMB} MB, files ${filesMB} MB)`,
    [
      {case: 'export', tool: 'sqlite3 .dump + cp -a db/files', ...baseExport, ratio: 1},
      {
        case: 'export',
        tool: 'bk roundup export',
        ...ourExport,
        ratio: ourExport.seconds / baseExport.seconds,
        note: 'roundup-admin format, byte-for-byte',
      },
      {
        case: 'exporttables',
        tool: 'bk roundup export --no-files',
        ...ourTables,
        ratio: ourTables.seconds / baseExport.seconds,
      },
      {case: 'backup', tool: 'sqlite3 .backup + tar czf home', ...baseBackup, ratio: 1},
      {
        case: 'backup',
        tool: 'bk roundup backup',
        ...ourBackup,
        ratio: ourBackup.seconds / baseBackup.seconds,
        note: 'snapshot + home copy + manifest (sha256 of every file)',
      },
      {
        case: 'migrate-backend → PostgreSQL',
        tool: 'bk roundup migrate-backend',
        ...ourMigrate,
        note: 'copy + export of both trackers + compare',
      },
    ],
  )
} finally {
  try {
    psql(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`)
  } catch {}
  cleanup(work)
}
