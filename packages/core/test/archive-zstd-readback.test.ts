// The zstd read-back of createArchiveWithManifest / createBkArchive (`zstd -d` reading the finished file, the members
// hashed from what it decodes): the members' sha256 are those of the decoded bytes, as `tar --zstd -x` writes them;
// the file reads with plain zstd and GNU tar; a decompressor that stops early or fails is refused, and a refused
// archive leaves nothing behind.
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {openFds} from '@bkcli/testkit'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchiveWithManifest, createBkArchive} from '../src/manifest/bk-archive.js'
import {MANIFEST_NAME} from '../src/manifest/types.js'
import {cleanupTemp, digestsOf, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

const savedPath = process.env.PATH

/** `<root>/bin/zstd`, first on PATH: a shell script whose body `body` writes, given the system's zstd. */
function standInZstd(root: string, body: (real: string) => string): void {
  const real = execFileSync('sh', ['-c', 'command -v zstd']).toString().trim()
  const bin = join(root, 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'zstd'), `#!/bin/sh\n${body(real)}`, {mode: 0o755})
  process.env.PATH = `${bin}:${savedPath}`
}

afterEach(() => {
  process.env.PATH = savedPath
})
afterAll(() => cleanupTemp())

/** A tree with files bigger than the FIFOs and the read-back's chunks, some compressible, some not. */
function bigTree(src: string): void {
  makeTree(src)
  mkdirSync(join(src, 'big'), {recursive: true})
  writeFileSync(join(src, 'big', 'random.bin'), randomBytes(5 * 1024 * 1024 + 123))
  writeFileSync(join(src, 'big', 'text.log'), Buffer.alloc(3 * 1024 * 1024 + 7, 'a log line\n'))
  writeFileSync(join(src, 'big', 'empty'), '')
}

describe('createArchiveWithManifest .tar.zst: the manifest of what the file decodes to', () => {
  it('lists what tar --zstd -x gives; the file reads with plain zstd -d and tar --zstd', async () => {
    const root = temp()
    const src = join(root, 'src')
    bigTree(src)
    const file = join(root, 'a.tar.zst')
    const r = await createArchiveWithManifest({cwd: src, file, meta: testMeta})
    expect(r.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'))
    execFileSync('zstd', ['-t', '-q', file])
    const out = join(root, 'out')
    mkdirSync(out)
    execFileSync('tar', ['--zstd', '-xf', file, '-C', out])
    const extracted = digestsOf(out)
    expect(new Map(r.manifest.files.map((f) => [f.path, f.sha256]))).toEqual(extracted)
    for (const f of r.manifest.files) expect(f.size).toBe(statSync(join(out, f.path)).size)
  })

  it('a bk archive (manifest member first) lists the same members', async () => {
    const root = temp()
    const src = join(root, 'src')
    bigTree(src)
    const file = join(root, 'b.tar.zst')
    const r = await createBkArchive({cwd: src, file, meta: testMeta})
    const out = join(root, 'out')
    mkdirSync(out)
    execFileSync('tar', ['--zstd', '-xf', file, '-C', out])
    const extracted = digestsOf(out)
    extracted.delete(MANIFEST_NAME)
    expect(new Map(r.manifest.files.map((f) => [f.path, f.sha256]))).toEqual(extracted)
  })

  for (const [what, script] of [
    ['exits 0 before it read all of its input', 'head -c 70000 >/dev/null; exit 0'],
    ['exits 0 having decoded part of it', 'head -c 200000 | "$REAL" -d -c -q 2>/dev/null; exit 0'],
    ['fails', 'cat >/dev/null; echo "zstd: out of luck" >&2; exit 2'],
  ] as const) {
    it(`refuses the archive when the decompressor ${what}, and leaves nothing`, async () => {
      const root = temp()
      const src = join(root, 'src')
      bigTree(src)
      // the compressor is the real zstd; `zstd -d` is this script
      standInZstd(root, (real) => `REAL=${real}\nif [ "$1" = "-d" ]; then ${script}; fi\nexec "$REAL" "$@"\n`)
      const file = join(root, 'a.tar.zst')
      // refused by the decoder's status, or by the members' reader (what it decoded is not a whole tar stream)
      await expect(createArchiveWithManifest({cwd: src, file, meta: testMeta})).rejects.toThrow(
        /does not read back as it was written|TAR_BAD_ARCHIVE/,
      )
      expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
    })
  }

  it('leaves nothing when the compressor fails (the read-back FIFO, made while it wrote, removed too)', async () => {
    const root = temp()
    const src = join(root, 'src')
    bigTree(src)
    // `zstd -d` is the real one; the compressor reads a while (the read-back's FIFO is made meanwhile), then fails
    standInZstd(
      root,
      (real) =>
        `if [ "$1" != "-d" ]; then head -c 100000 >/dev/null; sleep 0.3; echo "zstd: disk on fire" >&2; exit 1; fi\nexec ${real} "$@"\n`,
    )
    const file = join(root, 'a.tar.zst')
    await expect(createArchiveWithManifest({cwd: src, file, meta: testMeta})).rejects.toThrow(/disk on fire/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })

  it('a compressor failing at once leaves no descriptor of the read-back thread open (its modules still loading)', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    await createArchiveWithManifest({cwd: src, file: join(root, 'warm.tar.zst'), meta: testMeta})
    standInZstd(
      root,
      (real) =>
        `if [ "$1" != "-d" ]; then sleep $(cat ${root}/delay); echo "zstd: disk on fire" >&2; exit 1; fi\nexec ${real} "$@"\n`,
    )
    const before = openFds()
    // the thread was stopped once 'online', before it had loaded its modules: a file of dist/ open after the error
    // (about 1 run in 4 under load); several runs here
    for (let i = 0; i < 16; i++) {
      writeFileSync(join(root, 'delay'), `0.0${i % 8}`)
      const file = join(root, `a${i}.tar.zst`)
      await expect(createArchiveWithManifest({cwd: src, file, meta: testMeta})).rejects.toThrow(/disk on fire/)
      expect(openFds().filter((fd) => !before.includes(fd))).toEqual([])
    }
    expect(readdirSync(root).sort()).toEqual(['bin', 'delay', 'src', 'warm.tar.zst'])
  })
})
