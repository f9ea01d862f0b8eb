// The listing GNU tar is fed (create.ts, listedSources): one walk with a stack of folder listings. Its members must
// come in the order of a plain recursive walk (depth first, each folder's entries by their bytes, a folder before its
// contents), through folders listed as strings and as bytes (a name at U+D800 and up, U+FFFD itself),
// with the filter and the archive's own file left out, and the manifest's sha256 of every file its content.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'

afterAll(() => cleanupTemp())

const SLASH = Buffer.from('/')
const bytesOf = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))

/** Every path below `root` (relative, as bytes), depth first, each folder's entries sorted by their bytes. */
function expectedOrder(root: Buffer, skip: (rel: string) => boolean, rel?: Buffer): Buffer[] {
  const out: Buffer[] = []
  const names = readdirSync(rel ? Buffer.concat([root, SLASH, rel]) : root, {encoding: 'buffer'})
  names.sort(Buffer.compare)
  for (const name of names) {
    const path = rel ? Buffer.concat([rel, SLASH, name]) : name
    if (skip(path.toString('utf8'))) continue
    out.push(path)
    if (lstatSync(Buffer.concat([root, SLASH, path])).isDirectory()) out.push(...expectedOrder(root, skip, path))
  }
  return out
}

/** The member names of a .tar.gz as GNU tar lists them, in order, as bytes (no quoting, no trailing slash). */
function membersOf(file: string): Buffer[] {
  const out = execFileSync('tar', ['-tzf', file, '--quoting-style=literal', '--null'])
  const names: Buffer[] = []
  let start = 0
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== 0 && out[i] !== 0x0a) continue
    if (i > start) {
      const name = out.subarray(start, i)
      names.push(name[name.length - 1] === 0x2f ? name.subarray(0, name.length - 1) : name)
    }
    start = i + 1
  }
  return names
}

describe('the walk that feeds GNU tar its names', () => {
  it('lists a deep tree in a recursive walk’s order, through string and byte listings, filter and own file left out', async () => {
    const root = temp()
    const src = join(root, 'src')
    const srcBytes = Buffer.from(src)
    let n = 0
    const file = (path: Buffer) => writeFileSync(path, `content ${n++} of ${path.toString('hex')}\n`)
    const dir = (path: Buffer) => mkdirSync(path, {recursive: true})
    // siblings whose order by bytes differs from a naive one ('a-b' < 'a.b' < 'a/…'; 'B' < 'a'), files and folders
    // interleaved, five levels deep
    for (const top of ['a', 'a-b', 'a.b', 'B', 'z']) {
      const t = bytesOf(src, '/', top)
      dir(t)
      file(bytesOf(src, '/', `${top}.txt`))
      for (const mid of ['m1', 'm10', 'm2']) {
        const m = Buffer.concat([t, SLASH, Buffer.from(mid)])
        dir(Buffer.concat([m, SLASH, Buffer.from('deep/deeper/deepest')]))
        file(Buffer.concat([m, SLASH, Buffer.from('f')]))
        file(Buffer.concat([m, SLASH, Buffer.from('deep/x')]))
        file(Buffer.concat([m, SLASH, Buffer.from('deep/deeper/deepest/leaf')]))
      }
    }
    // a folder listed as bytes (a name past U+D800: UTF-16 order is not byte order) with a string-listed folder below
    const emoji = bytesOf(src, '/a/emoji')
    dir(Buffer.concat([emoji, SLASH, Buffer.from('\u{1F600}/inner/more')]))
    file(Buffer.concat([emoji, SLASH, Buffer.from('\uFB01')])) // U+FB01 sorts before U+1F600 by UTF-16, after by bytes
    file(Buffer.concat([emoji, SLASH, Buffer.from('\u{1F600}/inner/more/end')]))
    file(Buffer.concat([emoji, SLASH, Buffer.from('plain')]))
    // a folder named with U+FFFD itself (valid UTF-8, listed as bytes), with folders below it; a name that is not
    // UTF-8 is refused (archive-non-utf8-names.test.ts)
    const replacement = bytesOf(src, '/z/caf\uFFFD')
    dir(Buffer.concat([replacement, SLASH, Buffer.from('sub/subsub')]))
    file(Buffer.concat([replacement, SLASH, Buffer.from('sub/subsub/one')]))
    file(Buffer.concat([replacement, SLASH, Buffer.from('r\u00e9\uFFFD')]))
    // left out: by the filter (a whole folder and a file), and the archive itself, written inside the tree
    const skip = (rel: string) => rel === 'a.b/m2' || rel === 'B/m1/f' || rel === 'out.tar.gz'
    const out = join(src, 'out.tar.gz')
    const expected = expectedOrder(srcBytes, skip)
    expect(expected.length).toBeGreaterThan(100)

    const {manifest} = await createArchiveWithManifest({
      cwd: src,
      file: out,
      meta: testMeta,
      filter: (rel) => !skip(rel),
    })
    const members = membersOf(out).filter((name) => name.toString() !== 'bk-manifest.json')
    expect(members.map((m) => m.toString('hex'))).toEqual(expected.map((m) => m.toString('hex')))
    // every regular file in the manifest, with the sha256 of its content on disk
    const files = expected.filter((p) => lstatSync(Buffer.concat([srcBytes, SLASH, p])).isFile())
    expect(manifest.files.length).toBe(files.length)
    for (const f of manifest.files) {
      const onDisk = files.find((p) => p.toString('utf8') === f.path)
      expect(onDisk, f.path).toBeDefined()
      const content = readFileSync(Buffer.concat([srcBytes, SLASH, onDisk as Buffer]))
      expect(f.sha256).toBe(createHash('sha256').update(content).digest('hex'))
      expect(f.size).toBe(content.length)
    }
  })

  it('keeps order and every entry across its batches: a folder of more names than one batch, folders among them', async () => {
    const root = temp()
    const src = join(root, 'src')
    // 2600 files in one folder (more than two batches of names: one cut mid-folder), two folders among them with one
    // more level below, and a last file after the last folder
    mkdirSync(join(src, 'big'), {recursive: true})
    for (let i = 0; i < 2600; i++) {
      const name = `n${String(i).padStart(4, '0')}`
      if (i === 1500 || i === 2500) {
        mkdirSync(join(src, 'big', `${name}.d`, 'inner'), {recursive: true})
        writeFileSync(join(src, 'big', `${name}.d`, 'inner', 'x'), `${i}\n`)
        writeFileSync(join(src, 'big', `${name}.d`, 'y'), `${i}\n`)
      }
      writeFileSync(join(src, 'big', name), `${i}\n`)
    }
    writeFileSync(join(src, 'z-last'), 'last\n')
    const expected = expectedOrder(Buffer.from(src), () => false)
    expect(expected.length).toBe(1 + 2600 + 2 * 4 + 1)
    const out = join(root, 'out.tar.gz')
    const {manifest, entries} = await createArchiveWithManifest({cwd: src, file: out, meta: testMeta})
    const members = membersOf(out).filter((name) => name.toString() !== 'bk-manifest.json')
    expect(members.map((m) => m.toString())).toEqual(expected.map((m) => m.toString()))
    expect(entries).toBe(expected.length)
    expect(manifest.files.length).toBe(2600 + 2 * 2 + 1)
  })
})
