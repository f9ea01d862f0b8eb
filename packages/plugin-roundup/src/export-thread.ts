/**
 * The threads of a sqlite export: each has a connection of its own, reads the very snapshot of the export's
 * connection (checked, see SnapshotProbe) and writes the export's CSVs (a class's table or journals) one at a time.
 * Encoding rows as roundup-admin does (pyRepr, dates, CSV quoting) is CPU: two threads do it in about half the time
 * on two cores. The main thread writes none of them while a thread can: its heap (which, unlike a thread's, nothing
 * bk's bin can portably pass would cap) then holds no rows and lines (when it wrote parts, it grew to 56 MiB).
 */
import type {Worker} from 'node:worker_threads'
import {BkError} from '@bkcli/core/errors'
import {type StartedThread, startThread} from '@bkcli/core/fs'
import type {PartJob, PartResult} from './export.js'
import {openSqlite, type SqlConn} from './tracker-db.js'

/**
 * Whether anything was committed to a sqlite database between two moments: its `data_version` (which changes when
 * another connection, in any process, commits) read at {@link SnapshotProbe.open} and again at
 * {@link SnapshotProbe.unchanged}. Open before the export's read transaction begins; a connection whose own read
 * transaction began before `unchanged()` says true sees the same snapshot as the export's.
 */
export class SnapshotProbe {
  private constructor(
    private readonly conn: SqlConn,
    private readonly version: unknown,
  ) {}

  static async open(path: string): Promise<SnapshotProbe> {
    const conn = await openSqlite(path, {readonly: true})
    return new SnapshotProbe(conn, await SnapshotProbe.read(conn))
  }

  private static async read(conn: SqlConn): Promise<unknown> {
    return (await conn.all('pragma data_version'))[0]?.[0]
  }

  /** No commit since open(). */
  async unchanged(): Promise<boolean> {
    return (await SnapshotProbe.read(this.conn)) === this.version
  }

  async close(): Promise<void> {
    await this.conn.close()
  }
}

/** What the thread says: its snapshot is taken, it cannot help (why), a part's result or failure. */
export type WorkerReply = {ready: true} | {unusable: string} | {result: PartResult} | {error: string}

/**
 * The thread's heap: a batch of rows and their lines at a time. Its young generation is kept small: left at V8's
 * default it grew to 32 MiB of semi-spaces, and a 20k-issue export peaked at 231 MB RSS (204 MB with 4 MiB, for
 * ~0.3 s more CPU in 8 s: more, shorter scavenges; the live rows of a batch are far smaller).
 */
const LIMITS = {maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4}

/** The thread's script: beside this module once built; from the sources (tests), the built one. */
const THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../dist/export-worker.js', import.meta.url)
  : new URL('./export-worker.js', import.meta.url)

type Part = {at: number; job: PartJob}

/**
 * The helper thread of one export. It starts at once (its start-up overlaps the main thread's first part); once its
 * snapshot is taken and checked it takes parts from the export's queue, one at a time, until the queue is empty. If
 * its snapshot may differ (a commit came in between), or it cannot open the database, it takes none and the main
 * thread writes every part.
 */
export class ExportThread {
  private readonly thread: StartedThread
  private readonly worker: Worker
  private take: (() => Part | undefined) | undefined
  private record: ((part: Part, result: PartResult) => void) | undefined
  private wake: () => void = () => {}
  private ready = false
  private usable = true
  private running: {part: Part; resolve: () => void; reject: (error: Error) => void} | undefined
  private inFlight: Promise<void> | undefined
  private failure: Error | undefined
  private exited = false
  private settle: (() => void) | undefined
  private readonly whenSettled = new Promise<void>((resolve) => {
    this.settle = resolve
  })

  private constructor(
    path: string,
    private readonly probe: SnapshotProbe,
  ) {
    this.thread = startThread(THREAD, {workerData: {path}, resourceLimits: LIMITS})
    this.worker = this.thread.worker
    this.worker.on('message', (m: WorkerReply) => this.onMessage(m))
    this.worker.on('error', (error) => this.fail(new BkError(`the export's second thread failed: ${error.message}`)))
    this.worker.on('exit', (code) => {
      this.exited = true
      this.fail(new BkError(`the export's second thread stopped (exit ${code})`))
    })
  }

  /** Starts the thread on the sqlite database at `path`; `probe` was opened before the export's snapshot. */
  static start(path: string, probe: SnapshotProbe): ExportThread {
    return new ExportThread(path, probe)
  }

  /**
   * The thread takes parts with `take` (undefined: none left) and hands each result to `record`; `wake` is called
   * whenever it may have changed: a part written or failed, its snapshot checked, the thread gone.
   */
  work(take: () => Part | undefined, record: (part: Part, result: PartResult) => void, wake: () => void): void {
    this.take = take
    this.record = record
    this.wake = wake
    if (this.ready) this.next()
  }

  /** Writes parts, or may still (its snapshot not checked yet). */
  get helping(): boolean {
    return this.usable
  }

  /** Resolves once the thread's snapshot is taken and checked, or the thread cannot help. */
  settled(): Promise<void> {
    return this.whenSettled
  }

  /** Throws the failure of a part the thread wrote, if any. */
  check(): void {
    if (this.failure) throw this.failure
  }

  /** Resolves once the part the thread is writing, if any, is written (rejects if it failed). */
  async idle(): Promise<void> {
    await this.inFlight
    this.check()
  }

  /** Ends the thread. */
  async close(): Promise<void> {
    this.usable = false
    this.settle?.()
    // (once its modules are loaded: a thread terminated while it starts may leave a module file's descriptor open)
    if (!this.exited) await this.thread.stop()
  }

  private fail(error: Error): void {
    const running = this.running
    this.usable = false
    this.settle?.()
    if (running) {
      this.running = undefined
      this.failure ??= error
      running.reject(error)
    } // else not writing anything: the other threads (or the main one) do the rest
    this.wake()
  }

  private onMessage(m: WorkerReply): void {
    if ('ready' in m) {
      void this.probe.unchanged().then(
        (same) => {
          this.ready = same
          this.usable &&= same
          this.settle?.()
          if (this.take) this.next()
          this.wake()
        },
        () => {
          this.usable = false
          this.settle?.()
          this.wake()
        },
      )
    } else if ('unusable' in m) {
      this.usable = false
      this.settle?.()
      this.wake()
    } else {
      const running = this.running
      if (!running) return
      this.running = undefined
      if ('error' in m) {
        this.failure ??= new BkError(m.error)
        this.usable = false
        running.reject(this.failure)
        this.wake()
        return
      }
      this.record?.(running.part, m.result)
      running.resolve()
      this.next()
      this.wake()
    }
  }

  private next(): void {
    if (!this.usable || !this.ready || this.running || !this.take) return
    let part: Part | undefined
    try {
      part = this.take()
    } catch {
      this.usable = false
      return // the export is failing (the main thread sees it too, once woken)
    }
    if (!part) return
    this.inFlight = new Promise<void>((resolve, reject) => {
      this.running = {part: part as Part, resolve, reject}
    })
    this.inFlight.catch(() => {}) // idle() reports it
    this.worker.postMessage({job: part.job})
  }
}
