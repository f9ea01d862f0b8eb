import {execFileSync} from 'node:child_process'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {backupSite} from '../src/backup.js'
import {REASON_ON_REQUEST} from '../src/naming.js'
import {openSite} from '../src/site.js'
import {FIXTURE_BACKUP, makeTestSite, mysqlRoot, type TestSite, tarListing} from './helpers.js'

let sites: TestSite[] = []
afterEach(() => {
  for (const s of sites) s.drop()
  sites = []
})

describe('backupSite', () => {
  it('writes a provision-layout tarball with database.sql 0600, a sidecar, and never overwrites', async () => {
    const t = makeTestSite()
    sites.push(t)
    const site = await openSite(t.site)
    const now = new Date(2026, 10, 21, 23, 1, 2)
    let argv = ''
    const first = await backupSite(site, {
      location: t.location,
      description: 'before the upgrade',
      now,
      onSpawn: (pid) => {
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        } catch {}
      },
    })
    expect(first.file).toBe(join(t.location, 'example.com-20261121.230102.tar.gz'))
    expect(statSync(first.file).mode & 0o777).toBe(0o600)
    expect(statSync(t.location).mode & 0o777).toBe(0o700)
    // the dump client's argv never holds the password
    expect(argv).toContain('mysqldump')
    expect(argv).not.toContain(t.password)
    // no dump left in the live site
    expect(readdirSync(t.site)).not.toContain('database.sql')

    // same members (names with provision's './' prefix and './' root entry first), types and modes as provision's
    // own backup of this site (fixture); member order is readdir order for both, so it is not compared
    const ours = tarListing(first.file)
    const theirs = tarListing(fixturePath('aegir', 'backups', FIXTURE_BACKUP))
    expect(ours[0]).toMatch(/^d\S+ 0 \.\/$/)
    const modeAndName = (lines: string[]) => lines.map((l) => `${l.split(' ')[0]} ${l.split(' ').slice(2).join(' ')}`)
    expect(modeAndName(ours).sort()).toEqual(modeAndName(theirs).sort())
    // and the member names of the fixture's recorded listing (tar -tzvf of provision's tarball)
    const recorded = readFileSync(fixturePath('aegir', 'backup-listing.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(5).join(' '))
    const names = execFileSync('tar', ['-tzf', first.file], {encoding: 'utf8'}).trim().split('\n')
    expect(names[0]).toBe('./')
    expect([...names].sort()).toEqual([...recorded].sort())

    // `tar xzf <backup> ./database.sql` (what scripts written for provision run) finds a real dump of the site
    // database with the emoji titles
    const sql = execFileSync('tar', ['-xzOf', first.file, './database.sql'], {encoding: 'utf8'})
    expect(sql).toContain("'Article 1 🚀 café'")
    expect(sql).toContain('José Müller')
    expect(sql).toMatch(/CREATE TABLE `variable`/)

    const sidecar = JSON.parse(readFileSync(`${first.file}.bk.json`, 'utf8'))
    expect(sidecar).toMatchObject({application: 'aegir', kind: 'full', description: 'before the upgrade'})
    expect(JSON.stringify(sidecar)).not.toContain(t.password)

    const second = await backupSite(site, {location: t.location, now})
    expect(second.file).toBe(join(t.location, 'example.com-20261121.230102_1.tar.gz'))
    expect(second.description).toBe(REASON_ON_REQUEST)
    const third = await backupSite(site, {location: t.location, now})
    expect(third.file).toBe(join(t.location, 'example.com-20261121.230102_2.tar.gz'))
  })

  it('refuses an implausibly small dump and leaves nothing behind', async () => {
    const t = makeTestSite()
    sites.push(t)
    const tables = mysqlRoot('SHOW TABLES', t.database).trim().split('\n')
    mysqlRoot(tables.map((x) => `DROP TABLE \`${x}\`;`).join(' '), t.database)
    const site = await openSite(t.site)
    await expect(backupSite(site, {location: t.location})).rejects.toThrow(/holds no tables.*--force/)
    expect(readdirSync(t.location)).toEqual([])
    expect(readdirSync(t.site)).not.toContain('database.sql')
    const forced = await backupSite(site, {location: t.location, force: true})
    expect(statSync(forced.file).size).toBeGreaterThan(0)
  })

  it('fails with a one-line message when the site password is wrong, leaving nothing', async () => {
    const t = makeTestSite()
    sites.push(t)
    const site = await openSite(t.site)
    site.database.password = 'wrong'
    const location = tempDir()
    await expect(backupSite(site, {location})).rejects.toThrow(/refused the password/)
    expect(readdirSync(location)).toEqual([])
    expect(readdirSync(t.site)).not.toContain('database.sql')
  })
})
