/** bk aegir backup-delete (Aegir's backup-delete task, provision-backup-delete): one named backup goes, nothing else. */
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {FIXTURE_BACKUP} from './helpers.js'

const BK_MADE = 'example.com-20261122.010203.tar.gz'
const OTHER_SITE = 'other.example.org-20261122.010203.tar.gz'

/** A location with provision's fixture backup, a bk backup with its sidecar, and another site's backup. */
function location(): {dir: string; bytes: (name: string) => string} {
  const dir = join(tempDir(), 'backups')
  mkdirSync(dir, {mode: 0o700})
  copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), join(dir, FIXTURE_BACKUP))
  writeFileSync(join(dir, BK_MADE), 'bk tarball')
  writeFileSync(join(dir, `${BK_MADE}.bk.json`), '{}')
  writeFileSync(join(dir, OTHER_SITE), 'other site')
  return {dir, bytes: (name) => readFileSync(join(dir, name)).toString('base64')}
}

describe('bk aegir backup-delete', () => {
  // BK_MADE is example.com's newest backup: deleting it by name is allowed, as in Aegir (prune keeps the newest)
  it('removes the named tarball and its sidecar; the other backups stay byte for byte', async () => {
    const l = location()
    const fixture = l.bytes(FIXTURE_BACKUP)
    const r = await runBk(['aegir', 'backup-delete', BK_MADE, '--location', l.dir, '--yes', '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const out = r.json<{removed: {name: string}[]; kept: {name: string; reason: string}[]}>()
    expect(out.removed.map((a) => a.name)).toEqual([BK_MADE])
    expect(out.kept).toEqual([expect.objectContaining({name: FIXTURE_BACKUP, reason: 'not named'})])
    expect(readdirSync(l.dir).sort()).toEqual([FIXTURE_BACKUP, OTHER_SITE])
    expect(l.bytes(FIXTURE_BACKUP)).toBe(fixture)
  })

  it("leaves a running backup's sidecar alone (written before its tarball is published)", async () => {
    const l = location()
    // a backup of the same site in progress (this test's process is its live pid): partial tarball and sidecar
    const running = 'example.com-20261122.030405.tar.gz'
    const partial = `.${running}.bk-partial-${process.pid}.tar.gz`
    writeFileSync(join(l.dir, partial), 'being written')
    writeFileSync(join(l.dir, `${running}.bk.json`), '{"running": true}')
    const r = await runBk(['aegir', 'backup-delete', BK_MADE, '--location', l.dir, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readdirSync(l.dir).sort()).toEqual([partial, FIXTURE_BACKUP, `${running}.bk.json`, OTHER_SITE].sort())
    expect(readFileSync(join(l.dir, `${running}.bk.json`), 'utf8')).toBe('{"running": true}')
  })

  it("takes a path into the location and provision's comma list (alias delete-backup)", async () => {
    const l = location()
    const r = await runBk([
      'aegir',
      'delete-backup',
      `${join(l.dir, FIXTURE_BACKUP)},${OTHER_SITE}`,
      '--location',
      l.dir,
      '--yes',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Removed ${join(l.dir, FIXTURE_BACKUP)}`)
    expect(readdirSync(l.dir).sort()).toEqual([BK_MADE, `${BK_MADE}.bk.json`])
  })

  it('refuses a path outside the location, a file that is no backup and a missing one; nothing is removed', async () => {
    const l = location()
    const outside = join(tempDir(), FIXTURE_BACKUP)
    copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), outside)
    writeFileSync(join(l.dir, 'notes.txt'), 'keep me')
    const before = readdirSync(l.dir).sort()
    const cases: [string, string][] = [
      [
        outside,
        `bk: ${outside} is not in the backup location ${l.dir}; bk aegir backup-delete removes only backups there`,
      ],
      [
        `${BK_MADE},${join(l.dir, '..', '..', FIXTURE_BACKUP)}`,
        `bk: ${join(l.dir, '..', '..', FIXTURE_BACKUP)} is not in the backup location ${l.dir}; bk aegir backup-delete removes only backups there`,
      ],
      ['notes.txt', 'bk: notes.txt is not a site backup (<uri>-YYYYmmdd.HHMMSS.tar.gz); nothing was removed'],
      [
        'example.com-20200101.000000.tar.gz',
        `bk: no backup example.com-20200101.000000.tar.gz in ${l.dir}; see bk aegir list example.com`,
      ],
    ]
    for (const [arg, message] of cases) {
      const r = await runBk(['aegir', 'backup-delete', arg, '--location', l.dir, '--yes'])
      expect(r.exitCode).toBe(1)
      expect(r.stderr.trim()).toBe(message)
    }
    expect(readdirSync(l.dir).sort()).toEqual(before)
    expect(existsSync(outside)).toBe(true)
  })

  it('without --yes and without a terminal it refuses and removes nothing', async () => {
    const l = location()
    const r = await runBk(['aegir', 'backup-delete', BK_MADE, '--location', l.dir])
    expect(r.exitCode).not.toBe(0)
    expect(readdirSync(l.dir)).toContain(BK_MADE)
  })

  it('sweeps the orphan sidecar a killed run left, as every aegir command on the location does', async () => {
    const l = location()
    writeFileSync(join(l.dir, 'example.com-20261123.010203.tar.gz.bk.json'), '{}')
    const r = await runBk(['aegir', 'backup-delete', BK_MADE, '--location', l.dir, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain('example.com-20261123.010203.tar.gz.bk.json, left by an interrupted run')
    expect(readdirSync(l.dir).sort()).toEqual([FIXTURE_BACKUP, OTHER_SITE])
  })
})
