// Moves bytes from a reader to a writer through a few large buffers, hashing and inspecting each byte once on the
// way: the next read and the previous write run in the thread pool while the main thread parses the current buffer,
// and with `offload` one or both digests are computed by worker threads on the same (shared) memory at the same time,
// so the wall time is about that of the slowest hash alone. No chunk is copied or concatenated: a buffer is reused
// only when its write and its hashing are both done.
//
// Which digests go to workers: md5 runs at ~0.6 GB/s, sha256 (SHA-NI) at ~1.1-1.7 GB/s. With one worker (sha256)
// the main thread's md5 was the critical path, behind the parse and the dispatch of every read and write; with
// both in workers (each ~30-50 ms and ~10 MB to start) a 1 GiB full backup took 10-30 % less wall time for the
// same CPU (paired, loaded 2-core VM). With a single digest (a restore's sha256 or md5) the worker still takes it off
// the main thread, which parses and dispatches the I/O meanwhile: a 256 MiB restore took 3-9 % less wall time for
// 6-9 % more CPU (paired, loaded 2-core VM; within noise when it is saturated), so a restore offloads it only for
// large files.
import {createHash, type Hash} from 'node:crypto'
import type {Worker} from 'node:worker_threads'
import {type StartedThread, startThread} from '@bkcli/core/fs'

/**
 * Bytes per buffer, and buffers in flight (read ahead, being hashed, being written). 1 MiB, not 4: each fresh page a
 * process touches costs a page fault (tens of µs in a VM whose memory is populated lazily), and 4 × 4 MiB of buffers
 * cost more in faults than the extra syscalls of smaller ones (full backup: sys 0.78 → 0.36 s per 256 MiB).
 * Measured again once writes went in 256 KiB pieces (core write-all.ts): 4 MiB buffers made no difference (1 GiB
 * full backup, paired n = 8, load ~12 on 2 cores: wall 1.02×, CPU 0.99×), so the smaller ones stay.
 */
const SLOT = 1 << 20
const SLOTS = 4

/** Inputs at least this large have a digest offloaded when asked (a worker takes ~30 ms and ~10 MB to start). */
export const OFFLOAD_MIN = 64 << 20

export interface PumpOptions {
  /** Reads the next bytes into `buf` (at most its length); resolves how many, 0 at the end. */
  read: (buf: Buffer) => Promise<number>
  /** Sees every chunk in order on the main thread before it is written (parse, progress); throwing stops the pump. */
  inspect?: (chunk: Buffer) => void
  /** Writes a chunk whole; called in order, one at a time. */
  write?: (chunk: Buffer) => Promise<void>
  /** Pushes written data to disk early (datasync), so the caller's final fsync has little left to do. */
  writeback?: () => Promise<void>
  md5?: boolean
  sha256?: boolean
  /** Compute this digest in a worker thread, beside the other (and the parse) on this one; 'both': each in one. */
  offload?: 'md5' | 'sha256' | 'both'
}

export interface PumpResult {
  bytes: number
  md5?: string
  sha256?: string
}

/** Bytes written between two early writebacks. */
const WRITEBACK = 64 << 20

export async function pump(options: PumpOptions): Promise<PumpResult> {
  const offloaded = (algorithm: 'md5' | 'sha256') =>
    options[algorithm] === true && (options.offload === algorithm || options.offload === 'both')
  const away = (['md5', 'sha256'] as const).filter(offloaded)
  const shared = away.length > 0 ? new SharedArrayBuffer(SLOT * SLOTS) : undefined
  const buffers = Array.from({length: SLOTS}, (_, i) =>
    shared ? Buffer.from(shared, i * SLOT, SLOT) : Buffer.allocUnsafeSlow(SLOT),
  )
  const workers = shared ? away.map((algorithm) => new HashWorker(shared, algorithm)) : []
  const md5: Hash | undefined = options.md5 && !offloaded('md5') ? createHash('md5') : undefined
  const sha: Hash | undefined = options.sha256 && !offloaded('sha256') ? createHash('sha256') : undefined
  const digestOf = async (algorithm: 'md5' | 'sha256', here: Hash | undefined) => {
    const at = away.indexOf(algorithm)
    return at >= 0 ? await workers[at]!.digest() : here?.digest('hex')
  }
  // a buffer is free again when its write and its off-thread hashing are done
  const free: Promise<unknown>[] = buffers.map(() => Promise.resolve())
  let writing: Promise<void> = Promise.resolve()
  let syncing: Promise<void> = Promise.resolve()
  let sinceSync = 0
  const fill = async (i: number) => {
    await free[i % SLOTS]
    return options.read(buffers[i % SLOTS]!)
  }
  let next: Promise<number> = fill(0)
  let bytes = 0
  try {
    for (let i = 0; ; i++) {
      const n = await next
      if (n === 0) break
      const slot = i % SLOTS
      const chunk = buffers[slot]!.subarray(0, n)
      bytes += n
      next = fill(i + 1)
      const hashed = workers.length === 0 ? undefined : Promise.all(workers.map((w) => w.update(slot * SLOT, n)))
      let written: Promise<void> | undefined
      if (options.write) {
        const write = options.write
        written = writing = writing.then(() => write(chunk))
        sinceSync += n
        if (options.writeback && sinceSync >= WRITEBACK) {
          const writeback = options.writeback
          sinceSync = 0
          // after this chunk's write, once the previous writeback is done
          syncing = Promise.all([syncing, written]).then(() => writeback())
        }
      }
      free[slot] = Promise.all([hashed, written])
      // failures surface where these are awaited (the next fill of this buffer, or the end); until then, observed
      for (const p of [free[slot]!, writing, syncing]) p.catch(() => {})
      options.inspect?.(chunk)
      md5?.update(chunk)
      sha?.update(chunk)
    }
    await Promise.all([writing, syncing, ...free])
    return {
      bytes,
      md5: await digestOf('md5', md5),
      sha256: await digestOf('sha256', sha),
    }
  } finally {
    // on failure too: nothing may still read into, hash or write from the buffers when the caller closes its files
    await Promise.allSettled([next, writing, syncing, ...free])
    await Promise.all(workers.map((w) => w.close()))
  }
}

/** The worker's script, beside this module once built; run from the sources (tests), the built one. */
const HASH_WORKER = import.meta.url.endsWith('.ts')
  ? new URL('../dist/hash-worker.js', import.meta.url)
  : new URL('./hash-worker.js', import.meta.url)

/** One digest computed by a worker thread over ranges of a SharedArrayBuffer, in the order they are given. */
class HashWorker {
  private readonly thread: StartedThread
  private readonly worker: Worker
  private readonly waiting: {resolve: (m: {digest?: string}) => void; reject: (e: Error) => void}[] = []
  private failure: Error | undefined

  constructor(shared: SharedArrayBuffer, algorithm: string) {
    this.thread = startThread(HASH_WORKER, {workerData: {shared, algorithm}})
    this.worker = this.thread.worker
    this.worker.on('message', (m: {digest?: string}) => this.waiting.shift()?.resolve(m))
    const fail = (e: Error) => {
      this.failure ??= e
      for (const w of this.waiting.splice(0)) w.reject(e)
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(new Error(`the ${algorithm} worker stopped (exit code ${code})`)))
  }

  private ask(message: unknown): Promise<{digest?: string}> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiting.push({resolve, reject})
      this.worker.postMessage(message)
    })
  }

  async update(offset: number, length: number): Promise<void> {
    await this.ask({offset, length})
  }

  async digest(): Promise<string> {
    const m = await this.ask('digest')
    return m.digest!
  }

  async close(): Promise<void> {
    this.failure ??= new Error('closed')
    // (once its modules are loaded: a thread terminated while it starts may leave a module file's descriptor open)
    await this.thread.stop()
  }
}
