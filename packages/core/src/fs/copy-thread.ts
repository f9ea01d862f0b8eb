/**
 * copyTree in a thread of its own: the copy's synchronous small-file calls (open, read, write, futimes) run on
 * another core instead of taking turns with the caller's work on the main thread (rows read and written, a
 * database's pages, hashes). Whoever copies a tree while doing something else with the CPU uses this.
 */
import {Worker} from 'node:worker_threads'
import {BkError} from '../errors.js'
import type {CopyTreeResult} from './copy.js'

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
  /** Stops the copy and waits for the thread to end: with `stage: false`, what it wrote stays, for the caller. */
  stop(): Promise<void>
}

/** The job sent to the thread. */
export interface ThreadCopyJob extends ThreadCopyOptions {
  src: string
  dest: string
}

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
 * A worker thread's Node options (`execArgv`): the process's own, inherited (undefined), which also carries V8's and
 * other process-wide options (`node --trace-gc`, `--max-semi-space-size`: a list naming them is refused, "invalid
 * execArgv flags"). Only a process started with `--input-type` (`node --input-type=module -e`) gets its options
 * without it: a thread given it, inherited too, refuses to start, as the option is for a string's code only (and a
 * thread whose code is a string reads it as a module). That list also leaves out what a thread refuses (V8's options:
 * they apply to the whole process anyway), found once.
 */
export function threadExecArgv(): string[] | undefined {
  if (!process.execArgv.some((arg) => arg === '--input-type' || arg.startsWith('--input-type='))) return undefined
  if (accepted) return [...accepted]
  const argv: string[] = []
  for (let i = 0; i < process.execArgv.length; i++) {
    const arg = process.execArgv[i] as string
    if (arg === '--input-type') i++
    else if (!arg.startsWith('--input-type=')) argv.push(arg)
  }
  accepted = acceptedByThreads(argv)
  return [...accepted]
}

/** threadExecArgv's list, once found. */
let accepted: string[] | undefined

/**
 * `argv` less the options a thread refuses: a Worker given them throws at once, naming them
 * (ERR_WORKER_INVALID_EXEC_ARGV); given none, an empty thread started and ended at once (once per process).
 */
function acceptedByThreads(argv: string[]): string[] {
  try {
    const probe = new Worker('', {eval: true, execArgv: argv})
    probe.unref()
    void probe.terminate()
    return argv
  } catch (error) {
    const named = /invalid execArgv flags: (.*)$/s.exec((error as Error).message)?.[1]
    if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || named === undefined) return []
    const refused = new Set(named.split(', '))
    const kept = argv.filter((arg) => !refused.has(arg))
    // what is kept must start a thread: else none of the options
    return kept.length < argv.length ? acceptedByThreads(kept) : []
  }
}

/**
 * Copies `src` to `dest` as copyTree does, in a worker thread started at once; the caller goes on and awaits
 * `done`. The thread ends when its copy does (it keeps the process alive only until then).
 */
export function copyTreeInThread(src: string, dest: string, options: ThreadCopyOptions = {}): ThreadCopy {
  const job: ThreadCopyJob = {src, dest, ...options}
  const worker = new Worker(THREAD, {workerData: job, resourceLimits: LIMITS, execArgv: threadExecArgv()})
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
      else if (reply)
        reject(new BkError(reply.error, {cause: reply.code ? errnoError(reply.error, reply.code) : undefined}))
      else if (stopped) reject(new BkError(`copying ${src} to ${dest} was stopped`))
      else reject(new BkError(`copying ${src} to ${dest} failed: ${crash?.message ?? `thread exit ${code}`}`))
    })
  })
  done.catch(() => {}) // the caller's await gets it
  return {
    done,
    async stop() {
      stopped = true
      await worker.terminate()
      await done.catch(() => {})
    },
  }
}
