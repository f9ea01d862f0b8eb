// ZODB FileStorage on-disk format (FS30): file header, transaction headers and data record headers.
// All integers big-endian. See research/zodb.md §2. Reads here are positional (pread) and header-only, so
// finding the end of the last complete transaction costs O(transactions scanned), never O(bytes).
import {readSync} from 'node:fs'
import type {FileHandle} from 'node:fs/promises'

export const MAGIC = Buffer.from('FS30')
export const TXN_HEADER_LEN = 23
export const DATA_HEADER_LEN = 42
/** Status bytes of a committed transaction: ' ' committed, 'p' packed, 'u' undone (obsolete). 'c' = voted, not finished. */
export const COMMITTED_STATUSES = new Set([' ', 'p', 'u'])

export interface TxnHeader {
  /** offset of the header */
  pos: number
  tid: Buffer
  /** record length excluding the 8-byte redundant length at the end */
  tlen: number
  status: string
  ulen: number
  dlen: number
  elen: number
}

export function parseTxnHeader(buf: Buffer, pos: number): TxnHeader {
  return {
    pos,
    tid: Buffer.from(buf.subarray(0, 8)),
    tlen: readU64(buf, 8),
    status: String.fromCharCode(buf[16]!),
    ulen: buf.readUInt16BE(17),
    dlen: buf.readUInt16BE(19),
    elen: buf.readUInt16BE(21),
  }
}

/** Offsets fit in a JS number (files < 8 PiB); a larger value means garbage, reported as NaN-safe huge. */
export function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32BE(at)
  const lo = buf.readUInt32BE(at + 4)
  return hi * 0x1_0000_0000 + lo
}

export async function preadExactly(fh: FileHandle, length: number, position: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const {bytesRead} = await fh.read(buf, got, length - got, position + got)
    if (bytesRead === 0) return undefined
    got += bytesRead
  }
  return buf
}

export async function hasMagic(fh: FileHandle): Promise<boolean> {
  const head = await preadExactly(fh, 4, 0)
  return head?.equals(MAGIC) ?? false
}

export type StopReason = 'eof' | 'short-header' | 'incomplete' | 'unfinished' | 'garbage'

export interface ScanResult {
  /** offset just after the last complete, committed transaction (what repozo calls pos / getSize()) */
  end: number
  transactions: number
  /** tid of the last complete transaction (undefined when none was scanned) */
  lastTid?: Buffer
  /** why the scan stopped before the file size, if it did */
  stopped: StopReason
}

/**
 * Walks transaction headers forward from `start` (a transaction boundary: 4, or the end of a previous backup)
 * to find where the last complete committed transaction ends, as FileStorage's read_index decides it: a
 * short header, a record running past `size`, a voted-but-unfinished ('c') transaction, or a length field that
 * does not add up ends the scan. One small read per transaction: its redundant length and the next header are
 * adjacent. The reads are synchronous: each depends on the one before, so a thread-pool round trip would only
 * add its latency (tens of thousands of transactions per GiB).
 */
export async function scanTransactions(fh: FileHandle, start: number, size: number): Promise<ScanResult> {
  let pos = start
  let transactions = 0
  let lastTid: Buffer | undefined
  // buf[0..8): a transaction's redundant length; buf[8..31): the header that follows it
  const buf = Buffer.alloc(8 + TXN_HEADER_LEN)
  const readInto = (offset: number, at: number, length: number): number => {
    let got = 0
    while (got < length) {
      const n = readSync(fh.fd, buf, offset + got, length - got, at + got)
      if (n === 0) break
      got += n
    }
    return got
  }
  let haveHeader = pos + TXN_HEADER_LEN <= size && readInto(8, pos, TXN_HEADER_LEN) === TXN_HEADER_LEN
  for (;;) {
    if (pos >= size) return {end: pos, transactions, lastTid, stopped: 'eof'}
    if (pos + TXN_HEADER_LEN > size || !haveHeader) return {end: pos, transactions, lastTid, stopped: 'short-header'}
    const h = parseTxnHeader(buf.subarray(8), pos)
    if (pos + h.tlen + 8 > size) return {end: pos, transactions, lastTid, stopped: 'incomplete'}
    if (h.status === 'c') return {end: pos, transactions, lastTid, stopped: 'unfinished'}
    if (!COMMITTED_STATUSES.has(h.status) || h.tlen < TXN_HEADER_LEN + h.ulen + h.dlen + h.elen) {
      return {end: pos, transactions, lastTid, stopped: 'garbage'}
    }
    // this transaction's redundant length, and the next header when the file has room for one
    const next = pos + h.tlen + 8
    const want = next + TXN_HEADER_LEN <= size ? 8 + TXN_HEADER_LEN : 8
    const got = readInto(0, pos + h.tlen, want)
    if (got < 8 || readU64(buf, 0) !== h.tlen) return {end: pos, transactions, lastTid, stopped: 'garbage'}
    haveHeader = got === 8 + TXN_HEADER_LEN
    pos = next
    transactions++
    lastTid = h.tid
  }
}

export interface BoundaryCheck {
  ok: boolean
  /** why the check failed, for the log line that explains a fallback to a full backup */
  reason?: string
  /** header of the transaction that ends at the checked offset */
  txn?: TxnHeader
}

/**
 * Structural check that `end` is still a transaction boundary of this file: the 8 bytes before it are a
 * redundant length pointing back to a committed transaction header whose own length agrees and whose tid is
 * `expectTid` when given. A pack or a truncation (the file was replaced or rewritten) fails this check.
 */
export async function checkBoundary(
  fh: FileHandle,
  end: number,
  size: number,
  expectTid?: Buffer,
): Promise<BoundaryCheck> {
  if (end === 4) {
    return (await hasMagic(fh)) ? {ok: true} : {ok: false, reason: 'the file no longer starts with FS30'}
  }
  if (end > size) return {ok: false, reason: `the file is shorter (${size} bytes) than the last backup (${end})`}
  if (end < 4 + TXN_HEADER_LEN + 8) return {ok: false, reason: `offset ${end} cannot end a transaction`}
  const trailer = await preadExactly(fh, 8, end - 8)
  if (!trailer) return {ok: false, reason: `cannot read the file at ${end - 8}`}
  const tlen = readU64(trailer, 0)
  const tpos = end - 8 - tlen
  if (tlen < TXN_HEADER_LEN || tpos < 4) return {ok: false, reason: `no transaction ends at offset ${end}`}
  const buf = await preadExactly(fh, TXN_HEADER_LEN, tpos)
  if (!buf) return {ok: false, reason: `cannot read a transaction header at ${tpos}`}
  const h = parseTxnHeader(buf, tpos)
  if (h.tlen !== tlen) return {ok: false, reason: `no transaction ends at offset ${end} (lengths disagree)`}
  if (h.status !== ' ' && h.status !== 'p' && h.status !== 'u') {
    return {ok: false, reason: `the transaction ending at ${end} has status '${h.status}'`}
  }
  if (expectTid && !h.tid.equals(expectTid)) {
    return {ok: false, reason: `the transaction ending at ${end} is not the one backed up last (tid differs)`}
  }
  if (!(await hasMagic(fh))) return {ok: false, reason: 'the file no longer starts with FS30'}
  return {ok: true, txn: h}
}

/** A tid as the UTC time it encodes (persistent.TimeStamp). */
export function tidToDate(tid: Buffer): Date {
  const hi = tid.readUInt32BE(0)
  const lo = tid.readUInt32BE(4)
  let rest = hi
  const minute = rest % 60
  rest = Math.floor(rest / 60)
  const hour = rest % 24
  rest = Math.floor(rest / 24)
  const day = (rest % 31) + 1
  rest = Math.floor(rest / 31)
  const month = (rest % 12) + 1
  const year = Math.floor(rest / 12) + 1900
  const seconds = lo * (60 / 2 ** 32)
  return new Date(Date.UTC(year, month - 1, day, hour, minute, 0) + Math.floor(seconds * 1000))
}
