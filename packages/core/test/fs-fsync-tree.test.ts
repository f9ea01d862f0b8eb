import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it, vi} from 'vitest'

const synced: string[] = []
let failOn: string | undefined
vi.mock('../src/fs/paths.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/fs/paths.js')>()
  return {
    ...real,
    fsyncPath: async (path: string) => {
      if (path === failOn) throw Object.assign(new Error(`EIO: i/o error, fsync '${path}'`), {code: 'EIO'})
      await real.fsyncPath(path)
      synced.push(path)
    },
  }
})
const {fsyncTree} = await import('../src/fs/fsync-tree.js')

afterEach(() => {
  synced.length = 0
  failOn = undefined
})

/** root/{top, a/{one, b/{two, c/}}, link -> top}: 3 files, 4 folders (root included), one symlink. */
function tree(): {root: string; files: string[]; dirs: string[]} {
  const root = tempDir()
  mkdirSync(join(root, 'a/b/c'), {recursive: true})
  const files = [join(root, 'top'), join(root, 'a/one'), join(root, 'a/b/two')]
  for (const file of files) writeFileSync(file, file)
  symlinkSync('top', join(root, 'link'))
  return {root, files, dirs: [root, join(root, 'a'), join(root, 'a/b'), join(root, 'a/b/c')]}
}

describe('fsyncTree', () => {
  it('fsyncs every file and folder once; symlinks are not followed', async () => {
    const t = tree()
    await fsyncTree(t.root, 2)
    expect([...synced].sort()).toEqual([...t.files, ...t.dirs].sort())
  })

  it('fails when one fsync fails (a disk error): the tree must not be published as durable', async () => {
    const t = tree()
    failOn = join(t.root, 'a/one')
    await expect(fsyncTree(t.root)).rejects.toMatchObject({code: 'EIO'})
  })
})
