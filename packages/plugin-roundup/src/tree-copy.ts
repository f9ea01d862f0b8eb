/**
 * Core's copyTree in a thread of its own: the copy's synchronous small-file calls run on the machine's other core
 * instead of taking turns with the rows on the main thread.
 */
import {Worker} from 'node:worker_threads'
import {BkError} from '@bkcli/core/errors'

/** What the thread copies (structured-cloned to it). */
export interface ThreadJob {
  src: string
  dest: string
  /** copyTree's `stage` */
  stage: boolean
  /**
   * Only the contents of these nodes of a FileClass, from a `db/files/<class>` tree: `<id//1000>/<class><id>`,
   * regular files with one link (anything else is left for the caller to copy).
   */
  only?: {cls: string; ids: number[]}
}

export type ThreadReply = {copied: number[]; bytes: number} | {error: string}

export interface ThreadCopy {
  /** the ids copied (with `only`) and the bytes; rejects with the copy's one-line error */
  done: Promise<{copied: number[]; bytes: number}>
  /** stops the copy (what it wrote stays: the caller removes it) and waits for the thread to end */
  stop(): Promise<void>
}

/** ~2 MB of JavaScript heap is all a tree copy needs (a walk's listings, no file contents). */
const LIMITS = {maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4}

/** The thread's script: beside this module once built; from the sources (tests), the built one. */
const THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../dist/copy-thread.js', import.meta.url)
  : new URL('./copy-thread.js', import.meta.url)

export function copyTreeInThread(job: ThreadJob): ThreadCopy {
  const worker = new Worker(THREAD, {workerData: job, resourceLimits: LIMITS})
  let stopped = false
  const done = new Promise<{copied: number[]; bytes: number}>((resolve, reject) => {
    let replied = false
    worker.once('message', (m: ThreadReply) => {
      replied = true
      if ('error' in m) reject(new BkError(m.error))
      else resolve(m)
    })
    worker.once('error', (error) => reject(new BkError(`copying ${job.src} to ${job.dest} failed: ${error.message}`)))
    worker.once('exit', (code) => {
      if (!replied) {
        reject(
          new BkError(`copying ${job.src} to ${job.dest} ${stopped ? 'was stopped' : `failed (thread exit ${code})`}`),
        )
      }
    })
  })
  done.catch(() => {}) // the caller's await gets it
  return {
    done,
    async stop() {
      stopped = true
      await worker.terminate()
    },
  }
}
