import {chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
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
const {fsyncTree, writebackWhile} = await import('../src/fs/fsync-tree.js')

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

/** A `sync` on PATH that logs 'start <args>' and 'end' around a pause (the one writebackWhile runs). */
function fakeSync(): {log: string; lines: () => string[]; restore: () => void} {
  const bin = tempDir()
  const log = join(bin, 'log')
  writeFileSync(join(bin, 'sync'), `#!/bin/sh\necho "start $*" >> "${log}"\nsleep 0.2\necho end >> "${log}"\n`)
  chmodSync(join(bin, 'sync'), 0o755)
  const path = process.env.PATH
  process.env.PATH = `${bin}:${path}`
  return {
    log,
    lines: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    restore: () => {
      process.env.PATH = path
    },
  }
}

/** Resolves once `ok()` holds, or after 10 s (the test's assertions then fail). */
async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 20))
}

describe('writebackWhile', () => {
  it("syncs the root's file system in the background while the work runs, one at a time, none after it", async () => {
    const sync = fakeSync()
    try {
      const root = tempDir()
      const starts = () => sync.lines().filter((l) => l.startsWith('start')).length
      const result = await writebackWhile(root, async () => {
        await until(() => starts() >= 2)
        return 'built'
      })
      expect(result).toBe('built')
      const atEnd = starts()
      await until(() => sync.lines().at(-1) === 'end')
      await new Promise((r) => setTimeout(r, 600))
      const lines = sync.lines()
      expect(atEnd).toBeGreaterThanOrEqual(2)
      expect(lines.filter((l) => l.startsWith('start')).length).toBe(atEnd)
      // never two at once: each start is followed by its end before the next start
      expect(lines).toEqual(lines.map((_, i) => (i % 2 === 0 ? `start -f -- ${root}` : 'end')))
    } finally {
      sync.restore()
    }
  })

  it("passes the work's failure on, and starts nothing after it", async () => {
    const sync = fakeSync()
    try {
      await expect(
        writebackWhile(tempDir(), async () => {
          throw new Error('unsafe entry')
        }),
      ).rejects.toThrow('unsafe entry')
      await new Promise((r) => setTimeout(r, 600))
      expect(sync.lines()).toEqual([])
    } finally {
      sync.restore()
    }
  })
})
