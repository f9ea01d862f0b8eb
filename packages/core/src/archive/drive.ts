import {once} from 'node:events'
import type {Parser} from 'tar'
import {openTar} from './compression.js'

/**
 * Feed the decompressed bytes of `file` into a node-tar Parser/Unpack with backpressure, and wait until it has
 * processed everything ('close': for an Unpack, every file is written). Rejects with the first error of either side.
 */
export async function feedTar(file: string, sink: Parser, stopEarly?: AbortSignal): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    sink.on('error', reject)
    sink.on('close', () => resolve())
  })
  done.catch(() => {}) // observed below; avoid an unhandled rejection while the loop is still running
  const source = await openTar(file)
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
}
