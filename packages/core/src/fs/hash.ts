import {createHash} from 'node:crypto'
import {constants, createReadStream} from 'node:fs'
import {open} from 'node:fs/promises'
import type {Readable} from 'node:stream'
import {readAt} from './read-whole.js'

/** Hex digest of everything a stream yields (consumes the stream). */
export async function hashStream(stream: Readable | AsyncIterable<Buffer | string>, algo = 'sha256'): Promise<string> {
  const hash = createHash(algo)
  for await (const chunk of stream) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Bytes per read of sha256File. */
const PIECE = 1024 * 1024

/** sha256 (hex) of a file, read in 1 MiB pieces into one buffer (a read stream allocates a buffer per piece: half
 * the speed, much of it garbage collection, for the hundreds of MB a hotcopy hashes). Reads by position: a FIFO, a
 * socket or a character device (no position, or no end) is refused with a one-line error naming it (code EINVAL). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  // O_NONBLOCK: a FIFO without a writer would hold the open (and a thread-pool thread) for ever; no effect on files
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const st = await handle.stat()
    // by the mode's type bits; a folder fails its read as before (EISDIR, which callers test)
    const type = st.mode & constants.S_IFMT
    if (type === constants.S_IFIFO || type === constants.S_IFSOCK || type === constants.S_IFCHR) {
      const kind =
        type === constants.S_IFIFO ? 'a FIFO' : type === constants.S_IFSOCK ? 'a socket' : 'a character device'
      throw Object.assign(new Error(`cannot hash ${path}: it is ${kind}, not a regular file`), {code: 'EINVAL'})
    }
    // no more than the file needs: a follower hashes thousands of small files
    const size = st.size
    let buffer = Buffer.allocUnsafe(Math.max(1, Math.min(PIECE, size)))
    for (let position = 0; ; ) {
      const got = await readAt(handle, buffer, position)
      if (got === 0) break
      hash.update(buffer.subarray(0, got))
      position += got
      if (got < buffer.length) break
      // past its size at the open (it grew since): whole pieces from here, not the size it had (0 bytes: a byte per
      // read, which a file growing faster than that never let finish). A file that did not grow ends with an empty
      // read into the same small buffer: no 1 MiB allocation per small file.
      if (position > size && buffer.length < PIECE) buffer = Buffer.allocUnsafe(PIECE)
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** A byte range of a file. */
export interface RangeOptions {
  /** First byte (default 0). */
  start?: number
  /** End of the range, EXCLUSIVE (half-open [start, end), as repozo's .dat records it); default: end of file. */
  end?: number
}

/** md5 (hex) of a file or of the byte range [start, end) of it, streamed. */
export function md5File(path: string, range: RangeOptions = {}): Promise<string> {
  const start = range.start ?? 0
  if (range.end !== undefined && range.end <= start) return Promise.resolve(createHash('md5').digest('hex'))
  // createReadStream's `end` is inclusive
  const end = range.end === undefined ? undefined : range.end - 1
  return hashStream(createReadStream(path, {start, end, highWaterMark: 1024 * 1024}), 'md5')
}
