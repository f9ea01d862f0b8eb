// Backup of one filestorage into a repozo repository, in repozo's format (names, .dat, .index), at the cost of
// the delta: Data.fs is opened once and everything — the decision, the boundary scan, the copy, the index —
// is read through that one descriptor, so a pack that swaps the file mid-way cannot mix two files.
//
// Incremental or full? repozo md5s the whole previous chain and the source prefix (≈3× Data.fs of I/O);
// its quick mode trusts one md5 of the last chunk. bk checks, in O(1) reads:
//   • the chain is whole (every file has its .dat line, ranges contiguous from 0);
//   • the Data.fs is at least as long as the backed-up prefix;
//   • a transaction still ends exactly at the previous end offset: redundant length → header whose length,
//     status and tid agree (tid recorded at the previous backup);
//   • the first and the last 64 KiB of the backed-up prefix are unchanged (md5 against the sidecar).
// FileStorage only appends; only a pack (a new file) or a truncation changes bytes before the end, and either
// breaks these checks — then bk makes a full backup, as repozo does. Only complete, committed transactions
// are copied: the scan stops before a voted-but-unfinished or half-written tail.
import {createHash} from 'node:crypto'
import {type FileHandle, open, readFile, writeFile} from 'node:fs/promises'
import {Readable, Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import {createGzip} from 'node:zlib'
import {BkError} from '@bkcli/core/errors'
import {fileSink, fsyncPath, writeAll} from '@bkcli/core/fs'
import {atomicFile, crashPoint} from '@bkcli/core/safety'
import {readRepoFile, repoFileHead} from './chain-reader.js'
import {
  COMMITTED_STATUSES,
  checkBoundary,
  hasMagic,
  parseTxnHeader,
  preadExactly,
  readU64,
  type ScanResult,
  scanTransactions,
  TXN_HEADER_LEN,
  tidToDate,
} from './filestorage.js'
import {FsIndex, IndexFormatError, readIndexFile, writeIndexFile} from './fsindex.js'
import {OFFLOAD_MIN, pump} from './pump.js'
import {RecordParser, StructureError} from './record-parser.js'
import {
  type DatLine,
  datPathOf,
  formatDatLine,
  indexPathOf,
  listDataFiles,
  type RepoFile,
  readDat,
  selectChain,
} from './repository.js'
import {dateOfStamp, stampOf} from './repozo-date.js'
import {readSidecar, type Sidecar, writeSidecar} from './sidecar.js'

/** Bytes of the backed-up prefix compared at its start and end before an incremental. */
export const PROBE = 64 * 1024
const CHUNK = 1 << 20

export interface BackupOptions {
  /** repository directory (absolute) */
  repository: string
  /** the repository as written into .dat lines (repozo writes its -r argument) */
  datPrefix?: string
  /** force a full backup */
  full?: boolean
  gzip?: boolean
  /** zlib level for .fsz/.deltafsz (repozo uses 9; bk defaults to 6: same format, much faster) */
  gzipLevel?: number
  now?: () => Date
  onProgress?: (bytes: number, total: number) => void
  log?: (message: string) => void
}

export interface BackupResult {
  kind: 'full' | 'incremental' | 'none'
  /** why this kind was chosen */
  reason: string
  datafs: string
  repository: string
  file?: string
  start: number
  end: number
  /** bytes of the new file, uncompressed */
  bytes: number
  md5?: string
  transactions: number
  lastTransaction?: string
  /** bytes after `end` left out: an unfinished commit, or unreadable data (then `damaged` is true) */
  leftOut: number
  damaged?: boolean
}

interface Decision {
  kind: 'full' | 'incremental'
  reason: string
  start: number
  chainHead?: RepoFile
  previous?: RepoFile
}

export async function backupFileStorage(datafs: string, options: BackupOptions): Promise<BackupResult> {
  let fh: FileHandle
  try {
    fh = await open(datafs, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new BkError(`filestorage ${datafs} does not exist; check --datafs`)
    throw new BkError(`cannot read ${datafs}: ${(e as Error).message}`)
  }
  try {
    return await backupFrom(fh, datafs, options)
  } finally {
    await fh.close()
  }
}

async function backupFrom(fh: FileHandle, datafs: string, options: BackupOptions): Promise<BackupResult> {
  const log = options.log ?? (() => {})
  const size = (await fh.stat()).size
  if (!(await hasMagic(fh))) throw new BkError(`${datafs} is not a FileStorage (no FS30 header); check --datafs`)
  const files = await listDataFiles(options.repository)
  const decision = options.full
    ? ({kind: 'full', reason: 'full backup requested', start: 0} as Decision)
    : await decide(fh, size, options.repository, files)
  log(decision.reason)

  const full = decision.kind === 'full'
  // A file that ends on a committed transaction (the usual case) is copied to its end without a forward scan of every
  // transaction header first (one read each, in the thread pool: 17k a GiB, ~90 for a 5 MiB delta): the copy's parser
  // checks every transaction anyway, more strictly than the scan. When the parser finds the data is not whole after
  // all, that copy is dropped and the backup starts again with the scan, which finds where the committed data ends.
  const from = full ? 4 : decision.start
  const quick = size > from && (await endsOnCommit(fh, from, size))
  let scan: ScanResult = quick ? {end: size, transactions: 0, stopped: 'eof'} : await scanTransactions(fh, from, size)
  const warnDamaged = () => {
    if (scan.stopped !== 'garbage') return
    log(
      `warning: ${datafs} has no valid transaction at byte ${scan.end} (${size - scan.end} bytes follow); only the data before it is backed up — check it with fstest`,
    )
  }
  warnDamaged()
  if (decision.kind === 'incremental' && scan.end === decision.start) {
    return {
      ...baseOf(datafs, options.repository, decision.start, size, scan),
      kind: 'none',
      reason: 'no new committed transactions since the last backup: nothing to do',
    }
  }

  const stamp = await nextStamp(files, options.now ?? (() => new Date()))
  const ext = `${full ? '' : 'delta'}${options.gzip ? 'fsz' : 'fs'}`
  const name = `${stamp}.${ext}`
  const dest = `${options.repository}/${name}`

  const indexBefore = () =>
    full ? new FsIndex() : indexAt(fh, options.repository, decision.previous!, decision.start, log)
  let index = await indexBefore()
  // Order: data file, .index, sidecar, then the .dat line — the commit point. A kill before it leaves files that
  // no .dat records: list shows them as partial, the next backup removes them (store.ts recoverRepository).
  // Each file is fsynced as it is written; their names are made durable by one fsync of the folder before the .dat
  // is replaced (and the .dat's own after it): two folder fsyncs a backup, not four.
  const copyTo = (end: number, provisional: boolean) =>
    atomicFile(
      dest,
      (tmp) =>
        copyRange(fh, decision.start, end, tmp, {
          gzip: options.gzip ?? false,
          level: options.gzipLevel ?? 6,
          index,
          provisional,
          onProgress: options.onProgress,
        }),
      {mode: 0o600, syncDir: false},
    ).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOSPC' && e.code !== 'EDQUOT') throw e
      throw new BkError(
        `no space left in ${options.repository} for the backup ${name} (${end - decision.start} bytes of Data.fs); nothing was written, free space and run the backup again`,
        {code: 'ENOSPC', cause: e},
      )
    })
  let copy: CopyResult
  if (quick) {
    try {
      copy = await copyTo(size, true)
      scan = {end: size, transactions: copy.transactions, lastTid: copy.lastTid, stopped: 'eof'}
    } catch (e) {
      if (!(e instanceof NotWhole)) throw e
      log(
        e.atEnd
          ? `${datafs} does not end on a complete transaction (${e.message}): scanning for the committed end`
          : `${datafs} is damaged at byte ${e.offset} (${e.message}) though its last transaction looks whole: scanning for the committed end`,
      )
      scan = await scanTransactions(fh, from, size)
      warnDamaged()
      // the dropped copy added its records to the index: start again from the index as of the start
      index = await indexBefore()
      if (decision.kind === 'incremental' && scan.end === decision.start) {
        return {
          ...baseOf(datafs, options.repository, decision.start, size, scan),
          kind: 'none',
          reason: 'no new committed transactions since the last backup: nothing to do',
        }
      }
      copy = await copyTo(scan.end, false)
    }
  } else copy = await copyTo(scan.end, false)
  const base = baseOf(datafs, options.repository, decision.start, size, scan)
  crashPoint('zodb-backup:data')
  // The .index and the sidecar do not depend on each other: both are written and fsynced at once (two thread-pool
  // threads, one journal commit where the file system merges them). Both come before the .dat line, so a kill
  // between or during them leaves a partial backup either way, which the next backup removes.
  const indexWritten = atomicFile(
    indexPathOf(options.repository, {stamp} as RepoFile),
    async (tmp) => {
      await writeIndexFile(tmp, scan.end, index)
    },
    {mode: 0o600, syncDir: false},
  )
  const sidecarWritten = probeSidecar(fh, {
    kind: full ? 'full' : 'incremental',
    datafs,
    start: decision.start,
    end: scan.end,
    md5: copy.md5,
    lastTid: scan.lastTid ?? copy.lastTid,
    sha256: copy.sha256,
    size: copy.written,
    name,
  }).then((sidecar) => writeSidecar(`${options.repository}/${name}`, sidecar, {syncDir: false}))
  // neither is left running when the other fails (the caller closes Data.fs, the lock is released)
  const [indexDone, sidecarDone] = await Promise.allSettled([indexWritten, sidecarWritten])
  if (indexDone.status === 'rejected') throw indexDone.reason
  crashPoint('zodb-backup:index')
  if (sidecarDone.status === 'rejected') throw sidecarDone.reason
  crashPoint('zodb-backup:sidecar')
  // the data file, .index and sidecar are on disk under their names before the .dat can record them
  await fsyncPath(options.repository)
  const prefix = options.datPrefix ?? options.repository
  const line = formatDatLine(prefix, name, decision.start, scan.end, copy.md5)
  // The .dat is replaced whole (an incremental's line appended to the old text): repozo's bytes, never a torn line.
  const datPath = full ? `${options.repository}/${stamp}.dat` : datPathOf(options.repository, decision.chainHead!)
  const before = full ? '' : await readFile(datPath, 'utf8')
  await atomicFile(
    datPath,
    async (tmp) => {
      await writeFile(tmp, before + line)
    },
    {mode: 0o600, overwrite: !full},
  )
  crashPoint('zodb-backup:dat')
  return {
    ...base,
    kind: decision.kind,
    reason: decision.reason,
    file: dest,
    bytes: scan.end - decision.start,
    md5: copy.md5,
  }
}

/** Chooses full or incremental (see the module comment). */
async function decide(fh: FileHandle, size: number, repo: string, files: RepoFile[]): Promise<Decision> {
  const full = (reason: string): Decision => ({kind: 'full', reason: `${reason}: full backup`, start: 0})
  const chain = selectChain(files)
  const head = chain[0]
  if (!head) return full('no backup in the repository yet')
  if (!head.full) return full(`the newest chain has no full backup (${head.name})`)
  const dat = await readDat(datPathOf(repo, head))
  if (!dat || dat.length === 0) return full(`${head.stamp}.dat is missing or empty`)
  const whole = chainIsWhole(chain, dat)
  if (whole !== true) return full(whole)
  const last = chain[chain.length - 1]!
  const line = dat.find((l) => l.name === last.name)!
  if (size < line.end) return full(`Data.fs shrank below the backed-up ${line.end} bytes (packed?)`)
  const probe = (await readSidecar(`${repo}/${last.name}`)) ?? (await probeFromRepository(chain, dat))
  if (!probe || probe.end !== line.end || probe.md5 !== line.md5) {
    return full('cannot tell where the last backup ended (no usable sidecar)')
  }
  const boundary = await checkBoundary(
    fh,
    line.end,
    size,
    probe.lastTid ? Buffer.from(probe.lastTid, 'hex') : undefined,
  )
  if (!boundary.ok) return full(`Data.fs changed before the backed-up end: ${boundary.reason} (packed?)`)
  const headNow = await md5Range(fh, 0, probe.headLength)
  const tailNow = await md5Range(fh, probe.tailStart, line.end)
  if (headNow !== probe.headMd5 || tailNow !== probe.tailMd5) {
    return full('Data.fs differs from the backed-up bytes (packed or replaced?)')
  }
  return {
    kind: 'incremental',
    reason: `incremental from byte ${line.end}`,
    start: line.end,
    chainHead: head,
    previous: last,
  }
}

/** true, or why the chain cannot be extended. */
function chainIsWhole(chain: RepoFile[], dat: DatLine[]): true | string {
  const names = new Set(chain.map((f) => f.name))
  let expected = 0
  for (const l of dat) {
    if (!names.has(l.name)) return `${l.name} (listed in the .dat) is missing`
    if (l.start !== expected) return `${l.name} does not start where the previous backup ended`
    expected = l.end
  }
  for (const f of chain) {
    if (!dat.some((l) => l.name === f.name)) return `${f.name} is not recorded in the .dat (interrupted backup?)`
  }
  return true
}

/** For repositories written by repozo (no sidecar): the probe values, read from the backup files themselves. */
async function probeFromRepository(chain: RepoFile[], dat: DatLine[]): Promise<Sidecar | undefined> {
  const last = chain[chain.length - 1]!
  const line = dat.find((l) => l.name === last.name)!
  // the head is read from the full backup alone: no more than it holds, though the chain goes on past it
  const headLength = Math.min(PROBE, dat[0]!.end)
  const head = await repoFileHead(chain[0]!, headLength)
  const tailStart = Math.max(line.start, line.end - PROBE)
  const tail = await lastBytes(last, line.end - tailStart)
  if (!head || !tail) return undefined
  return {
    name: last.name,
    kind: last.full ? 'full' : 'incremental',
    start: line.start,
    end: line.end,
    md5: line.md5,
    headLength,
    headMd5: md5(head),
    tailStart,
    tailMd5: md5(tail),
    lastTid: lastTidOf(tail),
  }
}

/** The tid of the transaction that ends a buffer ending on a transaction boundary. */
function lastTidOf(tail: Buffer): string | undefined {
  if (tail.length < 8) return undefined
  const tlen = Number(tail.readBigUInt64BE(tail.length - 8))
  const at = tail.length - 8 - tlen
  return at >= 0 ? tail.subarray(at, at + 8).toString('hex') : undefined
}

async function lastBytes(file: RepoFile, n: number): Promise<Buffer | undefined> {
  if (!file.gzip) {
    const fh = await open(file.path, 'r')
    try {
      const size = (await fh.stat()).size
      return size >= n ? await preadExactly(fh, n, size - n) : undefined
    } finally {
      await fh.close()
    }
  }
  // a gzip member can only be read from its start: O(this file), once (later backups have a sidecar)
  let keep = Buffer.alloc(0)
  for await (const chunk of readRepoFile(file) as AsyncIterable<Buffer>) {
    keep = Buffer.concat([keep, chunk])
    if (keep.length > 2 * n) keep = keep.subarray(keep.length - n)
  }
  return keep.length >= n ? Buffer.from(keep.subarray(keep.length - n)) : undefined
}

function md5(b: Buffer): string {
  return createHash('md5').update(b).digest('hex')
}

async function md5Range(fh: FileHandle, start: number, end: number): Promise<string | undefined> {
  const b = await preadExactly(fh, end - start, start)
  return b ? md5(b) : undefined
}

async function probeSidecar(
  fh: FileHandle,
  info: {
    kind: 'full' | 'incremental'
    datafs: string
    start: number
    end: number
    md5: string
    lastTid?: Buffer
    sha256: string
    size: number
    name: string
  },
): Promise<Sidecar> {
  const headLength = Math.min(PROBE, info.end)
  const tailStart = Math.max(info.start, info.end - PROBE)
  return {
    name: info.name,
    kind: info.kind,
    source: info.datafs,
    start: info.start,
    end: info.end,
    md5: info.md5,
    headLength,
    headMd5: (await md5Range(fh, 0, headLength))!,
    tailStart,
    tailMd5: (await md5Range(fh, tailStart, info.end))!,
    lastTid: info.lastTid?.toString('hex'),
    size: info.size,
    sha256: info.sha256,
  }
}

/**
 * The index as of `start` for an incremental: the previous backup's .index when it covers exactly `start`,
 * else rebuilt by reading Data.fs up to `start` once (slow, logged).
 */
async function indexAt(
  fh: FileHandle,
  repo: string,
  previous: RepoFile,
  start: number,
  log: (m: string) => void,
): Promise<FsIndex> {
  try {
    const loaded = await readIndexFile(indexPathOf(repo, previous))
    if (loaded.pos === start) return loaded.index
    log(`${previous.stamp}.index is for byte ${loaded.pos}, not ${start}: rebuilding the index from Data.fs`)
  } catch (e) {
    if (!(e instanceof IndexFormatError) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    log(`${previous.stamp}.index is missing or unreadable: rebuilding the index from Data.fs`)
  }
  const index = new FsIndex()
  const parser = new RecordParser({start: 0, onRecord: (oid, at) => index.set(oid, at)})
  try {
    for await (const chunk of fh.createReadStream({start: 0, end: start - 1, autoClose: false, highWaterMark: CHUNK})) {
      parser.push(chunk as Buffer)
    }
    parser.end()
  } catch (e) {
    if (e instanceof StructureError) throw new BkError(`Data.fs is damaged before byte ${start}: ${e.message}`)
    throw e
  }
  return index
}

interface CopyResult {
  md5: string
  sha256: string
  written: number
  lastTid?: Buffer
  /** complete transactions copied */
  transactions: number
}

/**
 * The quick copy found the range of Data.fs is not whole (see backupFrom): damage at `offset`, or (`atEnd`) the
 * data stops inside a transaction.
 */
class NotWhole extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly atEnd: boolean,
  ) {
    super(message)
  }
}

/**
 * Whether the file ends exactly on a committed transaction: the redundant length in its last 8 bytes points back to
 * a header whose length agrees and whose status is committed. O(1) reads; the copy checks the rest.
 */
async function endsOnCommit(fh: FileHandle, from: number, size: number): Promise<boolean> {
  if (size < from + TXN_HEADER_LEN + 8) return false
  const trailer = await preadExactly(fh, 8, size - 8)
  if (!trailer) return false
  const tlen = readU64(trailer, 0)
  const tpos = size - 8 - tlen
  if (tlen < TXN_HEADER_LEN || tpos < from) return false
  const head = await preadExactly(fh, TXN_HEADER_LEN, tpos)
  if (!head) return false
  const h = parseTxnHeader(head, tpos)
  return h.tlen === tlen && COMMITTED_STATUSES.has(h.status) && h.tlen >= TXN_HEADER_LEN + h.ulen + h.dlen + h.elen
}

function baseOf(
  datafs: string,
  repository: string,
  start: number,
  size: number,
  scan: ScanResult,
): Omit<BackupResult, 'kind' | 'reason'> {
  return {
    datafs,
    repository,
    start,
    end: scan.end,
    bytes: 0,
    transactions: scan.transactions,
    lastTransaction: scan.lastTid ? tidToDate(scan.lastTid).toISOString() : undefined,
    leftOut: size - scan.end,
    damaged: scan.stopped === 'garbage' || undefined,
  }
}

/** Copies [start, end) of Data.fs to `tmp` (gzip optional), hashing and parsing the bytes on the way. */
async function copyRange(
  fh: FileHandle,
  start: number,
  end: number,
  tmp: string,
  options: {
    gzip: boolean
    level: number
    index: FsIndex
    /** the end is a guess (see backupFrom): a structure error is a NotWhole, for the caller to scan and retry */
    provisional?: boolean
    onProgress?: (done: number, total: number) => void
  },
): Promise<CopyResult> {
  const parser = new RecordParser({start, onRecord: (oid, at) => options.index.set(oid, at)})
  let result: Omit<CopyResult, 'lastTid' | 'transactions'>
  let atEnd = false
  try {
    result = options.gzip
      ? await copyGzip(fh, start, end, tmp, parser, options)
      : await copyPlain(fh, start, end, tmp, parser, options)
    atEnd = true
    parser.end()
  } catch (e) {
    if (e instanceof StructureError && options.provisional) throw new NotWhole(e.message, e.offset, atEnd)
    if (e instanceof StructureError) {
      throw new BkError(`Data.fs changed or is damaged while being copied (${e.message}); nothing was written`)
    }
    throw e
  }
  return {...result, lastTid: parser.lastTransactionTid, transactions: parser.transactions}
}

/**
 * Uncompressed: the file's bytes are Data.fs's, so the md5 (.dat) and the sha256 (manifest) are of the same
 * buffers; for a large range each runs in a worker of its own beside the parse (pump.ts). The output is pushed to
 * disk as it goes, so atomicFile's fsync at the end has little left to write.
 *
 * Where a 1 GiB copy's CPU goes, per thread: md5 worker ~1.7 s, sha256 worker ~0.8 s, thread-pool reads and writes
 * ~1.0 s (mostly the kernel filling fresh page-cache pages), main thread ~0.9 s of which ~0.45 s is start-up (it is
 * otherwise mostly idle); writeback runs in kernel threads on top. Both digests run all through the copy, but the
 * rest (~2.9 s) is more than the md5's 1.7 s, so on 2 cores the wall time follows the total CPU, not the md5 alone.
 * Tried and not kept: O_DIRECT writes (no page cache, no writeback) cut the CPU of a bare 1 GiB copy + fsync to
 * ~0.5× but made it 2.4× slower in wall time with one write in flight and 3.5× with four (paired n = 8): the shared
 * virtual disk is slow for direct I/O. A kernel copy (copy_file_range) fills the same fresh pages (ext4 has no
 * reflink), so it would save only the copy into these buffers, which the parse and the digests need anyway.
 */
async function copyPlain(
  fh: FileHandle,
  start: number,
  end: number,
  tmp: string,
  parser: RecordParser,
  options: {onProgress?: (done: number, total: number) => void},
): Promise<Omit<CopyResult, 'lastTid' | 'transactions'>> {
  const out = await open(tmp, 'w')
  try {
    let at = start
    const r = await pump({
      read: async (buf) => {
        const want = Math.min(buf.length, end - at)
        if (want <= 0) return 0
        const {bytesRead} = await fh.read(buf, 0, want, at)
        at += bytesRead
        return bytesRead
      },
      inspect: (chunk) => {
        parser.push(chunk)
        options.onProgress?.(at - start, end - start)
      },
      write: (chunk) => writeAll(out, chunk),
      writeback: () => out.datasync(),
      md5: true,
      sha256: true,
      offload: end - start >= OFFLOAD_MIN ? 'both' : undefined,
    })
    if (r.bytes !== end - start) {
      throw new BkError(`read ${r.bytes} bytes of Data.fs, expected ${end - start}; nothing was written`)
    }
    return {md5: r.md5!, sha256: r.sha256!, written: r.bytes}
  } finally {
    await out.close()
  }
}

/** Compressed: md5 of Data.fs's bytes, sha256 of the gzip stream written (zlib runs in the thread pool). */
async function copyGzip(
  fh: FileHandle,
  start: number,
  end: number,
  tmp: string,
  parser: RecordParser,
  options: {level: number; onProgress?: (done: number, total: number) => void},
): Promise<Omit<CopyResult, 'lastTid' | 'transactions'>> {
  const md5 = createHash('md5')
  const sha = createHash('sha256')
  let done = 0
  let written = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        parser.push(chunk)
        done += chunk.length
        options.onProgress?.(done, end - start)
        md5.update(chunk)
        cb(null, chunk)
      } catch (e) {
        cb(e as Error)
      }
    },
  })
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sha.update(chunk)
      written += chunk.length
      cb(null, chunk)
    },
  })
  const output = await open(tmp, 'w')
  const gzip = createGzip({level: options.level, chunkSize: CHUNK})
  // Not fh.createReadStream: when the pipeline fails (the parser found damage), it destroys its streams, and a file
  // stream closes its descriptor on destroy even with autoClose: false — the fallback scan after a quick copy must
  // go on reading the same descriptor. A byte stream with a 1 MiB mark: one chunk read ahead, as before (an object
  // stream would read 16 ahead of a slow gzip).
  try {
    await pipeline([
      Readable.from(rangeOf(fh, start, end), {objectMode: false, highWaterMark: CHUNK}),
      tap,
      gzip,
      count,
      fileSink(output),
    ])
  } finally {
    await output.close()
  }
  if (done !== end - start)
    throw new BkError(`read ${done} bytes of Data.fs, expected ${end - start}; nothing was written`)
  return {md5: md5.digest('hex'), sha256: sha.digest('hex'), written}
}

/** The bytes [start, end) of `fh`, read positionally in fresh buffers (zlib may still hold the previous ones). */
async function* rangeOf(fh: FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  for (let at = start; at < end; ) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - at))
    const {bytesRead} = await fh.read(buf, 0, buf.length, at)
    if (bytesRead === 0) return
    at += bytesRead
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead)
  }
}

/**
 * A stamp later than every existing one, in UTC: two backups in one second would collide (repozo:
 * WouldOverwriteFiles) or lose a same-second delta on restore, so bk waits for the next second.
 */
async function nextStamp(files: RepoFile[], now: () => Date): Promise<string> {
  // names sort by stamp: the last data file is the newest
  const newest = files.at(-1)?.stamp ?? ''
  for (let attempt = 0; ; attempt++) {
    const stamp = stampOf(now())
    if (stamp > newest) return stamp
    const ahead = dateOfStamp(newest).getTime() - now().getTime()
    if (ahead > 5000 || attempt > 10) {
      throw new BkError(
        `the newest backup (${newest}) is dated after the clock (${stamp}); fix the clock or move that backup away`,
      )
    }
    await sleep(Math.max(50, ahead + 1000))
  }
}
