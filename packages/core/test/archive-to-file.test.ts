// The compressor writes the archive's temp file itself (compressIntoFile) and Node reads the file back as it grows:
// the recorded sha256 and size are those of the file, bytes the compressor got wrong are refused by the decode
// check, and a compressor that dies mid-way, fills the disk or meets a failing tar leaves nothing behind.
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive, listArchive} from '../src/archive/index.js'
import {compressIntoFile} from '../src/archive/to-file.js'
import {createArchiveWithManifest, createBkArchive} from '../src/manifest/bk-archive.js'
import {cleanupTemp, holdersOf, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

const meta = testMeta
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})
afterAll(() => cleanupTemp())

const real = (name: string) => execFileSync('sh', ['-c', `command -v ${name}`], {encoding: 'utf8'}).trim()
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** A source tree of several MiB (incompressible, so the compressor's output spans many read-backs). */
function source(root: string): string {
  const src = join(root, 'src')
  makeTree(src)
  mkdirSync(join(src, 'bulk'))
  for (let i = 0; i < 6; i++) writeFileSync(join(src, 'bulk', `r${i}.bin`), randomBytes(1536 * 1024 + i))
  return src
}

/**
 * Puts `script` on PATH as `name` (a sh script; "$REAL" is the real program). Compressing (no -t/-d argument) runs
 * the script, anything else (the decode check) runs the real program.
 */
function fake(root: string, name: string, script: string): void {
  const bin = join(root, 'bin')
  mkdirSync(bin, {recursive: true})
  writeFileSync(
    join(bin, name),
    `#!/bin/sh\nREAL=${real(name)}\nfor a in "$@"; do case "$a" in -t|-d) exec "$REAL" "$@";; esac; done\n${script}\n`,
    {mode: 0o755},
  )
  process.env.PATH = `${bin}:${savedPath}`
}

async function members(file: string): Promise<string[]> {
  const paths: string[] = []
  for await (const e of listArchive(file)) paths.push(e.path)
  return paths
}

describe('the compressor writes the file, Node reads it back', () => {
  for (const suffix of ['tar.gz', 'tar.zst'] as const) {
    it(`records the sha256 and size of the file itself (.${suffix}: tar straight into the compressor, and fed by Node)`, async () => {
      const root = temp()
      const src = source(root)
      const direct = await createArchive({cwd: src, file: join(root, `direct.${suffix}`)})
      expect(direct.sha256).toBe(sha256(direct.file))
      expect(direct.bytes).toBe(readFileSync(direct.file).length)
      const fed = await createArchive({
        cwd: src,
        file: join(root, `fed.${suffix}`),
        prepend: [{name: 'first.txt', content: 'first\n'}],
      })
      expect(fed.sha256).toBe(sha256(fed.file))
      const manifested = await createArchiveWithManifest({cwd: src, file: join(root, `m.${suffix}`), meta})
      expect(manifested.sha256).toBe(sha256(manifested.file))
      expect(manifested.bytes).toBe(readFileSync(manifested.file).length)
      const bk = await createBkArchive({cwd: src, file: join(root, `bk.${suffix}`), meta})
      expect(bk.sha256).toBe(sha256(bk.file))
      const listed = await members(direct.file)
      expect(listed).toContain('bulk/r5.bin')
      expect(await members(fed.file)).toEqual(['first.txt', ...listed])
      expect(await members(manifested.file)).toEqual(listed)
    })
  }
})

describe('a compressor that writes wrong bytes', () => {
  for (const [name, suffix] of [
    ['zstd', 'tar.zst'],
    ['pigz', 'tar.gz'],
  ] as const) {
    it(`is refused by the decode check, and nothing is kept (${name})`, async () => {
      const root = temp()
      const src = source(root)
      // one byte too many, well inside the compressed stream
      fake(root, name, `"$REAL" "$@" | { head -c 100000; printf Z; cat; }`)
      const file = join(root, `a.${suffix}`)
      const error = await createArchiveWithManifest({cwd: src, file, meta}).catch((e: unknown) => e)
      expect(error).toMatchObject({code: 'ECORRUPT'})
      expect(String(error)).toMatch(/does not read back as it was written/)
      expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
    })
  }
})

describe('a compressor that stops mid-way', () => {
  it('killed after part of its output: the archive fails with the signal and leaves nothing', async () => {
    const root = temp()
    const src = source(root)
    fake(root, 'zstd', `"$REAL" "$@" | head -c 200000; kill -9 $$`)
    const file = join(root, 'a.tar.zst')
    await expect(createArchive({cwd: src, file})).rejects.toThrow(/zstd was killed by SIGKILL/)
    await expect(createArchiveWithManifest({cwd: src, file, meta})).rejects.toThrow(/zstd was killed by SIGKILL/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })

  it('exiting 0 before it read all its input (Node feeding it): refused, and nothing is kept', async () => {
    const root = temp()
    const src = source(root)
    // compresses the first 100 kB of the tar stream well, then stops reading and exits 0
    fake(root, 'zstd', `head -c 100000 | "$REAL" "$@"`)
    const file = join(root, 'a.tar.zst')
    const prepend = [{name: 'first.txt', content: 'first\n'}]
    await expect(createArchive({cwd: src, file, prepend})).rejects.toThrow(
      /zstd exited before it read all of its input/,
    )
    await expect(createArchive({cwd: src, file, prefix: 'p'})).rejects.toThrow(/zstd exited before it read all/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })

  it('a full disk: says so, and leaves nothing', async () => {
    const root = temp()
    const src = source(root)
    fake(
      root,
      'zstd',
      `head -c 1000 >/dev/null; echo 'zstd: error 70 : Write error : No space left on device' >&2; exit 1`,
    )
    const file = join(root, 'a.tar.zst')
    await expect(createArchive({cwd: src, file})).rejects.toThrow(`no space left writing ${file}; nothing was written`)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })

  it('tar failing while the compressor ends well still fails the archive, and leaves nothing', async () => {
    const root = temp()
    const src = source(root)
    // GNU tar writes its whole stream, then reports a file it could not read and exits 2: the compressor sees a
    // clean end of input and writes a complete-looking archive, which must not be kept
    const bin = join(root, 'bin')
    mkdirSync(bin)
    writeFileSync(
      join(bin, 'tar'),
      `#!/bin/sh\ncase "$1" in --version) exec ${real('tar')} "$@";; esac\n${real('tar')} "$@"\necho 'tar: conf/app.ini: Cannot open: Permission denied' >&2\nexit 2\n`,
      {mode: 0o755},
    )
    process.env.PATH = `${bin}:${savedPath}`
    const file = join(root, 'a.tar.zst')
    await expect(createArchive({cwd: src, file})).rejects.toThrow(/cannot read conf\/app\.ini: permission denied/)
    await expect(createArchiveWithManifest({cwd: src, file, meta})).rejects.toThrow(/conf\/app\.ini/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })
})

/** Processes other than this one holding `path` open. */
const holders = (path: string) => holdersOf((target) => target === path)

describe('tar that cannot be started', () => {
  it('leaves no compressor holding the temp file (spawn throwing at once, as with EMFILE)', async () => {
    const root = temp()
    const path = join(root, 'out.zst')
    // a compressor that reads its input until the end: it only exits once its stdin is closed or it is killed
    const bin = join(root, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'zstd'), '#!/bin/sh\nexec cat\n', {mode: 0o755})
    const handle = await open(path, 'w')
    try {
      // spawn throws synchronously for a cwd it refuses (as startGnuTar does when spawn gives no pipes: EMFILE)
      const error = await compressIntoFile(
        path,
        handle,
        {program: join(bin, 'zstd'), args: []},
        {kind: 'gnu-tar', tar: real('tar'), cwd: `${root}\0`, names: (async function* () {})(), portable: false},
      ).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(Error)
      // the compressor was started with the file as its stdout: once compressIntoFile settled it must be gone
      const left = holders(path)
      for (const pid of left) process.kill(pid, 'SIGKILL')
      expect(left).toEqual([])
    } finally {
      await handle.close()
    }
  })
})
