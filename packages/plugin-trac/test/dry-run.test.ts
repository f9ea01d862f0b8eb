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
    expect(r.stdout).toMatch(
      /^Plan: hotcopy .*\n {2}create +\S+\/copy .*\n {2}copy +sqlite:db\/trac\.db +\(sqlite database into db\/trac\.db\)/,
    )
    expect(r.stdout).toMatch(/Nothing was changed \(--dry-run\)\.\n$/)

    r = await runBk(['trac', 'backup', env, '--location', join(parent, 'backups'), '--dry-run', '--keep', '1'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^ {2}create +\S+\/sqlite-env-\d{4}-\d{2}-\d{2}_\d{6}\.tar\.gz +\(archive, mode 0600\)$/m)

    r = await runBk(['trac', 'restore', fixtureEnv('sqlite-hotcopy'), env, '--dry-run'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^ {2}replace +\S+sqlite-env +\(Trac environment\)$/m)
    expect(r.stdout).toMatch(/^ {2}keep +\S+sqlite-env\.old-YYYYmmddTHHMMSSZ/m)

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
      /^ {2}load +postgres:\/\/root@127\.0\.0\.1\/never_created +\(every table of sqlite:db\/trac\.db\)$/m,
    )

    expect(readdirSync(parent)).toEqual([])
    expect(existsSync(join(env, 'db/trac.db-journal'))).toBe(false)
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(before)
  })
})
