// A read-back thread that cannot be made (new Worker throwing: options a thread refuses, no memory for one): the
// archive fails with that error, told once, and leaves nothing; the process goes on.
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it, vi} from 'vitest'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

vi.mock('node:worker_threads', async (original) => ({
  ...(await original<typeof import('node:worker_threads')>()),
  Worker: class {
    constructor() {
      throw Object.assign(new Error('no thread can be started here'), {code: 'ERR_WORKER_INIT_FAILED'})
    }
  },
}))

afterAll(() => cleanupTemp())

describe('createArchiveWithManifest .tar.zst when its read-back thread cannot be started', () => {
  it('rejects with the thread’s error and leaves nothing (the thread was made on a later turn: an uncaught throw)', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const file = join(root, 'a.tar.zst')
    await expect(createArchiveWithManifest({cwd: src, file, meta: testMeta})).rejects.toThrow(
      /no thread can be started here/,
    )
    expect(readdirSync(root)).toEqual(['src'])
  })
})
