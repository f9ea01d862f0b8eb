import {existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {normalisedExport} from '../src/compare.js'
import {exportTracker} from '../src/export.js'
import {migrateBackend} from '../src/migrate.js'
import {moveTracker} from '../src/move.js'
import {dropMyDb, dropPgDb, fixtureTree, keptCopies, mysqlq, psql, treeDifferences, uniqueName} from './helpers.js'

const exportFixture = fixtureTree('export')

describe('bk roundup migrate-backend', () => {
  const pg: string[] = []
  const my: string[] = []
  afterAll(() => {
    for (const n of pg) dropPgDb(n)
    for (const n of my) dropMyDb(n)
  })

  it('sqlite → postgresql → mysql → sqlite keeps every row (export compared sorted, ms rounded / dropped after MySQL)', async () => {
    const home = fixtureTree('sqlite-home')
    const pw = join(tempDir(), 'pw')
    writeFileSync(pw, '\n', {mode: 0o600})
    const original = await normalisedExport(exportFixture, false)
    const originalNoMs = await normalisedExport(exportFixture, true)

    const pgName = uniqueName()
    pg.push(pgName)
    const r1 = await runBk([
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1:5432/${pgName}`,
      '--yes',
    ])
    expect(r1.exitCode).toBe(0)
    expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(/\nbackend = postgresql\n/)
    expect(keptCopies(home)).toHaveLength(1)
    expect(existsSync(join(keptCopies(home)[0] as string, 'db', 'db'))).toBe(true)
    const e1 = join(tempDir(), 'e1')
    await exportTracker(home, e1)
    expect(await normalisedExport(e1, false)).toEqual(original)
    expect(treeDifferences(join(e1, 'msg-files'), join(exportFixture, 'msg-files'))).toEqual([])
    // counters carried over: the next issue id is the sqlite one, not max+1
    expect(psql('select last_value, is_called from _issue_ids', pgName).trim()).toBe('40|t')
    expect(Number(psql('select count(*) from __words', pgName))).toBeGreaterThan(0)

    const myName = uniqueName()
    my.push(myName)
    const myHome = join(tempDir(), 'my')
    await migrateBackend(home, {
      to: 'mysql',
      url: `mysql://root@127.0.0.1:3306/${myName}`,
      passwordFile: pw,
      noSwap: true,
      newHome: myHome,
    })
    // --no-swap left the postgresql home in place
    expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(/\nbackend = postgresql\n/)
    const e2 = join(tempDir(), 'e2')
    await exportTracker(myHome, e2)
    expect(await normalisedExport(e2, true)).toEqual(originalNoMs)

    await migrateBackend(myHome, {to: 'sqlite'})
    const e3 = join(tempDir(), 'e3')
    await exportTracker(myHome, e3)
    expect(await normalisedExport(e3, true)).toEqual(originalNoMs)
    expect(readFileSync(join(myHome, 'config.ini'), 'utf8')).toMatch(/\nbackend = sqlite\n/)
  })

  it('PostgreSQL: db/files copied whole while the rows load, every index Roundup makes built after the full-text fill', async () => {
    const home = fixtureTree('sqlite-home')
    const pgName = uniqueName()
    pg.push(pgName)
    const newHome = join(tempDir(), 'pg-home')
    await migrateBackend(home, {
      to: 'postgresql',
      url: `postgresql://root@127.0.0.1:5432/${pgName}`,
      noSwap: true,
      newHome,
    })
    expect(treeDifferences(join(newHome, 'db', 'files'), join(home, 'db', 'files'))).toEqual([])
    const indexes = psql("select indexname from pg_indexes where schemaname = 'public' order by 1", pgName)
      .trim()
      .split('\n')
    for (const name of [
      'words_word_idx',
      'words_by_id',
      'words_both_idx',
      '__textids_by_props',
      '_issue_retired_idx',
      'issue_journ_idx',
      'issue_messages_n_idx',
      '_user_key_retired_idx',
    ])
      expect(indexes).toContain(name)
    // the words are there, each findable through the index of its text
    const words = Number(psql('select count(*) from __words', pgName))
    expect(words).toBeGreaterThan(0)
    expect(Number(psql('select count(*) from __words w join __textids t on t._textid = w._textid', pgName))).toBe(words)
  })

  it('mysql → sqlite round trip through a swapped home equals the original with seconds cut', async () => {
    const home = fixtureTree('sqlite-home')
    const pw = join(tempDir(), 'pw')
    writeFileSync(pw, '\n', {mode: 0o600})
    const myName = uniqueName()
    my.push(myName)
    await migrateBackend(home, {to: 'mysql', url: `mysql://root@127.0.0.1:3306/${myName}`, passwordFile: pw})
    expect(mysqlq("select num from ids where name = 'issue'", myName).trim()).toBe('41')
    const e2 = join(tempDir(), 'e2')
    await exportTracker(home, e2)
    expect(await normalisedExport(e2, true)).toEqual(await normalisedExport(exportFixture, true))
    // every migration keeps the home it replaced under a name of its own: none is overwritten
    expect(keptCopies(home)).toHaveLength(1)
    await migrateBackend(home, {to: 'sqlite'})
    expect(keptCopies(home)).toHaveLength(2)
    const e3 = join(tempDir(), 'e3')
    await exportTracker(home, e3)
    expect(await normalisedExport(e3, true)).toEqual(await normalisedExport(exportFixture, true))
    expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(/\nbackend = sqlite\n/)
  })

  it('refuses a non-empty target database and leaves everything as it was', async () => {
    const home = fixtureTree('sqlite-home')
    const pgName = uniqueName()
    pg.push(pgName)
    psql(`create database "${pgName}"`)
    psql('create table precious (x int); insert into precious values (1)', pgName)
    const before = readFileSync(join(home, 'config.ini'))
    const r = await runBk([
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1:5432/${pgName}`,
      '-y',
    ])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/already exists and is not empty/)
    expect(readFileSync(join(home, 'config.ini')).equals(before)).toBe(true)
    expect(keptCopies(home)).toEqual([])
    expect(readdirSync(join(home, '..')).filter((n) => n.includes('bk-'))).toEqual([])
    expect(psql('select count(*) from precious', pgName).trim()).toBe('1')
  })

  it('bad inputs: same backend, missing --url, server down', async () => {
    const home = fixtureTree('sqlite-home')
    await expect(migrateBackend(home, {to: 'sqlite'})).rejects.toThrow(/already uses the sqlite backend/)
    await expect(migrateBackend(home, {to: 'postgresql'})).rejects.toThrow(/--url is required/)
    await expect(migrateBackend(home, {to: 'postgresql', url: 'postgresql://root@127.0.0.1:1/x'})).rejects.toThrow(
      /cannot connect to PostgreSQL at 127\.0\.0\.1:1/,
    )
    expect(keptCopies(home)).toEqual([])
  })
})

describe('bk roundup move', () => {
  const pg: string[] = []
  afterAll(() => {
    for (const n of pg) dropPgDb(n)
  })

  it('sqlite: the new home has its own db/ even when [main] database was absolute', async () => {
    const home = fixtureTree('sqlite-home')
    const outside = join(tempDir(), 'elsewhere')
    const {renameSync} = await import('node:fs')
    renameSync(join(home, 'db'), outside)
    const cfg = readFileSync(join(home, 'config.ini'), 'utf8').replace('\ndatabase = db\n', `\ndatabase = ${outside}\n`)
    writeFileSync(join(home, 'config.ini'), cfg)
    const newHome = join(tempDir(), 'moved')
    const r = await moveTracker(home, newHome)
    expect(r.notes.join('\n')).toMatch(/\[main\] database was/)
    expect(readFileSync(join(newHome, 'config.ini'), 'utf8')).toContain('\ndatabase = db\n')
    const out = join(tempDir(), 'x')
    await exportTracker(newHome, out)
    expect(treeDifferences(out, exportFixture)).toEqual([])
    expect(readFileSync(join(home, 'config.ini'), 'utf8')).toBe(cfg)
  })

  it('sqlite: db/files contents are copies, never links: a write in place in the new home leaves the old one', async () => {
    const home = fixtureTree('sqlite-home')
    const msgs = join(home, 'db', 'files', 'msg', '0')
    const [first] = readdirSync(msgs).sort()
    const original = readFileSync(join(msgs, first as string), 'utf8')
    const newHome = join(tempDir(), 'moved')
    await moveTracker(home, newHome)
    const moved = join(newHome, 'db', 'files', 'msg', '0', first as string)
    expect(statSync(moved).ino).not.toBe(statSync(join(msgs, first as string)).ino)
    expect(readFileSync(moved, 'utf8')).toBe(original)
    // roundup-admin import writes over an existing content file in place (shutil.copyfile opens it for writing)
    writeFileSync(moved, 'imported over it\n')
    expect(readFileSync(join(msgs, first as string), 'utf8')).toBe(original)
    expect(readFileSync(join(newHome, 'schema.py'), 'utf8')).toBe(readFileSync(join(home, 'schema.py'), 'utf8'))
    const out = join(tempDir(), 'x')
    await exportTracker(home, out)
    expect(treeDifferences(out, exportFixture)).toEqual([])
  })

  it('PostgreSQL: refuses to leave the new config.ini on the source database', async () => {
    const home = fixtureTree('postgresql-home')
    const parent = tempDir()
    let r = await runBk(['roundup', 'move', home, join(parent, 'n')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/would point at the source database roundup_fixture; give --url/)
    r = await runBk([
      'roundup',
      'move',
      home,
      join(parent, 'n'),
      '--url',
      'postgresql://root@127.0.0.1/roundup_fixture',
    ])
    expect(r.stderr).toMatch(/names the source database/)
    expect(readdirSync(parent)).toEqual([])
  })
})
