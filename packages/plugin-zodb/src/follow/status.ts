// `bk zodb follow --status`: reads a follow location (and the Data.fs when given) without writing anything:
// the last shipped transaction and its time, and how far the Data.fs is ahead of it.
import {stat} from 'node:fs/promises'
import {BkError} from '@bkcli/core/errors'
import {parseTxnHeader, preadExactly, scanTransactions, TXN_HEADER_LEN, tidToDate} from '../filestorage.js'
import {dateOfStamp} from '../repozo-date.js'
import {openDataFs} from './follower.js'
import {lastTidOfTail, md5OfRepoFile, newestChain} from './repository-state.js'

export interface FollowStatus {
  location: string
  datafs?: string
  /** false when the location holds no whole chain yet */
  ok: boolean
  chain?: string
  files: number
  /** the newest shipped file and when it was published (its stamp) */
  lastFile?: string
  lastShippedAt?: string
  /** the last shipped transaction: tid (hex) and commit time */
  lastTid?: string
  lastTransaction?: string
  shippedBytes: number
  /** when the Data.fs is given: what it holds beyond the shipped end */
  behind?: {
    bytes: number
    transactions: number
    /** commit time of the newest complete transaction in the Data.fs */
    newestTransaction?: string
    /** how much older the shipped state is than the Data.fs's newest transaction, ms */
    ms: number
    /** the Data.fs no longer continues the shipped chain (packed or replaced): the follower ships a new full */
    diverged?: boolean
  }
}

export async function followStatus(location: string, datafs?: string): Promise<FollowStatus> {
  const exists = await stat(location).catch(() => undefined)
  if (!exists?.isDirectory()) throw new BkError(`follow location ${location} does not exist; check --location`)
  const chain = await newestChain(location)
  if (!chain) return {location, datafs, ok: false, files: 0, shippedBytes: 0}
  const {tail} = await md5OfRepoFile(chain.last)
  const lastTid = lastTidOfTail(tail)
  const status: FollowStatus = {
    location,
    datafs,
    ok: true,
    chain: chain.head.name,
    files: chain.files.length,
    lastFile: chain.last.name,
    lastShippedAt: dateOfStamp(chain.last.stamp).toISOString(),
    lastTid: lastTid?.toString('hex'),
    lastTransaction: lastTid ? tidToDate(lastTid).toISOString() : undefined,
    shippedBytes: chain.end,
  }
  if (datafs) {
    const fh = await openDataFs(datafs)
    try {
      const size = (await fh.stat()).size
      let diverged = size < chain.end
      if (!diverged && chain.end >= 4 + TXN_HEADER_LEN + 8) {
        const trailer = await preadExactly(fh, 8, chain.end - 8)
        const tlen = trailer ? Number(trailer.readBigUInt64BE(0)) : -1
        const head = tlen > 0 ? await preadExactly(fh, TXN_HEADER_LEN, chain.end - 8 - tlen) : undefined
        diverged = !head || !lastTid || !parseTxnHeader(head, 0).tid.equals(lastTid)
      }
      const scan = diverged ? await scanTransactions(fh, 4, size) : await scanTransactions(fh, chain.end, size)
      const newest = scan.lastTid ?? lastTid
      const newestTime = newest ? tidToDate(newest) : undefined
      const shippedTime = lastTid ? tidToDate(lastTid) : undefined
      status.behind = {
        bytes: diverged ? scan.end : scan.end - chain.end,
        transactions: scan.transactions,
        newestTransaction: newestTime?.toISOString(),
        ms: newestTime && shippedTime ? Math.max(0, newestTime.getTime() - shippedTime.getTime()) : 0,
        ...(diverged ? {diverged} : {}),
      }
    } finally {
      await fh.close()
    }
  }
  return status
}

export function statusText(s: FollowStatus): string[] {
  if (!s.ok) return [`${s.location}: nothing shipped yet (no whole backup chain).`]
  const lines = [
    `${s.location}: chain ${s.chain}, ${s.files} file(s), ${s.shippedBytes} bytes of Data.fs shipped.`,
    `Last shipped: ${s.lastFile} at ${s.lastShippedAt}; last transaction ${s.lastTransaction ?? '(none)'}.`,
  ]
  if (s.behind) {
    if (s.behind.diverged) lines.push(`${s.datafs} no longer continues this chain (packed?): a new full backup is due.`)
    else if (s.behind.transactions === 0) lines.push(`Up to date with ${s.datafs}.`)
    else
      lines.push(
        `Behind ${s.datafs} by ${s.behind.transactions} transaction(s), ${s.behind.bytes} bytes, ${(s.behind.ms / 1000).toFixed(1)} s (newest ${s.behind.newestTransaction}).`,
      )
  }
  return lines
}
