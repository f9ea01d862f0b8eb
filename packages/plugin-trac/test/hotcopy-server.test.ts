import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {dbName, dropMy, dropPg, fixtureEnv, MY_URL, myAdmin, PG_URL} from './helpers.js'

const pgDbs: string[] = []
const myDbs: string[] = []
const myUsers: string[] = []
afterAll(async () => {
  for (const d of pgDbs) await dropPg(d)
  for (const d of myDbs) await dropMy(d)
  for (const u of myUsers) await myAdmin((c) => c.query(`DROP USER IF EXISTS '${u}'@'%'`))
})

/** An env restored from a fixture hotcopy into a fresh database; returns its path and database name. */
async function liveEnv(engine: 'postgres' | 'mysql'): Promise<{env: string; name: string}> {
  const name = dbName()
  ;(engine === 'postgres' ? pgDbs : myDbs).push(name)
  const env = join(tempDir(), 'env')
  const url = `${engine === 'postgres' ? PG_URL : MY_URL}/${name}`
  const r = await runBk(['trac', 'restore', fixtureEnv(`${engine}-hotcopy`), env, '--db', url])
  expect(r.exitCode, r.stderr).toBe(0)
  return {env, name}
}

function setDatabase(env: string, uri: string): void {
  const file = join(env, 'conf/trac.ini')
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^database = .*$/m, `database = ${uri}`))
}

/** argv and environment of running processes whose program is one of `names`. */
function findProcesses(names: string[]): {pid: string; argv: string[]; environ: string}[] {
  const found = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
      if (argv[0] && names.includes(basename(argv[0]))) {
        found.push({pid, argv, environ: readFileSync(`/proc/${pid}/environ`, 'utf8')})
      }
    } catch {
      // gone meanwhile
    }
  }
  return found
}

async function waitForProcess(names: string[]) {
  for (let i = 0; i < 1500; i++) {
    const found = findProcesses(names)
    if (found.length > 0) return found
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no ${names.join('/')} process appeared`)
}

describe('bk trac hotcopy (PostgreSQL, MySQL/MariaDB)', () => {
  it('dumps PostgreSQL to db/postgres-db-backup.sql.gz; the password is never in pg_dump’s argv', async () => {
    const {env, name} = await liveEnv('postgres')
    const password = 'pg s3cret/:@x'
    setDatabase(env, `postgres://root:${encodeURIComponent(password)}@127.0.0.1:5432/${name}`)
    // hold a lock so pg_dump stays alive while its argv is read
    const blocker = await import('pg').then(
      (m) => new m.default.Client({host: '127.0.0.1', user: 'root', database: name}),
    )
    await blocker.connect()
    await blocker.query('BEGIN; LOCK TABLE ticket IN ACCESS EXCLUSIVE MODE')
    const dest = join(tempDir(), 'copy')
    const running = runBk(['trac', 'hotcopy', env, dest])
    try {
      const procs = await waitForProcess(['pg_dump'])
      for (const p of procs) expect(p.argv.join(' ')).not.toContain('s3cret')
    } finally {
      await blocker.query('ROLLBACK')
      await blocker.end()
    }
    const r = await running
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).not.toContain('s3cret')
    const sql = gunzipSync(readFileSync(join(dest, 'db/postgres-db-backup.sql.gz'))).toString('utf8')
    expect(sql).toContain('CREATE TABLE public.ticket')
    expect(sql).toMatch(/database_version\t45|'database_version', '45'/)
    const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8'))
    expect(manifest.extra.databaseVersion).toBe(45)
    expect(JSON.stringify(manifest)).not.toContain('s3cret')
  })

  it('dumps MariaDB with --single-transaction as a user with a password, never in argv or environment', async () => {
    const {env, name} = await liveEnv('mysql')
    const user = `bk_u_${process.pid}`
    myUsers.push(user)
    const password = 'p@ss w0rd!x'
    await myAdmin(async (c) => {
      await c.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`)
      await c.query(`GRANT ALL ON \`${name}\`.* TO '${user}'@'%'`)
    })
    setDatabase(env, `mysql://${user}:${encodeURIComponent(password)}@127.0.0.1:3306/${name}`)
    const blocker = await import('mysql2/promise').then((m) =>
      m.default.createConnection({host: '127.0.0.1', user: 'root', password: '', database: name}),
    )
    await blocker.query('LOCK TABLES ticket WRITE')
    const dest = join(tempDir(), 'copy')
    const running = runBk(['trac', 'hotcopy', env, dest])
    try {
      const procs = await waitForProcess(['mysqldump', 'mariadb-dump'])
      for (const p of procs) {
        expect(p.argv.join(' ')).not.toContain('w0rd')
        expect(p.environ).not.toContain('w0rd')
        expect(p.argv).toContain('--single-transaction')
      }
    } finally {
      await blocker.query('UNLOCK TABLES')
      await blocker.end()
    }
    const r = await running
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const sql = readFileSync(join(dest, 'db/mysql-db-backup.sql'), 'utf8')
    expect(sql).toContain('CREATE TABLE `ticket`')
    expect(sql).toMatch(/'database_version','45'/)
  })

  it('passes the port to pg_dump with a socket directory (?host=), which trac-admin dropped', async () => {
    const {env, name} = await liveEnv('postgres')
    setDatabase(env, `postgres://root@:5432/${name}?host=/var/run/postgresql`)
    const blocker = await import('pg').then(
      (m) => new m.default.Client({host: '127.0.0.1', user: 'root', database: name}),
    )
    await blocker.connect()
    await blocker.query('BEGIN; LOCK TABLE wiki IN ACCESS EXCLUSIVE MODE')
    const dest = join(tempDir(), 'copy')
    const running = runBk(['trac', 'hotcopy', env, dest])
    try {
      const [proc] = await waitForProcess(['pg_dump'])
      const argv = proc!.argv.join(' ')
      expect(argv).toContain('-h /var/run/postgresql')
      expect(argv).toContain('-p 5432')
    } finally {
      await blocker.query('ROLLBACK')
      await blocker.end()
    }
    const r = await running
    expect(r.exitCode, r.stderr).toBe(0)
    // a port nothing listens on, through the same socket dir: the error names that port's socket
    setDatabase(env, `postgres://root@:6543/${name}?host=/var/run/postgresql`)
    const bad = await runBk(['trac', 'hotcopy', env, join(tempDir(), 'copy')])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(/cannot connect to PostgreSQL at \/var\/run\/postgresql\/\.s\.PGSQL\.6543/)
  })

  it('a wrong MariaDB password: one line, nothing left behind', async () => {
    const {env, name} = await liveEnv('mysql')
    const user = `bk_w_${process.pid}`
    myUsers.push(user)
    await myAdmin(async (c) => {
      await c.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'right-one'`)
      await c.query(`GRANT ALL ON \`${name}\`.* TO '${user}'@'%'`)
    })
    setDatabase(env, `mysql://${user}:wrong-one@127.0.0.1:3306/${name}`)
    const parent = tempDir()
    const r = await runBk(['trac', 'hotcopy', env, join(parent, 'copy')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/refused the password for user '?bk_w_/)
    expect(r.stderr).not.toContain('wrong-one')
    expect(readdirSync(parent)).toEqual([])
  })

  it('a database server that is down: one line, nothing left behind', async () => {
    const env = fixtureEnv('postgres-env')
    setDatabase(env, 'postgres://root@127.0.0.1:1/trac')
    const parent = tempDir()
    const r = await runBk(['trac', 'hotcopy', env, join(parent, 'copy')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: cannot connect to PostgreSQL at 127\.0\.0\.1:1 .*is the server running\?\n$/)
    expect(readdirSync(parent)).toEqual([])
  })

  it('honours [trac] pg_dump_path', async () => {
    const {env} = await liveEnv('postgres')
    const file = join(env, 'conf/trac.ini')
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(/^pg_dump_path = .*$/m, 'pg_dump_path = /nonexistent/pg_dump'),
    )
    const parent = tempDir()
    const r = await runBk(['trac', 'hotcopy', env, join(parent, 'copy')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('/nonexistent/pg_dump')
    expect(readdirSync(parent)).toEqual([])
  })
})
