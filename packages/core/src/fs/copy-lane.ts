/**
 * A second lane for copyTree's small files: a worker thread (copy-lane-worker.ts) that copies them in batches with
 * synchronous calls (open, read, close, open, write, futimes, close), while the walk goes on (lstat, readdir, mkdir)
 * on the thread that runs copyTree. A tree of many small files (a blob storage: 20k one-file folders) then uses two
 * cores, and no file takes a thread-pool round trip: libuv's copyFile cost ~12 syscalls and two thread hand-offs a
 * file, twice the CPU of these seven calls (measured: 20k blobs, 4.4 → 2.9 s of CPU).
 */
import type {DirMeta} from './copy-small.js'
import {startThread} from './start-thread.js'

/**
 * The thread's script, beside this module once built (dist/fs/); run from the sources (tests), the built one.
 */
const LANE_THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/fs/copy-lane-worker.js', import.meta.url)
  : new URL('./copy-lane-worker.js', import.meta.url)

/** One small file for the lane: paths, mode (exact: given at creation), owner (uid -1: no chown), times in s. */
export interface LaneFile {
  src: string
  dest: string
  size: number
  mode: number
  exact: boolean
  uid: number
  gid: number
  atime: number
  mtime: number
}

/** A folder's metadata for the lane: mode -1 (no chmod), uid -1 (no chown), times in s. */
export type LaneDir = DirMeta

/** A batch's answer: each file's copied size (-1: it grew past the small size, copy it another way). */
export interface LaneReply {
  sizes: number[]
  /** A quarter of the copies took at least `slowMs` (their data was not cached): the disk is the limit. */
  slow: boolean
}

/** The lane: `copy` a batch (files in order), `setDirs` (folders' metadata), `close` when done. */
export interface CopyLane {
  copy(files: LaneFile[]): Promise<LaneReply>
  setDirs(dirs: LaneDir[]): Promise<void>
  close(): Promise<void>
}

/** A copy thread's JavaScript heap holds a batch of paths and one small buffer. */
const LIMITS = {maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4}

/** Starts the lane's `threads` threads (buffers of `small` bytes: larger files are not sent to them). */
export function copyLane(small: number, slowMs: number, threads: number): CopyLane {
  const started = Array.from({length: Math.max(1, threads)}, () =>
    startThread(LANE_THREAD, {workerData: {small, slowMs}, resourceLimits: LIMITS}),
  )
  const workers = started.map((t) => t.worker)
  // each thread's batches not yet answered: a batch goes to the least busy
  const busy = workers.map(() => 0)
  let nextId = 0
  let failure: Error | undefined
  const pending = new Map<number, {resolve: (r: LaneReply) => void; reject: (e: Error) => void; thread: number}>()
  const failAll = (error: Error) => {
    failure ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  for (const worker of workers) {
    worker.on(
      'message',
      (m: {id: number; sizes: number[]; slow?: boolean; error?: {message: string; code?: string}}) => {
        const p = pending.get(m.id)
        if (!p) return
        pending.delete(m.id)
        busy[p.thread]!--
        if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error.code ? {code: m.error.code} : {}))
        else p.resolve({sizes: m.sizes, slow: m.slow === true})
      },
    )
    worker.on('error', (error) => failAll(error))
    worker.on('exit', (code) => failAll(new Error(`the copy thread stopped (exit code ${code})`)))
  }
  const ask = (message: {files: LaneFile[]} | {dirs: LaneDir[]}) => {
    if (failure) return Promise.reject(failure)
    const id = nextId++
    const thread = busy.indexOf(Math.min(...busy))
    busy[thread]!++
    const reply = new Promise<LaneReply>((resolve, reject) => pending.set(id, {resolve, reject, thread}))
    workers[thread]!.postMessage({id, ...message})
    return reply
  }
  return {
    copy: (files) => ask({files}),
    async setDirs(dirs) {
      await ask({dirs})
    },
    async close() {
      failure ??= new Error('the copy thread is closed')
      await Promise.all(started.map((t) => t.stop()))
    },
  }
}
