// Roundup: bk roundup export, backup and migrate-backend of a generated sqlite tracker (20 000 issues,
// 3 messages each with their db/files content, a 32 KiB file on every 5th issue, journals; BENCH_SCALE scales
// the issue count), each paired with its anchor round by round (BENCH_ROUNDS).
// Anchors: with BK_BENCH_ROUNDUP_ADMIN naming a roundup-admin command (e.g. `roundup-admin`, or
// `env PYTHONPATH=<roundup checkout> python3 -m roundup.scripts.roundup_admin`), the real tool:
// `roundup-admin export` for export, `roundup-admin export` + `import` into a new PostgreSQL database for
// migrate-backend (the admin guide's "Migrating Backends"). Without it: `sqlite3 .dump` + `cp -a db/files` for
// export (a plain-text copy of the same data, no Roundup format) and no anchor for migrate-backend.
// Backup's anchor is always `sqlite3 .backup` + `tar czf` of the home.
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, bk, cleanup, discard, measure, paired, printTable, repoRoot, rounds, scale, sh} from './lib.mjs'

const {makeExampleTracker} = await import(join(repoRoot, 'packages/plugin-roundup/dist/index.js'))

const issues = Math.max(200, Math.round(20000 * scale))
// backup's row is the issue's 20k-issue tracker from BENCH_SCALE=0.25 up (export and migrate-backend stay at 20k x
// scale: 5k there, the issue's own size for those rows); a tracker of its own is made when the two counts differ
const backupIssues = Math.min(20000, Math.max(issues, Math.round(80000 * scale)))
const admin = process.env.BK_BENCH_ROUNDUP_ADMIN?.trim() || undefined
const work = benchDir('roundup')
const pgOurs = `bk_bench_roundup_${process.pid}`
const pgAdmin = `bk_bench_roundup_admin_${process.pid}`
const pgBefore = `bk_bench_roundup_before_${process.pid}`
const psql = (sql) => execFileSync('psql', ['-h', '127.0.0.1', '-U', 'root', '-d', 'postgres', '-XAtqc', sql])
const dropDb = (name) => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
const q = JSON.stringify
try {
  const home = join(work, 'tracker')
  const started = Date.now()
  const made = await makeExampleTracker(home, {issues})
  sh('sync')
  const dbMB = Number(sh(`du -sm ${q(join(home, 'db/db'))} | cut -f1`).trim())
  const filesMB = Number(sh(`du -sm ${q(join(home, 'db/files'))} | cut -f1`).trim())
  console.log(
    `generated a tracker in ${((Date.now() - started) / 1000).toFixed(0)} s: ${made.issues} issues, ${made.messages} messages, ${made.files} files; database ${dbMB} MB, db/files ${filesMB} MB`,
  )
  const fresh = (...dirs) => {
    discard(...dirs.map((d) => join(work, d)))
    sh('sync')
  }
  const ours = (tool, argv, note) => ({tool, argv, note})
  const rows = []
  // BENCH_CASES=backup (comma-separated: export, backup, migrate): run only those cases
  // BK_BENCH_BEFORE=<another checkout, built> adds its bk to every case (paired rounds)
  const beforeRoot = process.env.BK_BENCH_BEFORE
  const cases = (process.env.BENCH_CASES ?? 'export,backup,migrate').split(',').map((c) => c.trim())
  // the same bk command run by the BK_BENCH_BEFORE checkout (its own data dir: plugins resolve from its checkout)
  const before = (c, rewrite = (a) => a) =>
    beforeRoot
      ? [
          {
            ...ours(
              `${c.tool} (before)`,
              rewrite([process.execPath, join(beforeRoot, 'apps/bk/bin/run.js'), ...c.argv.slice(2)]),
              'BK_BENCH_BEFORE',
            ),
            options: {env: {BK_DATA_DIR: join(beforeRoot, '.bk-dev')}},
          },
        ]
      : []

  // export
  const exportAnchor = admin
    ? {tool: 'roundup-admin export', argv: `${admin} -i ${q(home)} export ${q(join(work, 'anchor'))} >/dev/null`}
    : {
        tool: 'sqlite3 .dump + cp -a db/files (no roundup-admin)',
        argv: `mkdir ${q(join(work, 'anchor'))} && sqlite3 ${q(join(home, 'db/db'))} .dump > ${q(join(work, 'anchor/db.sql'))} && cp -a ${q(join(home, 'db/files'))} ${q(join(work, 'anchor/files'))}`,
      }
  const exportOurs = ours(
    'bk roundup export',
    bk('roundup', 'export', home, join(work, 'export'), '-q'),
    'roundup-admin format, byte-for-byte',
  )
  if (cases.includes('export'))
    rows.push(
      ...paired(
        'export',
        {...exportAnchor, options: {shell: true}},
        [
          exportOurs,
          ...before(exportOurs, (a) => a.map((x) => (x === join(work, 'export') ? join(work, 'export-before') : x))),
        ],
        () => fresh('anchor', 'export', 'export-before'),
      ),
    )
  fresh('anchor', 'export', 'export-before')

  // backup (of a tracker of backupIssues issues: `home`, or one made for it beside, in b/tracker)
  let backupHome = home
  if (cases.includes('backup') && backupIssues !== made.issues) {
    backupHome = join(work, 'b', 'tracker')
    const big = await makeExampleTracker(backupHome, {issues: backupIssues})
    sh('sync')
    console.log(`backup's tracker: ${big.issues} issues, ${big.messages} messages, ${big.files} files`)
  }
  const backupParent = join(backupHome, '..')
  const backupOurs = ours(
    'bk roundup backup',
    bk('roundup', 'backup', backupHome, '--location', join(work, 'backups'), '-q'),
    'snapshot + home (in place) + manifest (sha256 of every file)',
  )
  if (cases.includes('backup'))
    rows.push(
      ...paired(
        `backup, ${backupIssues} issues`,
        {
          tool: 'sqlite3 .backup + tar czf home',
          argv: `mkdir ${q(join(work, 'base'))} && sqlite3 ${q(join(backupHome, 'db/db'))} ".backup '${join(work, 'base/db')}'" && tar czf ${q(join(work, 'base/home.tar.gz'))} -C ${q(backupParent)} --exclude=tracker/db/db --exclude=tracker/db/db-wal --exclude=tracker/db/db-shm tracker`,
          options: {shell: true},
        },
        [
          backupOurs,
          ...before(backupOurs, (a) => a.map((x) => (x === join(work, 'backups') ? join(work, 'backups-before') : x))),
        ],
        () => fresh('base', 'backups', 'backups-before'),
      ),
    )
  fresh('base', 'backups', 'backups-before', 'b')

  // migrate-backend sqlite → PostgreSQL
  const migrate = ours(
    'bk roundup migrate-backend',
    bk(
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1:5432/${pgOurs}`,
      '--no-swap',
      '--new-home',
      join(work, 'pg-home'),
      '-q',
    ),
    'copy + export of both trackers + compare',
  )
  const migrateBefore = before(migrate, (a) =>
    a.map((x) =>
      x === join(work, 'pg-home')
        ? join(work, 'pg-home-before')
        : x.endsWith(`/${pgOurs}`)
          ? x.replace(pgOurs, pgBefore)
          : x,
    ),
  )
  const resetMigrate = () => {
    dropDb(pgOurs)
    dropDb(pgAdmin)
    dropDb(pgBefore)
    fresh('pg-home', 'pg-home-before', 'admin-home', 'admin-export')
    if (!admin) return
    // the admin guide: same home, config.ini pointed at the new backend, then import the export
    const adminHome = join(work, 'admin-home')
    sh(`mkdir -p ${q(join(adminHome, 'db'))} && cp -a ${q(join(home, 'schema.py'))} ${q(adminHome)}`)
    const ini = readFileSync(join(home, 'config.ini'), 'utf8')
      .replace(/^backend = .*$/m, 'backend = postgresql')
      .replace(/(\[rdbms\][^[]*?)^name = .*$/m, `$1name = ${pgAdmin}`)
      .replace(/(\[rdbms\][^[]*?)^host = .*$/m, '$1host = 127.0.0.1')
      .replace(/(\[rdbms\][^[]*?)^user = .*$/m, '$1user = root')
      .replace(/(\[rdbms\][^[]*?)^password = .*$/m, '$1password =')
    writeFileSync(join(adminHome, 'config.ini'), ini)
  }
  if (cases.includes('migrate') && admin) {
    const dump = join(work, 'admin-export')
    rows.push(
      ...paired(
        'migrate-backend → PostgreSQL',
        {
          tool: 'roundup-admin export + import',
          argv: `${admin} -i ${q(home)} export ${q(dump)} >/dev/null && ${admin} -i ${q(join(work, 'admin-home'))} import ${q(dump)} >/dev/null`,
          options: {shell: true},
        },
        [migrate, ...migrateBefore],
        resetMigrate,
      ),
    )
  } else if (cases.includes('migrate')) {
    const times = []
    let peak = 0
    for (let r = 0; r < rounds; r++) {
      resetMigrate()
      const m = measure(migrate.argv)
      times.push(m.seconds)
      peak = Math.max(peak, m.peakRssMB)
    }
    times.sort((a, b) => a - b)
    rows.push({
      case: 'migrate-backend → PostgreSQL',
      tool: migrate.tool,
      seconds: times[Math.floor(times.length / 2)],
      peakRssMB: peak,
      note: `${migrate.note}; no anchor (set BK_BENCH_ROUNDUP_ADMIN)`,
    })
  }

  printTable(
    `Roundup: ${made.issues} issues, ${made.messages} messages, ${made.files} files (db ${dbMB} MB, files ${filesMB} MB); anchors: ${admin ? 'roundup-admin' : 'sqlite3/tar (BK_BENCH_ROUNDUP_ADMIN unset)'}`,
    rows,
  )
} finally {
  for (const name of [pgOurs, pgAdmin, pgBefore]) {
    try {
      dropDb(name)
    } catch {}
  }
  cleanup(work)
}
