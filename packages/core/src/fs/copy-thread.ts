/**
 * copyTree in a thread of its own: the copy's synchronous small-file calls (open, read, write, futimes) run on
 * another core instead of taking turns with the caller's work on the main thread (rows read and written, a
 * database's pages, hashes). Whoever copies a tree while doing something else with the CPU uses this.
 */
import {setTimeout as sleep} from 'node:timers/promises'
import {BkError} from '../errors.js'
import type {CopyTreeResult} from './copy.js'
import {startThread} from './start-thread.js'

/** What the thread's copyTree is given (structured-cloned to it: no callbacks). */
export interface ThreadCopyOptions {
  /** copyTree's `stage` (default true: a stage beside `dest`, renamed into place). */
  stage?: boolean
  /** copyTree's `preserveOwners`. */
  preserveOwners?: boolean
  /** copyTree's `hardlinkFrom`. */
  hardlinkFrom?: string
  /**
   * Only these regular files (paths relative to `src`, '/'-separated) and the folders on their way. A listed path
   * that is missing or not a regular file with one link (a symlink, a folder, a hard-linked file) is left out, for
   * the caller to copy its own way: `missed` says which.
   */
  only?: string[]
  /** copyTree's `laneThreads`. */
  laneThreads?: number
}

/**
 * copyTree's result, and with `only` the listed paths not copied, in their order there (usually none: a list of
 * every path copied, tens of thousands of strings, was a run's peak in the caller's heap).
 */
export interface ThreadCopyResult extends CopyTreeResult {
  missed: string[]
}

/** A copy under way in its thread. */
export interface ThreadCopy {
  /**
   * Settles once the thread has ended: the copy's result, or a BkError with the copy's one-line message (the file
   * that failed named in it); a failed copy leaves nothing of `dest` behind, as copyTree does.
   */
  done: Promise<ThreadCopyResult>
  /**
   * Stops the copy and waits for the thread to end; the copy removes what it made, as on any failure (the file being
   * written included: a stop lands between entries and within a MiB of a big file). Resolves with how the thread
   * ended: 'ended' (by itself, the copy stopped or already done), or 'terminated', the last resort for a copy stuck
   * in one system call for {@link STOP_GRACE_MS} (what it wrote then stays, for the caller or the next run's sweep).
   */
  stop(): Promise<ThreadCopyStop>
}

/** How a stopped copy's thread ended: by itself, or terminated after the grace (see ThreadCopy.stop). */
export type ThreadCopyStop = 'ended' | 'terminated'

/** The job sent to the thread. */
export interface ThreadCopyJob extends ThreadCopyOptions {
  src: string
  dest: string
  /** Set to 1 by stop(): the copy fails at its next entry or MiB (STOPPED_BY_CALLER). */
  stop: SharedArrayBuffer
}

/** The thread's error message of a copy ended by stop(). */
export const STOPPED_BY_CALLER = 'stopped by its caller'

/**
 * How long stop() waits for the copy to end by itself (it does at its next entry, or within a MiB of a big file)
 * before the thread is terminated: Node 20 may abort the whole process when a thread is terminated in the middle of
 * an fs.promises call (`RealPath: Assertion (req_wrap_async) != nullptr`, 1 in 180 stops at once), so termination is
 * the last resort for a copy stuck in one call (a hung network file system).
 */
const STOP_GRACE_MS = 10_000

/** The thread's answer; a failure's `code` is its cause's errno code (ENOSPC, EACCES, …). */
export type ThreadCopyReply = {result: ThreadCopyResult} | {error: string; code?: string}

/** The failure's cause as the thread saw it: its message and errno code (a stack does not cross threads). */
const errnoError = (message: string, code: string) => Object.assign(new Error(message), {code})

/** A tree copy's JavaScript heap is its walk's listings and a 64 KiB buffer, never file contents: a few MB. */
const LIMITS = {maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4}

/**
 * The thread's script, beside this module once built (dist/fs/, in the published package too); run from the
 * sources (tests), the built one.
 */
const THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/fs/copy-thread-worker.js', import.meta.url)
  : new URL('./copy-thread-worker.js', import.meta.url)

/**
 * Copies `src` to `dest` as copyTree does, in a worker thread started at once; the caller goes on and awaits
 * `done`. The thread ends when its copy does (it keeps the process alive only until then).
 */
export function copyTreeInThread(src: string, dest: string, options: ThreadCopyOptions = {}): ThreadCopy {
  const stopFlag = new SharedArrayBuffer(4)
  const job: ThreadCopyJob = {src, dest, ...options, stop: stopFlag}
  const thread = startThread(THREAD, {workerData: job, resourceLimits: LIMITS})
  const worker = thread.worker
  let stopped = false
  const done = new Promise<ThreadCopyResult>((resolve, reject) => {
    let reply: ThreadCopyReply | undefined
    let crash: Error | undefined
    worker.once('message', (m: ThreadCopyReply) => {
      reply = m
    })
    worker.once('error', (error) => {
      crash = error
    })
    // settled on exit, so that an awaited copy is one whose thread is gone
    worker.once('exit', (code) => {
      if (reply && 'result' in reply) resolve(reply.result)
      else if (stopped && (!reply || reply.error === STOPPED_BY_CALLER))
        reject(new BkError(`copying ${src} to ${dest} was stopped`))
      else if (reply)
        reject(new BkError(reply.error, {cause: reply.code ? errnoError(reply.error, reply.code) : undefined}))
      else reject(new BkError(`copying ${src} to ${dest} failed: ${crash?.message ?? `thread exit ${code}`}`))
    })
  })
  done.catch(() => {}) // the caller's await gets it
  return {
    done,
    async stop() {
      stopped = true
      // the copy ends itself at its next entry or MiB, its thread then exits; terminated only if it does not in time
      Atomics.store(new Int32Array(stopFlag), 0, 1)
      const grace = new AbortController()
      const late = sleep(STOP_GRACE_MS, true, {signal: grace.signal}).catch(() => false)
      const ended = done.then(
        () => false,
        () => false,
      )
      const terminate = await Promise.race([ended, late])
      grace.abort()
      if (terminate) await thread.stop()
      await done.catch(() => {})
      return terminate ? 'terminated' : 'ended'
    },
  }
}
