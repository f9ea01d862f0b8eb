// The archive engines: GNU tar + pigz / zstd -T0 where present, node-tar + zlib where not. Whatever makes the
// archive, it must hold the same members in the same order with the same bytes. Programs are hidden by running
// with a PATH that holds only the chosen ones.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {linkSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive, listArchive} from '../src/archive/index.js'
import {fastCompressor, findProgram, gnuTar, pigz} from '../src/archive/native.js'
import {walk} from '../src/fs/walk.js'
import {createBkArchive} from '../src/manifest/bk-archive.js'
import {verifyManifest} from '../src/manifest/verify.js'
import {cleanupTemp, rejection, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
  delete process.env.BK_ARCHIVE_ENGINE
})

const which = (name: string) =>
  execFileSync('sh', ['-c', `command -v ${name}`])
    .toString()
    .trim()

/** A PATH holding only these programs (symlinks in a fresh folder). */
function pathWith(names: string[]): string {
  const bin = temp('bk-bin-')
  for (const name of names) symlinkSync(which(name), join(bin, name))
  return bin
}

type Engine = {name: string; path?: () => string; env?: string; expect: {tar: boolean; pigz: boolean}}
const engines: Engine[] = [
  {name: 'GNU tar + pigz', expect: {tar: true, pigz: true}},
  {name: 'GNU tar + zlib (pigz hidden)', path: () => pathWith(['tar', 'zstd']), expect: {tar: true, pigz: false}},
  {name: 'node-tar + pigz (tar hidden)', path: () => pathWith(['pigz', 'zstd']), expect: {tar: false, pigz: true}},
  {name: 'node-tar + zlib (BK_ARCHIVE_ENGINE=node)', env: 'node', expect: {tar: false, pigz: false}},
]

/** Awkward names: a leading '-', a newline, a backslash escape, non-ASCII, a name longer than 100 bytes. */
function makeAwkward(root: string, newline = true): void {
  makeTree(root)
  const odd = join(root, 'odd')
  mkdirSync(odd)
  writeFileSync(join(odd, '-C'), 'looks like an option\n')
  // (a manifest path cannot hold a newline: bk archives are made without it)
  if (newline) writeFileSync(join(odd, 'new\nline'), 'newline in the name\n')
  writeFileSync(join(odd, 'back\\nslash'), 'backslash n\n')
  writeFileSync(join(odd, 'é ü 日本'), 'utf-8 name\n')
  const deep = join(odd, 'd'.repeat(60), 'e'.repeat(60))
  mkdirSync(deep, {recursive: true})
  writeFileSync(join(deep, `${'f'.repeat(120)}.txt`), 'long name\n')
  writeFileSync(join(odd, 'linked-a'), 'two names\n')
  linkSync(join(odd, 'linked-a'), join(odd, 'linked-b'))
}

const names = async (file: string) => {
  const out: string[] = []
  for await (const e of listArchive(file)) out.push(e.path)
  return out
}
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe('archive engines', () => {
  it('finds the programs on PATH, and finds none that are hidden', async () => {
    expect(await gnuTar()).toBeTruthy()
    expect(await pigz()).toBeTruthy() // CI installs pigz
    process.env.PATH = pathWith(['zstd'])
    expect(await gnuTar()).toBeUndefined()
    expect(await pigz()).toBeUndefined()
    expect(await findProgram('zstd')).toBeTruthy()
    process.env.PATH = savedPath
    process.env.BK_ARCHIVE_ENGINE = 'node'
    expect(await gnuTar()).toBeUndefined()
    expect(await pigz()).toBeUndefined()
  })

  for (const engine of engines)
    for (const ext of ['tar', 'tar.gz', 'tar.zst'])
      it(`${engine.name}, .${ext}: extracts byte-identical, lists in walk order, hashes its output`, async () => {
        const dir = temp()
        const src = join(dir, 'src')
        makeAwkward(src)
        const file = join(dir, `a.${ext}`)
        if (engine.path) process.env.PATH = engine.path()
        if (engine.env) process.env.BK_ARCHIVE_ENGINE = engine.env
        expect(Boolean(await gnuTar())).toBe(engine.expect.tar)
        expect(Boolean(await pigz())).toBe(engine.expect.pigz)
        const result = await createArchive({cwd: src, file})
        process.env.PATH = savedPath
        delete process.env.BK_ARCHIVE_ENGINE
        expect(result.sha256).toBe(sha(file))
        expect(result.bytes).toBe(statSync(file).size)
        const check = await checkArchive(file)
        expect(check).toMatchObject({unsafe: [], sha256: result.sha256})
        const walked: string[] = []
        for await (const e of walk(src)) walked.push(e.path)
        expect(await names(file)).toEqual(walked)
        expect(result.entries).toBe(walked.length)
        const out = join(dir, 'out')
        await extractArchive({file, target: out, sha256: result.sha256})
        expect(snapshot(out)).toEqual(snapshot(src))
        expect(statSync(join(out, 'odd/linked-a')).ino).toBe(statSync(join(out, 'odd/linked-b')).ino)
        // GNU tar reads it too
        const listed = execFileSync('tar', ['-tf', file]).toString()
        expect(listed).toContain('odd/-C')
      })

  it('is deterministic: the same tree gives the same tar bytes twice, and the same listing from either engine', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeAwkward(src)
    await createArchive({cwd: src, file: join(dir, '1.tar')})
    await createArchive({cwd: src, file: join(dir, '2.tar')})
    expect(sha(join(dir, '1.tar'))).toBe(sha(join(dir, '2.tar')))
    process.env.BK_ARCHIVE_ENGINE = 'node'
    await createArchive({cwd: src, file: join(dir, '3.tar.gz')})
    delete process.env.BK_ARCHIVE_ENGINE
    expect(await names(join(dir, '3.tar.gz'))).toEqual(await names(join(dir, '1.tar')))
  })

  it('makes bk archives whose manifest verifies, with either engine', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeAwkward(src, false)
    const meta = {
      plugin: {name: '@bkcli/test', version: '0'},
      application: 'test',
      kind: 'full',
      source: src,
      components: [],
    }
    for (const engine of ['native', 'node']) {
      if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
      const file = join(dir, `${engine}.tar.gz`)
      const made = await createBkArchive({cwd: src, file, meta})
      expect(made.sha256).toBe(sha(file))
      const check = await verifyManifest(file)
      expect(check.ok).toBe(true)
      expect(made.manifest.files.map((f) => f.path)).toContain('odd/-C')
    }
  })

  it('compresses the same bytes back whichever compressor runs', async () => {
    const data = Buffer.from('ticket wiki milestone '.repeat(50_000))
    for (const engine of ['native', 'node']) {
      if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
      for (const compression of ['gzip', 'zstd'] as const) {
        const zip = await fastCompressor(compression)
        const chunks: Buffer[] = []
        zip?.on('data', (c: Buffer) => chunks.push(c))
        const done = new Promise((resolve) => zip?.on('end', resolve))
        zip?.end(data)
        await done
        const flag = compression === 'gzip' ? '-dc' : '-dcq'
        const back = execFileSync(compression === 'gzip' ? 'gzip' : 'zstd', [flag], {
          input: Buffer.concat(chunks),
          maxBuffer: 64 * 1024 * 1024,
        })
        expect(back.equals(data)).toBe(true)
      }
    }
  })
})

describe('extractArchive({sha256}): the archive is verified in the extracting pass', () => {
  it('refuses a wrong checksum and leaves no target; a target with content is left as it was', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeTree(src)
    for (const ext of ['tar.gz', 'tar.zst', 'tar']) {
      const file = join(dir, `a.${ext}`)
      const made = await createArchive({cwd: src, file})
      const wrong = '0'.repeat(64)
      const fresh = join(dir, `fresh-${ext}`)
      const error = await rejection(extractArchive({file, target: fresh, sha256: wrong}))
      expect(error.message).toContain(`sha256 is ${made.sha256}, expected ${wrong}`)
      expect(() => statSync(fresh)).toThrow()
      const full = join(dir, `full-${ext}`)
      mkdirSync(full)
      writeFileSync(join(full, 'keep.txt'), 'mine\n')
      const before = snapshot(full)
      await rejection(extractArchive({file, target: full, sha256: wrong}))
      expect(snapshot(full)).toEqual(before)
      await extractArchive({file, target: full, sha256: made.sha256.toUpperCase()})
      expect(snapshot(full, {skip: ['keep.txt']})).toEqual(snapshot(src))
    }
  })
})
