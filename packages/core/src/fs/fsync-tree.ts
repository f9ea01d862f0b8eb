import {execFile} from 'node:child_process'
import {opendir} from 'node:fs/promises'
import {join} from 'node:path'
import {findProgram} from '../archive/native.js'
import {BkError} from '../errors.js'
import {fsyncPath} from './paths.js'

/**
 * fsync every file and directory under `root` (and `root` itself), files before the directory holding them, so a
 * staged tree is on disk before it is renamed into place. Many fsyncs are kept in flight at once.
 */
export async function fsyncTree(root: string, concurrency = 32): Promise<void> {
  const pending: Promise<void>[] = []
  const run = async (path: string) => {
    while (pending.length >= concurrency) await Promise.race(pending)
    const p: Promise<void> = fsyncPath(path).finally(() => pending.splice(pending.indexOf(p), 1))
    pending.push(p)
  }
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of await opendir(dir)) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await visit(path)
      else if (entry.isFile()) await run(path)
    }
    await Promise.all(pending)
    await fsyncPath(dir)
  }
  await visit(root)
}

/**
 * Make every file under `root` durable before a rename publishes it. One syncfs(2) of its file system through
 * coreutils' `sync -f` when that exists (20k small files: ~0.5 s, against seconds for one fsync each), else
 * fsyncTree. A failing syncfs (an I/O error of the disk) throws: the tree must not be published as complete.
 * No probe first: a probe would be a second syncfs, as costly as the real one; a `sync` that refuses -f says so
 * on its stderr, and from then on (for that PATH) every file is fsynced instead.
 */
export async function syncTree(root: string): Promise<void> {
  const path = process.env.PATH ?? ''
  const sync = noSyncfs.has(path) ? undefined : await findProgram('sync')
  if (!sync) return fsyncTree(root)
  const failure = await new Promise<string | undefined>((resolve) => {
    execFile(sync, ['-f', '--', root], {timeout: 600_000}, (error, _stdout, stderr) =>
      resolve(error ? String(stderr).trim() || error.message : undefined),
    )
  })
  if (failure !== undefined && REFUSES_F.test(failure)) {
    noSyncfs.add(path)
    return fsyncTree(root)
  }
  if (failure !== undefined) throw new BkError(`flushing ${root} to disk failed: ${failure.split('\n')[0]}`)
  await fsyncPath(root)
}

/** What a `sync` without -f (old coreutils, busybox) prints: not an I/O error, so fall back rather than fail. */
const REFUSES_F = /invalid option|unrecognized option|unknown option|usage:/i

/** PATH values whose `sync` refused -f. */
const noSyncfs = new Set<string>()
