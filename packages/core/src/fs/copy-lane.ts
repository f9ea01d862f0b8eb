/**
 * A second lane for copyTree's small files: a worker thread that copies them in batches with synchronous calls
 * (open, read, close, open, write, futimes, close), while the walk goes on (lstat, readdir, mkdir) on the thread
 * that runs copyTree. A tree of many small files (a blob storage: 20k one-file folders) then uses two cores, and no
 * file takes a thread-pool round trip: libuv's copyFile cost ~12 syscalls and two thread hand-offs a file, twice the
 * CPU of these seven calls (measured: 20k blobs, 4.4 → 2.9 s of CPU).
 */
import {Worker} from 'node:worker_threads'

/** The thread: copies each batch's files in order, answers with each file's copied size or the first failure. */
const LANE_THREAD = `
const {parentPort, workerData} = require('node:worker_threads')
const {chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, openSync, readSync, utimesSync, writeSync} = require('node:fs')
const {small, slowMs} = workerData
const buffer = Buffer.allocUnsafe(small)
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL
/** Folders' metadata, once every entry is in them: chown (clears setgid), then the mode, then the times. */
function setDirs(id, dirs) {
  try {
    for (const d of dirs) {
      if (d.uid >= 0) chownSync(d.path, d.uid, d.gid)
      if (d.mode >= 0) chmodSync(d.path, d.mode)
      utimesSync(d.path, d.atime, d.mtime)
    }
  } catch (error) {
    parentPort.postMessage({id, sizes: [], error: {message: String(error && error.message || error), code: error && error.code}})
    return
  }
  parentPort.postMessage({id, sizes: []})
}
parentPort.on('message', ({id, files, dirs}) => {
  if (dirs) return setDirs(id, dirs)
  const sizes = []
  let slowOnes = 0
  for (const f of files) {
    const started = performance.now()
    try {
      let length = 0
      const input = openSync(f.src, constants.O_RDONLY)
      try {
        // a read shorter than asked that ends at the size the walk saw is the end: no second read to see 0
        for (let n = 1; n > 0 && length < small; ) {
          const want = small - length
          n = readSync(input, buffer, length, want, null)
          length += n
          if (n < want && length === f.size) break
        }
      } finally {
        closeSync(input)
      }
      if (length >= small) {
        sizes.push(-1) // grew since the walk: copied another way
        continue
      }
      const output = openSync(f.dest, CREATE, f.exact ? f.mode : 0o600)
      try {
        for (let w = 0; w < length; ) w += writeSync(output, buffer, w, length - w)
        // chown clears setuid/setgid: the mode is set after it
        if (f.uid >= 0) fchownSync(output, f.uid, f.gid)
        if (!f.exact) fchmodSync(output, f.mode)
        futimesSync(output, f.atime, f.mtime)
      } finally {
        closeSync(output)
      }
      sizes.push(length)
    } catch (error) {
      parentPort.postMessage({id, sizes, error: {message: String(error && error.message || error), code: error && error.code}})
      return
    }
    if (performance.now() - started >= slowMs) slowOnes++
  }
  // one slow copy is this thread being preempted on a busy machine; a quarter of the batch is the disk
  parentPort.postMessage({id, sizes, slow: slowOnes * 4 >= files.length})
})
`

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
export interface LaneDir {
  path: string
  mode: number
  uid: number
  gid: number
  atime: number
  mtime: number
}

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
  const workers = Array.from(
    {length: Math.max(1, threads)},
    () => new Worker(LANE_THREAD, {eval: true, workerData: {small, slowMs}, resourceLimits: LIMITS}),
  )
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
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}
