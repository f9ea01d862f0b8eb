// Point-in-time restore for FileStorage: the file is valid at every transaction boundary, so the state as of
// TIME is the prefix that ends after the last transaction whose tid (its commit time) is at or before TIME.
import {open} from 'node:fs/promises'
import {BkError} from '@bkcli/core/errors'
import {
  COMMITTED_STATUSES,
  hasMagic,
  parseTxnHeader,
  preadExactly,
  readU64,
  TXN_HEADER_LEN,
  tidToDate,
} from '../filestorage.js'

/** The largest tid whose time is at or before `time` (persistent.TimeStamp's encoding, UTC). */
export function tidAtOrBefore(time: Date): Buffer {
  const minutes =
    ((((time.getUTCFullYear() - 1900) * 12 + time.getUTCMonth()) * 31 + time.getUTCDate() - 1) * 24 +
      time.getUTCHours()) *
      60 +
    time.getUTCMinutes()
  // the largest low word whose time, read as tidToDate reads it (floored to the ms), is at or before `time`
  const ms = time.getUTCSeconds() * 1000 + time.getUTCMilliseconds()
  const msOf = (lo: number) => Math.floor(lo * (60 / 2 ** 32) * 1000)
  let lo = Math.min(0xffffffff, Math.floor((((ms + 1) / 1000) * 2 ** 32) / 60))
  while (lo > 0 && msOf(lo) > ms) lo--
  while (lo < 0xffffffff && msOf(lo + 1) <= ms) lo++
  const tid = Buffer.alloc(8)
  tid.writeUInt32BE(minutes, 0)
  tid.writeUInt32BE(lo, 4)
  return tid
}

export interface AsOfResult {
  /** size of the file after truncation (the end of the last transaction kept) */
  end: number
  /** bytes cut off */
  removed: number
  /** transactions kept / cut */
  kept: number
  cut: number
  /** commit time of the last transaction kept (ISO), undefined when none is left */
  lastTransaction?: string
}

/**
 * Truncates the FileStorage `dataFs` (a restored copy, never a live one) to the last transaction committed at
 * or before `time`. Walks transaction headers only (two small reads per transaction). A transaction whose
 * header or redundant length does not check out ends the walk there, as FileStorage's own index scan does.
 */
export async function truncateAsOf(dataFs: string, time: Date): Promise<AsOfResult> {
  if (Number.isNaN(time.getTime())) throw new BkError('invalid --as-of time')
  const limit = tidAtOrBefore(time)
  const fh = await open(dataFs, 'r+')
  try {
    if (!(await hasMagic(fh))) throw new BkError(`${dataFs} is not a FileStorage (no FS30 header)`)
    const size = (await fh.stat()).size
    let pos = 4
    let kept = 0
    let lastTid: Buffer | undefined
    let cut = 0
    for (;;) {
      if (pos + TXN_HEADER_LEN > size) break
      const buf = await preadExactly(fh, TXN_HEADER_LEN, pos)
      if (!buf) break
      const h = parseTxnHeader(buf, pos)
      if (pos + h.tlen + 8 > size || !COMMITTED_STATUSES.has(h.status)) break
      const trailer = await preadExactly(fh, 8, pos + h.tlen)
      if (!trailer || readU64(trailer, 0) !== h.tlen) break
      if (Buffer.compare(h.tid, limit) > 0) {
        // count what is cut, for the report
        let at = pos
        while (at + TXN_HEADER_LEN <= size) {
          const b = await preadExactly(fh, TXN_HEADER_LEN, at)
          if (!b) break
          const t = parseTxnHeader(b, at)
          if (at + t.tlen + 8 > size || t.tlen < TXN_HEADER_LEN) break
          cut++
          at += t.tlen + 8
        }
        break
      }
      pos += h.tlen + 8
      kept++
      lastTid = h.tid
    }
    if (pos < size) {
      await fh.truncate(pos)
      await fh.sync()
    }
    return {
      end: pos,
      removed: size - pos,
      kept,
      cut,
      lastTransaction: lastTid ? tidToDate(lastTid).toISOString() : undefined,
    }
  } finally {
    await fh.close()
  }
}

/** Parses an --as-of TIME: ISO 8601 (a missing zone means UTC) or a repozo stamp yyyy-mm-dd-hh-mm-ss. */
export function parseAsOf(text: string): Date {
  const t = text.trim()
  const stamp = /^(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$/.exec(t)
  let date: Date
  if (stamp) {
    const [, y, mo, d, h, mi, s] = stamp.map(Number) as number[]
    date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!))
  } else {
    const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(t) || !/T|\s\d/.test(t) ? t : `${t}Z`
    date = new Date(zoned)
  }
  if (Number.isNaN(date.getTime())) {
    throw new BkError(`invalid time '${text}'; use ISO 8601 (2026-01-02T10:30:00Z) or yyyy-mm-dd-hh-mm-ss in UTC`)
  }
  return date
}
