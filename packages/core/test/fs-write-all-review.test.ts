// Review of fileSink / writeAll where they replaced fs.WriteStream: a full disk during an archive Node writes
// (zlib or no compression), during writeConcatenated (createBkArchive's second pass) and during a dump piped
// through Node; the offsets of short writes at a position.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {openFds} from '@bkcli/testkit'
import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'
import {createArchive} from '../src/archive/index.js'
import {dumpDatabase, parseDbUrl} from '../src/db/index.js'
import {fileSink, WRITE_PIECE, writeAll} from '../src/fs/index.js'
import {createBkArchive} from '../src/manifest/index.js'
import {cleanupTemp, smallDisk, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
})
afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  delete process.env.BK_ARCHIVE_ENGINE
})

/** A source folder of incompressible files, `mib` MiB in all. */
function source(dir: string, mib: number): string {
  const src = join(dir, 'src')
  mkdirSync(src)
  for (let i = 0; i < mib; i++) writeFileSync(join(src, `f${i}`), randomBytes(1024 * 1024))
  return src
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: Error) => e,
  )
const settle = () => new Promise((r) => setTimeout(r, 50))

describe('a full disk while Node writes the file', () => {
  for (const [engine, name] of [
    ['node', 'a.tar.gz'],
    ['node', 'a.tar'],
    [undefined, 'a.tar'],
  ] as const) {
    it(`an archive (${name}, engine ${engine ?? 'default'}): one line naming the file, nothing left, no fd kept`, async () => {
      const dir = temp()
      const src = source(dir, 4)
      const small = smallDisk(dir, '2m')
      if (!small) return
      try {
        if (engine) process.env.BK_ARCHIVE_ENGINE = engine
        const file = join(small, name)
        const before = openFds()
        const error = await failure(createArchive({cwd: src, file}))
        await settle()
        expect(error?.message).toBe(`no space left writing ${file}; nothing was written`)
        expect((error?.cause as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
        expect(readdirSync(small)).toEqual([])
        const opened = openFds().filter((fd) => !before.includes(fd))
        // node-tar, cut off mid-way, keeps the source files it had open (as before fileSink): only the output's
        // descriptor is ours to check there
        expect(engine === 'node' ? opened.filter((fd) => fd.includes(small)) : opened).toEqual([])
        expect(unhandled).toEqual([])
      } finally {
        execFileSync('umount', [small])
      }
    })
  }

  it('createBkArchive: the body fits, the whole file (writeConcatenated) does not', async () => {
    const dir = temp()
    const src = source(dir, 2)
    // the body (2 MiB and the tar's headers) fits; body and the file beside it do not
    const small = smallDisk(dir, '3m')
    if (!small) return
    try {
      process.env.BK_ARCHIVE_ENGINE = 'node'
      const file = join(small, 'a.tar')
      const meta = {
        plugin: {name: '@bkcli/core', version: '0'},
        application: 'test',
        kind: 'full',
        source: src,
        components: [{type: 'files', path: '.', count: 1, bytes: 1}],
      }
      const error = await failure(createBkArchive({cwd: src, file, meta} as Parameters<typeof createBkArchive>[0]))
      await settle()
      expect(error?.message).toBe(`no space left writing ${file}; nothing was written`)
      expect((error?.cause as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
      expect(readdirSync(small)).toEqual([])
      expect(openFds().filter((fd) => fd.includes(small))).toEqual([])
      expect(unhandled).toEqual([])
    } finally {
      execFileSync('umount', [small])
    }
  })

  for (const gzip of [false, true]) {
    it(`a dump piped through Node (${gzip ? 'gzip' : 'progress counter'}): names the dump, nothing left`, async () => {
      const dir = temp()
      const fake = join(dir, 'pg_dump')
      // a stand-in pg_dump writing 4 MiB of incompressible bytes, then exiting 0
      writeFileSync(fake, '#!/bin/sh\nhead -c 4194304 /dev/urandom\n')
      chmodSync(fake, 0o755)
      const small = smallDisk(dir, '2m')
      if (!small) return
      try {
        const dest = join(small, 'dump.sql')
        const pg = parseDbUrl('postgres://root@127.0.0.1:5432/postgres')
        const before = openFds()
        const error = await failure(dumpDatabase(pg, dest, {clientPath: fake, gzip, onProgress: () => {}}))
        await settle()
        expect(error?.message).toBe(
          `no space left writing the dump ${dest}; nothing was written, free some space and run it again`,
        )
        expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC')
        expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('EDUMPWRITE')
        expect(readdirSync(small)).toEqual([])
        expect(openFds().filter((fd) => !before.includes(fd))).toEqual([])
        expect(unhandled).toEqual([])
      } finally {
        execFileSync('umount', [small])
      }
    })
  }
})

/** A fake handle keeping a file in memory, each write() taking at most `short` bytes, with a file offset. */
function memoryHandle(short: number) {
  let file = Buffer.alloc(0)
  let offset = 0
  const calls: {position: number | null; length: number}[] = []
  const handle = {
    async write(data: Uint8Array, off: number, length: number, position: number | null) {
      const n = Math.min(short, length)
      calls.push({position, length})
      const at = position ?? offset
      if (file.length < at + n) file = Buffer.concat([file, Buffer.alloc(at + n - file.length)])
      Buffer.from(data.buffer, data.byteOffset + off, n).copy(file, at)
      if (position === null) offset += n
      return {bytesWritten: n, buffer: data}
    },
  } as unknown as FileHandle
  return {handle, calls, bytes: () => file, seek: (to: number) => (offset = to)}
}

describe('writeAll: short writes keep their offsets', () => {
  it('at a position: each retry lands right after the bytes written, the file offset untouched', async () => {
    const m = memoryHandle(100_003)
    const data = randomBytes(2 * WRITE_PIECE + 77)
    await writeAll(m.handle, data, 5000)
    expect(m.bytes().subarray(5000).equals(data)).toBe(true)
    expect(m.bytes().subarray(0, 5000).equals(Buffer.alloc(5000))).toBe(true)
    let expected = 5000
    for (const call of m.calls) {
      expect(call.position).toBe(expected)
      expected += Math.min(100_003, call.length)
    }
  })

  it("at the file's offset (null): appends after what is already there, every retry at the offset", async () => {
    const m = memoryHandle(70_001)
    m.seek(12)
    const data = randomBytes(WRITE_PIECE + 5)
    await writeAll(m.handle, data)
    expect(m.calls.every((c) => c.position === null)).toBe(true)
    expect(m.bytes().subarray(12).equals(data)).toBe(true)
  })
})

describe('fileSink as a WriteStream stand-in', () => {
  it('takes zero-length chunks and strings, and signals backpressure past its mark', async () => {
    const file = join(temp(), 'mixed')
    const handle = await open(file, 'w')
    try {
      await pipeline(Readable.from([Buffer.alloc(0), 'héllo ', Buffer.from('world'), '']), fileSink(handle))
      const sink = fileSink(handle)
      const big = randomBytes(2 * 1024 * 1024)
      expect(sink.write(big)).toBe(false)
      await new Promise((r) => sink.end(r))
    } finally {
      await handle.close()
    }
    const bytes = readFileSync(file)
    expect(bytes.subarray(0, 12).toString()).toBe('héllo world')
    expect(bytes.length).toBe(12 + 2 * 1024 * 1024)
  })

  it('destroyed by a failing upstream while a write is in flight: close waits for it, nothing unhandled', async () => {
    const file = join(temp(), 'cut')
    const handle = await open(file, 'w')
    async function* source() {
      yield randomBytes(4 * 1024 * 1024)
      throw new Error('upstream failed')
    }
    const error = await failure(pipeline(Readable.from(source()), fileSink(handle)))
    await handle.close()
    await settle()
    expect(error?.message).toBe('upstream failed')
    expect(openFds().filter((fd) => fd.endsWith(file))).toEqual([])
    expect(unhandled).toEqual([])
  })
})

describe('fileSink: a failing onWritten', () => {
  it('fails the pipeline with its error, not an unhandled rejection and a stream that never ends', async () => {
    const file = join(temp(), 'cb')
    const handle = await open(file, 'w')
    try {
      const sink = fileSink(handle, () => {
        throw new Error('progress callback failed')
      })
      const result = await Promise.race([
        failure(pipeline(Readable.from([Buffer.from('abc'), Buffer.from('def')]), sink)),
        new Promise((r) => setTimeout(() => r('still running'), 2000)),
      ])
      await settle()
      expect((result as Error | undefined)?.message ?? result).toBe('progress callback failed')
      expect(unhandled).toEqual([])
    } finally {
      await handle.close()
    }
  })
})
