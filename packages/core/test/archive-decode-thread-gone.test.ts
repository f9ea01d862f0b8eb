// A .tar.gz's members are read in the decode thread while the file is written (pigz -d fed by the read-back): a
// thread that cannot start (its script missing, a heap it cannot get) says nothing about the archive. The failure is
// told as the thread's, not as an archive that "does not read back as it was written" (ECORRUPT); nothing is kept.
import {mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it, vi} from 'vitest'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

vi.mock('../src/fs/start-thread.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/fs/start-thread.js')>()
  return {
    ...actual,
    // the decode thread's script where there is none: the thread dies as it starts
    startThread: (script: URL | string, options?: Parameters<typeof actual.startThread>[1]) =>
      actual.startThread(
        String(script).includes('decode-thread-worker') ? new URL('./no-such-decode-thread.js', script) : script,
        options,
      ),
  }
})

afterAll(() => cleanupTemp())

describe('the decode thread dies as it starts', () => {
  it('the backup fails as the thread did, not ECORRUPT, and nothing is left', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const out = join(root, 'out')
    mkdirSync(out)
    const error = await createArchiveWithManifest({
      cwd: src,
      file: join(out, 'a.tar.gz'),
      meta: testMeta,
      compression: 'gzip',
    }).then(
      () => undefined,
      (e: Error & {code?: string}) => e,
    )
    expect(error).toBeDefined()
    expect(error?.code).not.toBe('ECORRUPT')
    expect(error?.message).toMatch(/^creating .*a\.tar\.gz failed: the decode thread failed: .*no-such-decode-thread/)
    expect(readdirSync(out)).toEqual([])
  })
})
