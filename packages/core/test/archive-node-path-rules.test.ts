// Names and link texts that are sound on Linux, where node-tar's own path rules (made for Windows and for archives
// nobody checked) disagreed with bk's checker: through the node-tar engine (a folder with content, --strip, or a
// machine without GNU tar) 'c:foo' was written as 'foo' over the archive's own 'foo', a hard link to 'c:foo' joined
// 'foo', a link text 'c:x' became 'x', 'a\..\b' and a link text 'a\..\..\x' failed as '..', a symlink through
// another symlink (bin -> cur/bin, cur -> rel) failed, each after the entries before it were written. A file where
// the archive has a folder above an entry is replaced, as it was before (node-tar's mkdir replaced it).
import {lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {cleanupTemp, type RawMember, rawTar, temp} from './archive-helpers.js'

afterAll(cleanupTemp)
const saved = process.env.BK_ARCHIVE_ENGINE
afterEach(() => {
  if (saved === undefined) delete process.env.BK_ARCHIVE_ENGINE
  else process.env.BK_ARCHIVE_ENGINE = saved
})

const members: RawMember[] = [
  {path: 'top', type: 'Directory'},
  {path: 'top/foo', content: 'the real foo\n'},
  {path: 'top/c:foo', content: 'c colon foo\n'},
  {path: 'top/hard', type: 'Link', linkpath: 'top/c:foo'},
  {path: 'top/a\\..\\b', content: 'backslashes\n'},
  {path: 'top/rel', type: 'Directory'},
  {path: 'top/rel/bin', content: 'binary\n'},
  {path: 'top/cur', type: 'SymbolicLink', linkpath: 'rel'},
  {path: 'top/bin', type: 'SymbolicLink', linkpath: 'cur/bin'},
  {path: 'top/drive', type: 'SymbolicLink', linkpath: 'c:x'},
  {path: 'top/slashes', type: 'SymbolicLink', linkpath: 'a\\..\\..\\x'},
  {path: 'top/data/x', content: 'a folder where the old tree has a file\n'},
  {path: 'top/last', content: 'the last entry\n'},
]

/** Every path under `dir` with its kind and bytes or link text. */
function tree(dir: string, under = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(dir, under)).sort()) {
    const p = under ? `${under}/${name}` : name
    const st = lstatSync(join(dir, p))
    if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(join(dir, p))}`)
    else if (st.isDirectory()) out.push(`${p}/`, ...tree(dir, p))
    else out.push(`${p}: ${readFileSync(join(dir, p), 'utf8')}`)
  }
  return out
}

const expected = [
  'a\\..\\b: backslashes\n',
  'bin -> cur/bin',
  'c:foo: c colon foo\n',
  'cur -> rel',
  'data/',
  'data/x: a folder where the old tree has a file\n',
  'drive -> c:x',
  'foo: the real foo\n',
  'hard: c colon foo\n',
  'last: the last entry\n',
  'rel/',
  'rel/bin: binary\n',
  'slashes -> a\\..\\..\\x',
]

describe('names node-tar read as Windows paths, through the node-tar engine', () => {
  it('into a folder with content, with --strip', async () => {
    const dir = temp()
    const file = join(dir, 'a.tar')
    writeFileSync(file, rawTar(members))
    const target = join(dir, 'target')
    mkdirSync(target)
    writeFileSync(join(target, 'foo'), 'old foo\n')
    writeFileSync(join(target, 'data'), 'an old file where the archive has a folder\n')
    writeFileSync(join(target, 'mine'), 'kept\n')

    await extractArchive({file, target, strip: 1})

    expect(tree(target)).toEqual([...expected.slice(0, 9), 'mine: kept\n', ...expected.slice(9)].sort())
    expect(statSync(join(target, 'hard')).ino).toBe(statSync(join(target, 'c:foo')).ino)
    expect(readFileSync(join(target, 'bin'), 'utf8')).toBe('binary\n')
  })

  it('into a new folder, without GNU tar', async () => {
    process.env.BK_ARCHIVE_ENGINE = 'node'
    const dir = temp()
    const file = join(dir, 'a.tar')
    writeFileSync(file, rawTar(members))
    const target = join(dir, 'target')

    await extractArchive({file, target})

    expect(tree(target)).toEqual(['top/', ...expected.map((line) => `top/${line}`)])
  })
})
