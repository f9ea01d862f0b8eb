import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, fixturePath, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupFileStorage} from '../src/backup.js'
import {readChain} from '../src/chain-reader.js'
import {parseRestoreDate} from '../src/repozo-date.js'
import {planRestore, restoreFileStorage} from '../src/restore.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

interface Point {
  label: string
  stamps: {plain: string; gzip: string}
  size: number
}
const points: Point[] = JSON.parse(readFileSync(fixturePath('zodb', 'points.json'), 'utf8'))
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')

describe('restore of repozo repositories written by repozo', () => {
  const root = extractFixture('zodb', 'repo-plain')
  extractFixture('zodb', 'repo-gzip', root)
  const expected = extractFixture('zodb', 'expected')

  for (const kind of ['plain', 'gzip'] as const) {
    for (const point of points) {
      it(`${kind}: as of ${point.label} gives the Data.fs of that point`, async () => {
        const out = join(tempDir(), 'Data.fs')
        const plan = await planRestore(join(root, `repo-${kind}`), parseRestoreDate(point.stamps[kind]))
        const result = await restoreFileStorage(plan, out)
        const want = readFileSync(join(expected, 'expected', point.label, 'Data.fs'))
        const got = readFileSync(out)
        expect(got.length).toBe(point.size)
        expect(md5(got)).toBe(md5(want))
        expect(result.index).toBe('restored')
        const last = plan.chain.files.at(-1)!
        expect(readFileSync(`${out}.index`)).toEqual(readFileSync(join(root, `repo-${kind}`, `${last.stamp}.index`)))
        expect(existsSync(`${out}.part`)).toBe(false)
      })
    }
  }

  it('a partial date means "before that period starts", as in repozo', async () => {
    // p2 was made at 22:19:16; 2026-11-21-22-19-16 includes it, 2026-11-21-22-19 (the minute) excludes all.
    const plan = await planRestore(join(root, 'repo-plain'), parseRestoreDate('2026-11-21-22-19-17'))
    expect(plan.chain.files.map((f) => f.name)).toEqual(['2026-11-21-22-19-13.fs', '2026-11-21-22-19-16.deltafs'])
    await expect(planRestore(join(root, 'repo-plain'), parseRestoreDate('2026-11-21-22-19'))).rejects.toThrow(
      /no backup .* at or before 2026-11-21-22-19/,
    )
  })

  it('rejects malformed dates', () => {
    for (const bad of ['2026-13-01', '2026-02-30', 'yesterday', '2026-11-21-24', '2026-1-1', '2026-11-21-10-61']) {
      expect(() => parseRestoreDate(bad)).toThrow(/invalid date/)
    }
  })

  it('detects a missing middle delta and a corrupt delta, and leaves the old Data.fs alone', async () => {
    const repo = join(tempDir(), 'repo')
    const src = join(root, 'repo-gzip')
    extractFixture('zodb', 'repo-gzip', join(repo, '..'))
    const r = join(repo, '..', 'repo-gzip')
    const out = join(tempDir(), 'Data.fs')
    writeFileSync(out, 'old data')
    unlinkSync(join(r, '2026-11-21-22-19-16.deltafsz'))
    await expect(planRestore(r, '2026-11-21-22-19-18')).rejects.toThrow(/2026-11-21-22-19-16.deltafsz is missing/)
    copyFileSync(join(src, '2026-11-21-22-19-16.deltafsz'), join(r, '2026-11-21-22-19-16.deltafsz'))
    const bytes = readFileSync(join(r, '2026-11-21-22-19-18.deltafsz'))
    bytes[bytes.length - 12] = bytes.readUInt8(bytes.length - 12) ^ 0xff
    writeFileSync(join(r, '2026-11-21-22-19-18.deltafsz'), bytes)
    const plan = await planRestore(r, '2026-11-21-22-19-18')
    await expect(restoreFileStorage(plan, out)).rejects.toThrow(/2026-11-21-22-19-18.deltafsz/)
    expect(readFileSync(out, 'utf8')).toBe('old data')
    expect(existsSync(`${out}.part`)).toBe(false)
  })
})

describe('the check of each backup file', () => {
  it("bk's plain files by their sidecar's sha256; a wrong sidecar or a gzip file falls back to the .dat's md5", async () => {
    const work = tempDir()
    const {mkdirSync} = await import('node:fs')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 20; i++) db.commit({oids: [i, i + 50], size: 3000})
    const repo = join(work, 'repo')
    mkdirSync(repo)
    let second = 0
    const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, second))
    const full = await backupFileStorage(datafs, {repository: repo, now})
    db.commit({oids: [3], size: 3000})
    second = 1
    const delta = await backupFileStorage(datafs, {repository: repo, now})
    expect(delta.kind).toBe('incremental')
    const plan = await planRestore(repo)
    expect((await readChain(plan.chain, {sidecarDigest: true})).checkedBy).toEqual(['sha256', 'sha256'])
    // the default (verify): the .dat's md5
    expect((await readChain(plan.chain)).checkedBy).toEqual(['md5', 'md5'])
    const out = join(tempDir(), 'Data.fs')
    await restoreFileStorage(plan, out)
    expect(readFileSync(out).equals(readFileSync(datafs))).toBe(true)

    // a sidecar whose sha256 is wrong (the data is right): the md5 decides, the restore goes on
    const sidecar = `${full.file!}.bk.json`
    const doc = JSON.parse(readFileSync(sidecar, 'utf8'))
    doc.extra.repozo.sha256 = '0'.repeat(64)
    writeFileSync(sidecar, JSON.stringify(doc))
    expect((await readChain(plan.chain, {sidecarDigest: true})).checkedBy).toEqual(['md5', 'sha256'])
    // a sidecar that does not describe the .dat line's bytes is not used at all
    const deltaSidecar = `${delta.file!}.bk.json`
    const d = JSON.parse(readFileSync(deltaSidecar, 'utf8'))
    d.extra.repozo.md5 = '0'.repeat(32)
    writeFileSync(deltaSidecar, JSON.stringify(d))
    expect((await readChain(plan.chain, {sidecarDigest: true})).checkedBy).toEqual(['md5', 'md5'])
    await restoreFileStorage(plan, out)
    expect(readFileSync(out).equals(readFileSync(datafs))).toBe(true)

    // a flipped byte inside a pickle (only a digest can tell) with its sidecar intact: refused, by the .dat's md5
    const repo2 = join(work, 'repo2')
    mkdirSync(repo2)
    const f2 = await backupFileStorage(datafs, {repository: repo2, now})
    const bytes = readFileSync(f2.file!)
    bytes[200] = bytes.readUInt8(200) ^ 1
    writeFileSync(f2.file!, bytes)
    await expect(restoreFileStorage(await planRestore(repo2), join(tempDir(), 'Data.fs'))).rejects.toThrow(
      /has checksum .* instead of/,
    )
  })

  it('a digest computed in a worker thread checks the same bytes, and refuses a damaged file', async () => {
    const work = tempDir()
    const {mkdirSync} = await import('node:fs')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    for (let i = 0; i < 40; i++) db.commit({oids: [i, i + 50], size: 40_000})
    const repo = join(work, 'repo')
    mkdirSync(repo)
    let second = 0
    const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, second))
    await backupFileStorage(datafs, {repository: repo, now})
    db.commit({oids: [3], size: 3000})
    second = 1
    await backupFileStorage(datafs, {repository: repo, now})
    const plan = await planRestore(repo)
    // offloadMin 0: every plain file's digest in a worker (a restore offloads only files of OFFLOAD_MIN or more)
    for (const sidecarDigest of [true, false]) {
      const chunks: Buffer[] = []
      const r = await readChain(plan.chain, {
        sidecarDigest,
        offloadMin: 0,
        sink: (chunk) => {
          chunks.push(Buffer.from(chunk))
        },
      })
      expect(r.checkedBy).toEqual(sidecarDigest ? ['sha256', 'sha256'] : ['md5', 'md5'])
      expect(Buffer.concat(chunks).equals(readFileSync(datafs))).toBe(true)
    }
    // repozo's own plain files (no sidecar): the md5, in a worker
    const fixtures = extractFixture('zodb', 'repo-plain')
    const rz = await planRestore(join(fixtures, 'repo-plain'))
    const rzRead = await readChain(rz.chain, {sidecarDigest: true, offloadMin: 0})
    expect(rzRead.checkedBy.every((c) => c === 'md5')).toBe(true)
    expect(rzRead.bytes).toBe(rz.chain.size)
    // a flipped byte inside a pickle, sidecar intact: the worker's sha256 differs, the md5 refuses it
    const full = plan.chain.files[0]!.path
    const bytes = readFileSync(full)
    bytes[bytes.length - 5000] = bytes.readUInt8(bytes.length - 5000) ^ 1
    writeFileSync(full, bytes)
    await expect(readChain(plan.chain, {sidecarDigest: true, offloadMin: 0})).rejects.toThrow(
      /has checksum .* instead of/,
    )
    await expect(readChain(plan.chain, {offloadMin: 0})).rejects.toThrow(/has checksum .* instead of/)
  })

  it("repozo's files (no sidecar), plain and gzip: the .dat's md5", async () => {
    const root = extractFixture('zodb', 'repo-plain')
    extractFixture('zodb', 'repo-gzip', root)
    for (const kind of ['plain', 'gzip']) {
      const plan = await planRestore(join(root, `repo-${kind}`))
      const r = await readChain(plan.chain, {sidecarDigest: true})
      expect(r.checkedBy.length).toBeGreaterThan(0)
      expect(r.checkedBy.every((c) => c === 'md5')).toBe(true)
    }
  })
})
