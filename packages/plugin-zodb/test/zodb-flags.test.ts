// A flag shown is a flag obeyed: zipbackup always gzips, archives the blobs and keeps one backup, so it shows no
// format or retention flag and refuses one typed anyway; prune --zip refuses retention flags for the same reason;
// a command shows only the locations it reads or writes (the others stay accepted, hidden, for a shared bk.yml).
import {mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {resolveSite} from '../src/settings.js'
import {backupSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

const SNAPSHOT = ['--snapshot-location', '--blob-snapshot-location']
const ZIP = ['--zip-location', '--blob-zip-location']
const BACKUP = ['--blob-backup-location']
const UNENC = '--allow-unencrypted'
const COPY = '--copy-to'
const FORMAT_AND_RETENTION = [
  '--gzip',
  '--archive-blob',
  '--hard-links',
  '--incremental-blobs',
  '--keep',
  '--keep-days',
]

/** Flags a command's --help must not show, and some it must. */
// --allow-unencrypted: a ZODB backup declares no secret, so no --copy-to target is ever refused
const HELP: [command: string, hidden: string[], shown: string[]][] = [
  ['backup', [...SNAPSHOT, ...ZIP, UNENC], ['--location', ...BACKUP, '--incremental-blobs', '--keep-daily', COPY]],
  ['fullbackup', [...SNAPSHOT, ...ZIP, UNENC], [...BACKUP, '--incremental-blobs', '--keep-daily', COPY]],
  [
    'snapshotbackup',
    [...BACKUP, ...ZIP, '--incremental-blobs', UNENC],
    [...SNAPSHOT, '--keep-daily', '--archive-blob'],
  ],
  ['zipbackup', [...BACKUP, ...SNAPSHOT, ...FORMAT_AND_RETENTION, '--keep-blob-days', UNENC], [...ZIP, COPY]],
  ['restore', [...SNAPSHOT, ...ZIP], BACKUP],
  ['snapshotrestore', [...BACKUP, ...ZIP], SNAPSHOT],
  ['ziprestore', [...BACKUP, ...SNAPSHOT], ZIP],
  ['prune', [], [...BACKUP, ...SNAPSHOT, ...ZIP]],
]

const shows = (help: string, flag: string) => new RegExp(`^\\s+(-\\w, )?${flag}(=|\\s|$)`, 'm').test(help)

describe('bk zodb shows only the flags each command honours', () => {
  it.each(HELP)('%s --help', async (command, hidden, shown) => {
    const r = await runBk(['zodb', command, '--help'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(hidden.filter((f) => shows(r.stdout, f))).toEqual([])
    expect(shown.filter((f) => !shows(r.stdout, f))).toEqual([])
  })

  it('zipbackup refuses the flags it cannot honour; prune --zip refuses retention flags; nothing is written', async () => {
    const root = tempDir('bk-zodb-flags-')
    const datafs = join(root, 'var', 'filestorage', 'Data.fs')
    mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
    SyntheticStorage.open(datafs).commit({oids: [0, 1], size: 100})
    const site = await resolveSite({datafs: [datafs]}, root)
    for (const year of [2029, 2030]) {
      await backupSite(site, {mode: 'zip', full: true, now: () => new Date(Date.UTC(year, 0, 1))})
    }
    const zips = join(root, 'var', 'zipbackups')
    const before = readdirSync(zips).sort()
    expect(before.filter((n) => n.startsWith('2029-')).length).toBeGreaterThan(0)
    for (const flag of [
      ['--keep', '3'],
      ['--keep-daily', '7'],
      ['--no-gzip'],
      ['--archive-blob'],
      ['--no-hard-links'],
    ]) {
      const r = await runBk(['zodb', 'zipbackup', '--datafs', datafs, ...flag, '--yes'])
      expect(r.exitCode, flag.join(' ')).not.toBe(0)
      expect(r.stderr, flag.join(' ')).toContain(`Nonexistent flag: ${flag[0]}`)
    }
    const snap = await runBk(['zodb', 'snapshotbackup', '--datafs', datafs, '--incremental-blobs', '--yes'])
    expect(snap.exitCode).not.toBe(0)
    expect(snap.stderr).toContain('--incremental-blobs')
    expect(readdirSync(join(root, 'var')).sort()).toEqual(['filestorage', 'zipbackups'])

    // two zip backups: prune --zip keeps the newest one, and says so when asked for a rule
    const refused = await runBk(['zodb', 'prune', '--datafs', datafs, '--zip', '--keep-daily', '3', '--yes'])
    expect(refused.exitCode).toBe(2)
    expect(refused.stderr).toMatch(/^bk: --zip keeps the one newest zip backup, so --keep-daily does not apply/)
    expect(readdirSync(zips).sort()).toEqual(before)
    const pruned = await runBk(['zodb', 'prune', '--datafs', datafs, '--zip', '--yes'])
    expect(pruned.exitCode, pruned.stderr).toBe(0)
    expect(readdirSync(zips).sort()).toEqual(before.filter((n) => !n.startsWith('2029-')))
  })
  it('--no-enable-zipbackup and --no-enable-snapshotrestore make those commands refuse, touching nothing', async () => {
    const root = tempDir('bk-zodb-enable-')
    const datafs = join(root, 'var', 'filestorage', 'Data.fs')
    mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
    SyntheticStorage.open(datafs).commit({oids: [0, 1], size: 100})
    const site = await resolveSite({datafs: [datafs]}, root)
    for (const mode of ['zip', 'snapshot'] as const) {
      await backupSite(site, {mode, full: true, now: () => new Date(Date.UTC(2025, 0, 1))})
    }
    const before = readdirSync(join(root, 'var'), {recursive: true}).map(String).sort()
    const cases: [string, string, RegExp][] = [
      ['zipbackup', '--no-enable-zipbackup', /^bk: zipbackup is disabled by enable_zipbackup = false/],
      ['ziprestore', '--no-enable-zipbackup', /^bk: ziprestore is disabled by enable_zipbackup = false/],
      ['snapshotrestore', '--no-enable-snapshotrestore', /^bk: snapshotrestore is disabled by enable_snapshotrestore/],
    ]
    for (const [command, flag, message] of cases) {
      const r = await runBk(['zodb', command, '--datafs', datafs, flag, '--yes'])
      expect(r.exitCode, command).not.toBe(0)
      expect(r.stderr, command).toMatch(message)
    }
    expect(readdirSync(join(root, 'var'), {recursive: true}).map(String).sort()).toEqual(before)
    // and enabled (the default), the same zipbackup runs
    const ok = await runBk(['zodb', 'zipbackup', '--datafs', datafs, '--yes'])
    expect(ok.exitCode, ok.stderr).toBe(0)
  })
})
