import {execFile} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {BkError} from '../errors.js'
import {fsyncPath} from './paths.js'
import {WorkQueue} from './work-queue.js'

/** sync(1) on PATH; its lookup is loaded when first needed (the fs barrel is imported by every command). */
async function findSync(): Promise<string | undefined> {
  const {findProgram} = await import('../archive/native.js')
  return findProgram('sync')
}

/**
 * fsync every file and directory under `root` (and `root` itself), so a staged tree is on disk before it is renamed
 * into place. `concurrency` fsyncs are kept in flight, in no particular order (the tree is published only once all
 * are done, so none has to wait for another): a folder does not wait for its files, nor the next folder for this
 * one, which made a deep tree of one-file folders (Trac's attachments) one thread-pool round trip after another.
 * The tree is listed synchronously as the fsyncs go (it was just written: its folders are cached), one listing per
 * level held at a time.
 */
export async function fsyncTree(root: string, concurrency = 32): Promise<void> {
  const lanes = Math.max(1, concurrency)
  const queue = new WorkQueue(lanes, lanes * 2)
  for (const path of treePaths(root)) {
    const full = queue.push(() => fsyncPath(path))
    if (full) await full
    if (queue.failed) break
  }
  await queue.done()
}

/** Every regular file and folder under `root`, each folder after its contents, `root` last. */
function* treePaths(root: string): Generator<string> {
  for (const entry of readdirSync(root, {withFileTypes: true})) {
    const path = join(root, entry.name)
    if (entry.isDirectory()) yield* treePaths(path)
    else if (entry.isFile()) yield path
  }
  yield root
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
  const sync = noSyncfs.has(path) ? undefined : await findSync()
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

/**
 * Starts writing back what is dirty on `root`'s file system (one syncfs through `sync -f`, in the background) and
 * resolves when it ends, whatever its outcome: the flush that publishes a tree (syncTree, fsyncTree) still runs
 * and reports failures, with less left to wait for. Without a `sync` that takes -f, nothing is started.
 */
export async function startWriteback(root: string): Promise<void> {
  const path = process.env.PATH ?? ''
  const sync = noSyncfs.has(path) ? undefined : await findSync()
  if (!sync) return
  await new Promise<void>((resolve) => {
    execFile(sync, ['-f', '--', root], {timeout: 600_000}, () => resolve())
  })
}

/** Time between the start of one background writeback of writebackWhile and the start of the next (at least). */
const WRITEBACK_EVERY_MS = 250

/**
 * `work()` (e.g. an extraction into a stage that syncTree will flush) with the disk writing back beside it: every
 * WRITEBACK_EVERY_MS a background syncfs of `root`'s file system (startWriteback), never two at once. The flush that
 * publishes the tree then has only the last moments' data left to wait for, instead of all of it after the last byte
 * (256 MiB restored: ~1 s of a 3 s restore). Durability is still that flush's alone: nothing here is awaited or
 * checked, and a run killed at any point leaves exactly what it would have left without it.
 */
export async function writebackWhile<T>(root: string, work: () => Promise<T>): Promise<T> {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    void startWriteback(root).finally(() => {
      running = false
    })
  }, WRITEBACK_EVERY_MS)
  timer.unref()
  try {
    return await work()
  } finally {
    clearInterval(timer)
  }
}

/** What a `sync` without -f (old coreutils, busybox) prints: not an I/O error, so fall back rather than fail. */
const REFUSES_F = /invalid option|unrecognized option|unknown option|usage:/i

/** PATH values whose `sync` refused -f. */
const noSyncfs = new Set<string>()
