/**
 * Crash-safe by proof for bk trac restore into a PostgreSQL/MySQL-backed env: killed (SIGKILL, BK_CRASH_AT) while
 * it extracts an archive or creates and loads the new database, the env is exactly the old one (its trac.ini, its
 * database's rows); the next bk on the env drops the database the killed run created (and says so), removes its
 * scratch folders, and the same restore then succeeds.
 */
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {
  databases,
  dbName,
  dropMy,
  dropPg,
  type Engine,
  fixtureCounts,
  fixtureEnv,
  MY_URL,
  myAdmin,
  PG_URL,
  pgAdmin,
  ticketRows,
} from './helpers.js'

const urlOf = (engine: Engine, name: string) => `${engine === 'postgres' ? PG_URL : MY_URL}/${name}`
const iniUrl = (engine: Engine, name: string) => `${engine}://root@127.0.0.1/${name}`
const drop = (engine: Engine, name: string) => (engine === 'postgres' ? dropPg(name) : dropMy(name))
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.bk-'))
const DROPPED = /^bk: warning: dropped the database \S+ created by an interrupted run/m

/** An env restored from the fixture hotcopy into database `<prefix>_old`, with one ticket more and htdocs/old. */
async function scene(engine: Engine) {
  const parent = tempDir('bk-trac-crash-db-')
  const env = join(parent, 'env')
  const prefix = dbName('bk_trac_cd')
  const old = `${prefix}_old`
  const hot = fixtureEnv(`${engine}-hotcopy`)
  const first = await runBk(['trac', 'restore', hot, env, '--db', urlOf(engine, old)])
  if (first.exitCode !== 0) throw new Error(`the old env was not made: ${first.stderr}`)
  const insert = "INSERT INTO ticket (type, time, changetime, status, summary) VALUES ('defect', 1, 1, 'new', 'old')"
  if (engine === 'postgres') await pgAdmin((c) => c.query(insert), old)
  else await myAdmin((c) => c.query(insert), old)
  writeFileSync(join(env, 'htdocs', 'old'), 'old env')
  const ini = readFileSync(join(env, 'conf', 'trac.ini'))
  const oldTickets = fixtureCounts(engine).ticket! + 1
  return {parent, env, prefix, old, hot, ini, oldTickets, locks: tempDir('bk-trac-locks-')}
}

type Scene = Awaited<ReturnType<typeof scene>>

/** The env, its trac.ini bytes and its database's rows are the old ones; no other database of the test exists. */
async function expectOld(engine: Engine, s: Scene) {
  expect(readFileSync(join(s.env, 'conf', 'trac.ini')).equals(s.ini)).toBe(true)
  expect(existsSync(join(s.env, 'htdocs', 'old'))).toBe(true)
  expect(await ticketRows(engine, s.old)).toBe(s.oldTickets)
}

const backup = (s: Scene) =>
  runBk(['trac', 'backup', s.env, '--location', join(s.parent, 'backups')], {env: {BK_LOCK_DIR: s.locks}})

describe('bk trac restore into a database-backed env, killed while it creates and loads the new database', () => {
  const cases: [string, Engine, boolean][] = [
    // point, engine, whether the killed run had created the database
    ['trac-db:marked', 'postgres', false],
    ['trac-db:created', 'mysql', true],
    ['trac-db:created', 'postgres', true],
    ['trac-restore:db-loaded', 'postgres', true],
    ['trac-restore:db-loaded', 'mysql', true],
  ]
  for (const [point, engine, created] of cases) {
    it(`${point} (${engine}): old state; the next bk drops the new database, says so; the rerun restores`, async () => {
      const s = await scene(engine)
      const name = `${s.prefix}_new`
      const argv = ['trac', 'restore', s.hot, s.env, '--db', urlOf(engine, name), '--yes']
      try {
        const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: point}})
        expect(killed.signal, killed.stderr).toBe('SIGKILL')
        await expectOld(engine, s)
        expect(await databases(engine, s.prefix)).toEqual(created ? [name, s.old].sort() : [s.old])
        if (point === 'trac-restore:db-loaded') expect(await ticketRows(engine, name)).toBe(s.oldTickets - 1)

        const next = await backup(s)
        expect(next.exitCode, next.stderr).toBe(0)
        if (created) expect(next.stderr).toMatch(DROPPED)
        else expect(next.stderr).not.toMatch(DROPPED) // there was none to drop: saying so would mislead
        await expectOld(engine, s)
        expect(await databases(engine, s.prefix)).toEqual([s.old])
        expect(leftovers(s.parent)).toEqual([])

        const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
        expect(rerun.exitCode, rerun.stderr).toBe(0)
        expect(readFileSync(join(s.env, 'conf', 'trac.ini'), 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
        expect(existsSync(join(s.env, 'htdocs', 'old'))).toBe(false)
        expect(await ticketRows(engine, name)).toBe(s.oldTickets - 1)
        // the replaced env is kept, and its database untouched
        const kept = readdirSync(s.parent).filter((n) => n.startsWith('env.old-'))
        expect(kept).toHaveLength(1)
        expect(readFileSync(join(s.parent, kept[0]!, 'conf', 'trac.ini')).equals(s.ini)).toBe(true)
        expect(await ticketRows(engine, s.old)).toBe(s.oldTickets)
        expect(leftovers(s.parent)).toEqual([])
      } finally {
        await drop(engine, name)
        await drop(engine, s.old)
      }
    })
  }
})

describe('bk trac restore of an archive, killed after it extracted it', () => {
  it('trac-restore:extracted: old state; the next bk removes the extract folder, says so; the rerun restores', async () => {
    const engine = 'postgres'
    const s = await scene(engine)
    const name = `${s.prefix}_new`
    try {
      const made = await backup(s)
      expect(made.exitCode, made.stderr).toBe(0)
      const archive = join(s.parent, 'backups', readdirSync(join(s.parent, 'backups'))[0]!)
      const argv = ['trac', 'restore', archive, s.env, '--db', urlOf(engine, name), '--yes']
      const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-restore:extracted'}})
      expect(killed.signal, killed.stderr).toBe('SIGKILL')
      await expectOld(engine, s)
      expect(await databases(engine, s.prefix)).toEqual([s.old])
      expect(leftovers(s.parent).filter((n) => n.startsWith('.env.bk-extract-'))).toHaveLength(1)

      const next = await backup(s)
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/^bk: warning: removed \S+\/\.env\.bk-extract-\S+, left by an interrupted run/m)
      expect(leftovers(s.parent)).toEqual([])
      await expectOld(engine, s)

      const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
      expect(rerun.exitCode, rerun.stderr).toBe(0)
      expect(readFileSync(join(s.env, 'conf', 'trac.ini'), 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
      // the archive is of the old env: its rows, now in the new database
      expect(await ticketRows(engine, name)).toBe(s.oldTickets)
      expect(readdirSync(s.parent).filter((n) => n.startsWith('env.old-'))).toHaveLength(1)
      expect(leftovers(s.parent)).toEqual([])
    } finally {
      await drop(engine, name)
      await drop(engine, s.old)
    }
  })
})

describe('bk trac restore into an empty database the user made, killed after it loaded it', () => {
  for (const engine of ['mysql', 'postgres'] as const) {
    it(`trac-restore:db-loaded (${engine}): the next bk drops the loaded tables, keeps the database; the rerun restores`, async () => {
      const s = await scene(engine)
      const name = `${s.prefix}_new`
      const create = engine === 'postgres' ? `CREATE DATABASE "${name}"` : `CREATE DATABASE \`${name}\``
      await (engine === 'postgres' ? pgAdmin((c) => c.query(create)) : myAdmin((c) => c.query(create)))
      const argv = ['trac', 'restore', s.hot, s.env, '--db', urlOf(engine, name), '--yes']
      try {
        const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-restore:db-loaded'}})
        expect(killed.signal, killed.stderr).toBe('SIGKILL')
        await expectOld(engine, s)
        expect(await ticketRows(engine, name)).toBe(s.oldTickets - 1)

        const next = await backup(s)
        expect(next.exitCode, next.stderr).toBe(0)
        expect(next.stderr).toMatch(/^bk: warning: dropped the \d+ tables an interrupted run \(pid \d+\) loaded into /m)
        await expectOld(engine, s)
        expect(await databases(engine, s.prefix)).toEqual([name, s.old].sort())
        await expect(ticketRows(engine, name)).rejects.toThrow()
        expect(leftovers(s.parent)).toEqual([])

        const rerun = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
        expect(rerun.exitCode, rerun.stderr).toBe(0)
        expect(readFileSync(join(s.env, 'conf', 'trac.ini'), 'utf8')).toContain(`database = ${iniUrl(engine, name)}`)
        expect(await ticketRows(engine, name)).toBe(s.oldTickets - 1)
        expect(leftovers(s.parent)).toEqual([])
      } finally {
        await drop(engine, name)
        await drop(engine, s.old)
      }
    })
  }
})

describe('a note of a created database that a killed run was still writing', () => {
  it('is removed by the next bk on the env, which says so', async () => {
    const parent = tempDir('bk-trac-note-')
    const env = join(parent, 'env')
    await makeExampleEnvironment(env, {tickets: 1, wikiPages: 1, attachments: 0})
    // atomicFile's temp of the note, as a run killed inside saveMarker leaves it (pid 2^22 + 1: above pid_max)
    const partial = join(parent, '..env.bk-created-db.json.bk-partial-4194305-x1')
    writeFileSync(partial, '{"pid":4194305,"url":"postgres://root@127.0.0.1/bk_tr')
    const next = await runBk(['trac', 'backup', env, '--location', join(parent, 'backups')], {
      env: {BK_LOCK_DIR: tempDir('bk-trac-note-locks-')},
    })
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toContain(`removed ${partial}, left by an interrupted run`)
    expect(leftovers(parent)).toEqual([])
  })
})
