// Crash-safe by proof (issue 11): `bk zodb restore` and `bk zodb backup` killed (SIGKILL through BK_CRASH_AT) at
// every rename, interrupted by SIGINT/SIGTERM mid-run, run twice at once and run out of disk. After each: the
// target is the old or the new state (or a journal the next run rolls forward), the next run recovers and says
// so, nothing is left behind, and the previous good backup is never lost. Small Data.fs: one bk per point.
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fingerprint, repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {verifyRepository} from '../src/inspect.js'
import {planRestore, restoreFileStorage} from '../src/restore.js'
import {resolveSite} from '../src/settings.js'
import {backupSite} from '../src/site.js'
import {siteStore} from '../src/store.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

interface Site {
  root: string
  datafs: string
  blobs: string
  repo: string
  args: string[]
  db: SyntheticStorage
}

async function makeSite(size = 100, commits = 1): Promise<Site> {
  const root = tempDir('bk-zodb-crash-')
  const datafs = join(root, 'var', 'filestorage', 'Data.fs')
  const blobs = join(root, 'var', 'blobstorage')
  mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
  mkdirSync(join(blobs, '0x00'), {recursive: true})
  writeFileSync(join(blobs, '.layout'), 'bushy')
  writeFileSync(join(blobs, '0x00', 'a.blob'), 'A')
  const db = SyntheticStorage.open(datafs)
  for (let i = 0; i < commits; i++) db.commit({oids: [0, i + 1], size})
  return {root, datafs, blobs, repo: join(root, 'var', 'backups'), args: ['--datafs', datafs], db}
}

/** The live state a restore replaces: Data.fs, its index, the blob storage. */
const live = (s: Site) => fingerprint({paths: [s.datafs, `${s.datafs}.index`, s.blobs]})
/** Anything bk leaves behind by mistake: stages, partials, journals. */
function leftovers(...dirs: string[]): string[] {
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : []).filter((n) => /\.bk-|bk-commit/.test(n)))
}

/** A site backed up once at state "new" (the restore point), then changed to state "old" (what is live). */
async function restoreSetup(): Promise<{s: Site; stamp: string; oldState: Record<string, string>}> {
  const s = await makeSite()
  const site = await resolveSite({datafs: [s.datafs]}, s.root)
  const r = await backupSite(site, {mode: 'backup', full: true, now: () => new Date(Date.UTC(2030, 0, 1))})
  const stamp = r.storages[0]!.filestorage!.file!.split('/').pop()!.slice(0, 19)
  s.db.commit({oids: [1, 2], size: 300})
  writeFileSync(join(s.blobs, '0x00', 'b.blob'), 'B')
  writeFileSync(join(s.blobs, '0x00', 'a.blob'), 'A2')
  return {s, stamp, oldState: await live(s)}
}

describe('bk zodb restore, killed at every commit point', () => {
  const points = ['zodb-restore:staged', 'commit:journal', 'commit:aside', 'commit:part']
  for (const point of points) {
    it(`${point}: old or new (journal rolled forward), then the next run finishes it with nothing left`, async () => {
      const {s, stamp, oldState} = await restoreSetup()
      // the state the restore produces, for comparison: restored once in a twin of the site
      const crashed = await runBk(['zodb', 'restore', stamp, ...s.args, '-y'], {env: {BK_CRASH_AT: point}})
      expect(crashed.signal).toBe('SIGKILL')
      const dir = join(s.root, 'var')
      const journal = join(dir, 'filestorage', '.Data.fs.bk-commit.json')
      const after = await live(s)
      if (!existsSync(journal)) expect(after).toEqual(oldState)
      const again = await runBk(['zodb', 'restore', stamp, ...s.args, '-y'])
      expect(again.exitCode, again.stderr).toBe(0)
      expect(again.stderr).toMatch(/finished a restore interrupted at its commit|left by an interrupted run/)
      const newState = await live(s)
      expect(newState).not.toEqual(oldState)
      expect(readFileSync(join(s.blobs, '0x00', 'a.blob'), 'utf8')).toBe('A')
      expect(existsSync(join(s.blobs, '0x00', 'b.blob'))).toBe(false)
      expect(leftovers(join(dir, 'filestorage'), dir)).toEqual([])
      // the previous copies are kept under names of their own, never overwritten by a later run
      const keptBefore = readdirSync(join(dir, 'filestorage')).filter((n) => n.includes('pre-restore'))
      const third = await runBk(['zodb', 'restore', stamp, ...s.args, '-y', '--json'])
      const kept = third.json<{kept: string[]}>().kept
      expect(kept.length).toBe(3)
      for (const k of kept) expect(existsSync(k), k).toBe(true)
      const keptAfter = readdirSync(join(dir, 'filestorage')).filter((n) => n.includes('pre-restore'))
      expect(keptAfter.length).toBe(keptBefore.length + 2)
    })
  }
})

describe('bk zodb backup, killed at every step', () => {
  const points = [
    'zodb-backup:data',
    'zodb-backup:index',
    'zodb-backup:sidecar',
    'zodb-backup:dat',
    'zodb-backup:blobs',
  ]
  for (const point of points) {
    it(`${point}: the previous backup stays good, list shows no half backup as good, the next backup recovers`, async () => {
      const s = await makeSite()
      const site = await resolveSite({datafs: [s.datafs]}, s.root)
      await backupSite(site, {mode: 'backup'})
      const before = await fingerprint({paths: [s.repo]})
      await new Promise((r) => setTimeout(r, 1000))
      s.db.commit({oids: [3], size: 200})
      const crashed = await runBk(['zodb', 'backup', ...s.args, '-q'], {env: {BK_CRASH_AT: point}})
      expect(crashed.signal).toBe('SIGKILL')
      // every file of the previous backup is still there, byte for byte (only the .dat may have grown)
      const now = await fingerprint({paths: [s.repo]})
      for (const [path, state] of Object.entries(before)) {
        if (path !== s.repo && !path.endsWith('.dat')) expect(now[path], path).toBe(state)
      }
      // what `bk zodb list` shows: one good chain; a half-written backup only as a pinned partial
      const artifacts = await siteStore(site, 'backup').list()
      expect(artifacts.filter((a) => a.kind === 'full')).toHaveLength(1)
      expect(artifacts.filter((a) => a.kind === 'partial').every((a) => a.pinned)).toBe(true)
      if (['zodb-backup:data', 'zodb-backup:index', 'zodb-backup:sidecar'].includes(point)) {
        expect(artifacts.some((a) => a.kind === 'partial')).toBe(true)
      }
      const next = await runBk(['zodb', 'backup', ...s.args])
      expect(next.exitCode, next.stderr).toBe(0)
      if (point !== 'zodb-backup:dat' && point !== 'zodb-backup:blobs') {
        expect(next.stderr).toMatch(/a backup interrupted before it was recorded/)
      }
      expect(leftovers(s.repo, join(s.root, 'var', 'blobstoragebackups'))).toEqual([])
      expect((await verifyRepository(s.repo)).every((c) => c.ok)).toBe(true)
      // the newest backup restores today's Data.fs, and its blob backup is there
      const out = join(tempDir(), 'Data.fs')
      await restoreFileStorage(await planRestore(s.repo), out)
      expect(readFileSync(out).equals(readFileSync(s.datafs))).toBe(true)
      expect((await siteStore(site, 'backup').list()).filter((a) => a.kind === 'partial')).toEqual([])
    })
  }
})

describe("bk zodb backup --incremental-blobs (the recipe's incremental_blobs), killed between archive and .snar", () => {
  it('the next backup sweeps the stale .snar copy; its delta (relative to the older .snar) restores the live blobs', async () => {
    const s = await makeSite()
    const args = [...s.args, '--archive-blob', '--incremental-blobs', '-q']
    const loc = join(s.root, 'var', 'blobstoragebackups')
    expect((await runBk(['zodb', 'backup', ...args])).exitCode).toBe(0)
    const snar = readdirSync(loc).find((n) => n.endsWith('.snar'))!
    const snarBefore = readFileSync(join(loc, snar))
    await new Promise((r) => setTimeout(r, 1100))
    s.db.commit({oids: [3], size: 20})
    writeFileSync(join(s.blobs, '0x00', 'b.blob'), 'B')
    const crashed = await runBk(['zodb', 'backup', ...args], {env: {BK_CRASH_AT: 'zodb-backup:blob-archive'}})
    expect(crashed.signal).toBe('SIGKILL')
    // the delta is in place, the .snar is the old one (never ahead of its archives)
    expect(readdirSync(loc).filter((n) => n.endsWith('.delta.tar'))).toHaveLength(1)
    expect(readFileSync(join(loc, snar)).equals(snarBefore)).toBe(true)
    await new Promise((r) => setTimeout(r, 1100))
    s.db.commit({oids: [4], size: 20})
    execFileSync('rm', [join(s.blobs, '0x00', 'a.blob')])
    writeFileSync(join(s.blobs, '0x00', 'c.blob'), 'C')
    const next = await runBk(['zodb', 'backup', ...args.filter((a) => a !== '-q')])
    expect(next.exitCode, next.stderr).toBe(0)
    expect(leftovers(loc)).toEqual([])
    expect(readdirSync(loc).filter((n) => n.endsWith('.delta.tar'))).toHaveLength(2)
    const target = tempDir()
    const restored = await runBk([
      'zodb',
      'restore',
      '--datafs',
      join(target, 'var', 'filestorage', 'Data.fs'),
      '--blob-storage',
      join(target, 'var', 'blobstorage'),
      '--location',
      s.repo,
      '--blob-backup-location',
      loc,
      '-y',
      '-q',
    ])
    expect(restored.exitCode, restored.stderr).toBe(0)
    expect(readdirSync(join(target, 'var', 'blobstorage', '0x00')).sort()).toEqual(['b.blob', 'c.blob'])
    expect(readFileSync(join(target, 'var', 'filestorage', 'Data.fs')).equals(readFileSync(s.datafs))).toBe(true)
  })
})

/** bk started as a child of its own, to be signalled. */
function startBk(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(repoRoot(), 'apps/bk/bin/run.js'), ...args], {
    env: {...process.env, NO_COLOR: '1', BK_DATA_DIR: join(repoRoot(), '.bk-dev'), ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** A pre-command that says it runs (`marker`) and waits until the test lets it go (`marker.go`). */
const hold = (marker: string) => `touch ${marker}; while [ ! -e ${marker}.go ]; do sleep 0.05; done`

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('bk zodb restore interrupted, twice at once, out of disk', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while staging: the old state, no stage left, the lock released`, async () => {
      const s = await makeSite(512 * 1024, 40) // ~20 MB: staging takes long enough to be caught
      const site = await resolveSite({datafs: [s.datafs]}, s.root)
      await backupSite(site, {mode: 'backup', full: true, gzip: false})
      s.db.commit({oids: [1], size: 10})
      const oldState = await live(s)
      const locks = tempDir('bk-locks-')
      const dir = join(s.root, 'var', 'filestorage')
      const child = startBk(['zodb', 'restore', ...s.args, '-y'], {BK_LOCK_DIR: locks})
      await until(() => readdirSync(dir).some((n) => n.includes('.bk-stage-')))
      child.kill(signal)
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
      expect(code).toBe(signal === 'SIGINT' ? 130 : 143)
      expect(await live(s)).toEqual(oldState)
      expect(leftovers(dir)).toEqual([])
      expect(readdirSync(locks)).toEqual([])
    })
  }

  it('a second restore of the same target is refused, naming the first and its pid', async () => {
    const {s, stamp, oldState} = await restoreSetup()
    const locks = tempDir('bk-locks-')
    const marker = join(s.root, 'started')
    const first = startBk(['zodb', 'restore', stamp, ...s.args, '-y', '--pre-command', hold(marker)], {
      BK_LOCK_DIR: locks,
    })
    await until(() => existsSync(marker))
    const second = await runBk(['zodb', 'restore', ...s.args, '-y'], {env: {BK_LOCK_DIR: locks}})
    expect(second.exitCode).toBe(1)
    expect(second.stderr).toMatch(new RegExp(`locked by pid ${first.pid} \\(bk zodb restore`))
    writeFileSync(`${marker}.go`, '')
    expect(await new Promise((r) => first.once('exit', r))).toBe(0)
    expect(await live(s)).not.toEqual(oldState)
    const marker2 = join(s.root, 'backing-up')
    const backup = startBk(['zodb', 'backup', ...s.args, '--pre-command', hold(marker2)], {
      BK_LOCK_DIR: locks,
    })
    await until(() => existsSync(marker2))
    const during = await runBk(['zodb', 'restore', ...s.args, '-y'], {env: {BK_LOCK_DIR: locks}})
    expect(during.exitCode).toBe(1)
    expect(during.stderr).toMatch(new RegExp(`locked by pid ${backup.pid} \\(bk zodb backup`))
    writeFileSync(`${marker2}.go`, '')
    await new Promise((r) => backup.once('exit', r))
  })

  it('a full disk while staging leaves the old Data.fs and no stage, with a one-line error', async () => {
    const s = await makeSite(256 * 1024, 4) // ~2 MB
    const site = await resolveSite({datafs: [s.datafs]}, s.root)
    await backupSite(site, {mode: 'backup', full: true})
    const small = join(s.root, 'small')
    mkdirSync(small)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      // live: the Data.fs with one more commit; a second copy beside it does not fit in 3 MB
      const target = join(small, 'Data.fs')
      copyFileSync(s.datafs, target)
      SyntheticStorage.open(target).commit({oids: [0], size: 10})
      const before = readFileSync(target)
      const args = ['--datafs', target, '--no-backup-blobs', '--location', s.repo, '-y']
      const r = await runBk(['zodb', 'restore', ...args], {env: {BK_LOCK_DIR: tempDir('bk-locks-')}})
      expect(r.exitCode).toBe(1)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(/ENOSPC|no space/i)
      expect(readFileSync(target).equals(before)).toBe(true)
      expect(leftovers(small)).toEqual([])
    } finally {
      execFileSync('umount', [small])
    }
  })
})
