// A flag is a promise, proven through the CLI: each test runs `bk zodb …` with one flag and checks what it did
// to the bytes (the restored Data.fs, the files a backup wrote, where it wrote them).
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {resolveSite} from '../src/settings.js'
import {backupSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

interface Site {
  root: string
  datafs: string
  blobs: string
  db: SyntheticStorage
}

function makeSite(withBlobs = false): Site {
  const root = tempDir('bk-zodb-flags2-')
  const datafs = join(root, 'var', 'filestorage', 'Data.fs')
  const blobs = join(root, 'var', 'blobstorage')
  mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
  if (withBlobs) {
    mkdirSync(join(blobs, '0x00'), {recursive: true})
    writeFileSync(join(blobs, '.layout'), 'bushy')
    writeFileSync(join(blobs, '0x00', 'a.blob'), 'A')
  }
  const db = SyntheticStorage.open(datafs)
  db.commit({oids: [0, 1], size: 100})
  return {root, datafs, blobs, db}
}

const at = (day: number) => () => new Date(Date.UTC(2020, 0, day))
const lockedByOther = (file: string) => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75

describe('bk zodb flags, proven through the CLI', () => {
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const c of children.splice(0)) process.kill(-c.pid!, 'SIGTERM')
  })

  it.each([
    ['backup', 'restore'],
    ['snapshot', 'snapshotrestore'],
    ['zip', 'ziprestore'],
  ] as const)(
    '%s → %s --ignore-lock: refused while Zope holds Data.fs.lock, restores with it',
    async (mode, command) => {
      const s = makeSite()
      await backupSite(await resolveSite({datafs: [s.datafs]}, s.root), {mode, full: true, now: at(1)})
      const backedUp = readFileSync(s.datafs)
      s.db.commit({oids: [2], size: 50})
      const current = readFileSync(s.datafs)
      // a running Zope: zc.lockfile's flock on Data.fs.lock, held by another process
      const lock = `${s.datafs}.lock`
      writeFileSync(lock, ' 1\n')
      const zope = spawn('flock', [lock, 'sleep', '60'], {stdio: 'ignore', detached: true})
      children.push(zope)
      for (let i = 0; i < 100 && !lockedByOther(lock); i++) await new Promise((r) => setTimeout(r, 20))
      const refused = await runBk(['zodb', command, '--datafs', s.datafs, '-y'])
      expect(refused.exitCode).not.toBe(0)
      expect(refused.stderr).toMatch(new RegExp(`Data\\.fs\\.lock is held by pid ${zope.pid}.*--ignore-lock`))
      expect(readFileSync(s.datafs).equals(current)).toBe(true)
      const forced = await runBk(['zodb', command, '--datafs', s.datafs, '--ignore-lock', '-y'])
      expect(forced.exitCode, forced.stderr).toBe(0)
      expect(readFileSync(s.datafs).equals(backedUp)).toBe(true)
    },
  )

  it.each([
    ['backup', 'restore'],
    ['snapshot', 'snapshotrestore'],
  ] as const)('%s → %s --date: the state as of a date between two backups, byte for byte', async (mode, command) => {
    const s = makeSite()
    const site = await resolveSite({datafs: [s.datafs]}, s.root)
    await backupSite(site, {mode, full: true, now: at(1)})
    const first = readFileSync(s.datafs)
    s.db.commit({oids: [2], size: 50})
    await backupSite(site, {mode, full: mode !== 'backup', now: at(3)})
    const second = readFileSync(s.datafs)
    s.db.commit({oids: [3], size: 70})
    const r = await runBk(['zodb', command, '--datafs', s.datafs, '--date', '2020-01-02', '-y'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readFileSync(s.datafs).equals(first)).toBe(true)
    const latest = await runBk(['zodb', command, '--datafs', s.datafs, '--date', '2020-01-03-00-00-00', '-y'])
    expect(latest.exitCode, latest.stderr).toBe(0)
    expect(readFileSync(s.datafs).equals(second)).toBe(true)
  })

  it('backup --full writes a full .fsz where an incremental .deltafsz would do', async () => {
    const s = makeSite()
    await backupSite(await resolveSite({datafs: [s.datafs]}, s.root), {mode: 'backup', full: true, now: at(1)})
    const repo = join(s.root, 'var', 'backups')
    const before = readdirSync(repo)
    s.db.commit({oids: [2], size: 50})
    const r = await runBk(['zodb', 'backup', '--datafs', s.datafs, '--full'])
    expect(r.exitCode, r.stderr).toBe(0)
    const added = readdirSync(repo).filter((n) => !before.includes(n) && /\.(fsz|deltafsz)$/.test(n))
    expect(added).toHaveLength(1)
    expect(added[0]).toMatch(/\.fsz$/)
  })

  it.each([
    ['--hard-links', true],
    ['--no-hard-links', false],
  ] as const)(
    'snapshotbackup %s: an unchanged blob shares its inode with the previous backup, or not',
    async (flag, shared) => {
      const s = makeSite(true)
      await backupSite(await resolveSite({datafs: [s.datafs]}, s.root), {mode: 'snapshot', full: true, now: at(1)})
      const r = await runBk(['zodb', 'snapshotbackup', '--datafs', s.datafs, flag, '--keep', '0'])
      expect(r.exitCode, r.stderr).toBe(0)
      const loc = join(s.root, 'var', 'blobstoragesnapshots')
      const copies = blobFiles(loc, 'a.blob')
      expect(copies).toHaveLength(2)
      expect(copies.map((f) => readFileSync(f, 'utf8'))).toEqual(['A', 'A'])
      const [one, two] = copies.map((f) => statSync(f).ino)
      expect(one === two).toBe(shared)
    },
  )

  it.each([
    ['zipbackup', []],
    ['backup', ['--archive-blob']],
  ] as const)('%s --compress-blob: the blob archive is a gzipped tar holding the blobs', async (command, extra) => {
    const plain = makeSite(true)
    const gz = makeSite(true)
    const loc = command === 'zipbackup' ? 'blobstoragezips' : 'blobstoragebackups'
    for (const [s, more] of [
      [plain, []],
      [gz, ['--compress-blob']],
    ] as const) {
      const r = await runBk(['zodb', command, '--datafs', s.datafs, ...extra, ...more, '-y'])
      expect(r.exitCode, r.stderr).toBe(0)
    }
    const archiveOf = (s: Site) => readdirSync(join(s.root, 'var', loc)).filter((n) => /\.tar(\.gz)?$/.test(n))
    expect(archiveOf(plain)).toEqual([expect.stringMatching(/\.tar$/)])
    const [archive] = archiveOf(gz)
    expect(archive).toMatch(/\.tar\.gz$/)
    const path = join(gz.root, 'var', loc, archive!)
    expect(readFileSync(path).subarray(0, 2).toString('hex')).toBe('1f8b')
    const listing = spawnSync('tar', ['-tzf', path]).stdout.toString()
    expect(listing).toMatch(/0x00\/a\.blob$/m)
  })

  it('backup --keep-blob-days: older blob backups go, the newest of the chain stays; without it all stay', async () => {
    const runs: Record<string, string[]> = {}
    for (const flags of [[], ['--keep-blob-days', '1']]) {
      const s = makeSite(true)
      const site = await resolveSite({datafs: [s.datafs]}, s.root)
      await backupSite(site, {mode: 'backup', full: true, now: at(1)})
      s.db.commit({oids: [2], size: 50})
      await backupSite(site, {mode: 'backup', full: false, now: at(2)})
      s.db.commit({oids: [3], size: 50})
      const r = await runBk(['zodb', 'backup', '--datafs', s.datafs, ...flags])
      expect(r.exitCode, r.stderr).toBe(0)
      runs[flags.join(' ')] = blobFiles(join(s.root, 'var', 'blobstoragebackups'), 'a.blob')
    }
    expect(runs['']).toHaveLength(3)
    expect(runs['--keep-blob-days 1']).toHaveLength(1)
    expect(runs['--keep-blob-days 1']![0]).not.toMatch(/2020-01-0[12]/)
  })

  it.each([
    ['backup', 'restore', '--location', '--blob-backup-location'],
    ['snapshotbackup', 'snapshotrestore', '--snapshot-location', '--blob-snapshot-location'],
    ['zipbackup', 'ziprestore', '--zip-location', '--blob-zip-location'],
  ] as const)(
    '%s / %s %s %s: the backup lands there, the restore reads it from there',
    async (backup, restore, fs, blobs) => {
      const s = makeSite(true)
      const elsewhere = tempDir('bk-zodb-loc-')
      const where = [fs, join(elsewhere, 'fs'), blobs, join(elsewhere, 'blobs')]
      const r = await runBk(['zodb', backup, '--datafs', s.datafs, ...where, '-y'])
      expect(r.exitCode, r.stderr).toBe(0)
      expect(readdirSync(join(s.root, 'var')).sort()).toEqual(['blobstorage', 'filestorage'])
      expect(readdirSync(join(elsewhere, 'fs')).length).toBeGreaterThan(0)
      expect(readdirSync(join(elsewhere, 'blobs')).length).toBeGreaterThan(0)
      const backedUp = readFileSync(s.datafs)
      s.db.commit({oids: [2], size: 50})
      writeFileSync(join(s.blobs, '0x00', 'a.blob'), 'changed')
      const back = await runBk(['zodb', restore, '--datafs', s.datafs, ...where, '-y'])
      expect(back.exitCode, back.stderr).toBe(0)
      expect(readFileSync(s.datafs).equals(backedUp)).toBe(true)
      expect(readFileSync(join(s.blobs, '0x00', 'a.blob'), 'utf8')).toBe('A')
    },
  )

  it('--additional-filestorages: a second storage is backed up and restored alongside', async () => {
    const s = makeSite()
    const catalog = join(s.root, 'var', 'filestorage', 'catalog.fs')
    const cat = SyntheticStorage.open(catalog)
    cat.commit({oids: [0, 7], size: 80})
    const backedUp = readFileSync(catalog)
    const flags = ['--datafs', s.datafs, '--additional-filestorages', 'catalog']
    const r = await runBk(['zodb', 'backup', ...flags])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readdirSync(join(s.root, 'var', 'backups_catalog')).some((n) => n.endsWith('.fsz'))).toBe(true)
    cat.commit({oids: [7], size: 30})
    const back = await runBk(['zodb', 'restore', ...flags, '-y'])
    expect(back.exitCode, back.stderr).toBe(0)
    expect(readFileSync(catalog).equals(backedUp)).toBe(true)
  })

  it('prune --snapshot --only-blobs --keep-blob-days: blob backups younger than that many days stay', async () => {
    const s = makeSite(true)
    const site = await resolveSite({datafs: [s.datafs]}, s.root)
    const day = 24 * 3600 * 1000
    for (const age of [20, 5, 1]) {
      writeFileSync(join(s.blobs, '0x00', 'a.blob'), `A${age}`)
      await backupSite(site, {mode: 'snapshot', full: true, now: () => new Date(Date.now() - age * day)})
    }
    const kept = () =>
      blobFiles(join(s.root, 'var', 'blobstoragesnapshots'), 'a.blob').map((f) => readFileSync(f, 'utf8'))
    expect(kept()).toEqual(['A20', 'A5', 'A1'])
    const prune = ['zodb', 'prune', '--datafs', s.datafs, '--snapshot', '--only-blobs', '-y']
    // 25 days keeps what the default (14) would remove; 3 days keeps only the newest
    const wide = await runBk([...prune, '--keep-blob-days', '25'])
    expect(wide.exitCode, wide.stderr).toBe(0)
    expect(kept()).toEqual(['A20', 'A5', 'A1'])
    const narrow = await runBk([...prune, '--keep-blob-days', '3'])
    expect(narrow.exitCode, narrow.stderr).toBe(0)
    expect(kept()).toEqual(['A1'])
  })

  it('ziprestore --date: the one zip backup when it is at or before the date; refused before it, untouched', async () => {
    const s = makeSite()
    await backupSite(await resolveSite({datafs: [s.datafs]}, s.root), {mode: 'zip', full: true, now: at(2)})
    const backedUp = readFileSync(s.datafs)
    s.db.commit({oids: [2], size: 50})
    const current = readFileSync(s.datafs)
    const early = await runBk(['zodb', 'ziprestore', '--datafs', s.datafs, '--date', '2020-01-01', '-y'])
    expect(early.exitCode).not.toBe(0)
    expect(early.stderr).toMatch(/^bk: .*2020-01-01/)
    expect(readFileSync(s.datafs).equals(current)).toBe(true)
    const r = await runBk(['zodb', 'ziprestore', '--datafs', s.datafs, '--date', '2020-01-03', '-y'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readFileSync(s.datafs).equals(backedUp)).toBe(true)
  })
})

/** Every file named `name` under `dir` (not through the `latest` link), sorted by path. */
function blobFiles(dir: string, name: string): string[] {
  return readdirSync(dir, {recursive: true})
    .map(String)
    .filter((p) => p.endsWith(`/${name}`) && !p.startsWith('latest/'))
    .sort()
    .map((p) => join(dir, p))
}
