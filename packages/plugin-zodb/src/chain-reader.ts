// Streams the uncompressed bytes of a repository chain file by file, checking each file's size and md5
// against its `.dat` line and (optionally) the FileStorage structure of the whole stream as it goes.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {open} from 'node:fs/promises'
import {createGunzip} from 'node:zlib'
import {BkError} from '@bkcli/core/errors'
import type {FsIndex} from './fsindex.js'
import {pump} from './pump.js'
import {RecordParser, StructureError} from './record-parser.js'
import type {CheckedChain, DatLine, RepoFile} from './repository.js'
import {readSidecar} from './sidecar.js'

const CHUNK = 1 << 20

/** The uncompressed bytes of one repository file. */
export function readRepoFile(file: RepoFile): AsyncIterable<Buffer> {
  const raw = createReadStream(file.path, {highWaterMark: CHUNK})
  if (!file.gzip) return raw
  const gunzip = createGunzip({chunkSize: CHUNK})
  raw.on('error', (e) => gunzip.destroy(e))
  return raw.pipe(gunzip)
}

export interface ChainReadOptions {
  /** receives every chunk in order (the restore writes it out); the chunk's memory is reused once it resolves */
  sink?: (chunk: Buffer) => Promise<void> | void
  /** check the FileStorage structure of the concatenated bytes (default true) */
  structure?: boolean
  /** filled with oid → record offset as records go by */
  index?: FsIndex
  onProgress?: (bytes: number) => void
  /**
   * Check an uncompressed file bk wrote by the sha256 its sidecar records beside the same md5 as the .dat line
   * (sha256 runs at ~2.4× md5's speed here, and this check is a restore's critical path); the md5 is computed only
   * when the sha256 does not match, so a damaged sidecar costs a second read, never a false verdict. Default: md5.
   */
  sidecarDigest?: boolean
  /**
   * Compute the digest of an uncompressed file at least this large in a worker thread, beside the structure check and
   * the dispatch of the reads and writes on this one (a restore: OFFLOAD_MIN). Default: never, on this thread.
   */
  offloadMin?: number
}

export interface ChainReadResult {
  bytes: number
  transactions: number
  lastTid?: Buffer
  /** how each file was checked: the .dat's md5, or the sha256 of its bk sidecar (which agrees with that md5) */
  checkedBy: ('md5' | 'sha256')[]
}

/** The sha256 of a plain backup file when its bk sidecar describes exactly the .dat line's bytes. */
async function sidecarSha256(file: RepoFile, line: DatLine): Promise<string | undefined> {
  if (file.gzip) return undefined
  const s = await readSidecar(file.path)
  const size = line.end - line.start
  const agrees = s?.md5 === line.md5 && s.start === line.start && s.end === line.end && s.size === size
  return agrees && typeof s.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.sha256) ? s.sha256 : undefined
}

/** md5 of a whole file (the second look when a sidecar's sha256 did not match). */
async function md5Of(path: string): Promise<{bytes: number; md5: string}> {
  const fh = await open(path, 'r')
  try {
    const r = await pump({read: async (buf) => (await fh.read(buf, 0, buf.length, null)).bytesRead, md5: true})
    return {bytes: r.bytes, md5: r.md5!}
  } finally {
    await fh.close()
  }
}

export async function readChain(chain: CheckedChain, options: ChainReadOptions = {}): Promise<ChainReadResult> {
  const index = options.index
  const parser =
    options.structure === false
      ? undefined
      : new RecordParser({start: 0, onRecord: index ? (oid, at) => index.set(oid, at) : undefined})
  let total = 0
  const checkedBy: ChainReadResult['checkedBy'] = []
  for (const [i, file] of chain.files.entries()) {
    const line = chain.lines[i]!
    let n = 0
    let sum: string
    const sha256 = options.sidecarDigest ? await sidecarSha256(file, line) : undefined
    try {
      if (file.gzip) {
        const md5 = createHash('md5')
        for await (const chunk of readRepoFile(file) as AsyncIterable<Buffer>) {
          md5.update(chunk)
          n += chunk.length
          parser?.push(chunk)
          if (options.sink) await options.sink(chunk)
          options.onProgress?.(total + n)
        }
        sum = md5.digest('hex')
        checkedBy.push('md5')
      } else {
        // uncompressed: large buffers read ahead, written from the same memory, no copy (pump.ts)
        const fh = await open(file.path, 'r')
        try {
          const r = await pump({
            read: async (buf) => (await fh.read(buf, 0, buf.length, null)).bytesRead,
            inspect: (chunk) => {
              n += chunk.length
              parser?.push(chunk)
              options.onProgress?.(total + n)
            },
            write: options.sink ? async (chunk) => options.sink!(chunk) : undefined,
            md5: sha256 === undefined,
            sha256: sha256 !== undefined,
            offload:
              options.offloadMin !== undefined && line.end - line.start >= options.offloadMin
                ? sha256 !== undefined
                  ? 'sha256'
                  : 'md5'
                : undefined,
          })
          sum = r.md5 ?? line.md5
          // the sidecar's sha256 stands for the .dat's md5 only when it matches; else the md5 decides
          if (sha256 !== undefined && r.sha256 !== sha256) sum = (await md5Of(file.path)).md5
          checkedBy.push(sha256 !== undefined && r.sha256 === sha256 ? 'sha256' : 'md5')
        } finally {
          await fh.close()
        }
      }
    } catch (e) {
      if (e instanceof StructureError) {
        throw new BkError(`${file.name}: the data is not a valid FileStorage (${e.message}); the backup is damaged`)
      }
      if (e instanceof BkError) throw e
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw new BkError(`${file.path} is missing; the backup chain is broken`)
      if (code?.startsWith('Z_') || /gzip|header|unexpected end/i.test((e as Error).message)) {
        throw new BkError(`${file.path} is not a valid gzip file (${(e as Error).message}); the backup is damaged`)
      }
      throw e
    }
    const size = line.end - line.start
    const z = file.gzip ? ' (when uncompressed)' : ''
    if (n !== size) throw new BkError(`${file.path} is ${n} bytes${z}, should be ${size} bytes; the backup is damaged`)
    if (sum !== line.md5) {
      throw new BkError(`${file.path} has checksum ${sum}${z} instead of ${line.md5}; the backup is damaged`)
    }
    total += n
  }
  try {
    parser?.end()
  } catch (e) {
    if (e instanceof StructureError) throw new BkError(`the restored data is not a complete FileStorage (${e.message})`)
    throw e
  }
  return {bytes: total, transactions: parser?.transactions ?? 0, lastTid: parser?.lastTransactionTid, checkedBy}
}

/** The first `n` bytes of a backup file (decompressed), or undefined when it is shorter. */
export async function repoFileHead(file: RepoFile, n: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = []
  let got = 0
  const stream = readRepoFile(file)
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk)
    got += chunk.length
    if (got >= n) break
  }
  ;(stream as unknown as {destroy?: () => void}).destroy?.()
  const all = Buffer.concat(parts)
  return all.length >= n ? all.subarray(0, n) : undefined
}
