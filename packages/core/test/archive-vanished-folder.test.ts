// A folder removed while an archive is written, between the listing that names it and the reading of its own listing
// (a live application's temp folder): left out, as a file removed between the listing and its lstat is.
import {mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive, listArchive} from '../src/archive/index.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

/** A tree with a folder `tmp/` that the listing's filter (called on each name as it is listed) removes. */
function tree() {
  const root = temp()
  const cwd = join(root, 'src')
  mkdirSync(join(cwd, 'tmp', 'deep'), {recursive: true})
  writeFileSync(join(cwd, 'tmp', 'deep', 'x.txt'), 'x\n')
  writeFileSync(join(cwd, 'a.txt'), 'a\n')
  writeFileSync(join(cwd, 'z.txt'), 'z\n')
  const filter = (path: string) => {
    if (path === 'tmp') rmSync(join(cwd, 'tmp'), {recursive: true})
    return true
  }
  return {root, cwd, filter}
}

describe('a folder that vanishes while the tree is listed', () => {
  const engine = process.env.BK_ARCHIVE_ENGINE
  afterEach(() => {
    if (engine === undefined) delete process.env.BK_ARCHIVE_ENGINE
    else process.env.BK_ARCHIVE_ENGINE = engine
  })
  for (const format of ['tar.gz', 'tar'] as const)
    for (const node of [false, true])
      it(`is left out of the ${format} (${node ? 'node-tar' : 'GNU tar'}), the rest archived`, async () => {
        if (node) process.env.BK_ARCHIVE_ENGINE = 'node'
        const {root, cwd, filter} = tree()
        const file = join(root, `out.${format}`)
        await createArchive({cwd, file, filter})
        const names: string[] = []
        for await (const e of listArchive(file)) names.push(e.path)
        names.sort()
        expect(names).toEqual(['a.txt', 'z.txt'])
        expect(readdirSync(root).sort()).toEqual([`out.${format}`, 'src'])
      })
})
