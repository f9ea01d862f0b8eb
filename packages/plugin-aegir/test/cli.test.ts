import {cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {fixtureCounts, makeTestSite, mysqlRoot, type TestSite, tableCounts, uniqueDbName} from './helpers.js'

let sites: TestSite[] = []
const cleanup: string[] = []
afterEach(() => {
  for (const s of sites) s.drop()
  sites = []
  for (const sql of cleanup.splice(0)) mysqlRoot(sql)
})

describe('bk aegir (built CLI)', () => {
  it('backup → list → restore round trip on MariaDB', async () => {
    const t = makeTestSite()
    sites.push(t)
    const backup = await runBk([
      'aegir',
      'backup',
      t.site,
      '--location',
      t.location,
      '--description',
      'cli round trip',
      '--json',
    ])
    expect(backup.stderr).toBe('')
    expect(backup.exitCode).toBe(0)
    const made = backup.json<{file: string; description: string; artifacts: {path: string; kind: string}[]}>()
    expect(made.description).toBe('cli round trip')
    expect(made.artifacts).toEqual([expect.objectContaining({path: made.file, kind: 'full'})])
    expect(backup.stdout).not.toContain(t.password)

    const list = await runBk(['aegir', 'list', t.site, '--backups-dir', t.location])
    expect(list.exitCode).toBe(0)
    expect(list.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^DATE \(UTC\) +KIND +SIZE +NAME +NOTE$/),
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d +full +.* example\.com-\d{8}\.\d{6}\.tar\.gz +cli round trip$/),
    ])

    mysqlRoot('DELETE FROM node WHERE nid > 100', t.database)
    const refused = await runBk(['aegir', 'restore', t.site, '--location', t.location])
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr).toMatch(/without --yes/)

    const dbName = uniqueDbName()
    const restore = await runBk(
      ['aegir', 'restore', t.site, made.file, '--location', t.location, '--db-name', dbName, '--yes', '--json'],
      {
        env: {BK_DB_ADMIN_PASSWORD: ''},
      },
    )
    expect(restore.exitCode).toBe(0)
    const r = restore.json<{
      kind: string
      source: string
      target: string
      kept: string[]
      database: {new: string; user: string}
      preRestoreBackup: string
    }>()
    expect(r).toMatchObject({kind: 'restore', source: made.file, target: t.site, kept: [r.preRestoreBackup]})
    cleanup.push(`DROP DATABASE IF EXISTS \`${r.database.new}\`; DROP USER IF EXISTS '${r.database.user}'@'%';`)
    expect(tableCounts(r.database.new)).toEqual(fixtureCounts())
    expect(restore.stdout).not.toMatch(/"password"/)

    const after = await runBk(['aegir', 'list', t.site, '--location', t.location])
    expect(after.stdout.trim().split('\n').slice(1)).toEqual([
      expect.stringMatching(/ pre-restore .* Generated before being restored to a previous version$/),
      expect.stringMatching(/ full .* cli round trip$/),
    ])
  })

  it('backup --all continues past a failing site, then exits non-zero with a summary', async () => {
    const t = makeTestSite()
    sites.push(t)
    const broken = join(t.platform, 'sites', 'broken.example.org')
    cpSync(t.site, broken, {recursive: true})
    for (const name of ['settings.php', 'drushrc.php']) {
      const file = join(broken, name)
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll(t.database, 'no_such_database_here'))
    }
    mkdirSync(join(t.platform, 'sites', 'default'), {recursive: true})
    writeFileSync(join(t.platform, 'sites', 'default', 'settings.php'), '<?php\n')
    const run = await runBk(['aegir', 'backup', '--all', t.root, '--location', t.location])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/FAILED {2}\S+broken\.example\.org: .*no_such_database_here/)
    expect(run.stdout).toMatch(/ok {6}\S+example\.com -> /)
    expect(run.stdout).toMatch(/1 of 2 sites backed up, 1 failed\./)
    expect(run.stderr).toMatch(/1 of 2 sites failed: \S+broken\.example\.org/)
    const files = readdirSync(t.location)
    expect(files.filter((f) => f.startsWith('example.com-') && f.endsWith('.tar.gz'))).toHaveLength(1)
    expect(files.filter((f) => f.startsWith('broken'))).toEqual([])
  })
})
