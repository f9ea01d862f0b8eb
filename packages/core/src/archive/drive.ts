import {once} from 'node:events'
import type {Parser} from 'tar'
import {openTar} from './compression.js'

/**
 * Feed the decompressed bytes of `file` into a node-tar Parser/Unpack with backpressure, and wait until it has
 * processed everything ('close': for an Unpack, every file is written). Rejects with the first error of either side,
 * and when the archive lacks its end-of-archive blocks (truncated).
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
  const done = new Promise<void>((resolve, reject) => {
    sink.on('error', reject)
    sink.on('close', () => resolve())
  })
  done.catch(() => {}) // observed below; avoid an unhandled rejection while the loop is still running
  const source = await openTar(file, onRaw)
  try {
    for await (const chunk of source) {
      if (stopEarly?.aborted) break
      if (!sink.write(chunk as Buffer)) await Promise.race([once(sink, 'drain'), done])
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
