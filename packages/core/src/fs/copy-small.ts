/**
 * The steps of a small file's copy and a folder's metadata, with synchronous calls (cached inodes, a syscall each):
 * copyTree (copy.ts) and its lane's threads (copy-lane-worker.ts) copy with these same functions.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  openSync,
  readSync,
  utimesSync,
} from 'node:fs'

/** A folder's metadata: mode -1 (no chmod), uid -1 (no chown), times in s. */
export interface DirMeta {
  path: string
  mode: number
  uid: number
  gid: number
  atime: number
  mtime: number
}

/**
 * Reads `path` into `buffer` (its whole length at the most); returns the bytes read, `buffer.length` when the file
 * holds that many or more (it grew since the walk: copy it another way). `size`: the size the walk saw.
 */
export function readSmall(path: string, buffer: Buffer, size: number): number {
  const limit = buffer.length
  let length = 0
  const input = openSync(path, constants.O_RDONLY)
  try {
    // a read shorter than asked that ends at the size the walk saw is the end: no second read to see 0
    for (let n = 1; n > 0 && length < limit; ) {
      const want = limit - length
      n = readSync(input, buffer, length, want, null)
      length += n
      if (n < want && length === size) break
    }
  } finally {
    closeSync(input)
  }
  return length
}

/**
 * A copied file's metadata through its open descriptor: its owner (uid -1: no chown), its mode unless `exact` (given
 * at creation), its times. chown clears setuid/setgid: the mode is set after it.
 */
export function setFileMeta(
  fd: number,
  uid: number,
  gid: number,
  mode: number,
  exact: boolean,
  atime: number | Date,
  mtime: number | Date,
): void {
  if (uid >= 0) fchownSync(fd, uid, gid)
  if (!exact) fchmodSync(fd, mode)
  futimesSync(fd, atime, mtime)
}

/** A folder's metadata, once every entry is in it: chown (clears setgid), then the mode, then the times. */
export function setDirMeta(d: DirMeta): void {
  if (d.uid >= 0) chownSync(d.path, d.uid, d.gid)
  if (d.mode >= 0) chmodSync(d.path, d.mode)
  utimesSync(d.path, d.atime, d.mtime)
}
