/**
 * How bk starts and stops a worker thread, in one place: its Node options (threadExecArgv), a `ready` that says its
 * modules are loaded, and a stop that waits for it. A thread terminated while it still loads its module files (even
 * once 'online': seen with a busy thread pool, where its reads wait) may leave a module file's descriptor open for
 * good; one terminated once `ready` settled leaves none.
 *
 * The ready signal goes on a BroadcastChannel of its own, never through the thread's messages: each thread's own
 * protocol (its first message as the answer, …) and its workerData stay as they were. A file thread starts with a
 * small boot script (start-thread-boot.ts) that imports the real one and then signals; an eval'd (CommonJS) one gets
 * the signal appended to its code.
 *
 * The boot script costs no measurable start-up (paired, n 10, 2 cores at load 11-21: threads that post and exit,
 * CPU 1.01 and wall 1.08 of raw Workers; a one-file copyTreeInThread per run CPU 1.02, wall 0.97; a fileHasher
 * started, used and closed CPU 1.00, wall 0.90; spreads of ±20-50 %).
 */
import {randomUUID} from 'node:crypto'
import {BroadcastChannel, type ResourceLimits, threadId, Worker} from 'node:worker_threads'

/** The boot script, beside this module once built (dist/fs/); run from the sources (tests), the built one. */
const BOOT = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/fs/start-thread-boot.js', import.meta.url)
  : new URL('./start-thread-boot.js', import.meta.url)

/** How startThread starts a thread: what `new Worker` is given besides bk's Node options. */
export interface StartThreadOptions {
  /** The thread's workerData, as it gets it. */
  workerData?: unknown
  /** The thread's heap limits. */
  resourceLimits?: ResourceLimits
  /** `script` is CommonJS code (builtins only), not a module's URL. */
  eval?: boolean
}

/** A started thread. */
export interface StartedThread {
  /** The thread, for its messages, 'error' and 'exit', ref() and unref(). */
  readonly worker: Worker
  /**
   * Resolves once the script's top level has run (its top-level await included: a script that works at its top
   * level should not await its work there, or ready and stop() wait for it), every module it imports loaded, or the
   * thread ended by itself (exit code 0). Rejects if the thread died: with the error it died of (its top level threw,
   * its heap's limit), or its exit code.
   */
  readonly ready: Promise<void>
  /**
   * Ends the thread once `ready` settled (the thread kept referenced meanwhile) and resolves once it is gone (its
   * 'exit' listeners have run). Its 'error' and 'exit' are emitted as for `terminate()`.
   */
  stop(): Promise<void>
}

/**
 * Names of the ready channels: one per thread. A BroadcastChannel reaches every channel of its name in the process,
 * and a second copy of this module there (a plugin with a core of its own) counts from 0 too: a random part, once
 * per copy, keeps its names apart (else its thread's signal settled this copy's thread's `ready` early).
 */
const CHANNELS = `bk-thread-ready-${process.pid}-${threadId}-${randomUUID()}`
let started = 0

/**
 * Starts a worker thread running `script` (a module's URL, or with `eval` CommonJS code) with bk's Node options
 * ({@link threadExecArgv}); see {@link StartedThread}. Throws as `new Worker` does.
 */
export function startThread(script: URL | string, options: StartThreadOptions = {}): StartedThread {
  const name = `${CHANNELS}-${started++}`
  const channel = new BroadcastChannel(name)
  channel.unref()
  const common = {workerData: options.workerData, resourceLimits: options.resourceLimits, execArgv: threadExecArgv()}
  let worker: Worker
  try {
    worker = options.eval
      ? new Worker(
          `${script}\n;{const c = new BroadcastChannel(${JSON.stringify(name)}); c.postMessage(true); c.close()}`,
          {
            ...common,
            eval: true,
          },
        )
      : new Worker(BOOT, {...common, argv: [String(script), name]})
  } catch (error) {
    channel.close()
    throw error
  }
  const thread = worker
  const ready = new Promise<void>((resolve, reject) => {
    let failure: Error | undefined
    channel.onmessage = () => resolve()
    thread.once('error', (error) => {
      failure ??= error
    })
    // (its signal and its exit come by different ways, in either order: a thread that ended by itself, exit code 0,
    // was done loading)
    thread.once('exit', (code) => {
      if (failure) reject(failure)
      else if (code !== 0) reject(new Error(`the thread stopped (exit code ${code}) before it was ready`))
      else resolve()
    })
  })
  // (a caller that never awaits it: no unhandled rejection)
  ready.then(
    () => channel.close(),
    () => channel.close(),
  )
  return {
    worker,
    ready,
    async stop() {
      thread.ref()
      await ready.catch(() => {})
      await thread.terminate()
    },
  }
}

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
