// Extracting into a folder with content where the old tree has a folder with content and the archive a file or a
// link in its place: extraction never empties a folder, so node-tar's unpacker failed there (ENOTEMPTY), after every
// entry before it was written: old and new mixed. The read-only first pass now refuses it before anything is written.
import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {cleanupTemp, digestsOf, type RawMember, rawTar, rejection, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

function oldTree(target: string): void {
  mkdirSync(join(target, 'd', 'sub'), {recursive: true})
  writeFileSync(join(target, 'a'), 'old a\n')
  writeFileSync(join(target, 'd', 'sub', 'x'), 'old x\n')
  mkdirSync(join(target, 'empty'))
  symlinkSync('d', join(target, 'link-to-d'))
}

async function refused(last: RawMember, filter?: (path: string) => boolean) {
  const dir = temp()
  const file = join(dir, 'a.tar')
  writeFileSync(file, rawTar([{path: 'a', content: 'new a\n'}, {path: 'b', content: 'new b\n'}, last]))
  const target = join(dir, 'target')
  oldTree(target)
  const before = digestsOf(target)
  const error = await rejection(extractArchive({file, target, ...(filter ? {filter} : {})}))
  expect(digestsOf(target)).toEqual(before)
  expect(readFileSync(join(target, 'a'), 'utf8')).toBe('old a\n')
  return error.message
}

describe('a folder with content where the archive has a file', () => {
  it('is refused before anything is written: a file, a symlink, a hard link', async () => {
    for (const last of [
      {path: 'd', content: 'a file now\n'},
      {path: 'd', type: 'SymbolicLink', linkpath: 'a'},
      {path: 'd', type: 'Link', linkpath: 'a'},
    ] as RawMember[])
      expect(await refused(last), last.type ?? 'File').toMatch(
        /'d' is a folder with content there, the archive has a file or link in its place; move it away/,
      )
    expect(await refused({path: 'd/sub', content: 'deeper\n'})).toMatch(/'d\/sub' is a folder with content/)
  })

  it('an empty folder, a symlink to a folder, or an entry the filter leaves out are replaced or skipped as before', async () => {
    const dir = temp()
    const file = join(dir, 'a.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'a', content: 'new a\n'},
        {path: 'empty', content: 'was an empty folder\n'},
        {path: 'link-to-d', content: 'was a symlink to a folder\n'},
        {path: 'd', content: 'left out\n'},
      ]),
    )
    const target = join(dir, 'target')
    oldTree(target)
    await extractArchive({file, target, filter: (p) => p !== 'd'})
    expect(readFileSync(join(target, 'a'), 'utf8')).toBe('new a\n')
    expect(readFileSync(join(target, 'empty'), 'utf8')).toBe('was an empty folder\n')
    expect(readFileSync(join(target, 'link-to-d'), 'utf8')).toBe('was a symlink to a folder\n')
    expect(readFileSync(join(target, 'd', 'sub', 'x'), 'utf8')).toBe('old x\n')
  })
})
