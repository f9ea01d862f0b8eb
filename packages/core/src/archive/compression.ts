import {createReadStream} from 'node:fs'
import {open} from 'node:fs/promises'
import {type Duplex, pipeline, Readable, Transform} from 'node:stream'
import {createGunzip, createGzip} from 'node:zlib'
import {BkError} from '../errors.js'
import {warn} from '../ui/warn.js'
import {findProgram, programDuplex, programOutput} from './native.js'
import type {Compression} from './types.js'
import {missingHeadBytes} from './zstd-head.js'

/** Compression implied by a file name: .tar.gz/.tgz → gzip, .tar.zst/.tzst → zstd, anything else → none. */
export function compressionOf(file: string): Compression {
  const name = file.toLowerCase()
  if (name.endsWith('.gz') || name.endsWith('.tgz')) return 'gzip'
  if (name.endsWith('.zst') || name.endsWith('.tzst') || name.endsWith('.zstd')) return 'zstd'
  return 'none'
}

/** True when the `zstd` program is on PATH (an executable file: a folder of that name does not count). */
export async function zstdAvailable(): Promise<boolean> {
  return (await findProgram('zstd')) !== undefined
}

export async function requireZstd(file: string): Promise<void> {
  if (!(await zstdAvailable()))
    throw new BkError(`${file}: zstd compression needs the zstd program on PATH (install the zstd package)`, {
      code: 'ENOZSTD',
    })
}

/** Compression of an existing file, from its first bytes (the name can lie). */
export async function sniffCompression(file: string): Promise<Compression> {
  const handle = await open(file, 'r')
  try {
    const buf = Buffer.alloc(4)
    const {bytesRead} = await handle.read(buf, 0, 4, 0)
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip'
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
    return 'none'
  } finally {
    await handle.close()
  }
}

/** Files already warned about in this process (one archive is often read several times). */
const repairedWarned = new Set<string>()

/**
 * A stream of the decompressed tar bytes of `file`; errors of the decompressor surface as stream errors.
 * `onRaw` sees every byte of the file itself, in order, as it is read (to hash the archive in the same pass).
 */
export async function openTar(file: string, onRaw?: (chunk: Buffer) => void): Promise<Readable> {
  const compression = await sniffCompression(file)
  if (compression === 'zstd') await requireZstd(file)
  const repair = compression === 'zstd' ? await missingHeadBytes(file) : undefined
  if (repair !== undefined && !repairedWarned.has(file)) {
    repairedWarned.add(file)
    warn(
      `${file}: its manifest frame lacks ${repair.bytes.length === 1 ? 'one byte' : 'two bytes'} (a defect of earlier bk builds); bk puts ${repair.bytes.length === 1 ? 'it' : 'them'} back while reading, ` +
        'but zstd and GNU tar cannot read this file: make a new backup',
    )
  }
  const raw = createReadStream(file, {highWaterMark: 1024 * 1024})
  // a pipeline stage, not a 'data' listener: that would start the flow before anyone reads, and lose bytes
  const read: Readable = onRaw
    ? pipeline(
        raw,
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            onRaw(chunk)
            done(null, chunk)
          },
        }),
        () => {},
      )
    : raw
  if (compression === 'none') return read
  // 256 KiB out per chunk (zlib's default is 16 KiB): fewer, larger writes into the tar parser
  if (compression === 'gzip') return strictGunzip(read)
  // zstd in a child (plain child_process: no execa to load); its failures are named as zstd's for readError
  const fromZstd = <T extends Readable>(stream: T): T => {
    stream.prependListener('error', (error: Error) => {
      Object.assign(error, {command: 'zstd -d'})
    })
    return stream
  }
  if (onRaw || repair !== undefined) {
    // the file's bytes go through us (hashed on the way, as stored) into zstd's stdin
    const child = fromZstd(programDuplex('zstd', ['-d', '-c', '-q']))
    if (repair === undefined) return pipeline(read, child, () => {})
    return pipeline(read, insertBytes(repair.offset, repair.bytes), child, () => {})
  }
  raw.destroy()
  await requireZstd(file)
  return fromZstd(programOutput('zstd', ['-d', '-c', '-q', '--', file]))
}

/**
 * The gunzipped bytes of `read`, refusing bytes after the last gzip member: zlib stops at trailing zeros without a
 * word (and gzip and pigz ignore trailing junk), so a file with anything appended would read as the stream it starts
 * with. zlib's count of the bytes it consumed must reach the count fed to it.
 */
function strictGunzip(read: Readable): Readable {
  let fed = 0
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      fed += chunk.length
      done(null, chunk)
    },
  })
  const gunzip = createGunzip({chunkSize: 256 * 1024})
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, chunk)
    },
    flush(done) {
      if (gunzip.bytesWritten === fed) return done()
      const error = new Error(`incorrect data: ${fed - gunzip.bytesWritten} bytes after the end of the gzip stream`)
      done(Object.assign(error, {code: 'Z_DATA_ERROR'}))
    },
  })
  return pipeline(read, counted, gunzip, checked, () => {})
}

/** A Duplex compressing tar bytes; identity for 'none'. */
export function compressor(compression: Compression, level?: number): Duplex | undefined {
  if (compression === 'none') return undefined
  if (compression === 'gzip') return createGzip({level: level ?? 6})
  return programDuplex('zstd', ['-q', '-c', `-${level ?? 3}`])
}

/**
 * Compress bytes completely (one gzip member / zstd frame), e.g. a manifest member. Given as pieces, they are never
 * joined into one buffer before compression (compressStream).
 */
export async function compressBuffer(
  data: Buffer | readonly Buffer[],
  compression: Compression,
  level?: number,
): Promise<Buffer> {
  const pieces = Buffer.isBuffer(data) ? [data] : data
  if (compression === 'none') return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)
  const out: Buffer[] = []
  for await (const chunk of compressStream(pieces, compression, level)) out.push(chunk)
  return Buffer.concat(out)
}

/**
 * `pieces` compressed as one gzip member / zstd frame, streamed: each piece is taken when the compressor can take
 * it, and the output comes as it is made, so neither is ever held whole (a manifest of many files is tens of MB).
 */
export function compressStream(
  pieces: Iterable<Buffer>,
  compression: Compression,
  level?: number,
): AsyncIterable<Buffer> {
  const source = Readable.from(pieces, {objectMode: false})
  const coder = compressor(compression, level)
  if (!coder) return source
  // an error anywhere (a piece that throws, the compressor failing) destroys both: the output's reader sees it
  return pipeline(source, coder, () => {})
}

/** Passes bytes through, with `bytes` inserted so that they land at `offset` of the output. */
function insertBytes(offset: number, bytes: Buffer): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const start = seen
      seen += chunk.length
      if (offset < start || offset >= seen) return done(null, chunk)
      const cut = offset - start
      done(null, Buffer.concat([chunk.subarray(0, cut), bytes, chunk.subarray(cut)]))
    },
  })
}
