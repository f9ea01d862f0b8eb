/**
 * FIFOs for the threads that read a child's output with blocking reads (archive/extract-thread.ts,
 * archive/decode-thread.ts): made with mode 600, opened without waiting for the other side, and a write end that
 * never blocks, whose one byte ends a thread's read on a signal (a child's own child may hold the FIFO open: no end
 * of file would come). A file system without FIFOs answers false / undefined: the caller keeps Node's pipe.
 */
import {spawn, spawnSync} from 'node:child_process'
import {closeSync, constants, fstatSync, openSync, rmSync, writeSync} from 'node:fs'

/** Makes a FIFO (mode 600) at each of `paths`, in one mkfifo; false where any cannot be made. */
export function makeFifos(...paths: string[]): boolean {
  return spawnSync('mkfifo', ['-m', '600', '--', ...paths], {stdio: 'ignore'}).status === 0
}

/** makeFifos without waiting for mkfifo on the main thread (a read-back's FIFO made while the archive is written). */
export function makeFifosLater(...paths: string[]): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const child = spawn('mkfifo', ['-m', '600', '--', ...paths], {stdio: 'ignore'})
    child.once('error', () => resolve(false))
    child.once('close', (status) => resolve(status === 0))
  })
}

/** Removes the FIFO at `path`, if any. */
export function removeFifo(path: string): void {
  rmSync(path, {force: true})
}

/** Closes every descriptor given, ignoring undefined ones and errors (one already closed). */
export function closeAll(fds: (number | undefined)[]): void {
  for (const fd of fds)
    if (fd !== undefined)
      try {
        closeSync(fd)
      } catch {}
}

/**
 * Opens the FIFO at `path` O_RDWR: both sides at once, so that neither this open nor a later one of one side waits
 * for the other. Undefined (nothing left open) when it cannot be opened or is no FIFO once open.
 */
export function openBoth(path: string): number | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r+')
    if (fstatSync(fd).isFIFO()) return fd
  } catch {}
  closeAll([fd])
  return undefined
}

/** Both ends of a FIFO, opened without waiting: `read` and `write`; `wake`, another write end that never blocks. */
export interface FifoEnds {
  read: number
  write: number
  wake: number
}

/**
 * Opens the FIFO at `path` for reading, for writing and for waking, no open waiting for the other side (an O_RDWR
 * open is both sides while the others are made, then closed). Undefined when it is no FIFO once open.
 */
export function openEnds(path: string): FifoEnds | undefined {
  const both = openBoth(path)
  if (both === undefined) return undefined
  const fds: number[] = []
  try {
    fds.push(openSync(path, 'r'))
    fds.push(openSync(path, 'w'))
    fds.push(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK))
    const [read, write, wake] = fds as [number, number, number]
    fds.length = 0
    return {read, write, wake}
  } finally {
    closeAll([both, ...fds])
  }
}

/** Writes the wake-up byte into `fd` (a non-blocking write end); a full FIFO (EAGAIN) means no read waits. */
export function wake(fd: number): void {
  try {
    writeSync(fd, Buffer.alloc(1))
  } catch {}
}

/**
 * Writes the wake-up byte into the FIFO at `path` through a write end opened for it without blocking; nothing
 * when no one reads it (ENXIO) or it is full (EAGAIN).
 */
export function wakePath(path: string): void {
  let fd: number | undefined
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
    wake(fd)
  } catch {
  } finally {
    closeAll([fd])
  }
}
