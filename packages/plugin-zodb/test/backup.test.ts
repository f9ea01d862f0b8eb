import {createHash} from 'node:crypto'
import {copyFileSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {extractFixture, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupFileStorage} from '../src/backup.js'
import {dateOfStamp} from '../src/repozo-date.js'
import {planRestore, restoreFileStorage} from '../src/restore.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')
const expected = join(extractFixture('zodb', 'expected'), 'expected')
const fixtures = extractFixture('zodb', 'repo-plain')
extractFixture('zodb', 'repo-gzip', fixtures)
const points = [
  ['p1-full', '2026-11-21-22-19-13'],
  ['p2-incr', '2026-11-21-22-19-16'],
  ['p3-incr', '2026-11-21-22-19-18'],
  ['p4-after-pack', '2026-11-21-22-19-21'],
] as const

/** repository files without bk's sidecars, which comparisons with repozo leave out */
const repozoFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => !n.endsWith('.bk.json'))
    .sort()

describe('bk backup writes what repozo wrote', () => {
  for (const gzip of [false, true]) {
    const kind = gzip ? 'gzip' : 'plain'
    it(`${kind}: the fixture's Data.fs history backed up at the same stamps gives repozo's repository`, async () => {
      const work = tempDir()
      const repo = join(work, `repo-${kind}`)
      const datafs = join(work, 'Data.fs')
      const {mkdirSync} = await import('node:fs')
      mkdirSync(repo)
      const kinds: string[] = []
      for (const [label, stamp] of points) {
        copyFileSync(join(expected, label, 'Data.fs'), datafs)
        const r = await backupFileStorage(datafs, {
          repository: repo,
          datPrefix: `repo-${kind}`,
          gzip,
          now: () => dateOfStamp(stamp),
        })
        kinds.push(r.kind)
      }
      expect(kinds).toEqual(['full', 'incremental', 'incremental', 'full'])
      const theirs = join(fixtures, `repo-${kind}`)
      expect(repozoFiles(repo)).toEqual(repozoFiles(theirs))
      for (const name of repozoFiles(repo)) {
        const a = readFileSync(join(repo, name))
        const b = readFileSync(join(theirs, name))
        if (name.endsWith('z')) expect(md5(gunzipSync(a))).toBe(md5(gunzipSync(b)))
        else expect(a.equals(b), name).toBe(true)
      }
    })
  }
})

describe('backups of a growing, then packed Data.fs', () => {
  it('follow repozo rules and restore each point exactly; unfinished tails are left out', async () => {
    const work = tempDir()
    const repo = join(work, 'backups')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    const snapshots: {stamp: string; data: Buffer}[] = []
    let clock = Date.UTC(2030, 0, 1, 12, 0, 0)
    const backup = async (full = false) => {
      clock += 60_000
      const r = await backupFileStorage(datafs, {repository: repo, gzip: true, full, now: () => new Date(clock)})
      return r
    }
    for (let i = 0; i < 5; i++) db.commit({oids: [0, 1, 2, 3 + i], size: 300})
    const r1 = await backup()
    expect(r1.kind).toBe('full')
    snapshots.push({stamp: r1.file!.split('/').pop()!.slice(0, 19), data: readFileSync(datafs)})
    // growth + a voted-but-unfinished transaction at the tail: not copied
    for (let i = 0; i < 3; i++) db.commit({oids: [1, 20 + i], size: 5000})
    const committed = readFileSync(datafs)
    db.commit({oids: [2], size: 100, unfinished: true})
    const r2 = await backup()
    expect(r2.kind).toBe('incremental')
    expect(r2.start).toBe(r1.end)
    expect(r2.end).toBe(committed.length)
    snapshots.push({stamp: r2.file!.split('/').pop()!.slice(0, 19), data: committed})
    db.truncateToEnd()
    // nothing new: nothing written
    const before = readdirSync(repo).length
    expect((await backup()).kind).toBe('none')
    expect(readdirSync(repo).length).toBe(before)
    for (let i = 0; i < 2; i++) db.commit({oids: [0, 40 + i], size: 70000})
    const r3 = await backup()
    expect(r3.kind).toBe('incremental')
    snapshots.push({stamp: r3.file!.split('/').pop()!.slice(0, 19), data: readFileSync(datafs)})
    db.pack()
    db.commit({oids: [5], size: 10})
    const r4 = await backup()
    expect(r4.kind).toBe('full')
    expect(r4.reason).toMatch(/pack/)
    snapshots.push({stamp: r4.file!.split('/').pop()!.slice(0, 19), data: readFileSync(datafs)})

    // .dat lines: contiguous, md5 of the uncompressed bytes
    const dat = readFileSync(join(repo, `${snapshots[0]!.stamp}.dat`), 'utf8')
      .trim()
      .split('\n')
    expect(dat).toHaveLength(3)
    expect(dat.map((l) => l.split(' ').slice(1, 3).map(Number))).toEqual([
      [0, r1.end],
      [r1.end, r2.end],
      [r2.end, r3.end],
    ])
    expect(dat[1]!.split(' ')[3]).toBe(md5(committed.subarray(r1.end, r2.end)))
    expect(dat[0]!.startsWith(`${repo}/${snapshots[0]!.stamp}.fsz 0 `)).toBe(true)

    for (const s of snapshots) {
      const out = join(tempDir(), 'Data.fs')
      await restoreFileStorage(await planRestore(repo, s.stamp), out)
      expect(md5(readFileSync(out))).toBe(md5(s.data))
    }
  })

  it('falls back to a full backup when Data.fs was truncated or rewritten in place', async () => {
    const work = tempDir()
    const repo = join(work, 'backups')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 4; i++) db.commit({oids: [i], size: 200})
    let clock = Date.UTC(2030, 0, 1)
    const backup = () => {
      clock += 1000
      return backupFileStorage(datafs, {repository: repo, now: () => new Date(clock)})
    }
    const first = await backup()
    // same length, one byte changed inside the backed-up head: not an append
    const bytes = readFileSync(datafs)
    bytes[100] = bytes.readUInt8(100) ^ 1
    writeFileSync(datafs, bytes)
    db.commit({oids: [9], size: 10})
    expect((await backup()).kind).toBe('full')
    truncateSync(datafs, first.end - 5)
    await expect(backup()).resolves.toMatchObject({kind: 'full'})
    expect(statSync(join(repo)).isDirectory()).toBe(true)
  })

  it('makes a full backup when a middle delta is missing, and refuses a file that is not a FileStorage', async () => {
    const work = tempDir()
    const repo = join(work, 'backups')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    let clock = Date.UTC(2030, 0, 1)
    const backup = () => {
      clock += 1000
      return backupFileStorage(datafs, {repository: repo, now: () => new Date(clock)})
    }
    db.commit({oids: [1], size: 10})
    await backup()
    db.commit({oids: [1], size: 10})
    const mid = await backup()
    db.commit({oids: [1], size: 10})
    await backup()
    unlinkSync(mid.file!)
    db.commit({oids: [1], size: 10})
    const r = await backup()
    expect(r.kind).toBe('full')
    expect(r.reason).toMatch(/missing/)
    writeFileSync(join(work, 'bad.fs'), 'hello world, not a storage')
    await expect(backupFileStorage(join(work, 'bad.fs'), {repository: repo})).rejects.toThrow(/not a FileStorage/)
    await expect(backupFileStorage(join(work, 'nope.fs'), {repository: repo})).rejects.toThrow(/does not exist/)
  })
})

describe('large copies', () => {
  it('give the md5 of the bytes copied, and a restore finds a damaged byte', async () => {
    const work = tempDir()
    const repo = join(work, 'backups')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 24; i++) db.commit({oids: [i, i + 100], size: 512 * 1024})
    const r = await backupFileStorage(datafs, {repository: repo, gzip: true})
    const data = readFileSync(datafs)
    expect(r.end).toBe(data.length)
    expect(r.md5).toBe(md5(data))
    expect(md5(gunzipSync(readFileSync(r.file!)))).toBe(md5(data))
    const out = join(tempDir(), 'Data.fs')
    await restoreFileStorage(await planRestore(repo), out)
    expect(md5(readFileSync(out))).toBe(md5(data))
    // a flipped byte in a big plain backup: found by the worker's md5, nothing left behind
    const plainRepo = join(work, 'plain')
    mkdirSync(plainRepo)
    const p = await backupFileStorage(datafs, {repository: plainRepo})
    const bytes = readFileSync(p.file!)
    bytes[bytes.length >> 1] = bytes.readUInt8(bytes.length >> 1) ^ 1
    writeFileSync(p.file!, bytes)
    await expect(restoreFileStorage(await planRestore(plainRepo), out)).rejects.toThrow(/not a valid FileStorage/)
    bytes[bytes.length >> 1] = bytes.readUInt8(bytes.length >> 1) ^ 1
    bytes[200] = bytes.readUInt8(200) ^ 1 // inside the first pickle: only the md5 can tell
    writeFileSync(p.file!, bytes)
    await expect(restoreFileStorage(await planRestore(plainRepo), out)).rejects.toThrow(/has checksum .* instead of/)
    expect(md5(readFileSync(out))).toBe(md5(data))
  })
})

describe('continuing a repository written by repozo', () => {
  for (const kind of ['plain', 'gzip']) {
    it(`${kind}: the first bk backup is an incremental on repozo's chain (no sidecar needed)`, async () => {
      const work = tempDir()
      extractFixture('zodb', `repo-${kind}`, work)
      const repo = join(work, `repo-${kind}`)
      const datafs = join(work, 'Data.fs')
      copyFileSync(join(expected, 'p4-after-pack', 'Data.fs'), datafs)
      SyntheticStorage.open(datafs).commit({oids: [1, 2], size: 1000})
      const r = await backupFileStorage(datafs, {repository: repo, datPrefix: `repo-${kind}`, gzip: kind === 'gzip'})
      expect(r).toMatchObject({kind: 'incremental', start: 62011, end: statSync(datafs).size})
      const out = join(tempDir(), 'Data.fs')
      await restoreFileStorage(await planRestore(repo), out)
      expect(md5(readFileSync(out))).toBe(md5(readFileSync(datafs)))
    })
  }
})

describe('a damaged Data.fs', () => {
  it('is backed up up to the damage, and the result says so', async () => {
    const work = tempDir()
    const repo = join(work, 'backups')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    const starts: number[] = []
    for (let i = 0; i < 5; i++) starts.push(db.commit({oids: [i], size: 100}))
    const bytes = readFileSync(datafs)
    bytes[starts[3]! - 1] = bytes.readUInt8(starts[3]! - 1) ^ 0x40 // the redundant length of transaction 3 (index 2)
    writeFileSync(datafs, bytes)
    const r = await backupFileStorage(datafs, {repository: repo})
    expect(r).toMatchObject({kind: 'full', end: starts[2], damaged: true})
    expect(r.leftOut).toBe(bytes.length - starts[2]!)
  })
})

describe('a full backup of a whole Data.fs (copied to its end without a scan first)', () => {
  it('reports the transactions, the last one and the end as the scan does, and a damaged record is still an error', async () => {
    const work = tempDir()
    const {mkdirSync} = await import('node:fs')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    const starts: number[] = []
    for (let i = 0; i < 6; i++) starts.push(db.commit({oids: [i, i + 100], size: 200}))
    const bytes = readFileSync(datafs)
    mkdirSync(join(work, 'a'))
    const r = await backupFileStorage(datafs, {repository: join(work, 'a')})
    expect(r).toMatchObject({kind: 'full', start: 0, end: bytes.length, transactions: 6, leftOut: 0})
    expect(r.damaged).toBeUndefined()
    expect(r.lastTransaction).toBeDefined()
    expect(md5(readFileSync(r.file!))).toBe(md5(bytes))
    // a data record's transaction pointer (tloc) broken in the middle: the header scan cannot see it, the copy's
    // parser can; the tail still looks whole, so the quick path is taken, then the error is the copy's
    // first data record of transaction 3: after the header (23 bytes) and the user name; tloc follows oid, tid, prev
    const tloc = starts[2]! + 23 + 'bk-test'.length + 24
    bytes[tloc] = bytes.readUInt8(tloc) ^ 0x01
    writeFileSync(datafs, bytes)
    mkdirSync(join(work, 'b'))
    await expect(backupFileStorage(datafs, {repository: join(work, 'b')})).rejects.toThrow(/damaged while being copied/)
    expect(readdirSync(join(work, 'b'))).toEqual([])
  })
})

describe('a full backup whose quick copy finds damage before the end', () => {
  for (const gzip of [false, true]) {
    it(`${gzip ? 'gzip' : 'plain'}: starts over with the scan on the same descriptor and backs up the part before the damage`, async () => {
      const work = tempDir()
      const {mkdirSync} = await import('node:fs')
      const datafs = join(work, 'Data.fs')
      const db = SyntheticStorage.open(datafs)
      const starts: number[] = []
      for (let i = 0; i < 5; i++) starts.push(db.commit({oids: [i, i + 100], size: 300}))
      const bytes = readFileSync(datafs)
      // the redundant length of transaction 3 (index 2) broken; the file still ends on a committed transaction,
      // so the quick copy is tried, its parser stops at the damage, and the scan decides the end
      bytes[starts[3]! - 1] = bytes.readUInt8(starts[3]! - 1) ^ 0x40
      writeFileSync(datafs, bytes)
      const repo = join(work, 'backups')
      mkdirSync(repo)
      const logs: string[] = []
      const r = await backupFileStorage(datafs, {repository: repo, gzip, log: (m) => logs.push(m)})
      // the log says which check failed: damage in the middle, not an unfinished last transaction
      const fallback = logs.find((l) => /scanning for the committed end/.test(l))
      expect(fallback).toMatch(new RegExp(`damaged at byte ${starts[3]! - 8} \\(inconsistent transaction length`))
      expect(fallback).not.toMatch(/does not end on a complete transaction/)
      expect(r).toMatchObject({kind: 'full', start: 0, end: starts[2], transactions: 2, damaged: true})
      expect(r.leftOut).toBe(bytes.length - starts[2]!)
      const copied = readFileSync(r.file!)
      expect(md5(gzip ? gunzipSync(copied) : copied)).toBe(md5(bytes.subarray(0, starts[2])))
      expect(r.md5).toBe(md5(bytes.subarray(0, starts[2])))
      const stamp = r.file!.split('/').at(-1)!.replace(/\..*$/, '')
      const ext = gzip ? 'fsz' : 'fs'
      expect(readdirSync(repo).sort()).toEqual(
        [`${stamp}.${ext}`, `${stamp}.${ext}.bk.json`, `${stamp}.dat`, `${stamp}.index`].sort(),
      )
      const out = join(tempDir(), 'Data.fs')
      await restoreFileStorage(await planRestore(repo), out)
      expect(md5(readFileSync(out))).toBe(md5(bytes.subarray(0, starts[2])))
    })
  }
})

describe('a small repository continued without sidecars (as repozo leaves it)', () => {
  it('after a full smaller than the probe and a delta, the next backup is an incremental', async () => {
    const work = tempDir()
    const {mkdirSync} = await import('node:fs')
    const repo = join(work, 'backups')
    mkdirSync(repo)
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 3; i++) db.commit({oids: [i], size: 1000})
    let second = 0
    const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, second))
    await backupFileStorage(datafs, {repository: repo, now})
    db.commit({oids: [1], size: 1000})
    second = 1
    expect((await backupFileStorage(datafs, {repository: repo, now})).kind).toBe('incremental')
    // repozo writes no sidecars: the probe is read from the backup files (the full is 4 KiB, the probe 64 KiB)
    for (const name of readdirSync(repo)) if (name.endsWith('.bk.json')) unlinkSync(join(repo, name))
    db.commit({oids: [2], size: 1000})
    second = 2
    const r = await backupFileStorage(datafs, {repository: repo, now})
    expect(r).toMatchObject({kind: 'incremental', end: statSync(datafs).size})
    const out = join(tempDir(), 'Data.fs')
    await restoreFileStorage(await planRestore(repo), out)
    expect(md5(readFileSync(out))).toBe(md5(readFileSync(datafs)))
  })
})

describe('an incremental whose delta ends on a committed transaction (copied without a scan first)', () => {
  it('damage in the middle of the delta: starts over with the scan, from the index as of the previous backup', async () => {
    const work = tempDir()
    const {mkdirSync} = await import('node:fs')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 4; i++) db.commit({oids: [i, i + 100], size: 300})
    const repo = join(work, 'backups')
    mkdirSync(repo)
    let second = 0
    const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, second))
    const full = await backupFileStorage(datafs, {repository: repo, now})
    const starts: number[] = []
    for (let i = 0; i < 4; i++) starts.push(db.commit({oids: [i, i + 200], size: 300}))
    // the delta's second transaction has a broken redundant length; its last one is whole
    const bytes = readFileSync(datafs)
    bytes[starts[2]! - 1] = bytes.readUInt8(starts[2]! - 1) ^ 0x40
    writeFileSync(datafs, bytes)
    const logs: string[] = []
    second = 1
    const r = await backupFileStorage(datafs, {repository: repo, now, log: (m) => logs.push(m)})
    expect(logs.find((l) => /scanning for the committed end/.test(l))).toMatch(/damaged at byte \d+/)
    expect(r).toMatchObject({kind: 'incremental', start: full.end, end: starts[1], transactions: 1, damaged: true})
    // the index is that of the data kept: the same bytes as a full backup's of that prefix
    const prefix = join(work, 'prefix', 'Data.fs')
    mkdirSync(join(work, 'prefix'))
    writeFileSync(prefix, bytes.subarray(0, starts[1]))
    mkdirSync(join(work, 'prefix-backup'))
    const p = await backupFileStorage(prefix, {repository: join(work, 'prefix-backup'), now})
    const indexOf = (file: string) => readFileSync(file.replace(/\.(delta)?fs$/, '.index'))
    expect(indexOf(r.file!).equals(indexOf(p.file!))).toBe(true)
    const out = join(tempDir(), 'Data.fs')
    await restoreFileStorage(await planRestore(repo), out)
    expect(md5(readFileSync(out))).toBe(md5(bytes.subarray(0, starts[1])))
  })
})
