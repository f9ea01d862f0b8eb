import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {listArchive, readManifest} from '@bkcli/core'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {backupTracker} from '../src/backup.js'
import {exportTracker} from '../src/export.js'
import {restoreTracker} from '../src/restore.js'
import {listBackups} from '../src/store.js'
import {verifyBackup} from '../src/verify.js'
import {
  createMyDb,
  createPgDb,
  dropMyDb,
  dropPgDb,
  fixtureTree,
  keptCopies,
  mysqlq,
  psql,
  roundupFixture,
  setRdbms,
  treeDifferences,
  uniqueName,
} from './helpers.js'

const exportFixture = fixtureTree('export')

async function members(file: string): Promise<string[]> {
  const out: string[] = []
  for await (const e of listArchive(file)) out.push(e.path)
  return out
}

describe('bk roundup backup / verify / list / restore (sqlite)', () => {
  it('snapshots the database first, WAL rows included, and restores to the same export', async () => {
    const home = fixtureTree('sqlite-home')
    // a committed row that lives only in db-wal, and a session file
    const db = new Database(join(home, 'db', 'db'))
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.prepare("update _user set _realname = 'only in the WAL' where id = 4").run()
    const session = new Database(join(home, 'db', 'db-session'))
    session.exec(
      "create table sessions (session_key varchar, session_time real, session_value text); insert into sessions values ('k', 1, '{}')",
    )
    session.close()
    const location = join(tempDir(), 'backups')
    let result: Awaited<ReturnType<typeof backupTracker>>
    try {
      result = await backupTracker(home, {location})
    } finally {
      db.close()
    }
    expect(statSync(result.archive).mode & 0o777).toBe(0o600)
    expect(result.frontendsLeftRunning).toBe(true)
    const names = await members(result.archive)
    expect(names[0]).toBe('bk-manifest.json')
    expect(names).toContain('database/db')
    expect(names).toContain('database/db-session')
    expect(names).toContain('home/db/files/msg/0/msg1')
    expect(names.filter((n) => /home\/db\/db(-wal|-shm)?$/.test(n))).toEqual([])
    const manifest = await readManifest(result.archive)
    expect(manifest.application).toBe('roundup')
    expect(manifest.extra?.backend).toBe('sqlite')
    expect(manifest.extra?.schemaVersion).toBe(8)

    const v = await verifyBackup(result.archive)
    expect(v).toMatchObject({ok: true, backend: 'sqlite', problems: []})
    expect((await listBackups(location)).map((e) => e.path)).toEqual([result.archive])

    const target = join(tempDir(), 'restored')
    await restoreTracker(result.archive, target)
    const out = join(tempDir(), 'export')
    await exportTracker(target, out)
    expect(readFileSync(join(out, 'user.csv'), 'utf8')).toContain("'only in the WAL'")
    const diffs = treeDifferences(out, exportFixture)
    expect(diffs).toEqual(['user.csv'])
    expect(existsSync(join(target, 'db', 'db-session'))).toBe(true)
  })

  it('archives the home in place: same bytes as on disk, a location inside the home left out, counts in the manifest', async () => {
    const home = fixtureTree('sqlite-home')
    const location = join(home, 'backups') // inside the home: never archived into itself
    writeFileSync(join(home, 'db', 'files', 'msg', '0', 'msg1'), 'replaced by a rename, as Roundup does\n')
    const result = await backupTracker(home, {location})
    const names = await members(result.archive)
    expect(names.slice(0, 3)).toEqual(['bk-manifest.json', 'database', 'database/db'])
    expect(names).toContain('home')
    expect(names.some((n) => n.startsWith('home/backups'))).toBe(false)
    const manifest = await readManifest(result.archive)
    const homeFiles = manifest.files.filter((f) => f.path.startsWith('home/'))
    expect(manifest.components.find((c) => c.path === 'home')).toMatchObject({
      type: 'files',
      count: homeFiles.length,
      bytes: homeFiles.reduce((n, f) => n + f.size, 0),
    })
    expect(result.files).toBe(homeFiles.length)
    const msg1 = manifest.files.find((f) => f.path === 'home/db/files/msg/0/msg1')
    expect(msg1?.size).toBe(Buffer.byteLength('replaced by a rename, as Roundup does\n'))
    expect(await verifyBackup(result.archive)).toMatchObject({ok: true, problems: []})
    const target = join(tempDir(), 'restored-in-place')
    await restoreTracker(result.archive, target)
    expect(readFileSync(join(target, 'db', 'files', 'msg', '0', 'msg1'), 'utf8')).toBe(
      'replaced by a rename, as Roundup does\n',
    )
    expect(existsSync(join(target, 'backups'))).toBe(false)
  })

  it('restore over an existing home keeps the previous one under a dated name (CLI asks; --yes)', async () => {
    const home = fixtureTree('sqlite-home')
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    writeFileSync(join(home, 'marker.txt'), 'before')
    let r = await runBk(['roundup', 'restore', archive, home])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/without --yes/)
    expect(existsSync(join(home, 'marker.txt'))).toBe(true)
    r = await runBk(['roundup', 'restore', archive, home, '--yes'])
    expect(r.exitCode).toBe(0)
    expect(existsSync(join(home, 'marker.txt'))).toBe(false)
    const kept = keptCopies(home)
    expect(kept).toHaveLength(1)
    expect(r.stdout).toContain(`The previous home is kept as ${kept[0]}.`)
    expect(readFileSync(join(kept[0] as string, 'marker.txt'), 'utf8')).toBe('before')
  })

  it('a truncated or corrupted archive is refused by verify and restore, nothing written', async () => {
    const home = fixtureTree('sqlite-home')
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    truncateSync(archive, Math.floor(statSync(archive).size / 2))
    let r = await runBk(['roundup', 'verify', archive])
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    const parent = tempDir()
    r = await runBk(['roundup', 'restore', archive, join(parent, 'new')])
    expect(r.exitCode).not.toBe(0)
    expect(readdirSync(parent)).toEqual([])
  })

  it('refuses to restore when schema.py does not match the database in the backup', async () => {
    const home = fixtureTree('sqlite-home')
    const schema = readFileSync(join(home, 'schema.py'), 'utf8')
    writeFileSync(
      join(home, 'schema.py'),
      schema.replace('name=String())\nkeyword.setkey', 'name=String(), colour=String())\nkeyword.setkey'),
    )
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    const parent = tempDir()
    await expect(restoreTracker(archive, join(parent, 'new'))).rejects.toThrow(
      /refusing to restore: schema\.py does not match/,
    )
    expect(readdirSync(parent)).toEqual([])
    const v = await verifyBackup(archive)
    expect(v.ok).toBe(false)
    expect(v.problems[0]).toMatch(/keyword\.colour/)
  })

  it('--stop-server stops the roundup-server of a pidfile (SIGTERM), starts it again after, refuses a stale pidfile', async () => {
    // Stand-in for roundup-server -d: a node process whose command line names roundup-server (no Python here),
    // which writes its pidfile itself, stops on SIGTERM, and stops by itself after a while.
    const dir = tempDir()
    const script = join(dir, 'roundup-server.mjs')
    const pidfile = join(dir, 'roundup.pid')
    writeFileSync(
      script,
      "import {writeFileSync} from 'node:fs'\nwriteFileSync(process.argv[2], String(process.pid) + '\\n')\n" +
        "process.on('SIGTERM', () => process.exit(0)); setTimeout(() => process.exit(0), 60000)\n",
    )
    const child = spawn(process.execPath, [script, pidfile], {stdio: 'ignore'})
    const exited = new Promise((res) => child.on('exit', res))
    while (!existsSync(pidfile)) await new Promise((res) => setTimeout(res, 50))
    const home = fixtureTree('sqlite-home')
    const r = await runBk(['roundup', 'backup', home, '--location', join(dir, 'b'), '--stop-server', pidfile])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain(`Stopped roundup-server pid ${child.pid} and started it again.`)
    await exited
    // started again with the same command line: it wrote a new pid
    let again = 0
    while (!again || again === child.pid) {
      again = Number(readFileSync(pidfile, 'utf8').trim())
      await new Promise((res) => setTimeout(res, 50))
    }
    expect(readFileSync(`/proc/${again}/cmdline`, 'utf8').split('\0')).toEqual([process.execPath, script, pidfile, ''])
    process.kill(again, 'SIGTERM')
    while (existsSync(`/proc/${again}`)) await new Promise((res) => setTimeout(res, 50))
    // the pidfile is now stale: refused, no backup made
    const r2 = await runBk(['roundup', 'backup', home, '--location', join(dir, 'c'), '--stop-server', pidfile])
    expect(r2.exitCode).toBe(1)
    expect(r2.stderr).toMatch(/^bk: stale pidfile .* is not running/)
    expect(existsSync(join(dir, 'c'))).toBe(false)
  })

  /** A stand-in systemctl on PATH that records its calls, and a log the stop/start commands append to. */
  function recorder(): {env: Record<string, string>; log: string; calls: () => string[]} {
    const dir = tempDir()
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const log = join(dir, 'calls.log')
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> "${log}"\n`, {mode: 0o755})
    return {
      env: {PATH: `${bin}:${process.env.PATH}`},
      log,
      calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    }
  }

  it('--stop-unit and --stop-command/--start-command: stopped in order, started again in reverse order', async () => {
    const rec = recorder()
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir(), 'b')
    const args = ['roundup', 'backup', home, '--location', location, '--stop-unit', 'roundup-web.service']
    args.push('--stop-unit', 'roundup-mail.service')
    args.push('--stop-command', `echo stop-sv >> ${rec.log}`, '--start-command', `echo start-sv >> ${rec.log}`)
    const dry = await runBk([...args, '--dry-run'], {env: rec.env})
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/stop +unit roundup-web\.service/)
    expect(dry.stdout).toMatch(/start +unit roundup-web\.service/)
    expect(rec.calls()).toEqual([])
    const r = await runBk([...args, '--json'], {env: rec.env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(rec.calls()).toEqual([
      'systemctl stop roundup-web.service',
      'systemctl stop roundup-mail.service',
      'stop-sv',
      'start-sv',
      'systemctl start roundup-mail.service',
      'systemctl start roundup-web.service',
    ])
    const doc = r.json<{frontends: {name: string; restarted: boolean}[]; frontendsLeftRunning: boolean}>()
    expect(doc.frontends.map((f) => [f.name, f.restarted])).toEqual([
      ['unit roundup-web.service', true],
      ['unit roundup-mail.service', true],
      [`command 'echo stop-sv >> ${rec.log}'`, true],
    ])
    expect(doc.frontendsLeftRunning).toBe(false)
    expect(await listBackups(location)).toHaveLength(1)
  })

  it('restore stops the frontends before the swap and starts them after it; --dry-run only names them', async () => {
    const rec = recorder()
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir(), 'b')
    expect((await runBk(['roundup', 'backup', home, '--location', location])).exitCode).toBe(0)
    const archive = (await listBackups(location))[0]!.path
    const target = join(tempDir(), 'restored')
    const db = join(target, 'db', 'db')
    const args = ['roundup', 'restore', archive, target, '--yes', '--stop-unit', 'roundup-web.service']
    args.push('--stop-command', `test -e ${db} || echo stop-before >> ${rec.log}`)
    args.push('--start-command', `test -e ${db} && echo start-after >> ${rec.log}`)
    const dry = await runBk([...args, '--dry-run'], {env: rec.env})
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/stop +unit roundup-web\.service/)
    expect(rec.calls()).toEqual([])
    expect(existsSync(target)).toBe(false)
    const r = await runBk([...args, '--json'], {env: rec.env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(rec.calls()).toEqual([
      'systemctl stop roundup-web.service',
      'stop-before',
      'start-after',
      'systemctl start roundup-web.service',
    ])
    const doc = r.json<{frontends: {name: string; restarted: boolean}[]}>()
    expect(doc.frontends.map((f) => f.restarted)).toEqual([true, true])
    const rows = (file: string) => {
      const conn = new Database(file, {readonly: true})
      try {
        return conn.prepare('SELECT count(*) AS c FROM _issue').get()
      } finally {
        conn.close()
      }
    }
    expect(rows(db)).toEqual(rows(join(home, 'db', 'db')))
  })

  it('frontends come back when the backup fails, and when a later stop fails', async () => {
    const rec = recorder()
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir(), 'b')
    // the stop command takes the database away, so the snapshot fails; the start command puts it back
    const db = join(home, 'db', 'db')
    const r = await runBk(
      [
        'roundup',
        'backup',
        home,
        '--location',
        location,
        '--stop-unit',
        'roundup-web.service',
        '--stop-command',
        `mv ${db} ${db}.away && echo stop >> ${rec.log}`,
        '--start-command',
        `mv ${db}.away ${db} && echo start >> ${rec.log}`,
      ],
      {env: rec.env},
    )
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: /)
    expect(rec.calls()).toEqual([
      'systemctl stop roundup-web.service',
      'stop',
      'start',
      'systemctl start roundup-web.service',
    ])
    expect(existsSync(db)).toBe(true)
    expect(existsSync(location) ? await listBackups(location) : []).toHaveLength(0)
    // a stop that fails: what was stopped before it is started again, and nothing is backed up
    const rec2 = recorder()
    const r2 = await runBk(
      [
        'roundup',
        'backup',
        home,
        '--location',
        location,
        '--stop-unit',
        'a.service',
        '--stop-command',
        'exit 3',
        '--start-command',
        'true',
      ],
      {env: rec2.env},
    )
    expect(r2.exitCode).toBe(1)
    expect(r2.stderr).toMatch(/^bk: stop command failed \(exit 3\): exit 3/)
    expect(rec2.calls()).toEqual(['systemctl stop a.service', 'systemctl start a.service'])
    // unpaired stop/start commands are a usage error
    const r3 = await runBk(['roundup', 'backup', home, '--stop-command', 'true'])
    expect(r3.exitCode).toBe(2)
    expect(r3.stderr).toMatch(/--stop-command given 1 times and --start-command 0 times/)
  })

  it('retention prunes older backups', async () => {
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir(), 'b')
    for (let i = 0; i < 3; i++) await backupTracker(home, {location})
    const r = await backupTracker(home, {location, retention: {keep: 2}})
    expect(r.pruned).toHaveLength(2)
    expect(await listBackups(location)).toHaveLength(2)
  })
})

describe('bk roundup backup / restore on PostgreSQL and MySQL', () => {
  const pg: string[] = []
  const my: string[] = []
  afterAll(() => {
    for (const n of pg) dropPgDb(n)
    for (const n of my) dropMyDb(n)
  })

  it('PostgreSQL: pg_dump snapshot, restore into a new database, same export; a non-empty database is refused', async () => {
    const source = uniqueName()
    pg.push(source)
    createPgDb(source, roundupFixture('postgresql-dump.sql'))
    const home = fixtureTree('postgresql-home')
    setRdbms(home, {name: source})
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    expect(await members(archive)).toContain('database/dump.sql')
    expect((await verifyBackup(archive)).ok).toBe(true)
    // restoring onto the live (non-empty) database is refused
    const parent = tempDir()
    await expect(restoreTracker(archive, join(parent, 'same'))).rejects.toThrow(/already exists and is not empty/)
    expect(readdirSync(parent)).toEqual([])
    const target = uniqueName()
    pg.push(target)
    const home2 = join(tempDir(), 'restored')
    await restoreTracker(archive, home2, {backendUrl: `postgresql://root@127.0.0.1:5432/${target}`})
    expect(psql('select count(*) from _msg', target).trim()).toBe('54')
    const out = join(tempDir(), 'x')
    await exportTracker(home2, out)
    expect(treeDifferences(out, fixtureTree('postgresql-home-reexport'))).toEqual([])
  })

  it('MySQL: mysqldump snapshot restores into a new database', async () => {
    const source = uniqueName()
    my.push(source)
    createMyDb(source, roundupFixture('mysql-dump.sql'))
    const home = fixtureTree('mysql-home')
    setRdbms(home, {name: source})
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    const target = uniqueName()
    my.push(target)
    const home2 = join(tempDir(), 'restored')
    await restoreTracker(archive, home2, {backendUrl: `mysql://root@127.0.0.1:3306/${target}`})
    expect(mysqlq('select count(*) from _issue', target).trim()).toBe('40')
    const out = join(tempDir(), 'x')
    await exportTracker(home2, out)
    expect(treeDifferences(out, fixtureTree('mysql-home-reexport'))).toEqual([])
  })
})

describe('secrets stay out of argv', () => {
  const user = `bkru_u${process.pid}`
  const db = uniqueName()
  afterAll(() => {
    dropMyDb(db)
    mysqlq(`DROP USER IF EXISTS '${user}'@'%'`)
  })

  it('mysqldump gets the config.ini password without it appearing in its command line', async () => {
    const password = 'S3cret-pw-for-bk-test'
    createMyDb(db, roundupFixture('mysql-dump.sql'))
    mysqlq(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON \`${db}\`.* TO '${user}'@'%'`)
    const home = fixtureTree('mysql-home')
    setRdbms(home, {name: db, user, password})
    // a recording wrapper first on PATH (the real mysqldump still does the work): it logs its argv
    const bin = tempDir()
    const log = join(bin, 'argv.log')
    const {execFileSync} = await import('node:child_process')
    const real = execFileSync('sh', ['-c', 'command -v mysqldump'], {encoding: 'utf8'}).trim()
    writeFileSync(join(bin, 'mysqldump'), `#!/bin/sh\necho "$@" >> ${log}\nexec ${real} "$@"\n`, {mode: 0o755})
    const r = await runBk(['roundup', 'backup', home, '--location', join(tempDir(), 'b'), '--json'], {
      env: {PATH: `${bin}:${process.env.PATH}`},
    })
    expect(r.exitCode).toBe(0)
    const argv = readFileSync(log, 'utf8')
    expect(argv).toContain(db)
    expect(argv).not.toContain(password)
    expect(r.stdout).not.toContain(password)
    const {archive} = r.json<{archive: string}>()
    expect((await verifyBackup(archive)).ok).toBe(true)
  })
})
