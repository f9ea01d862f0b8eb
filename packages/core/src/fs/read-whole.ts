// Whole files (or runs of bytes) read with positional reads: the one loop for a read the kernel may cut short.
import {type FileHandle, open} from 'node:fs/promises'
import {BkError} from '../errors.js'

/** Reads into `buffer` from `position` on until it is full or the file ends; returns the bytes read. */
export async function readAt(fh: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let got = 0
  while (got < buffer.length) {
    const {bytesRead} = await fh.read(buffer, got, buffer.length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/**
 * A buffer for {@link readWholeFile} kept from file to file: `initial` bytes (the largest file to come, when it is
 * known: one buffer grown from file to file kept each old one alive beside the new until a collection), grown when a
 * file is larger. What a read returns is valid until the next read.
 */
export function reusedBuffer(initial = 0): (size: number) => Buffer {
  let buffer = Buffer.allocUnsafeSlow(initial)
  return (size) => {
    if (buffer.length < size) buffer = Buffer.allocUnsafeSlow(size)
    return buffer.subarray(0, size)
  }
}

/**
 * A file's bytes, read into the buffer `into` gives for its size (a new one by default; {@link reusedBuffer} for a
 * run of files). A file that ends before the size it had at open is refused: it changed while it was read.
 */
export async function readWholeFile(
  path: string,
  into: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const data = into((await fh.stat()).size)
    if ((await readAt(fh, data, 0)) < data.length)
      throw new BkError(`${path} is shorter than it was a moment ago; it changed while it was read`)
    return data
  } finally {
    await fh.close()
  }
}
