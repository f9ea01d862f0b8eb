import {randomBytes} from 'node:crypto'
import {closeSync, openSync, readFileSync, writeFileSync} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {afterAll, describe, expect, it} from 'vitest'
import {fileSink, WRITE_PIECE, writeAll, writeAllSync} from '../src/fs/index.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

/** A real file handle whose write() calls are recorded and, with `short`, write at most that many bytes each. */
async function recording(path: string, short?: number) {
  const handle = await open(path, 'w')
  const calls: number[] = []
  const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<{bytesWritten: number}>
  const spy = new Proxy(handle, {
    get(target, key) {
      if (key !== 'write') return Reflect.get(target, key, target)
      return (data: Uint8Array, offset: number, length: number, position: number | null) => {
        calls.push(length)
        return write(data, offset, short ? Math.min(short, length) : length, position)
      }
    },
  }) as FileHandle
  return {handle, spy, calls}
}

describe('writeAll', () => {
  it('writes every byte in order, never more than WRITE_PIECE per call, and finishes short writes', async () => {
    const data = randomBytes(3 * WRITE_PIECE + 12345)
    const file = join(temp(), 'out')
    const {handle, spy, calls} = await recording(file, 100_000)
    await writeAll(spy, data)
    await handle.close()
    expect(readFileSync(file).equals(data)).toBe(true)
    expect(Math.max(...calls)).toBeLessThanOrEqual(WRITE_PIECE)
    // short writes of 100 000 bytes: every later call asks for the rest of its piece, not a new piece
    expect(calls.reduce((a, b) => a + Math.min(b, 100_000), 0)).toBe(data.length)
  })

  it('writes at a position, leaving the bytes before it as they were', async () => {
    const file = join(temp(), 'at')
    writeFileSync(file, Buffer.alloc(10, 0x61))
    const data = randomBytes(WRITE_PIECE + 7)
    const handle = await open(file, 'r+')
    await writeAll(handle, data, 4)
    await handle.close()
    const bytes = readFileSync(file)
    expect(bytes.subarray(0, 4).toString()).toBe('aaaa')
    expect(bytes.subarray(4).equals(data)).toBe(true)
  })
})

describe('writeAllSync', () => {
  it('writes at the offset or at a position, whole', () => {
    const file = join(temp(), 'sync')
    const a = randomBytes(2 * WRITE_PIECE + 1)
    const b = randomBytes(3)
    const fd = openSync(file, 'w')
    try {
      writeAllSync(fd, a)
      writeAllSync(fd, b, 1)
    } finally {
      closeSync(fd)
    }
    const bytes = readFileSync(file)
    expect(bytes.length).toBe(a.length)
    expect(bytes.subarray(1, 4).equals(b)).toBe(true)
    expect(bytes.subarray(4).equals(a.subarray(4))).toBe(true)
  })
})

describe('fileSink', () => {
  it('writes a stream of large chunks in pieces, in order, and reports each chunk written', async () => {
    const chunks = [randomBytes(3 * WRITE_PIECE), randomBytes(5), randomBytes(WRITE_PIECE * 2 + 1)]
    const file = join(temp(), 'sink')
    const {handle, spy, calls} = await recording(file)
    const seen: number[] = []
    await pipeline(
      Readable.from(chunks),
      fileSink(spy, (n) => seen.push(n)),
    )
    await handle.close()
    expect(readFileSync(file).equals(Buffer.concat(chunks))).toBe(true)
    expect(Math.max(...calls)).toBeLessThanOrEqual(WRITE_PIECE)
    expect(seen).toEqual(chunks.map((c) => c.length))
  })

  it('fails the pipeline with the write error, and leaves the handle open for its owner', async () => {
    const file = join(temp(), 'ro')
    writeFileSync(file, '')
    const handle = await open(file, 'r')
    await expect(pipeline(Readable.from([Buffer.alloc(10)]), fileSink(handle))).rejects.toThrow(/EBADF/)
    expect((await handle.stat()).size).toBe(0)
    await handle.close()
  })
})
