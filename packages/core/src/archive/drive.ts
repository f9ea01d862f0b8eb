import {once} from 'node:events'
import {finished, type Readable} from 'node:stream'
import type {Parser} from 'tar'
import {openTar} from './compression.js'

/**
 * Feed the decompressed bytes of `file` into a node-tar Parser/Unpack with backpressure, and wait until it has
 * processed everything ('close': for an Unpack, every file is written). Rejects with the first error of either side,
 * without reading further, and when the archive lacks its end-of-archive blocks (truncated).
 */
export async function feedTar(
  file: string,
  sink: Parser,
  stopEarly?: AbortSignal,
  onRaw?: (chunk: Buffer) => void,
): Promise<void> {
  // Every tar writer ends the archive with zero blocks. Without one, a plain .tar cut at a member boundary would read
  // as a complete archive with fewer members (gzip and zstd catch a cut by their own checks; plain tar has none).
  let sawEndMarker = false
  sink.on('nullBlock', () => {
    sawEndMarker = true
  })
  // The sink's first error ends the feed at the next block: a sink that failed (a full disk) still takes writes
  // without pushing back, and feeding it the rest of a large archive would only make the user wait for the error.
  let failure: {error: unknown} | undefined
  const done = new Promise<void>((resolve, reject) => {
    sink.on('error', (error) => {
      failure ??= {error}
      reject(error)
    })
    sink.on('close', () => resolve())
  })
  done.catch(() => {}) // observed below; avoid an unhandled rejection while the loop is still running
  const source = await openTar(file, onRaw)
  try {
    for await (const block of readAhead(source)) {
      if (stopEarly?.aborted) break
      if (!sink.write(block)) await Promise.race([once(sink, 'drain'), done])
      if (failure) throw failure.error
      if (stopEarly?.aborted) break
    }
  } catch (error) {
    sink.removeAllListeners('error')
    sink.on('error', () => {})
    throw error
  } finally {
    source.destroy()
  }
  if (stopEarly?.aborted) return
  sink.end()
  await done
  if (!sawEndMarker && !stopEarly?.aborted) {
    throw Object.assign(new Error('the archive ends without its end-of-archive blocks'), {code: 'TAR_BAD_ARCHIVE'})
  }
}

/** Bytes handed to the tar sink at once: a file's body is then written in blocks of this size, not per pipe read. */
const BLOCK = 1024 * 1024
/**
 * Decompressed bytes read ahead of the sink: the decompressor fills the next block while one goes to the disk. No
 * more: zlib inflates a whole input chunk regardless, and every entry of a block held in the parser's queue costs
 * memory (64k files of 2 KB: 4 MiB ahead took peak RSS from 145 to 190 MB, 1 MiB to about 152).
 */
const AHEAD = 1024 * 1024

/**
 * The bytes of `source` in order, in blocks of at least BLOCK bytes (the last one may be smaller), read ahead up to
 * AHEAD bytes while the consumer works on a block. Without it the decompressor (a child's 64 KiB pipe reads, or
 * zlib's chunks) and the file writes take turns: one fs.write per pipe read, each waited for before the next read.
 */
async function* readAhead(source: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = []
  let queued = 0
  let ended = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onData = (chunk: Buffer) => {
    queue.push(chunk)
    queued += chunk.length
    if (queued >= AHEAD) source.pause()
    if (queued >= BLOCK) notify()
  }
  source.on('data', onData)
  const stopWatching = finished(source, {writable: false}, (error) => {
    if (error) failure ??= error
    ended = true
    notify()
  })
  try {
    while (true) {
      if (failure) throw failure
      if (queued >= BLOCK || (ended && queued > 0)) {
        const block = queue.length === 1 ? queue[0]! : Buffer.concat(queue, queued)
        queue.length = 0
        queued = 0
        if (!ended) source.resume()
        yield block
        continue
      }
      if (ended) return
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  } finally {
    source.off('data', onData)
    stopWatching()
    // stopped early (or failed): the caller destroys the source, whose decompressor then dies of a broken pipe
    source.on('error', () => {})
  }
}
