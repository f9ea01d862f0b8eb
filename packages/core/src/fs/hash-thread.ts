import {Worker} from 'node:worker_threads'

/**
 * The thread's code: hashes the files it is sent, one at a time, with synchronous 1 MiB reads into one buffer (its
 * own reads: none waits in libuv's thread pool behind the copies that fill it), and answers each with its digest.
 */
const HASH_THREAD = `
const {parentPort} = require('node:worker_threads')
const {openSync, readSync, closeSync} = require('node:fs')
const {createHash} = require('node:crypto')
const buffer = Buffer.allocUnsafe(1024 * 1024)
parentPort.on('message', ({id, path}) => {
  try {
    const fd = openSync(path, 'r')
    const hash = createHash('sha256')
    let bytes = 0
    try {
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, null)
        if (n === 0) break
        hash.update(buffer.subarray(0, n))
        bytes += n
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
  let nextId = 0
  let failure: Error | undefined
  const pending = new Map<number, {resolve: (d: FileDigest) => void; reject: (e: Error) => void}>()
  const failAll = (error: Error) => {
    failure ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  const start = (): Worker => {
    const w = new Worker(HASH_THREAD, {eval: true})
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
    return w
  }
  let worker: Worker | undefined = start()
  return {
    sha256(path) {
      if (failure || !worker) return Promise.reject(failure)
      const id = nextId++
      const digest = new Promise<FileDigest>((resolve, reject) => pending.set(id, {resolve, reject}))
      worker.ref()
      worker.postMessage({id, path})
      return digest
    },
    async close() {
      const w = worker
      worker = undefined
      failure ??= new Error('the hasher is closed')
      if (w) await w.terminate()
      failAll(failure)
    },
  }
}
