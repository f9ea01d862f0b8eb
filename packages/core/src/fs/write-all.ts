// Writing a buffer whole to a file, in pieces small enough for the page cache to take cheaply.
import {writeSync} from 'node:fs'
import type {FileHandle} from 'node:fs/promises'
import {Writable} from 'node:stream'

/**
 * The most bytes bk hands to one write(). A larger write makes Linux 6.x (ext4 and the other filesystems with large
 * folios) put the bytes in page-cache folios as large as the write: high-order allocations which, on a virtual
 * machine that hands free memory back to its host (virtio free page reporting), take blocks the host has reclaimed
 * and fault in every page again. Measured on such a host, 256 MiB into a new file from Node, in two states of its
 * memory: 1 MiB writes 0.26–0.70 s, 512 KiB 0.055–0.45 s, 256 KiB 0.06–0.13 s (128 KiB: more thread-pool round
 * trips, 0.18 s); `cp` and `tar` write small pieces and never pay it. Elsewhere the extra calls cost nothing
 * measurable.
 */
export const WRITE_PIECE = 256 * 1024

/**
 * Writes all of `data` at `position` (at the file's offset when null), finishing short writes: a full disk shows
 * first as a short write, and the next one reports ENOSPC.
 */
export async function writeAll(handle: FileHandle, data: Uint8Array, position: number | null = null): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const length = Math.min(WRITE_PIECE, data.length - done)
    const {bytesWritten} = await handle.write(data, done, length, position === null ? null : position + done)
    done += bytesWritten
  }
}

/** writeAll with a file descriptor, synchronously (a thread-pool round trip per piece would cost more). */
export function writeAllSync(fd: number, data: Uint8Array, position: number | null = null): void {
  for (let done = 0; done < data.length; ) {
    const length = Math.min(WRITE_PIECE, data.length - done)
    done += writeSync(fd, data, done, length, position === null ? null : position + done)
  }
}

/**
 * A Writable into an open file, each chunk written whole by writeAll, in order. Unlike fs.WriteStream it never
 * gathers buffered chunks into one writev of many MiB; it neither closes nor syncs the handle, which stays the
 * caller's. `onWritten` sees each chunk's length once it is on the file (progress, writeBehind).
 */
export function fileSink(handle: FileHandle, onWritten?: (bytes: number) => void): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, done) {
      // a throwing onWritten fails the stream (else: an unhandled rejection, and a write that never completes)
      writeAll(handle, chunk)
        .then(() => onWritten?.(chunk.length))
        .then(() => done(), done)
    },
  })
}
