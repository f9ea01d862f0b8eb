// Every kind of worker thread stopped right after its start, under a busy thread pool: no descriptor left open.
import {execFile} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'

// the child runs the built core (dist/): build core first
const child = join(dirname(fileURLToPath(import.meta.url)), 'thread-stop-child.mjs')

/** The descriptors `kind`'s starts and stops left open, in a child whose thread pool is busy. */
async function leftOpen(kind: string, rounds: number, ...args: string[]): Promise<string[]> {
  // (not execFileSync: a minute blocking this process times out the test runner's own calls)
  const {stdout} = await promisify(execFile)(process.execPath, [child, kind, String(rounds), ...args], {
    encoding: 'utf8',
    env: {...process.env, UV_THREADPOOL_SIZE: '2'},
    timeout: 170_000,
  })
  return JSON.parse(stdout) as string[]
}

describe('a thread stopped while it loads its modules leaves no descriptor open', () => {
  // a stop once it was 'online' landed in the middle of a module file's read: its descriptor left open for good
  // (before: extract 1 in 100, copy 1 in 100; lane and hash none seen, their module graphs smaller, but stopped the
  // same way). A copy is stopped by a flag it checks at each entry, not terminated: terminating a thread in the
  // middle of an fs.promises call may abort the whole process in Node 20 (RealPath: "req_wrap_async != nullptr",
  // 1 in 180 stops at once when the copy thread was terminated)
  for (const kind of ['extract', 'lane', 'hash', 'copy'])
    it(kind, async () => {
      expect(await leftOpen(kind, 60)).toEqual([])
    }, 180_000)
})

describe('a copy stopped in the middle of a big file', () => {
  // the kernel's copy of a file is one call, which the stop flag cannot interrupt: a stop waited for the whole file
  // (on a slow disk, the 10 s grace, then the thread terminated, which Node 20 may answer by aborting the process).
  // Big files go by the MiB in a copy that can be stopped: the stop lands within the file, the thread ends by itself,
  // and the copy, the partial file included, is removed
  it('lands within the file, without terminating the thread, and leaves nothing', async () => {
    expect(await leftOpen('copy-big', 3)).toEqual([])
  }, 180_000)
})
