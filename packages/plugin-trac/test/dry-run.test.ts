import {existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fixtureEnv, sqliteDump} from './helpers.js'

describe('--dry-run writes nothing', () => {
  it('hotcopy, backup, restore and convert report their plan only', async () => {
    const env = fixtureEnv('sqlite-env')
    const before = sqliteDump(join(env, 'db/trac.db'))
    const parent = tempDir()

    let r = await runBk(['trac', 'hotcopy', env, join(parent, 'copy'), '--dry-run'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Would hotcopy .* with the sqlite database in db\/trac\.db; nothing was written/)

    r = await runBk(['trac', 'backup', env, '--location', join(parent, 'backups'), '--dry-run', '--keep', '1'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Would back up .*sqlite-env-\d{4}-\d{2}-\d{2}_\d{6}\.tar\.gz; nothing was written/)

    r = await runBk(['trac', 'restore', fixtureEnv('sqlite-hotcopy'), env, '--dry-run'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/replacing the environment there.*nothing was changed/)

    r = await runBk([
      'trac',
      'convert',
      env,
      join(parent, 'pg'),
      '--to',
      'postgres://root@127.0.0.1/never_created',
      '--dry-run',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(
      /^Would copy every table from sqlite:db\/trac\.db to postgres:\/\/root@127\.0\.0\.1\/never_created/,
    )

    expect(readdirSync(parent)).toEqual([])
    expect(existsSync(join(env, 'db/trac.db-journal'))).toBe(false)
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(before)
  })
})
