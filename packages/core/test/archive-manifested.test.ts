// createArchiveWithManifest: a plain archive and the manifest of its members hashed from the tar stream as it is
// written (no read-back), its compressed output checked to decode meanwhile (decodeCheck); and the listing GNU tar
// is fed from directory entries (no lstat of ours): same members, order, exclusions and skipped entries.
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive} from '../src/archive/index.js'
import {decodeCheck} from '../src/archive/native.js'
import {decodeFileInto, decodeInto, decoderCommand} from '../src/archive/to-file.js'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {buildArchiveManifest} from '../src/manifest/build.js'
import {compactFilesOf} from '../src/manifest/compact-files.js'
import {MANIFEST_NAME} from '../src/manifest/types.js'
import {cleanupTemp, listed, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

const meta = testMeta
const savedPath = process.env.PATH
const savedEngine = process.env.BK_ARCHIVE_ENGINE
afterEach(() => {
  process.env.PATH = savedPath
  if (savedEngine === undefined) delete process.env.BK_ARCHIVE_ENGINE
  else process.env.BK_ARCHIVE_ENGINE = savedEngine
})
afterAll(() => cleanupTemp())

describe('createArchiveWithManifest', () => {
  for (const [suffix, engine] of [
    ['tar.gz', 'system'],
    ['tar.zst', 'system'],
    ['tar', 'system'],
    ['tar.gz', 'node'],
  ] as const) {
    it(`lists exactly what a read-back of the archive lists (.${suffix}, ${engine} engines)`, async () => {
      if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
      const root = temp()
      const src = join(root, 'src')
      makeTree(src)
      writeFileSync(join(src, MANIFEST_NAME), '{"not": "ours"}') // archived, not listed (as buildArchiveManifest)
      const file = join(root, `a.${suffix}`)
      const r = await createArchiveWithManifest({cwd: src, file, meta})
      const readBack = await buildArchiveManifest(file, meta)
      expect(r.manifest).toEqual(readBack)
      expect(r.manifest.files.map((f) => f.path)).toContain('app-hardlink.ini')
      expect(r.manifest.files.map((f) => f.path)).not.toContain(MANIFEST_NAME)
      expect(await listed(file)).toContain(MANIFEST_NAME)
      const app = r.manifest.files.find((f) => f.path === 'conf/app.ini')
      expect(app?.sha256).toBe(createHash('sha256').update('[main]\nname = test\n').digest('hex'))
      expect(r.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'))
      expect(r.bytes).toBe(readFileSync(file).length)
    })
  }
})

describe('a tree past the files a manifest keeps in memory', () => {
  it('lists its 70 000 files and hard links from blocks spilled beside the archive, and leaves nothing there', async () => {
    const root = temp()
    const src = join(root, 'src')
    for (let d = 0; d < 70; d++) {
      mkdirSync(join(src, `d${d}`), {recursive: true})
      // a folder at a time, awaited: a blocked worker would miss vitest's own calls
      await Promise.all(Array.from({length: 1000}, (_, f) => writeFile(join(src, `d${d}`, `f${f}`), `${d}/${f}`)))
    }
    // links to a file in the first block (in memory) and in the last ones (spilled); GNU tar stores the second name
    // of each pair as a link to the first it met
    linkSync(join(src, 'd0', 'f1'), join(src, 'zz-early-link'))
    linkSync(join(src, 'd69', 'f998'), join(src, 'zz-late-link'))
    const file = join(root, 'a.tar.gz')
    const r = await createArchiveWithManifest({cwd: src, file, meta})
    expect(compactFilesOf(r.manifest)?.spilled).toBe(true)
    expect(readdirSync(root).sort()).toEqual(['a.tar.gz', 'src'])
    const readBack = await buildArchiveManifest(file, meta)
    expect(r.manifest.files).toHaveLength(70_002)
    // as text: a deep comparison of 70 000 objects takes vitest minutes
    expect(JSON.stringify(r.manifest)).toBe(JSON.stringify(readBack))
    const digest = (text: string) => createHash('sha256').update(text).digest('hex')
    const byPath = new Map(r.manifest.files.map((f) => [f.path, f.sha256]))
    expect(byPath.get('zz-early-link')).toBe(digest('0/1'))
    expect(byPath.get('zz-late-link')).toBe(digest('69/998'))
    expect(byPath.get('d42/f7')).toBe(digest('42/7'))
  })
})

describe('a compressor that fails', () => {
  it('fails the archive with its status and message, leaves nothing, even when it stops before reading', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const bin = join(root, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'pigz'), '#!/bin/sh\necho "pigz: out of luck" >&2\nexit 3\n', {mode: 0o755})
    process.env.PATH = `${bin}:${savedPath}`
    const file = join(root, 'a.tar.gz')
    await expect(createArchiveWithManifest({cwd: src, file, meta})).rejects.toThrow(
      /pigz exited with status 3: pigz: out of luck/,
    )
    await expect(createArchive({cwd: src, file})).rejects.toThrow(/pigz exited with status 3/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src'])
  })
})

describe('decodeCheck: the written bytes must decode', () => {
  const tarBytes = Buffer.alloc(64 * 1024, 'tar bytes ')
  const cases = {
    gzip: () => gzipSync(tarBytes),
    zstd: () => execFileSync('zstd', ['-q', '-c'], {input: tarBytes}),
  }
  for (const [compression, make] of Object.entries(cases) as [keyof typeof cases, () => Buffer][]) {
    for (const how of ['program', 'zlib'] as const) {
      if (compression === 'zstd' && how === 'zlib') continue
      it(`${compression} (${how}): passes intact bytes, refuses a flipped byte and a cut stream`, async () => {
        if (how === 'zlib') process.env.BK_ARCHIVE_ENGINE = 'node'
        const good = make()
        const feed = async (bytes: Buffer) => {
          const check = await decodeCheck(compression)
          for (let at = 0; at < bytes.length; at += 1000) await check.write(bytes.subarray(at, at + 1000))
          await check.done()
        }
        await expect(feed(good)).resolves.toBeUndefined()
        const flipped = Buffer.from(good)
        const at = Math.floor(flipped.length / 2)
        flipped[at] = (flipped[at] ?? 0) ^ 0x55
        await expect(feed(flipped)).rejects.toThrow()
        await expect(feed(good.subarray(0, good.length - 9))).rejects.toThrow()
        // bytes after the stream: pigz -t and zlib ignore them (garbage, or zeros), bk must not
        await expect(feed(Buffer.concat([good, Buffer.from('trailing garbage')]))).rejects.toThrow(
          /trailing|format|header check/,
        )
        await expect(feed(Buffer.concat([good, Buffer.alloc(100)]))).rejects.toThrow(/trailing|format|header check/)
        await expect(feed(Buffer.concat([good, Buffer.from([0]), Buffer.from('junk')]))).rejects.toThrow(
          /trailing|format|header check/,
        )
      })
    }
  }
})

describe('decodeInto: the decompressor that also gives the tar bytes', () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    it(`${compression}: gives the bytes of an intact stream, refuses one with bytes after its end`, async () => {
      const tarBytes = Buffer.alloc(64 * 1024, 'tar bytes ')
      const good = compression === 'gzip' ? gzipSync(tarBytes) : execFileSync('zstd', ['-q', '-c'], {input: tarBytes})
      const command = await decoderCommand(compression)
      if (!command) return // no pigz: createArchiveWithManifest then uses decodeCheck's zlib (above)
      const feed = async (bytes: Buffer) => {
        const out: Buffer[] = []
        const check = decodeInto(command, (chunk) => out.push(Buffer.from(chunk)))
        for (let at = 0; at < bytes.length; at += 1000) await check.write(bytes.subarray(at, at + 1000))
        await check.done()
        return Buffer.concat(out)
      }
      expect((await feed(good)).equals(tarBytes)).toBe(true)
      await expect(feed(Buffer.concat([good, Buffer.from('trailing garbage')]))).rejects.toThrow(
        /trailing|format|header check/,
      )
      await expect(feed(Buffer.concat([good, Buffer.alloc(100)]))).rejects.toThrow(/trailing|format|header check/)
    })
  }
})

describe('decodeFileInto: the decompressor reading the finished file itself', () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    it(`${compression}: gives the bytes the file decodes to; refuses a flipped byte, bytes after its end, another size`, async () => {
      const tarBytes = Buffer.concat([Buffer.alloc(64 * 1024, 'tar bytes '), randomBytes(300 * 1024)])
      const good = compression === 'gzip' ? gzipSync(tarBytes) : execFileSync('zstd', ['-q', '-c'], {input: tarBytes})
      const command = await decoderCommand(compression)
      if (!command) return // no pigz: createArchiveWithManifest then uses decodeCheck's zlib (above)
      const root = temp()
      const decode = async (bytes: Buffer, size = bytes.length) => {
        const file = join(root, `f-${randomBytes(4).toString('hex')}`)
        writeFileSync(file, bytes)
        const out: Buffer[] = []
        await decodeFileInto(command, file, size, (chunk) => out.push(Buffer.from(chunk)))
        return Buffer.concat(out)
      }
      expect((await decode(good)).equals(tarBytes)).toBe(true)
      const flipped = Buffer.from(good)
      const at = Math.floor(flipped.length / 2)
      flipped[at] = (flipped[at] ?? 0) ^ 0x55
      await expect(decode(flipped)).rejects.toThrow()
      await expect(decode(good.subarray(0, good.length - 9))).rejects.toThrow()
      await expect(decode(Buffer.concat([good, Buffer.from('trailing garbage')]))).rejects.toThrow(
        /trailing|format|header check|unknown|unsupported/i,
      )
      await expect(decode(Buffer.concat([good, Buffer.alloc(100)]))).rejects.toThrow()
      // the file is not the one that was written (and hashed): refused before it is decoded
      await expect(decode(good, good.length + 1)).rejects.toThrow(/bytes to decode/)
      // a tap that throws fails the decode, after the decompressor read to the end
      const file = join(root, 'tap')
      writeFileSync(file, good)
      await expect(
        decodeFileInto(command, file, good.length, () => {
          throw new Error('tap refused')
        }),
      ).rejects.toThrow('tap refused')
    })
  }
})

describe('decodeCheck (zlib): many backpressured writes', () => {
  it('leave no listener behind each (no MaxListenersExceededWarning on stderr)', async () => {
    process.env.BK_ARCHIVE_ENGINE = 'node'
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    try {
      const bytes = gzipSync(randomBytes(4 * 1024 * 1024))
      const check = await decodeCheck('gzip')
      let waited = 0
      for (let at = 0; at < bytes.length; at += 1000) {
        const waiting = check.write(bytes.subarray(at, at + 1000))
        if (waiting) {
          waited++
          await waiting
        }
      }
      await check.done()
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
      expect(waited).toBeGreaterThan(11) // more than the default limit of 10 listeners
      expect(warnings).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
      delete process.env.BK_ARCHIVE_ENGINE
    }
  })
})

describe('the list GNU tar is fed, from directory entries', () => {
  it('keeps the members, order and skipped entries of the lstat walk (node-tar engine), and leaves itself out', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(src, 'app.sock'), resolve))
    try {
      process.env.BK_ARCHIVE_ENGINE = 'node'
      const viaNode = await createArchive({cwd: src, file: join(root, 'outside.tar')})
      delete process.env.BK_ARCHIVE_ENGINE
      // written inside the tree it archives: the archive being written is never a member of itself
      const viaTar = await createArchive({cwd: src, file: join(src, 'inside.tar')})
      expect(viaTar.skipped).toEqual(['app.sock'])
      expect(viaNode.skipped).toEqual(['app.sock'])
      const names = async (file: string) => await listed(file)
      expect(await names(join(src, 'inside.tar'))).toEqual(await names(join(root, 'outside.tar')))
      expect(await names(join(src, 'inside.tar'))).not.toContain('inside.tar')
      expect(viaTar.entries).toBe(viaNode.entries)
    } finally {
      server.close()
    }
  })
})

describe('a file name that is not valid UTF-8', () => {
  // GNU tar archived its bytes, but the manifest named it with U+FFFD: two such names shared one entry (see
  // archive-non-utf8-names.test.ts); refused before anything is written, the folder below one too
  it('is refused, named with its bytes escaped, and no archive is left', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(join(src, 'dir'), {recursive: true})
    writeFileSync(join(src, 'plain'), 'p')
    const folder = Buffer.concat([Buffer.from(`${src}/dir/r`), Buffer.from([0xe9, 0xff])])
    mkdirSync(folder)
    writeFileSync(Buffer.concat([folder, Buffer.from('/inner')]), 'inner content')
    const file = join(root, 'out.tar.gz')
    const error = await createArchiveWithManifest({cwd: src, file, meta, dotSlash: true}).catch((e) => e)
    expect(error.message).toBe(
      `${src}/dir/r\\xe9\\xff: the file name is not valid UTF-8, which bk cannot record in a manifest; rename it ` +
        '(e.g. convmv -f latin1 -t utf8 --notest) and run again',
    )
    expect(readdirSync(root)).toEqual(['src'])
  })
})
