import {fdatasync} from 'node:fs'

/** Bytes written between two background flushes. */
const FLUSH_EVERY = 32 * 1024 * 1024

/**
 * Starts the disk's write-back while a big file is still being produced: every 32 MiB, one fdatasync of `fd` runs
 * in the thread pool (never two at once) while the writer goes on. The closing fsync (atomicFile's) then finds
 * little left to write, instead of waiting for the whole file after the last byte. `settle()` must be awaited
 * before the fd is closed. Failures are left to that closing fsync, which reports them.
 */
export function writeBehind(fd: () => number | undefined) {
  let since = 0
  let pending: Promise<void> | undefined
  return {
    wrote(bytes: number): void {
      since += bytes
      if (since < FLUSH_EVERY || pending) return
      const target = fd()
      if (target === undefined) return
      since = 0
      pending = new Promise<void>((resolve) => fdatasync(target, () => resolve())).then(() => {
        pending = undefined
      })
    },
    async settle(): Promise<void> {
      while (pending) await pending
    },
  }
}
