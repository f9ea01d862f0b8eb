// File names that are not valid UTF-8 (old Latin-1 names): readdir as strings gives U+FFFD for their bytes, so two
// such names collapsed into one manifest path (and a hard link to one got the other's digest), and a fresh backup
// failed its own verify. bk refuses them when it lists the tree (archive engines, manifest, copy), before anything
// is written, naming the path with its bytes escaped; valid UTF-8 names that look like an escape (a backslash, or
// U+FFFD itself) are backed up, verified and restored byte-exact.

import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {BkError} from '../src/errors.js'
import {copyTree} from '../src/fs/copy.js'
import {dirSize} from '../src/fs/paths.js'
import {createArchiveWithManifest, createBkArchive} from '../src/manifest/bk-archive.js'
import {buildManifest} from '../src/manifest/build.js'
import {manifestFiles} from '../src/manifest/compact-files.js'
import {verifyManifest} from '../src/manifest/verify.js'
import {temp, testMeta, useTempDirs} from './archive-helpers.js'

useTempDirs()
const savedEngine = process.env.BK_ARCHIVE_ENGINE
afterEach(() => {
  if (savedEngine === undefined) delete process.env.BK_ARCHIVE_ENGINE
  else process.env.BK_ARCHIVE_ENGINE = savedEngine
})

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const bytes = (...parts: (string | number[] | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))

/** src/ with `caf\xe8` (A), `caf\xe9` (B) in a folder, a hard link `link` to the first, and an ordinary file. */
function latin1Tree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'docs'), {recursive: true})
  const dir = bytes(`${src}/docs/`)
  writeFileSync(bytes(dir, 'caf', [0xe8]), 'A')
  writeFileSync(bytes(dir, 'caf', [0xe9]), 'B')
  linkSync(bytes(dir, 'caf', [0xe8]), bytes(dir, 'link'))
  writeFileSync(join(src, 'plain.txt'), 'plain')
  return src
}

const refusal = /docs\/caf\\xe8: the file name is not valid UTF-8.*rename it.*convmv/

describe('a name that is not valid UTF-8', () => {
  for (const engine of ['system', 'node'] as const) {
    for (const [what, make] of [
      ['createBkArchive', createBkArchive],
      ['createArchiveWithManifest', createArchiveWithManifest],
    ] as const) {
      it(`${what} (${engine} engine) refuses it, names it escaped, leaves no archive`, async () => {
        if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
        const root = temp()
        const src = latin1Tree(root)
        const file = join(root, 'out', 'b.tar.gz')
        mkdirSync(join(root, 'out'))
        const made = make({cwd: src, file, meta: testMeta})
        await expect(made).rejects.toBeInstanceOf(BkError)
        await expect(made).rejects.toThrow(refusal)
        expect(readdirSync(join(root, 'out'))).toEqual([])
        // the source untouched
        expect(readFileSync(bytes(`${src}/docs/caf`, [0xe8]), 'utf8')).toBe('A')
        expect(readFileSync(bytes(`${src}/docs/caf`, [0xe9]), 'utf8')).toBe('B')
      })
    }
  }

  it('a folder of that name is refused too (its contents are not silently left out)', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    mkdirSync(bytes(`${src}/`, [0xe8, 0x74, 0xe9]))
    writeFileSync(bytes(`${src}/`, [0xe8, 0x74, 0xe9], '/inside'), 'x')
    for (const engine of ['system', 'node']) {
      process.env.BK_ARCHIVE_ENGINE = engine
      const file = join(root, `${engine}.tar.gz`)
      await expect(createBkArchive({cwd: src, file, meta: testMeta})).rejects.toThrow(/\\xe8t\\xe9: the file name/)
      expect(existsSync(file)).toBe(false)
    }
  })

  it('buildManifest and copyTree refuse it with the same one line', async () => {
    const root = temp()
    const src = latin1Tree(root)
    await expect(buildManifest(src, testMeta)).rejects.toThrow(refusal)
    await expect(buildManifest(src, testMeta, {sync: true})).rejects.toThrow(refusal)
    const dest = join(root, 'copy')
    const copied = copyTree(src, dest)
    await expect(copied).rejects.toBeInstanceOf(BkError)
    await expect(copied).rejects.toThrow(refusal)
    expect(existsSync(dest)).toBe(false)
  })
})

describe('a plain archive (createArchive: Aegir, ZODB blobs)', () => {
  // GNU tar archived such a name as its bytes, but bk's restore of it merged it with its lossy namesakes (both
  // files restored as caf\uFFFD, one lost): refused at backup time as well, by either engine
  for (const engine of ['system', 'node'] as const)
    it(`refuses it too (${engine} engine), no archive left; a size leaves it out`, async () => {
      process.env.BK_ARCHIVE_ENGINE = engine
      const root = temp()
      const src = latin1Tree(root)
      const file = join(root, 'plain.tar.gz')
      const made = createArchive({cwd: src, file})
      await expect(made).rejects.toBeInstanceOf(BkError)
      await expect(made).rejects.toThrow(refusal)
      expect(readdirSync(root)).toEqual(['src'])
      expect(await dirSize(src)).toBe(1 + 5) // link, plain.txt
    })
})

describe('an archive made elsewhere holding such names (GNU tar engine)', () => {
  // read with U+FFFD, both were restored as one caf\uFFFD (content B), the hard link to A holding B: file A lost
  it('is refused, naming the entry escaped; nothing is extracted', async () => {
    const root = temp()
    const src = latin1Tree(root)
    const file = join(root, 'foreign.tar.gz')
    execFileSync('tar', ['-czf', file, '-C', src, '.'])
    const target = join(root, 'restored')
    const extracted = extractArchive({file, target})
    await expect(extracted).rejects.toBeInstanceOf(BkError)
    await expect(extracted).rejects.toThrow(
      /refusing to extract .*foreign\.tar\.gz: unsafe entry '\.\/docs\/caf\\xe[89]' \(a name that is not valid UTF-8.*tar -xf.*convmv\); nothing was extracted$/,
    )
    expect(readdirSync(root).sort()).toEqual(['foreign.tar.gz', 'src'])
  })
})

describe('an archive made elsewhere holding such names (node-tar engine)', () => {
  // node-tar gives no bytes to tell them by: the second entry read as the same U+FFFD name is refused
  it('is refused when two names read the same; nothing is extracted', async () => {
    process.env.BK_ARCHIVE_ENGINE = 'node'
    const root = temp()
    const src = latin1Tree(root)
    const file = join(root, 'foreign.tar.gz')
    execFileSync('tar', ['-czf', file, '-C', src, '.'])
    const target = join(root, 'restored')
    const extracted = extractArchive({file, target})
    await expect(extracted).rejects.toBeInstanceOf(BkError)
    await expect(extracted).rejects.toThrow(
      /refusing to extract .*foreign\.tar\.gz: unsafe entry '\.\/docs\/caf\uFFFD' \(two entries read as this name.*tar -xf.*convmv\); nothing was extracted$/,
    )
    expect(readdirSync(root).sort()).toEqual(['foreign.tar.gz', 'src'])
  })
})

describe('valid UTF-8 names that look like an escape', () => {
  for (const engine of ['system', 'node'] as const) {
    it(`are backed up, verified and restored byte-exact, each with its own digest (${engine} engine)`, async () => {
      if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
      const root = temp()
      const src = join(root, 'src')
      mkdirSync(src)
      const names = [
        'caf\\xe8', // a backslash, x, e, 8: what the refusal would print for the Latin-1 name
        'caf\uFFFD', // U+FFFD itself (EF BF BD), what a lossy listing gives
        'café', // the UTF-8 spelling
        'cafe',
      ]
      names.forEach((name, i) => {
        writeFileSync(join(src, name), `content ${i}`)
      })
      linkSync(join(src, 'caf\uFFFD'), join(src, 'link'))
      const file = join(root, 'b.tar.gz')
      const made = await createBkArchive({cwd: src, file, meta: testMeta})
      const listed = new Map([...manifestFiles(made.manifest)].map((f) => [f.path, f.sha256]))
      expect(listed).toEqual(
        new Map([
          ['caf\\xe8', sha('content 0')],
          ['caf\uFFFD', sha('content 1')],
          ['café', sha('content 2')],
          ['cafe', sha('content 3')],
          ['link', sha('content 1')],
        ]),
      )
      const verified = await verifyManifest(file)
      expect({ok: verified.ok, changed: verified.changed, missing: verified.missing}).toEqual({
        ok: true,
        changed: [],
        missing: [],
      })
      const target = join(root, 'restored')
      await extractArchive({file, target})
      const restored = readdirSync(target, {encoding: 'buffer'})
        .filter((n) => n.toString() !== 'bk-manifest.json')
        .map((n) => n.toString('hex'))
        .sort()
      expect(restored).toEqual([...names, 'link'].map((n) => Buffer.from(n).toString('hex')).sort())
      names.forEach((name, i) => {
        expect(readFileSync(join(target, name), 'utf8')).toBe(`content ${i}`)
      })
      expect(readFileSync(join(target, 'link'), 'utf8')).toBe('content 1')
    })
  }
})
