import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import type * as coreFs from '@bkcli/core/fs'
import {tempDir} from '@bkcli/testkit'
import {beforeEach, describe, expect, it, vi} from 'vitest'
import {TracEnvironment} from '../src/environment.js'
import {makeExampleEnvironment} from '../src/example.js'
import {HASHES_IN_FLIGHT, hotcopy} from '../src/hotcopy.js'

// what hotcopy does per copied file, seen from outside: the early fsyncs of big files and the hashes sent to the
// hashing thread (both taken from @bkcli/core/fs, wrapped here; the real ones still run unless a test says otherwise)
const hooks = vi.hoisted(() => ({
  fsync: undefined as ((path: string, real: (path: string) => Promise<void>) => Promise<void>) | undefined,
  hashing: 0,
  maxHashing: 0,
  hashes: 0,
}))

vi.mock('@bkcli/core/fs', async (importOriginal) => {
  const real = await importOriginal<typeof coreFs>()
  return {
    ...real,
    fsyncPath: (path: string) => (hooks.fsync ? hooks.fsync(path, real.fsyncPath) : real.fsyncPath(path)),
    fileHasher: () => {
      const hasher = real.fileHasher()
      return {
        sha256(path: string) {
          hooks.hashes++
          hooks.maxHashing = Math.max(hooks.maxHashing, ++hooks.hashing)
          return hasher.sha256(path).finally(() => hooks.hashing--)
        },
        close: () => hasher.close(),
      }
    },
  }
})

beforeEach(() => {
  hooks.fsync = undefined
  hooks.hashing = 0
  hooks.maxHashing = 0
  hooks.hashes = 0
})

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe('trac hotcopy: work per copied file', () => {
  it(`keeps at most ${HASHES_IN_FLIGHT} hashes in flight however many files are copied, and hashes every one`, async () => {
    const parent = tempDir()
    const envDir = join(parent, 'env')
    const attachments = HASHES_IN_FLIGHT * 12
    await makeExampleEnvironment(envDir, {tickets: attachments, attachments, attachmentBytes: 100})
    const dest = join(parent, 'copy')
    const result = await hotcopy(await TracEnvironment.open(envDir), dest)
    // every file of the tree is hashed (the database is hashed as it is copied, not by the thread)
    expect(hooks.hashes).toBe(result.files)
    expect(result.files).toBeGreaterThan(attachments)
    expect(hooks.maxHashing).toBeGreaterThan(1)
    expect(hooks.maxHashing).toBeLessThanOrEqual(HASHES_IN_FLIGHT)
    expect(hooks.hashing).toBe(0)
    // the manifest holds each file's digest as the copy has it
    const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8')) as {
      files: {path: string; sha256: string}[]
    }
    const attachmentsListed = manifest.files.filter((f) => f.path.startsWith('files/attachments/'))
    expect(attachmentsListed).toHaveLength(attachments)
    for (const file of attachmentsListed) expect(file.sha256).toBe(sha256(join(dest, file.path)))
  })

  it('a failed early fsync: the run fails only after every other fsync has finished, the stage still there', async () => {
    const parent = tempDir()
    const envDir = join(parent, 'env')
    // two big attachments: each is fsynced as soon as it is copied, in a lane of its own
    await makeExampleEnvironment(envDir, {attachments: 2, attachmentBytes: 2 * 1024 * 1024})
    const events: string[] = []
    let secondStarted: () => void = () => {}
    const second = new Promise<void>((resolve) => {
      secondStarted = resolve
    })
    let calls = 0
    hooks.fsync = async (path, real) => {
      const call = ++calls
      if (call === 1) {
        await second
        events.push('first fsync failed')
        throw Object.assign(new Error(`EIO: i/o error, fsync '${path}'`), {code: 'EIO'})
      }
      if (call === 2) secondStarted()
      // still running when the first one fails: the stage must not be removed under it. It ends when the run has
      // ended (a run that did not wait for it) or after a while (a run that waits)
      await Promise.race([run.finally(() => {}), new Promise((resolve) => setTimeout(resolve, 1500))]).catch(() => {})
      events.push(`fsync ${call} finished, file ${existsSync(path) ? 'present' : 'gone'}`)
      await real(path)
    }
    const env = await TracEnvironment.open(envDir)
    let started: () => void = () => {}
    const run: Promise<unknown> = new Promise<void>((resolve) => {
      started = resolve
    }).then(() => hotcopy(env, join(parent, 'copy')))
    started()
    await expect(run).rejects.toThrow(/EIO/)
    events.push('hotcopy failed')
    expect(events).toEqual(['first fsync failed', 'fsync 2 finished, file present', 'hotcopy failed'])
    expect(calls).toBe(2)
    // nothing left behind: no destination, no stage, no database scratch
    expect(readdirSync(parent).sort()).toEqual(['env'])
  })
})
