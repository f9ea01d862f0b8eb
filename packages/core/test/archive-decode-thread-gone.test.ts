// The read-back of a manifested archive reads its members in the decode thread (a .tar.gz: pigz -d fed as the file is
// read back; a .tar.zst: zstd -d reading the finished file). A thread that dies (it could not start, or on the way,
// after some members) says nothing about the archive: the finished file is decoded again on the main thread, with
// the same checks, and the backup completes with the manifest of what the file decodes to. The members the thread
// gave must be the ones that read-back finds first; a file that does not decode is still refused (ECORRUPT), and a
// refused backup leaves nothing.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it, vi} from 'vitest'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {cleanupTemp, compressing, digestsOf, onPath, restorePath, temp, testMeta} from './archive-helpers.js'

/** How the next decode threads die: 'start' (their script missing), after their first members, or lying in them. */
let dying: 'start' | 'after-members' | 'at-end' | 'lies' = 'start'
/** Decode threads started. */
let started = 0

vi.mock('../src/fs/start-thread.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/fs/start-thread.js')>()
  return {
    ...actual,
    startThread: (script: URL | string, options: Parameters<typeof actual.startThread>[1] = {}) => {
      if (!String(script).includes('decode-thread-worker')) return actual.startThread(script, options)
      started++
      if (dying === 'start') return actual.startThread(new URL('./no-such-decode-thread.js', script), options)
      const workerData = {...(options.workerData as object), real: String(script), die: dying}
      return actual.startThread(new URL('./decode-thread-dies.mjs', import.meta.url), {...options, workerData})
    },
  }
})

afterEach(() => restorePath())
afterAll(() => cleanupTemp())

/** A tree of 3000 files (more members than the thread gives in one batch: 2048) and one of 3 MiB. */
function bigTree(src: string): void {
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(src, `d${d}`), {recursive: true})
    for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `file ${d}/${f}\n`.repeat(f))
  }
  writeFileSync(join(src, 'big.log'), Buffer.alloc(3 * 1024 * 1024 + 7, 'a log line\n'))
}

for (const [ext, compression] of [
  ['tar.gz', 'gzip'],
  ['tar.zst', 'zstd'],
] as const) {
  describe(`a .${ext} whose decode thread dies`, () => {
    for (const when of ['start', 'after-members', 'at-end'] as const)
      it(`${{start: 'as it starts', 'after-members': 'after its first members', 'at-end': 'after all its members, before its answer'}[when]}: the archive is read back again on the main thread, kept, its manifest exact`, async () => {
        dying = when
        started = 0
        const root = temp()
        const src = join(root, 'src')
        bigTree(src)
        const out = join(root, 'out')
        mkdirSync(out)
        const file = join(out, `a.${ext}`)
        const r = await createArchiveWithManifest({cwd: src, file, meta: testMeta, compression})
        expect(started).toBe(1)
        expect(readdirSync(out)).toEqual([`a.${ext}`])
        expect(r.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'))
        const x = join(root, 'x')
        mkdirSync(x)
        execFileSync('tar', [
          compression === 'gzip' ? '-xzf' : '--zstd',
          ...(compression === 'zstd' ? ['-xf'] : []),
          file,
          '-C',
          x,
        ])
        const extracted = digestsOf(x)
        expect(extracted.size).toBe(3001)
        expect(new Map(r.manifest.files.map((f) => [f.path, f.sha256]))).toEqual(extracted)
        expect(r.manifest.files.map((f) => f.size).reduce((a, b) => a + b, 0)).toBe(
          [...extracted.keys()].map((p) => readFileSync(join(x, p)).length).reduce((a, b) => a + b, 0),
        )
      }, 60_000)

    it('after members it lied about: refused (they are not what the file decodes to), nothing left', async () => {
      dying = 'lies'
      const root = temp()
      const src = join(root, 'src')
      bigTree(src)
      const out = join(root, 'out')
      mkdirSync(out)
      const error = await createArchiveWithManifest({
        cwd: src,
        file: join(out, `a.${ext}`),
        meta: testMeta,
        compression,
      }).then(
        () => undefined,
        (e: Error & {code?: string}) => e,
      )
      expect(error?.code).toBe('ECORRUPT')
      expect(error?.message).toMatch(/does not read back as it was written \(the decode thread gave \d+ members that/)
      expect(readdirSync(out)).toEqual([])
    }, 60_000)
  })
}

describe('a corrupt .tar.gz whose decode thread dies after its first members', () => {
  it('is still refused by the read-back on the main thread (ECORRUPT), and nothing is left', async () => {
    dying = 'after-members'
    const root = temp()
    const src = join(root, 'src')
    bigTree(src)
    // the compressor's output cut short of its last 64 bytes: its last member's CRC-32 and length are missing
    onPath(root, {pigz: compressing('"$REAL" "$@" | head -c -64')})
    const out = join(root, 'out')
    mkdirSync(out)
    const error = await createArchiveWithManifest({
      cwd: src,
      file: join(out, 'a.tar.gz'),
      meta: testMeta,
      compression: 'gzip',
    }).then(
      () => undefined,
      (e: Error & {code?: string}) => e,
    )
    expect(error?.code).toBe('ECORRUPT')
    expect(error?.message).toMatch(/a\.tar\.gz does not read back as it was written/)
    expect(readdirSync(out)).toEqual([])
  }, 60_000)
})
