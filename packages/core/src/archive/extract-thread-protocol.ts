/** What extract-thread.ts and its thread (extract-thread-worker.ts) say to each other; nothing else to load. */

/** `state[0]`: 1 once the process is about to exit (a signal): the thread stops after its current read or write. */
export const STOP = 1

/** The job: the decoder's output to read, tar's input to write (descriptors of this process, FIFOs), the checks. */
export interface ExtractJob {
  input: number
  output: number
  outsideSymlinks: boolean
  /** post {progress} as regular files are passed on */
  progress: boolean
}

/** An error as it crosses: its class (`kind`), message and code; an UnsafeEntry's path and reason. */
export interface CrossedError {
  kind: 'unsafe' | 'fallback' | 'error'
  message: string
  code?: string
  entryPath?: string
  reason?: string
}

/**
 * The thread's messages: `refused` as soon as an entry is refused (tar must be stopped at once: it has every entry
 * before it, none after), `progress` (bytes of the regular files passed on so far), then one `done` once the
 * decoder's output ended (or `failed`: the reading stopped, with what stopped it).
 */
export type ExtractReply =
  | {refused: true}
  | {progress: number}
  | {
      done: {
        entries: number
        bytes: number
        /** the first entry refused (the rest was read, not passed on) */
        refusal?: CrossedError
        /** what is wrong with the stream's end (cut short, no end blocks), when nothing was refused */
        ended?: CrossedError
        /** the first symlink that the whole tree shows unsafe (EntryChecker.finish), when all else was right */
        late?: CrossedError
      }
    }
  | {failed: CrossedError}
