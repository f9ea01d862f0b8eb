/** What decode-thread.ts and its thread (decode-thread-worker.ts) say to each other; nothing else to load. */

/** `state[0]`: where the thread's open of the FIFO stands (see decode-thread-worker.ts). */
export const IDLE = 0
export const OPENING = 1
export const OPENED = 2
export const CANCELLED = 3
/** `state[1]`: 1 once the process is about to exit (a signal): the thread stops after its current read. */
export const STOP = 1

/** A regular file (path, size, sha256) or a hard link (path, target), in the order of the tar stream. */
export type MemberRecord = [string, number, string] | [string, string]

/** The thread's messages: the FIFO open; members (in batches); then done, or the error that ended it. */
export type ThreadReply =
  /** its modules loaded (posted first, once): a thread terminated before leaves a module file's descriptor open */
  | {opened: true}
  | {members: MemberRecord[]}
  | {done: true}
  /** `ended`: the refusal of end() (a stream cut short, after every chunk was taken), else of a chunk */
  | {error: {message: string; code?: string; tarCode?: string; ended?: boolean}}
