import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {dbName, dropMy, dropPg, fixtureEnv, MY_URL, myDump, PG_URL, pgAdmin, pgDump, sqliteDump} from './helpers.js'

const pgDbs: string[] = []
const myDbs: string[] = []
afterAll(async () => {
  for (const d of pgDbs) await dropPg(d)
  for (const d of myDbs) await dropMy(d)
})

/** The sqlite fixture env plus a plugin table of every column kind (trac-admin convert_db would drop it). */
function envWithPluginTable(): string {
  const env = fixtureEnv('sqlite-env')
  const db = new Database(join(env, 'db/trac.db'))
  db.exec(`CREATE TABLE tags (tagspace text, name text, tag text, UNIQUE (tagspace, name, tag));
           CREATE TABLE plugin_stats (id integer PRIMARY KEY, label text, big integer, score real, raw blob);
           CREATE INDEX plugin_stats_label_idx ON plugin_stats (label);
           INSERT INTO system VALUES ('tags_version', '4');`)
  const tag = db.prepare('INSERT INTO tags VALUES (?,?,?)')
  for (let i = 0; i < 1234; i++) tag.run('wiki', `Page${i % 50}`, `tag-${i}-ü✓`)
  const stat = db.prepare('INSERT INTO plugin_stats VALUES (?,?,?,?,?)')
  stat.run(5, "quote ' and \\ backslash", 1_700_000_000_123_456n, 1.25, Buffer.from([0, 1, 2, 255]))
  stat.run(9, null, null, null, null)
  db.close()
  return env
}

describe('bk trac convert', () => {
  it('sqlite → postgres → mysql → sqlite keeps every row of every table, plugin tables included', async () => {
    const source = envWithPluginTable()
    const original = sqliteDump(join(source, 'db/trac.db'))
    expect(original.tags).toHaveLength(1234)
    const pgName = dbName()
    const myName = dbName()
    pgDbs.push(pgName)
    myDbs.push(myName)
    const root = tempDir()

    let r = await runBk([
      'trac',
      'convert',
      source,
      join(root, 'pg'),
      '--to',
      `postgresql://root@127.0.0.1/${pgName}`,
      '--batch-size',
      '100',
    ])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('  tags table... 1234 records. (plugin table)')
    expect(await pgDump(pgName)).toEqual(original)
    // the SERIAL sequence continues after the copied ids
    const next = await pgAdmin(
      (c) => c.query<{id: number}>("SELECT nextval(pg_get_serial_sequence('ticket', 'id'))::int AS id"),
      pgName,
    )
    expect(next.rows[0]!.id).toBe(61)

    r = await runBk([
      'trac',
      'convert',
      join(root, 'pg'),
      join(root, 'my'),
      '--to',
      `mariadb://root@127.0.0.1/${myName}`,
      '--json',
    ])
    expect(r.exitCode).toBe(0)
    expect(r.json<{pluginTables: string[]}>().pluginTables.sort()).toEqual(['plugin_stats', 'tags'])
    expect(await myDump(myName)).toEqual(original)

    r = await runBk(['trac', 'convert', join(root, 'my'), join(root, 'back'), '--to', 'sqlite:db/trac.db'])
    expect(r.exitCode).toBe(0)
    const back = join(root, 'back', 'db/trac.db')
    expect(sqliteDump(back)).toEqual(original)
    const schema = new Database(back, {readonly: true})
    const sql = schema.prepare("SELECT sql FROM sqlite_master WHERE name = 'ticket'").pluck().get() as string
    schema.close()
    expect(sql).toContain('id integer PRIMARY KEY')
    // the new env is a whole copy, its trac.ini pointing at the new database with comments kept
    const ini = readFileSync(join(root, 'back', 'conf/trac.ini'), 'utf8')
    expect(ini).toMatch(/^database = sqlite:db\/trac\.db$/m)
    expect(ini.startsWith('# -*- coding: utf-8 -*-')).toBe(true)
    expect(existsSync(join(root, 'back', 'files/attachments'))).toBe(true)
  })

  it('refuses a target database that has tables, changing nothing', async () => {
    const source = fixtureEnv('sqlite-env')
    const name = dbName()
    pgDbs.push(name)
    await pgAdmin((c) => c.query(`CREATE DATABASE "${name}"`))
    await pgAdmin((c) => c.query('CREATE TABLE ticket (id int); INSERT INTO ticket VALUES (7)'), name)
    const root = tempDir()
    const r = await runBk(['trac', 'convert', source, join(root, 'new'), '--to', `${PG_URL}/${name}`])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: database '.*' .* already has tables \(ticket\)/)
    expect(readdirSync(root)).toEqual([])
    expect((await pgDump(name)).ticket).toEqual(['7'])
  })

  it('--in-place (as trac-admin convert_db, its spelling) keeps the old database, saves trac.ini as trac.ini.convert_db-<time>', async () => {
    const env = envWithPluginTable()
    const before = sqliteDump(join(env, 'db/trac.db'))
    const name = dbName()
    myDbs.push(name)
    // trac-admin's command line: convert_db <env> <dburi> (no new env: in place)
    const r = await runBk(['trac', 'convert_db', env, `${MY_URL}/${name}`, '--json'])
    expect(r.exitCode).toBe(0)
    const saved = readdirSync(join(env, 'conf')).filter((n) => n.startsWith('trac.ini.convert_db-'))
    expect(saved).toHaveLength(1)
    expect(readFileSync(join(env, 'conf', saved[0]!), 'utf8')).toContain('database = sqlite:db/trac.db')
    expect(readFileSync(join(env, 'conf/trac.ini'), 'utf8')).toContain(`database = mysql://root@127.0.0.1/${name}`)
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(before)
    expect(await myDump(name)).toEqual(before)
  })

  it("trac-admin's convert_db ENV DBURI NEW-ENV form makes a new env; no target database is a usage error", async () => {
    const env = fixtureEnv('sqlite-env')
    const root = tempDir()
    const r = await runBk(['trac', 'convert_db', env, `${PG_URL}/${dbName()}`, join(root, 'copy'), '--dry-run'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(join(root, 'copy'))
    const none = await runBk(['trac', 'convert', env, join(root, 'x')])
    expect(none.exitCode).toBe(2)
    expect(none.stderr).toMatch(/^bk: give the target database with --to <dburi>/)
    expect(existsSync(join(root, 'x'))).toBe(false)
  })

  it('rolls back when a row does not fit the target, leaving no tables', async () => {
    const env = fixtureEnv('sqlite-env')
    const db = new Database(join(env, 'db/trac.db'))
    // SQLite accepts text in an integer column; PostgreSQL's int does not
    db.prepare("INSERT INTO ticket_change VALUES ('not-a-number', 1, 'x', 'y', 'a', 'b')").run()
    db.close()
    const name = dbName()
    pgDbs.push(name)
    const root = tempDir()
    const r = await runBk(['trac', 'convert', env, join(root, 'new'), '--to', `${PG_URL}/${name}`])
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(readdirSync(root)).toEqual([])
    const exists = await pgAdmin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]))
    expect(exists.rowCount).toBe(0) // bk created it, so bk dropped it
  })
})
