import {lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, names, type RawMember, rawTar, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

function sandbox() {
  const box = temp()
  const outside = join(box, 'outside')
  mkdirSync(outside)
  writeFileSync(join(outside, 'keep.txt'), 'keep')
  return {box, outside, target: join(box, 'area', 'target')}
}

/** Nothing was written, chmodded or created outside the target. */
function untouched(box: string, outside: string): void {
  expect(names(outside)).toEqual(['keep.txt'])
  expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('keep')
  expect(statSync(join(outside, 'keep.txt')).mode & 0o7777).toBe(0o644)
  expect(readdirSync(join(box, 'area')).filter((n) => n !== 'target')).toEqual([])
  expect(readdirSync(box).sort()).toEqual(['area', 'outside', 'x.tar'])
}

/**
 * Crafted archives against extraction with outsideSymlinks (IOTstack restores): whatever the order of links,
 * directories, files and hard links, nothing lands outside the target; either the archive is refused (and verify's
 * checkArchive refuses it too) or it extracts inside.
 */
describe('outsideSymlinks: crafted orders never write outside the target', () => {
  const attacks: {name: string; members: (outside: string) => RawMember[]}[] = [
    {
      name: 'link, then a directory of the same name, then a file below',
      members: (o) => [
        {path: 'a', type: 'SymbolicLink', linkpath: o},
        {path: 'a', type: 'Directory'},
        {path: 'a/x', content: 'pwned'},
      ],
    },
    {
      name: 'directory, replaced by a link, then a file below',
      members: (o) => [
        {path: 'a', type: 'Directory'},
        {path: 'a', type: 'SymbolicLink', linkpath: o},
        {path: 'a/x', content: 'pwned'},
      ],
    },
    {
      name: 'directory, replaced by a link, then a sub-directory below',
      members: (o) => [
        {path: 'a', type: 'Directory'},
        {path: 'a', type: 'SymbolicLink', linkpath: o},
        {path: 'a/sub/', type: 'Directory'},
      ],
    },
    {
      name: 'hard link to a link, then a file below the hard link',
      members: (o) => [
        {path: 's', type: 'SymbolicLink', linkpath: o},
        {path: 'h', type: 'Link', linkpath: 's'},
        {path: 'h/x', content: 'pwned'},
      ],
    },
    {
      name: 'hard link to a link to a file, then a file of the hard link name',
      members: (o) => [
        {path: 's', type: 'SymbolicLink', linkpath: join(o, 'keep.txt')},
        {path: 'h', type: 'Link', linkpath: 's'},
        {path: 'h', content: 'pwned', mode: 0o4755},
      ],
    },
    {
      name: 'link to a file, then a file of the same name (with a mode fixup)',
      members: (o) => [
        {path: 's', type: 'SymbolicLink', linkpath: join(o, 'keep.txt')},
        {path: 's', content: 'pwned', mode: 0o4700},
      ],
    },
    {
      name: "'..' in link text, then a link through it, then a file",
      members: () => [
        {path: 'a', type: 'Directory'},
        {path: 'a/up', type: 'SymbolicLink', linkpath: '../..'},
        {path: 'b', type: 'SymbolicLink', linkpath: 'a/up/../outside'},
        {path: 'b/x', content: 'pwned'},
      ],
    },
    {
      name: "'..' in link text, then a hard link through it",
      members: () => [
        {path: 'up', type: 'SymbolicLink', linkpath: '../../outside'},
        {path: 'h', type: 'Link', linkpath: 'up/keep.txt'},
      ],
    },
    {
      name: 'link named like a later directory, no directory entry',
      members: (o) => [
        {path: 'volumes', type: 'SymbolicLink', linkpath: o},
        {path: 'volumes/x/', type: 'Directory'},
        {path: 'volumes/x/y', content: 'pwned'},
      ],
    },
    {
      name: 'link with ./ prefix and a later plain path',
      members: (o) => [
        {path: './v', type: 'SymbolicLink', linkpath: o},
        {path: 'v//x', content: 'pwned'},
      ],
    },
    {
      name: 'link to itself-relative loop, then below',
      members: () => [
        {path: 'l', type: 'SymbolicLink', linkpath: 'l/../../../outside'},
        {path: 'l/x', content: 'pwned'},
      ],
    },
    {
      name: 'directory mode fixup through a link that replaced it later',
      members: (o) => [
        {path: 'd', type: 'Directory', mode: 0o777},
        {path: 'd', type: 'SymbolicLink', linkpath: o},
        {path: 'k', type: 'SymbolicLink', linkpath: join(o, 'keep.txt')},
        {path: 'k2', type: 'Link', linkpath: 'k'},
      ],
    },
  ]
  for (const attack of attacks) {
    it(attack.name, async () => {
      const {box, outside, target} = sandbox()
      const file = join(box, 'x.tar')
      writeFileSync(file, rawTar(attack.members(outside)))
      const before = statSync(outside)
      const checked = await checkArchive(file, {outsideSymlinks: true})
      let refused = false
      try {
        await extractArchive({file, target, outsideSymlinks: true})
      } catch {
        refused = true
      }
      untouched(box, outside)
      expect(statSync(outside).mode).toBe(before.mode)
      // verify refuses exactly what restore refuses
      expect(checked.unsafe.length > 0).toBe(refused)
      if (!refused) expect(lstatSync(target).isDirectory()).toBe(true)
    })
  }

  it('an existing target with a link on disk, then a directory and file of that name', async () => {
    const {box, outside, target} = sandbox()
    mkdirSync(target, {recursive: true})
    writeFileSync(join(target, 'old'), 'old')
    symlinkSync(outside, join(target, 'v'))
    const file = join(box, 'x.tar')
    writeFileSync(file, rawTar([{path: 'v/x', content: 'pwned'}]))
    await extractArchive({file, target, outsideSymlinks: true}).catch(() => {})
    untouched(box, outside)
  })
  it('a filtered-out directory entry does not hide a link on disk from the entries below it', async () => {
    const {box, outside, target} = sandbox()
    mkdirSync(target, {recursive: true})
    writeFileSync(join(target, 'old'), 'old')
    symlinkSync(outside, join(target, 'v'))
    const file = join(box, 'x.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'v', type: 'Directory'},
        {path: 'v/sub', type: 'Directory'},
        {path: 'v/x', content: 'pwned'},
      ]),
    )
    for (const outsideSymlinks of [true, false]) {
      await extractArchive({file, target, outsideSymlinks, filter: (p) => p !== 'v'}).catch(() => {})
      untouched(box, outside)
    }
  })
})
