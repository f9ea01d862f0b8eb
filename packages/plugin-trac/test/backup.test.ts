import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {dbName, dropPg, fixtureEnv, PG_URL, pgAdmin, sqliteDump} from './helpers.js'

const pgDbs: string[] = []
afterAll(async () => {
  for (const d of pgDbs) await dropPg(d)
})

describe('bk trac backup / list / verify', () => {
  it('refuses a location under a file in one line naming that file; the file and the env are untouched', async () => {
    const dir = tempDir()
    const env = join(dir, 'env')
    await makeExampleEnvironment(env, {tickets: 2, wikiPages: 1, attachments: 0})
    const file = join(dir, 'not-a-folder')
    writeFileSync(file, 'keep me')
    const before = readdirSync(dir).sort()
    const r = await runBk(['trac', 'backup', env, '--location', join(file, 'backups'), '--json'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(`${file} is a file, not a folder; give a path under a folder`)
    expect(r.json<{ok: boolean; error: {code: string}}>().error.code).toBe('ENOTDIR')
    expect(readFileSync(file, 'utf8')).toBe('keep me')
    expect(readdirSync(dir).sort()).toEqual(before)
    const hot = await runBk(['trac', 'hotcopy', env, join(file, 'hot')])
    expect(hot.exitCode).toBe(1)
    expect(hot.stderr).toBe(`bk: ${join(file, 'hot')}: ${file} is a file, not a folder; give a path under a folder\n`)
  })

  it('archives an SQLite env (0600, manifest first), lists it, verifies it, restores from it', async () => {
    const env = fixtureEnv('sqlite-env')
    const location = join(tempDir(), 'backups')
    const r = await runBk(['trac', 'backup', env, '--location', location, '--description', 'nightly', '--json'])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const {archive} = r.json<{archive: string}>()
    expect(archive).toMatch(/\/sqlite-env-\d{4}-\d{2}-\d{2}_\d{6}\.tar\.gz$/)
    expect(statSync(archive).mode & 0o777).toBe(0o600)
    expect(readdirSync(location)).toEqual([archive.split('/').pop()]) // no stage left behind

    const list = await runBk(['trac', 'list', '--location', location, '--json'])
    const entries = list.json<{artifacts: {name: string; description: string}[]}>().artifacts
    expect(entries).toHaveLength(1)
    expect(entries[0]!.description).toBe('nightly')

    const v = await runBk(['trac', 'verify', archive, '--json'])
    expect(v.exitCode).toBe(0)
    const result = v.json<{ok: boolean; databaseVersion: number; integrity: string[]; tables: Record<string, number>}>()
    expect(result.ok).toBe(true)
    expect(result.databaseVersion).toBe(45)
    expect(result.integrity).toEqual([])
    expect(result.tables.ticket).toBe(60)

    const restored = join(tempDir(), 'restored')
    const rr = await runBk(['trac', 'restore', archive, restored])
    expect(rr.exitCode).toBe(0)
    expect(sqliteDump(join(restored, 'db/trac.db'))).toEqual(sqliteDump(join(env, 'db/trac.db')))
  })

  it('prunes with --keep, newest kept', async () => {
    const env = fixtureEnv('sqlite-env')
    const location = join(tempDir(), 'backups')
    for (let i = 0; i < 3; i++)
      expect((await runBk(['trac', 'backup', env, '--location', location, '--keep', '2'])).exitCode).toBe(0)
    const names = readdirSync(location).sort()
    expect(names).toHaveLength(2)
    const list = (await runBk(['trac', 'list', location, '--json'])).json<{artifacts: {name: string}[]}>().artifacts
    expect(list.map((e) => e.name)).toEqual([...names].reverse())
  })

  it('prune applies retention per env, asks first, --dry-run removes nothing', async () => {
    const location = join(tempDir(), 'backups')
    const a = fixtureEnv('sqlite-env')
    for (let i = 0; i < 3; i++) expect((await runBk(['trac', 'backup', a, '--location', location])).exitCode).toBe(0)
    const other = join(tempDir(), 'other')
    expect((await runBk(['trac', 'restore', fixtureEnv('sqlite-hotcopy'), other])).exitCode).toBe(0)
    expect((await runBk(['trac', 'backup', other, '--location', location])).exitCode).toBe(0)
    const all = readdirSync(location).sort()
    expect(all).toHaveLength(4)
    let r = await runBk(['trac', 'prune', location, '--keep', '1'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: refusing to prune .* without --yes/)
    r = await runBk(['trac', 'prune', location, '--keep', '1', '--dry-run'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readdirSync(location).sort()).toEqual(all)
    r = await runBk(['trac', 'prune', '--location', location, '--keep', '1', '--yes', '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.json<{removed: unknown[]}>().removed).toHaveLength(2)
    const left = readdirSync(location).sort()
    expect(left).toEqual([
      all.filter((n) => n.startsWith('other-'))[0],
      all.filter((n) => n.startsWith('sqlite-env-')).at(-1),
    ])
  })

  it('verify fails on a damaged archive', async () => {
    const env = fixtureEnv('sqlite-env')
    const location = join(tempDir(), 'backups')
    const {archive} = (await runBk(['trac', 'backup', env, '--location', location, '--json'])).json<{archive: string}>()
    const bytes = readFileSync(archive)
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff
    writeFileSync(archive, bytes)
    const v = await runBk(['trac', 'verify', archive])
    expect(v.exitCode).not.toBe(0)
    expect(v.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('verifies a PostgreSQL backup by loading it into a scratch database, dropped afterwards', async () => {
    const name = dbName()
    pgDbs.push(name)
    const env = join(tempDir(), 'env')
    expect(
      (await runBk(['trac', 'restore', fixtureEnv('postgres-hotcopy'), env, '--db', `${PG_URL}/${name}`])).exitCode,
    ).toBe(0)
    const location = join(tempDir(), 'backups')
    const b = await runBk(['trac', 'backup', env, '--location', location, '--json'])
    expect(b.exitCode).toBe(0)
    const v = await runBk(['trac', 'verify', b.json<{archive: string}>().archive, '--json'])
    expect(v.exitCode).toBe(0)
    const result = v.json<{ok: boolean; databaseVersion: number; tables: Record<string, number>}>()
    expect(result.ok).toBe(true)
    expect(result.databaseVersion).toBe(45)
    expect(result.tables.wiki).toBe(85)
    const scratch = await pgAdmin((c) => c.query("SELECT datname FROM pg_database WHERE datname LIKE 'bk_verify_%'"))
    expect(scratch.rowCount).toBe(0)
  })
})
