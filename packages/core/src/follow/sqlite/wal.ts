// The SQLite write-ahead log, read directly: the 32-byte header and the frames (24-byte header + one page) that
// follow it, each carrying the header's salts and a checksum that chains over every earlier frame. A frame is
// valid only when its salts match the header and its checksum continues the chain; the log ends at the first
// frame that is not. Only frames up to the last commit frame (non-zero "database size" field) are part of a
// committed transaction. See https://www.sqlite.org/fileformat2.html#walformat.
import type {FileHandle} from 'node:fs/promises'
import {readAt} from '../../fs/read-whole.js'

/** Size of the WAL header and of one frame's header. */
export const WAL_HEADER_LEN = 32
export const FRAME_HEADER_LEN = 24
const MAGIC_LE = 0x377f0682
const MAGIC_BE = 0x377f0683

/** The WAL header: page size, checkpoint sequence, salts, and the checksum the first frame chains from. */
export interface WalHeader {
  bigEndian: boolean
  pageSize: number
  checkpointSeq: number
  salt1: number
  salt2: number
  /** the header's checksum: the start of the frame checksum chain */
  cksum: [number, number]
}

/** One committed transaction found in the WAL: its frames [first, last] (1-based) and the database size after it. */
export interface WalCommit {
  first: number
  last: number
  /** database size in pages after this commit */
  pages: number
  /** checksum chain value after its last frame */
  cksum: [number, number]
}

/** SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`. */
export function walChecksum(data: Buffer, bigEndian: boolean, s: [number, number]): [number, number] {
  let s1 = s[0] >>> 0
  let s2 = s[1] >>> 0
  const n = data.length - (data.length % 8)
  if (bigEndian) {
    for (let i = 0; i < n; i += 8) {
      s1 = (s1 + data.readUInt32BE(i) + s2) >>> 0
      s2 = (s2 + data.readUInt32BE(i + 4) + s1) >>> 0
    }
  } else {
    for (let i = 0; i < n; i += 8) {
      s1 = (s1 + data.readUInt32LE(i) + s2) >>> 0
      s2 = (s2 + data.readUInt32LE(i + 4) + s1) >>> 0
    }
  }
  return [s1, s2]
}

/** Parse a WAL header; undefined when the bytes are no valid header (an empty or never-written log). */
export function parseWalHeader(buf: Buffer): WalHeader | undefined {
  if (buf.length < WAL_HEADER_LEN) return undefined
  const magic = buf.readUInt32BE(0)
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return undefined
  const bigEndian = magic === MAGIC_BE
  const pageSize = buf.readUInt32BE(8)
  const real = pageSize === 1 ? 65536 : pageSize
  if (real < 512 || real > 65536 || (real & (real - 1)) !== 0) return undefined
  const cksum: [number, number] = [buf.readUInt32BE(24), buf.readUInt32BE(28)]
  const own = walChecksum(buf.subarray(0, 24), bigEndian, [0, 0])
  if (own[0] !== cksum[0] || own[1] !== cksum[1]) return undefined
  return {
    bigEndian,
    pageSize: real,
    checkpointSeq: buf.readUInt32BE(12),
    salt1: buf.readUInt32BE(16),
    salt2: buf.readUInt32BE(20),
    cksum,
  }
}

/** Byte offset of frame `n` (1-based) in a WAL of this page size. */
export function frameOffset(n: number, pageSize: number): number {
  return WAL_HEADER_LEN + (n - 1) * (FRAME_HEADER_LEN + pageSize)
}

/** Check one frame (header + page) against the chain: its checksum value when valid, else undefined. */
export function checkFrame(
  frame: Buffer,
  salts: {salt1: number; salt2: number},
  bigEndian: boolean,
  chain: [number, number],
): [number, number] | undefined {
  if (frame.readUInt32BE(0) === 0) return undefined
  if (frame.readUInt32BE(8) !== salts.salt1 || frame.readUInt32BE(12) !== salts.salt2) return undefined
  let s = walChecksum(frame.subarray(0, 8), bigEndian, chain)
  s = walChecksum(frame.subarray(FRAME_HEADER_LEN), bigEndian, s)
  if (s[0] !== frame.readUInt32BE(16) || s[1] !== frame.readUInt32BE(20)) return undefined
  return s
}

/** The frames read by scanWal: every committed transaction after `from`, and where the valid frames end. */
export interface WalScan {
  commits: WalCommit[]
  /** last frame (1-based) of the last commit found, or `from` when none */
  end: number
  /** checksum after `end` */
  cksum: [number, number]
  /** the raw frames from+1 … end, for shipping */
  frames: Buffer
  /** valid frames after `end` that belong to no commit yet (a transaction being written) */
  pending: number
}

/**
 * Walk the WAL from frame `from` (0 = the start, chaining from the header's checksum; otherwise `chain` is the
 * checksum after frame `from`) to the last valid commit frame, reading at most `maxBytes` of frames.
 */
export async function scanWal(
  fh: FileHandle,
  header: WalHeader,
  from: number,
  chain: [number, number],
  options: {size?: number; maxBytes?: number} = {},
): Promise<WalScan> {
  const frameLen = FRAME_HEADER_LEN + header.pageSize
  const size = options.size ?? (await fh.stat()).size
  const available = Math.max(0, Math.floor((size - frameOffset(from + 1, header.pageSize)) / frameLen))
  const wanted = Math.min(available, Math.max(1, Math.floor((options.maxBytes ?? 64 << 20) / frameLen)))
  const buf = Buffer.alloc(wanted * frameLen)
  const got = await readAt(fh, buf, frameOffset(from + 1, header.pageSize))
  const count = Math.floor(got / frameLen)
  const commits: WalCommit[] = []
  let s = chain
  let end = from
  let endCksum = chain
  let first = from + 1
  let valid = 0
  for (let i = 0; i < count; i++) {
    const frame = buf.subarray(i * frameLen, (i + 1) * frameLen)
    const next = checkFrame(frame, header, header.bigEndian, s)
    if (!next) break
    s = next
    valid = i + 1
    const pages = frame.readUInt32BE(4)
    if (pages > 0) {
      const n = from + i + 1
      commits.push({first, last: n, pages, cksum: next})
      first = n + 1
      end = n
      endCksum = next
    }
  }
  return {
    commits,
    end,
    cksum: endCksum,
    frames: Buffer.from(buf.subarray(0, (end - from) * frameLen)),
    pending: from + valid - end,
  }
}

/** Read the WAL header of an open log; undefined for an empty or not-yet-valid one. */
export async function readWalHeader(fh: FileHandle): Promise<WalHeader | undefined> {
  const buf = Buffer.alloc(WAL_HEADER_LEN)
  const {bytesRead} = await fh.read(buf, 0, WAL_HEADER_LEN, 0)
  return bytesRead === WAL_HEADER_LEN ? parseWalHeader(buf) : undefined
}
