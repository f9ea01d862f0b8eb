import {type StartedThread, startThread} from './start-thread.js'

/** Bytes per read (from the page cache, mostly: a file just written, or one being written). */
const READ = 2 * 1024 * 1024
/** Pause before looking again when the read of a growing file caught up with its writer. */
const CAUGHT_UP_MS = 4

/**
 * The thread's code: hashes the files it is sent, one at a time, with synchronous reads into one buffer (its own
 * reads: none waits in libuv's thread pool behind the copies that fill it), and answers each with its digest. A file
 * sent with `growing` (shared state) is one a writer still appends to: the thread reads on as it grows until
 * `state[0]` turns 1 (the writer gone), then once more to the end.
 */
const HASH_THREAD = `
const {parentPort} = require('node:worker_threads')
const {openSync, readSync, closeSync} = require('node:fs')
const {createHash} = require('node:crypto')
const buffer = Buffer.allocUnsafe(${READ})
parentPort.on('message', ({id, path, growing}) => {
  try {
    const state = growing ? new Int32Array(growing) : undefined
    const fd = openSync(path, 'r')
    const hash = createHash('sha256')
    let bytes = 0
    let last = !state
    try {
      for (;;) {
        const ended = state ? Atomics.load(state, 0) === 1 : true
        const n = readSync(fd, buffer, 0, buffer.length, bytes)
        if (n > 0) {
          hash.update(buffer.subarray(0, n))
          bytes += n
          last = !state
          continue
        }
        if (last) break
        if (ended) last = true
        else Atomics.wait(state, 0, 0, ${CAUGHT_UP_MS})
      }
    } finally {
      closeSync(fd)
    }
    parentPort.postMessage({id, bytes, sha256: hash.digest('hex')})
  } catch (error) {
    parentPort.postMessage({id, error: String((error && error.message) || error), code: error && error.code})
  }
})
`

/** A file's size and sha256 (hex), as hashed. */
export interface FileDigest {
  bytes: number
  sha256: string
}

/** Hashes files off the main thread; {@link FileHasher.close} ends the thread. */
export interface FileHasher {
  /** sha256 of the file at `path` (rejects with the read's error, its `code` kept: ENOENT, EACCES, …). */
  sha256(path: string): Promise<FileDigest>
  /** Ends the thread (pending hashes are rejected). */
  close(): Promise<void>
}

/**
 * One thread that hashes files, in the order they are asked for, while the main thread goes on (copying, walking,
 * holding a database lock): hashing is CPU, and the machine's other core does it. The thread starts at once, so its
 * start-up overlaps the caller's own work, and keeps the process alive only while it has work.
 */
export function fileHasher(): FileHasher {
  return startHasher()
}

/** fileHasher's thread, which also takes a growing file (`growing`: its writer's state, see HASH_THREAD). */
function startHasher(): FileHasher & {growing(path: string, state: SharedArrayBuffer): Promise<FileDigest>} {
  let nextId = 0
  let failure: Error | undefined
  const pending = new Map<number, {resolve: (d: FileDigest) => void; reject: (e: Error) => void}>()
  const failAll = (error: Error) => {
    failure ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  const start = (): StartedThread => {
    // (its code is CommonJS: a process's --input-type=module left out)
    const thread = startThread(HASH_THREAD, {eval: true})
    const w = thread.worker
    w.unref()
    w.on('message', (m: {id: number; bytes: number; sha256: string} | {id: number; error: string; code?: string}) => {
      const p = pending.get(m.id)
      if (!p) return
      pending.delete(m.id)
      if (pending.size === 0) w.unref()
      if ('error' in m) p.reject(Object.assign(new Error(m.error), m.code ? {code: m.code} : {}))
      else p.resolve({bytes: m.bytes, sha256: m.sha256})
    })
    w.on('error', (error) => failAll(error))
    w.on('exit', () => failAll(new Error('the hashing thread stopped')))
    return thread
  }
  let thread: StartedThread | undefined = start()
  const send = (path: string, growing?: SharedArrayBuffer): Promise<FileDigest> => {
    if (failure || !thread) return Promise.reject(failure)
    const id = nextId++
    const digest = new Promise<FileDigest>((resolve, reject) => pending.set(id, {resolve, reject}))
    thread.worker.ref()
    thread.worker.postMessage({id, path, growing})
    return digest
  }
  return {
    sha256: (path) => send(path),
    growing: (path, state) => send(path, state),
    async close() {
      const t = thread
      thread = undefined
      failure ??= new Error('the hasher is closed')
      if (t) await t.stop()
      failAll(failure)
    },
  }
}

/** The hash of a file being written: see {@link growingFileHash}. */
export interface GrowingHash {
  /** Once the writer is gone: the file's size and sha256, read to its end. */
  finish(): Promise<FileDigest>
  /** Ends the thread (the write failed). */
  stop(): void
}

/**
 * Hashes `path` in a thread of its own while a writer (a compressor) still appends to it, reading it as it grows
 * (from the page cache): the file's sha256 leaves the main thread's path.
 */
export function growingFileHash(path: string): GrowingHash {
  const hasher = startHasher()
  const shared = new SharedArrayBuffer(4)
  const state = new Int32Array(shared)
  const digest = hasher.growing(path, shared)
  digest.catch(() => {})
  return {
    async finish() {
      Atomics.store(state, 0, 1)
      Atomics.notify(state, 0)
      try {
        return await digest
      } catch (error) {
        throw new Error(`hashing ${path}: ${(error as Error).message}`)
      } finally {
        await hasher.close()
      }
    },
    stop() {
      void hasher.close()
    },
  }
}
