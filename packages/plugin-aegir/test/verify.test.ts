import {copyFileSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {backupSite} from '../src/backup.js'
import {openSite} from '../src/site.js'
import {verifyBackup} from '../src/verify.js'
import {FIXTURE_BACKUP, makeTestSite, type TestSite} from './helpers.js'

let sites: TestSite[] = []
afterEach(() => {
  for (const s of sites) s.drop()
  sites = []
})

describe('verifyBackup', () => {
  it('accepts provision’s own backup (no sidecar) and bk’s (checksum), and notices a changed byte', async () => {
    const dir = tempDir()
    const theirs = join(dir, FIXTURE_BACKUP)
    copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), theirs)
    expect(await verifyBackup(theirs)).toMatchObject({ok: true, checksum: 'no sidecar', problems: []})

    const t = makeTestSite()
    sites.push(t)
    const made = await backupSite(await openSite(t.site), {location: t.location})
    expect(await verifyBackup(made.file)).toMatchObject({ok: true, checksum: 'ok'})

    // a valid tarball that is not the one the sidecar describes
    copyFileSync(theirs, made.file)
    expect(await verifyBackup(made.file)).toMatchObject({
      ok: false,
      checksum: 'changed',
      problems: ['the tarball does not match the checksum in its sidecar'],
    })
    // a damaged one: a byte of the gzip trailer (CRC-32) changed
    const bytes = readFileSync(made.file)
    bytes[bytes.length - 5] = (bytes[bytes.length - 5]! + 1) % 256
    writeFileSync(made.file, bytes)
    await expect(verifyBackup(made.file)).rejects.toThrow(/corrupt|truncated/)
  })

  it('reports a tarball that is not a site backup', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'a.txt'), 'x')
    const {execFileSync} = await import('node:child_process')
    const file = join(dir, 'x.com-20261121.101010.tar.gz')
    execFileSync('tar', ['-czf', file, '-C', dir, 'a.txt'])
    const r = await verifyBackup(file)
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual(['no database.sql in the archive', 'no settings.php in the archive'])
  })
})
