import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {
  countsOf,
  dbName,
  dropMy,
  dropPg,
  fixtureCounts,
  fixtureEnv,
  MY_URL,
  myAdmin,
  myDump,
  PG_URL,
  pgAdmin,
  pgDump,
  sqliteDump,
} from './helpers.js'

const pgDbs: string[] = []
const myDbs: string[] = []
afterAll(async () => {
  for (const d of pgDbs) await dropPg(d)
  for (const d of myDbs) await dropMy(d)
})

function tracIniDatabase(env: string): string | undefined {
  return /^database = (.*)$/m.exec(readFileSync(join(env, 'conf/trac.ini'), 'utf8'))?.[1]
}

describe('bk trac restore of the trac-admin fixture hotcopies', () => {
  it('restores sqlite-hotcopy to the fixture counts', async () => {
    const env = join(tempDir(), 'restored')
    const r = await runBk(['trac', 'restore', fixtureEnv('sqlite-hotcopy'), env, '--json'])
    expect(r.exitCode).toBe(0)
    expect(r.json<{databaseVersion: number}>().databaseVersion).toBe(45)
    expect(countsOf(sqliteDump(join(env, 'db/trac.db')), fixtureCounts('sqlite'))).toEqual(fixtureCounts('sqlite'))
    expect(existsSync(join(env, 'bk-manifest.json'))).toBe(false)
  })

  it('restores the real pg dump (CREATE DATABASE trac_fixture + \\connect) under another name, rewriting trac.ini', async () => {
    const name = dbName()
    pgDbs.push(name)
    const env = join(tempDir(), 'restored')
    const r = await runBk(['trac', 'restore', fixtureEnv('postgres-hotcopy'), env, '--db', `${PG_URL}/${name}`])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(countsOf(await pgDump(name), fixtureCounts('postgres'))).toEqual(fixtureCounts('postgres'))
    expect(tracIniDatabase(env)).toBe(`postgres://root@127.0.0.1/${name}`)
    // the dump's own database was not created
    const exists = await pgAdmin((c) => c.query("SELECT 1 FROM pg_database WHERE datname = 'trac_fixture'"))
    expect(exists.rowCount).toBe(0)
  })

  it('restores the mysql dump into a test database (the fixture’s user exists only where it was made)', async () => {
    const name = dbName()
    myDbs.push(name)
    const env = join(tempDir(), 'restored')
    const r = await runBk(['trac', 'restore', fixtureEnv('mysql-hotcopy'), env, '--db', `${MY_URL}/${name}`])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(countsOf(await myDump(name), fixtureCounts('mysql'))).toEqual(fixtureCounts('mysql'))
    expect(tracIniDatabase(env)).toBe(`mysql://root@127.0.0.1/${name}`)
    const collation = await import('./helpers.js').then((h) =>
      h.myAdmin(async (c) => {
        const [rows] = (await c.query(
          'SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
          [name],
        )) as unknown as [{c: string}[]]
        return rows[0]?.c
      }),
    )
    expect(collation).toBe('utf8mb4_bin')
  })

  it('refuses a database that already has tables, and leaves the env and database alone', async () => {
    const name = dbName()
    pgDbs.push(name)
    await pgAdmin((c) => c.query(`CREATE DATABASE "${name}"`))
    await pgAdmin((c) => c.query('CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)'), name)
    const parent = tempDir()
    const r = await runBk([
      'trac',
      'restore',
      fixtureEnv('postgres-hotcopy'),
      join(parent, 'env'),
      '--db',
      `${PG_URL}/${name}`,
    ])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: database '.*' on PostgreSQL at 127\.0\.0\.1:5432 already has tables \(precious/)
    expect(readdirSync(parent)).toEqual([])
    expect((await pgDump(name)).precious).toEqual(['42'])
  })
})

describe('bk trac restore of a dump with a client command', () => {
  it('refuses it in one line, runs nothing, and leaves no database behind', async () => {
    const name = dbName()
    pgDbs.push(name)
    const hot = fixtureEnv('postgres-hotcopy')
    const marker = join(tempDir(), 'ran')
    const dumpFile = join(hot, 'db', 'postgres-db-backup.sql.gz')
    const dump = gunzipSync(readFileSync(dumpFile)).toString('utf8')
    writeFileSync(dumpFile, gzipSync(`${dump}\\! touch ${marker}\n`))
    const r = await runBk(['trac', 'restore', hot, join(tempDir(), 'env'), '--db', `${PG_URL}/${name}`])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(
      /^bk: the dump .* has the psql command \\! at line \d+, which pg_dump never writes .*; nothing was committed — inspect the dump, and remove that line if you trust it\n?$/,
    )
    expect(existsSync(marker)).toBe(false)
    const left = await pgAdmin((c) => c.query('SELECT datname FROM pg_database WHERE datname = $1', [name]))
    expect(left.rows).toEqual([])
  })
})

describe('bk trac restore into an empty database the user made, when the load fails half-way', () => {
  it('drops the tables it loaded and keeps the database, empty as it was (MySQL: DDL is not transactional)', async () => {
    const name = dbName()
    myDbs.push(name)
    await myAdmin((c) => c.query(`CREATE DATABASE \`${name}\``))
    const hot = fixtureEnv('mysql-hotcopy')
    const dumpFile = join(hot, 'db', 'mysql-db-backup.sql')
    writeFileSync(dumpFile, `${readFileSync(dumpFile, 'utf8')}\nINSERT INTO no_such_table VALUES (1);\n`)
    const r = await runBk(['trac', 'restore', hot, join(tempDir(), 'env'), '--db', `${MY_URL}/${name}`])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/no_such_table/)
    const [tables] = await myAdmin((c) => c.query('SHOW TABLES'), name)
    expect(tables).toEqual([])
  })
})

describe('bk trac restore over an existing env', () => {
  it('needs --yes without a terminal, then swaps safely and removes a stale -wal', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const env = fixtureEnv('sqlite-env')
    // the live env has diverged: a new ticket, and a WAL file that would be replayed over a restored db
    const live = new Database(join(env, 'db/trac.db'))
    live.prepare("INSERT INTO ticket (id, summary) VALUES (1000, 'after the backup')").run()
    live.close()
    writeFileSync(join(env, 'db/trac.db-wal'), 'stale')
    let r = await runBk(['trac', 'restore', hot, env])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: refusing to .* without --yes/)
    expect(existsSync(join(env, 'db/trac.db-wal'))).toBe(true) // untouched
    r = await runBk(['trac', 'restore', hot, env, '--yes'])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(existsSync(join(env, 'db/trac.db-wal'))).toBe(false)
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(sqliteDump(join(hot, 'db/trac.db')))
    // the replaced env is kept under a new name, stale -wal and diverged ticket included; nothing else is left
    const kept = readdirSync(dirname(env)).filter((n) => n !== 'sqlite-env')
    expect(kept).toHaveLength(1)
    expect(kept[0]).toMatch(/^sqlite-env\.old-\d{8}T\d{6}Z$/)
    expect(readFileSync(join(dirname(env), kept[0]!, 'db/trac.db-wal'), 'utf8')).toBe('stale')
  })

  it('refuses a database_version newer than this Trac can use', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const db = new Database(join(hot, 'db/trac.db'))
    db.prepare("UPDATE system SET value = '46' WHERE name = 'database_version'").run()
    db.close()
    const parent = tempDir()
    const r = await runBk(['trac', 'restore', hot, join(parent, 'env')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: the backup's database_version is 46 but this Trac uses at most 45/)
    expect(readdirSync(parent)).toEqual([])
    const ok = await runBk(['trac', 'restore', hot, join(parent, 'env'), '--max-database-version', '46'])
    expect(ok.exitCode).toBe(0)
  })

  it('puts the SQLite database where --db points, and back outside the env only with --yes', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const env = join(tempDir(), 'env')
    let r = await runBk(['trac', 'restore', hot, env, '--db', 'sqlite:data/restored.db'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(existsSync(join(env, 'db/trac.db'))).toBe(false)
    expect(sqliteDump(join(env, 'data/restored.db'))).toEqual(sqliteDump(join(hot, 'db/trac.db')))
    expect(tracIniDatabase(env)).toBe('sqlite:data/restored.db')
    const outside = join(tempDir(), 'live.db')
    writeFileSync(outside, 'live data of someone')
    const env2 = join(tempDir(), 'env2')
    r = await runBk(['trac', 'restore', hot, env2, '--db', `sqlite:${outside}`])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: refusing to /)
    expect(readFileSync(outside, 'utf8')).toBe('live data of someone')
    expect(existsSync(env2)).toBe(false)
    r = await runBk(['trac', 'restore', hot, env2, '--db', `sqlite:${outside}`, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(sqliteDump(outside)).toEqual(sqliteDump(join(hot, 'db/trac.db')))
    expect(existsSync(join(env2, 'db/trac.db'))).toBe(false)
    // the replaced outside file is kept, never deleted
    const kept = readdirSync(dirname(outside)).filter((n) => n.startsWith('live.db.old-'))
    expect(kept).toHaveLength(1)
    expect(readFileSync(join(dirname(outside), kept[0]!), 'utf8')).toBe('live data of someone')
  })

  it('refuses a pg dump newer than this Trac before touching any database', async () => {
    const name = dbName()
    pgDbs.push(name)
    const parent = tempDir()
    const r = await runBk([
      'trac',
      'restore',
      fixtureEnv('postgres-hotcopy'),
      join(parent, 'env'),
      '--db',
      `${PG_URL}/${name}`,
      '--max-database-version',
      '44',
    ])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: the backup's database_version is 45 but this Trac uses at most 44/)
    expect(readdirSync(parent)).toEqual([])
    const exists = await pgAdmin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]))
    expect(exists.rowCount).toBe(0)
  })

  it('refuses something that is not a hotcopy', async () => {
    const parent = tempDir()
    const r = await runBk(['trac', 'restore', tempDir(), join(parent, 'env')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: .* is not a Trac hotcopy: no Trac environment found/)
    expect(readdirSync(parent)).toEqual([])
  })
})
