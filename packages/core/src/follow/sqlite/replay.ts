// A shipped WAL segment applied to a database file as SQLite's checkpoint would leave it: frame by frame, each page
// written and each commit frame setting the file's size. Only the result matters, so each page is written once,
// with its newest image, in page order: a hot page (a b-tree root, the free-list trunk) rewritten by every commit
// was one write per frame, each awaited.
import {ftruncateSync, writevSync} from 'node:fs'
import {BkError} from '../../errors.js'
import {FRAME_HEADER_LEN} from './wal.js'

/** Pages given to one writev (the system's IOV_MAX is 1024). */
const RUN = 1024

/**
 * Applies frames 0..`last` of `frames` (a segment's bytes: frames of `pageSize` pages) to the open file `fd`, which
 * holds `size` bytes; returns the file's new size. Frame `last` must be a commit frame (the end of a transaction): a
 * segment (`where`) whose manifest says otherwise is refused before anything is written.
 *
 * The same bytes as replaying every frame in order: a page's newest image, unless a later commit truncated the file
 * below it (then the page is zeros, if the file grows past it again, or gone); every page the smallest of those
 * sizes cut from the file is zeros where no later frame wrote it; the file ends at the last commit's size.
 */
export function replayFrames(
  fd: number,
  size: number,
  frames: Buffer,
  pageSize: number,
  last: number,
  where: string,
): number {
  const frameLen = FRAME_HEADER_LEN + pageSize
  const damaged = (what: string) => new BkError(`${where}: ${what}; the location is damaged (run --verify)`)
  if (!Number.isInteger(last) || last < 0 || (last + 1) * frameLen > frames.length)
    throw damaged(`its manifest's last commit (frame ${last}) is past its end`)
  const commitSize = (frame: number) => frames.readUInt32BE(frame * frameLen + 4)
  if (commitSize(last) === 0) throw damaged(`its manifest's last commit (frame ${last}) is not a commit frame`)
  const newest = new Map<number, number>()
  const commits: number[] = []
  for (let i = 0; i <= last; i++) {
    const page = frames.readUInt32BE(i * frameLen)
    // no page of SQLite is 0: its write, at a negative offset, would land at the file's position (libuv writes
    // there for any offset below 0), silently over another page
    if (page === 0) throw damaged(`its frame ${i} names page 0`)
    newest.set(page, i)
    if (commitSize(i) > 0) commits.push(i)
  }
  // the smallest size (pages) any commit at or after commits[k] truncated the file to
  const floor = new Array<number>(commits.length)
  for (let k = commits.length - 1, min = Number.POSITIVE_INFINITY; k >= 0; k--) {
    min = Math.min(min, commitSize(commits[k]!))
    floor[k] = min
  }
  /** The smallest size the file is truncated to by a commit at or after `frame` (a commit truncates after its write). */
  const floorFrom = (frame: number) => {
    let lo = 0
    let hi = commits.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (commits[mid]! < frame) lo = mid + 1
      else hi = mid
    }
    return floor[lo]!
  }
  const final = commitSize(last)
  // what the smallest truncation cut from the file before these frames is zeros where nothing writes it again
  if (size > floor[0]! * pageSize) ftruncateSync(fd, floor[0]! * pageSize)
  const pages: number[] = []
  for (const [page, frame] of newest) if (page <= final && floorFrom(frame) >= page) pages.push(page)
  pages.sort((a, b) => a - b)
  for (let i = 0; i < pages.length; ) {
    // a run of consecutive pages, written with one call
    let j = i + 1
    while (j < pages.length && j - i < RUN && pages[j] === pages[j - 1]! + 1) j++
    const images: Buffer[] = []
    for (let k = i; k < j; k++) {
      const at = newest.get(pages[k]!)! * frameLen + FRAME_HEADER_LEN
      images.push(frames.subarray(at, at + pageSize))
    }
    const position = (pages[i]! - 1) * pageSize
    const length = (j - i) * pageSize
    for (let written = 0; written < length; ) {
      written += writevSync(fd, written === 0 ? images : rest(images, written), position + written)
    }
    i = j
  }
  ftruncateSync(fd, final * pageSize)
  return final * pageSize
}

/** The buffers' bytes from `offset` on (after a short write). */
function rest(buffers: Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = []
  let skip = offset
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length
      continue
    }
    out.push(skip > 0 ? b.subarray(skip) : b)
    skip = 0
  }
  return out
}
