/**
 * Crash-safe by proof for bk trac convert: killed (SIGKILL, BK_CRASH_AT) at each of its crash points, the env and
 * the target server are exactly the old state (source env untouched, no new env, no database of the run) until the
 * conversion commits; the next bk on the env drops what the killed run created and says so, nothing of it is left
 * (stages, the database, the trac.ini copy), and the same command then converts.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {
  databases,
  dbName,
  dropMy,
  dropPg,
  type Engine,
  MY_URL,
  myAdmin,
  PG_URL,
  pgAdmin,
  ticketRows,
} from './helpers.js'

const TICKETS = 4

async function scene() {
  const parent = tempDir('bk-trac-crash-convert-')
  const env = join(parent, 'env')
  await makeExampleEnvironment(env, {tickets: TICKETS, wikiPages: 1, attachments: 0})
  const ini = join(env, 'conf', 'trac.ini')
  return {parent, env, ini, oldIni: readFileSync(ini), locks: tempDir('bk-trac-locks-')}
}

function sqliteTickets(file: string): number {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    return Number(db.prepare('SELECT COUNT(*) FROM ticket').pluck().get())
  } finally {
    db.close()
  }
}

const leftovers = (...dirs: string[]) => dirs.flatMap((d) => readdirSync(d).filter((n) => n.includes('.bk-')))
const configCopies = (env: string) => readdirSync(join(env, 'conf')).filter((n) => n.startsWith('trac.ini.convert_db-'))
const urlOf = (engine: Engine, name: string) => `${engine === 'postgres' ? PG_URL : MY_URL}/${name}`
const iniUrl = (engine: Engine, name: string) => `${engine}://root@127.0.0.1/${name}`
const drop = (engine: Engine, name: string) => (engine === 'postgres' ? dropPg(name) : dropMy(name))

describe('bk trac convert into a new env, killed before its commit (the new env’s rename)', () => {
  const cases: [string, Engine, boolean][] = [
    // point, engine, whether the killed run had created the database
    ['trac-db:marked', 'postgres', false],
    ['trac-convert:db-created', 'postgres', true],
    ['trac-convert:staged', 'postgres', true],
    ['trac-convert:db-created', 'mysql', true],
    ['trac-convert:staged', 'mysql', true],
  ]
  for (const [point, engine, created] of cases) {
    it(`${point} (${engine}): old state; the rerun drops what it created, says so, and converts`, async () => {
      const s = await scene()
      const prefix = dbName('bk_trac_cc')
      const name = `${prefix}_db`
      const dest = join(s.parent, 'converted')
      const argv = ['trac', 'convert', s.env, dest, '--to', urlOf(engine, name)]
      try {
        const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: point}})
        expect(killed.signal, killed.stderr).toBe('SIGKILL')
        // old: no new env, the source untouched, and the database only as far as the killed run got
        expect(existsSync(dest)).toBe(false)
        expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
        expect(sqliteTickets(join(s.env, 'db', 'trac.db'))).toBe(TICKETS)
        expect(await databases(engine, prefix)).toEqual(created ? [name] : [])
        expect(leftovers(s.parent).length).toBeGreaterThan(0)

        const next = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
        expect(next.exitCode, next.stderr).toBe(0)
        const dropped = /^bk: warning: dropped the database \S+ created by an interrupted run/m
        if (created) expect(next.stderr).toMatch(dropped)
        else expect(next.stderr).not.toMatch(dropped) // there was none to drop: saying so would mislead
        expect(next.stderr).toMatch(/^bk: warning: removed \S+\.converted\.bk-\S+, left by an interrupted run/m)
        // new: the env and its database agree, and nothing of the killed run is left
        expect(readFileSync(join(dest, 'conf', 'trac.ini'), 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
        expect(await ticketRows(engine, name)).toBe(TICKETS)
        expect(await databases(engine, prefix)).toEqual([name])
        expect(leftovers(s.parent)).toEqual([])
        expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
      } finally {
        await drop(engine, name)
      }
    })
  }
})

describe('bk trac convert --in-place, killed before trac.ini is rewritten', () => {
  for (const [point, engine, created] of [
    ['trac-db:marked', 'mysql', false],
    ['trac-convert:before-ini', 'postgres', true],
    ['trac-convert:before-ini', 'mysql', true],
  ] as const) {
    it(`${point} (${engine}): old state; the next bk on the env drops the database and the trac.ini copy`, async () => {
      const s = await scene()
      const prefix = dbName('bk_trac_cc')
      const name = `${prefix}_db`
      const argv = ['trac', 'convert', s.env, '--in-place', '--to', urlOf(engine, name)]
      try {
        const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: point}})
        expect(killed.signal, killed.stderr).toBe('SIGKILL')
        expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
        expect(await databases(engine, prefix)).toEqual(created ? [name] : [])
        if (created) expect(await ticketRows(engine, name)).toBe(TICKETS)

        // the next bk on the env (a backup) finds the env on SQLite: the database was never used
        const next = await runBk(['trac', 'backup', s.env, '--location', join(s.parent, 'backups')], {
          env: {BK_LOCK_DIR: s.locks},
        })
        expect(next.exitCode, next.stderr).toBe(0)
        const dropped = /^bk: warning: dropped the database \S+ created by an interrupted run/m
        if (created) expect(next.stderr).toMatch(dropped)
        else expect(next.stderr).not.toMatch(dropped)
        expect(await databases(engine, prefix)).toEqual([])
        expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
        // a copy of trac.ini from a conversion that never happened would mislead whoever reads conf/
        expect(configCopies(s.env)).toEqual([])
        expect(leftovers(s.parent, join(s.env, 'conf'))).toEqual([])

        const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
        expect(rerun.exitCode, rerun.stderr).toBe(0)
        expect(readFileSync(s.ini, 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
        expect(await ticketRows(engine, name)).toBe(TICKETS)
        const copies = configCopies(s.env)
        expect(copies).toHaveLength(1)
        expect(readFileSync(join(s.env, 'conf', copies[0]!)).equals(s.oldIni)).toBe(true)
        expect(leftovers(s.parent, join(s.env, 'conf'))).toEqual([])
      } finally {
        await drop(engine, name)
      }
    })
  }
})

describe('bk trac convert --in-place into an empty database the user made, killed before trac.ini is rewritten', () => {
  for (const engine of ['postgres', 'mysql'] as const) {
    it(`trac-convert:before-ini (${engine}): the next bk drops the tables it loaded, keeps the database; the rerun converts`, async () => {
      const s = await scene()
      const prefix = dbName('bk_trac_cc')
      const name = `${prefix}_db`
      const create = engine === 'postgres' ? `CREATE DATABASE "${name}"` : `CREATE DATABASE \`${name}\``
      await (engine === 'postgres' ? pgAdmin((c) => c.query(create)) : myAdmin((c) => c.query(create)))
      const argv = ['trac', 'convert', s.env, '--in-place', '--to', urlOf(engine, name)]
      try {
        const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-convert:before-ini'}})
        expect(killed.signal, killed.stderr).toBe('SIGKILL')
        expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
        expect(await ticketRows(engine, name)).toBe(TICKETS)

        const next = await runBk(['trac', 'backup', s.env, '--location', join(s.parent, 'backups')], {
          env: {BK_LOCK_DIR: s.locks},
        })
        expect(next.exitCode, next.stderr).toBe(0)
        expect(next.stderr).toMatch(/^bk: warning: dropped the \d+ tables an interrupted run \(pid \d+\) loaded into /m)
        expect(await databases(engine, prefix)).toEqual([name]) // the user's database stays, empty again
        await expect(ticketRows(engine, name)).rejects.toThrow()
        expect(configCopies(s.env)).toEqual([])
        expect(leftovers(s.parent)).toEqual([])

        const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
        expect(rerun.exitCode, rerun.stderr).toBe(0)
        expect(readFileSync(s.ini, 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
        expect(await ticketRows(engine, name)).toBe(TICKETS)
        expect(leftovers(s.parent)).toEqual([])
      } finally {
        await drop(engine, name)
      }
    })
  }
})

describe('bk trac convert to an SQLite file, killed after the file is in place but before the commit', () => {
  it('--in-place, trac-convert:before-ini: the next bk removes the unused file and the trac.ini copy; the rerun converts', async () => {
    const s = await scene()
    const file = join(s.env, 'db', 'converted.db')
    const argv = ['trac', 'convert', s.env, '--in-place', '--to', 'sqlite:db/converted.db']
    const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-convert:before-ini'}})
    expect(killed.signal, killed.stderr).toBe('SIGKILL')
    expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)
    expect(sqliteTickets(file)).toBe(TICKETS) // in place, but trac.ini does not name it: the old state

    const next = await runBk(['trac', 'backup', s.env, '--location', join(s.parent, 'backups')], {
      env: {BK_LOCK_DIR: s.locks},
    })
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(/^bk: warning: removed \S+\/db\/converted\.db, created by an interrupted run/m)
    expect(existsSync(file)).toBe(false)
    expect(configCopies(s.env)).toEqual([])
    expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)

    const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
    expect(rerun.exitCode, rerun.stderr).toBe(0)
    expect(readFileSync(s.ini, 'utf8')).toContain('database = sqlite:db/converted.db')
    expect(sqliteTickets(file)).toBe(TICKETS)
    expect(configCopies(s.env)).toHaveLength(1)
    expect(leftovers(s.parent, join(s.env, 'db'), join(s.env, 'conf'))).toEqual([])
  })

  it('the same convert, run again, recovers on its own and converts', async () => {
    const s = await scene()
    const argv = ['trac', 'convert', s.env, '--in-place', '--to', 'sqlite:db/converted.db']
    const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-convert:before-ini'}})
    expect(killed.signal, killed.stderr).toBe('SIGKILL')
    const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
    expect(rerun.exitCode, rerun.stderr).toBe(0)
    expect(rerun.stderr).toMatch(/^bk: warning: removed \S+\/db\/converted\.db, created by an interrupted run/m)
    expect(rerun.stderr).toMatch(/^bk: warning: removed \S+trac\.ini\.convert_db-\d+, a copy of trac\.ini/m)
    expect(sqliteTickets(join(s.env, 'db', 'converted.db'))).toBe(TICKETS)
    const copies = configCopies(s.env)
    expect(copies).toHaveLength(1)
    expect(readFileSync(join(s.env, 'conf', copies[0]!)).equals(s.oldIni)).toBe(true)
  })

  it('a new env with its SQLite file outside it, trac-convert:staged: the rerun removes the unused file and converts', async () => {
    const s = await scene()
    const file = join(s.parent, 'data', 'new.db')
    const dest = join(s.parent, 'converted')
    const argv = ['trac', 'convert', s.env, dest, '--to', `sqlite:${file}`]
    const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-convert:staged'}})
    expect(killed.signal, killed.stderr).toBe('SIGKILL')
    expect(existsSync(dest)).toBe(false)
    expect(readFileSync(s.ini).equals(s.oldIni)).toBe(true)

    const next = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(/^bk: warning: removed \S+\/data\/new\.db, created by an interrupted run/m)
    expect(readFileSync(join(dest, 'conf', 'trac.ini'), 'utf8')).toContain(`database = sqlite:${file}`)
    expect(sqliteTickets(file)).toBe(TICKETS)
    expect(leftovers(s.parent, join(s.parent, 'data'))).toEqual([])
  })
})
