// pump: every byte read is written, inspected and hashed once, in order, whichever digests run in worker threads.
import {createHash, randomBytes} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {pump} from '../src/pump.js'

/** A reader of `data` in uneven pieces (short reads included), like a positional read of a file. */
function readerOf(data: Buffer) {
  let at = 0
  let turn = 0
  return async (buf: Buffer) => {
    const n = Math.min(buf.length - (turn++ % 3) * 4097, data.length - at)
    data.copy(buf, 0, at, at + n)
    at += n
    return n
  }
}

describe('pump', () => {
  const data = randomBytes(5 * 1024 * 1024 + 12345)
  const md5 = createHash('md5').update(data).digest('hex')
  const sha256 = createHash('sha256').update(data).digest('hex')

  for (const offload of [undefined, 'md5', 'sha256', 'both'] as const) {
    it(`writes, inspects and hashes every byte in order (offload: ${offload ?? 'none'})`, async () => {
      const written: Buffer[] = []
      const inspected: Buffer[] = []
      const r = await pump({
        read: readerOf(data),
        // copies: the pump reuses its buffers once a write and the hashing of it are done
        write: async (chunk) => {
          written.push(Buffer.from(chunk))
        },
        inspect: (chunk) => inspected.push(Buffer.from(chunk)),
        md5: true,
        sha256: true,
        offload,
      })
      expect(r).toEqual({bytes: data.length, md5, sha256})
      expect(Buffer.concat(written).equals(data)).toBe(true)
      expect(Buffer.concat(inspected).equals(data)).toBe(true)
    })
  }
})
