// `bk zodb follow`: tails a live Data.fs and ships every newly committed transaction into a repozo repository
// — a full backup first, then one incremental per interval holding every transaction committed meanwhile, each
// with its `.dat` line and `.index` — so repozo -R and `bk zodb restore` restore it to any shipped point.
//
// What is shipped is checked: the transaction headers are walked (scanTransactions: status, lengths and the
// redundant trailer) to the last complete committed transaction, and every byte copied goes through the
// record parser (data record headers, tloc, lengths) — a torn or voted-but-unfinished tail is never shipped.
//
// Publishing one shipment: the data file and its .index are written atomically (temp + fsync + rename), then
// the chain's `.dat` is rewritten atomically with the new line: the `.dat` is the commit point. A run killed
// before it leaves an unrecorded data file that the next run removes (recover) and ships again; after it, the
// shipment is complete. A pack (the path replaced, the file shorter, or the transaction at the shipped end or
// the first transaction changed) starts a new chain with a full backup, as `bk zodb backup` does.
import {createHash} from 'node:crypto'
import {type FileHandle, mkdir, open, readFile, rm, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {createGzip} from 'node:zlib'
import type {Plan} from '@bkcli/core'
import {BkError} from '@bkcli/core/errors'
import {StopSignal} from '@bkcli/core/follow'
import {writeAll} from '@bkcli/core/fs'
import {atomicFile, crashPoint} from '@bkcli/core/safety'
import {step} from '@bkcli/core/workflow'
import {repoFileHead} from '../chain-reader.js'
import {checkBoundary, hasMagic, preadExactly, scanTransactions, TXN_HEADER_LEN, tidToDate} from '../filestorage.js'
import {FsIndex, IndexFormatError, readIndexFile, writeIndexFile} from '../fsindex.js'
import {RecordParser, StructureError} from '../record-parser.js'
import {datPathOf, formatDatLine, indexPathOf, listDataFiles, type RepoFile, repoFileOf} from '../repository.js'
import {dateOfStamp, stampOf} from '../repozo-date.js'
import {BlobShipper} from './blobs.js'
import {type ChainState, findLeftovers, newestChain} from './repository-state.js'

const CHUNK = 1 << 20

export interface FollowOptions {
  /** the repository directory (absolute) */
  location: string
  /** seconds between shipments (transactions committed meanwhile go into one incremental); default 1 */
  interval?: number
  /** write .fsz/.deltafsz */
  gzip?: boolean
  /** the live blob storage: its blobs are shipped with the transactions into `blobLocation` (see blobs.ts) */
  blobStorage?: string
  blobLocation?: string
  /** how often the Data.fs is looked at, ms (default: min(interval, 0.2 s)) */
  pollMs?: number
  now?: () => Date
}

export interface Shipment {
  kind: 'full' | 'incremental'
  file: string
  /** tid (hex) of the last transaction shipped */
  tid: string
  /** commit time of that transaction (ISO) */
  time: string
  start: number
  end: number
  bytes: number
  transactions: number
  /** ms from the commit of the newest shipped transaction to its publication */
  lagMs: number
  reason?: string
}

export interface FollowResult {
  datafs: string
  location: string
  shipments: number
  fulls: number
  bytes: number
  /** shipped end offset when the follower stopped */
  end: number
  lastTransaction?: string
  stoppedBy: string
}

interface Position {
  head: RepoFile
  /** the chain's .dat text so far */
  dat: string
  end: number
  lastTid?: Buffer
  /** tid of the first transaction of Data.fs when the chain was started (a pack changes it) */
  firstTid?: Buffer
  index: FsIndex
  newestStamp: string
}

export interface Resume {
  kind: 'full' | 'resume'
  reason: string
  chain?: ChainState
}

export class Follower {
  private fh?: FileHandle
  private ino = 0
  private pos?: Position
  private readonly signal = new StopSignal()
  private readonly interval: number
  private readonly pollMs: number
  private readonly now: () => Date
  private shipped = {shipments: 0, fulls: 0, bytes: 0}
  private damagedAt?: number
  private readonly blobs?: BlobShipper

  constructor(
    readonly datafs: string,
    readonly options: FollowOptions,
    private readonly log: {info(m: string): void; note(m: string): void; shipped?(s: Shipment): void},
  ) {
    this.interval = Math.max(0.05, options.interval ?? 1) * 1000
    this.pollMs = options.pollMs ?? Math.min(this.interval, 200)
    this.now = options.now ?? (() => new Date())
    if (options.blobStorage) {
      if (!options.blobLocation) throw new BkError('--blob-storage needs --blob-location (where the blobs are shipped)')
      this.blobs = new BlobShipper(options.blobStorage, options.blobLocation)
    }
  }

  get location(): string {
    return this.options.location
  }

  /** Reads only: checks the Data.fs and says whether the run starts with a full backup or resumes. */
  async plan(): Promise<Plan> {
    const fh = await openDataFs(this.datafs)
    try {
      const size = (await fh.stat()).size
      const resume = await decideResume(fh, size, this.location)
      const z = this.options.gzip ? 'z' : ''
      const steps = [step('check', this.datafs, 'FileStorage header and transactions')]
      const exists = await stat(this.location).then(
        (s) => {
          if (!s.isDirectory()) throw new BkError(`${this.location} is not a directory; check --location`)
          return true
        },
        () => false,
      )
      if (!exists) steps.push(step('create', this.location, 'repozo repository'))
      if (resume.kind === 'full') steps.push(step('create', `${this.location}/<stamp>.fs${z}`, resume.reason, size))
      else steps.push(step('keep', `${this.location}/${resume.chain!.last.name}`, resume.reason))
      steps.push(
        step(
          'copy',
          `${this.location}/<stamp>.deltafs${z}`,
          `new transactions every ${this.interval / 1000}s, with .index and .dat line, until SIGTERM`,
        ),
      )
      if (this.blobs) {
        const st = await stat(this.blobs.source).catch(() => undefined)
        if (!st?.isDirectory())
          throw new BkError(`blob storage ${this.blobs.source} is not a directory; check --blob-storage`)
        steps.push(
          step(
            'copy',
            `${this.blobs.location}/${this.blobs.base}.<chain stamp>`,
            'the blobs of each shipped transaction, hard-linked where possible',
          ),
        )
      }
      return {summary: `follow ${this.datafs} into ${this.location} (a repozo repository)`, steps}
    } finally {
      await fh.close()
    }
  }

  /** Under the lock: removes what a killed run left (unrecorded increments, temp files of dead processes). */
  async recover(): Promise<string[]> {
    const {unrecorded, partials} = await findLeftovers(this.location)
    const lines: string[] = []
    for (const p of partials) {
      await rm(p, {force: true})
      lines.push(`removed ${p} (a temp file of a run that was killed)`)
    }
    for (const p of unrecorded) {
      await rm(p, {force: true})
      lines.push(`removed ${p} (not recorded in its .dat: an interrupted shipment, shipped again)`)
    }
    return lines
  }

  /** Asks the loop to stop after the current shipment (and one last shipment of what is complete). */
  stop(reason: string): void {
    this.signal.stop(reason)
  }

  /** Follows until stop() is called. */
  async run(): Promise<FollowResult> {
    await mkdir(this.location, {recursive: true})
    try {
      if (!this.signal.stopping) await this.start()
      let lastShip = 0
      while (!this.signal.stopping) {
        await this.signal.pause(this.pollMs)
        if (this.signal.stopping) break
        const due = Date.now() - lastShip >= this.interval
        if (!due) continue
        if (await this.tick()) lastShip = Date.now()
      }
      // a clean stop ships what is complete now, so nothing committed before the stop is left behind
      await this.tick(true)
    } finally {
      await this.fh?.close().catch(() => {})
      this.fh = undefined
    }
    return {
      datafs: this.datafs,
      location: this.location,
      ...this.shipped,
      end: this.pos?.end ?? 0,
      lastTransaction: this.pos?.lastTid ? tidToDate(this.pos.lastTid).toISOString() : undefined,
      stoppedBy: this.signal.stopping ?? 'done',
    }
  }

  /** Opens Data.fs and resumes the newest chain when it still matches, else ships a full backup. */
  private async start(): Promise<void> {
    await this.reopen()
    const size = (await this.fh!.stat()).size
    const resume = await decideResume(this.fh!, size, this.location)
    if (resume.kind === 'resume') {
      const chain = resume.chain!
      const index = await this.indexAt(chain, chain.end)
      const dat = await readFile(datPathOf(this.location, chain.head), 'utf8')
      const trailer = await checkBoundary(this.fh!, chain.end, size)
      this.pos = {
        head: chain.head,
        dat,
        end: chain.end,
        lastTid: trailer.txn?.tid,
        firstTid: await firstTid(this.fh!, size),
        index,
        newestStamp: (await listDataFiles(this.location)).at(-1)?.stamp ?? '',
      }
      this.log.info(`resuming after ${chain.last.name} at byte ${chain.end} (${resume.reason})`)
      if (this.blobs) await this.blobs.resumeChain(chain.head.stamp)
      return
    }
    this.log.info(resume.reason)
    await this.shipFull(resume.reason)
  }

  private async reopen(): Promise<void> {
    await this.fh?.close().catch(() => {})
    this.fh = await openDataFs(this.datafs)
    this.ino = (await this.fh.stat()).ino
  }

  /** One look at the Data.fs: ships what is new. Returns whether something was shipped. */
  private async tick(final = false): Promise<boolean> {
    const pos = this.pos
    if (!pos) return false
    let current: Awaited<ReturnType<typeof stat>>
    try {
      current = await stat(this.datafs)
    } catch {
      return false // between a pack's two renames; the next look finds the new file
    }
    if (current.ino !== this.ino) {
      await this.reopen()
      await this.shipFull(`${this.datafs} was replaced (packed?): new full backup`)
      return true
    }
    const size = (await this.fh!.stat()).size
    if (size === pos.end) return false
    const changed = await this.changedBehind(size)
    if (changed) {
      await this.shipFull(`${changed}: new full backup`)
      return true
    }
    if (size < pos.end) return false
    return this.shipIncrement(size, final)
  }

  /** Why the Data.fs no longer continues what was shipped (a pack or truncation), or undefined. */
  private async changedBehind(size: number): Promise<string | undefined> {
    const pos = this.pos!
    if (size < pos.end) return `${this.datafs} is shorter (${size} bytes) than what was shipped (${pos.end})`
    const boundary = await checkBoundary(this.fh!, pos.end, size, pos.lastTid)
    if (!boundary.ok) return `${this.datafs} changed before the shipped end: ${boundary.reason}`
    const first = await firstTid(this.fh!, size)
    if (pos.firstTid && !first?.equals(pos.firstTid)) return `the first transaction of ${this.datafs} changed`
    return undefined
  }

  /** A stamp after every existing one (names have 1-second resolution); undefined when it would be too early. */
  private async stampNow(wait: boolean): Promise<string | undefined> {
    const newest = this.pos?.newestStamp ?? (await listDataFiles(this.location)).at(-1)?.stamp ?? ''
    for (let attempt = 0; ; attempt++) {
      const stamp = stampOf(this.now())
      if (stamp > newest) return stamp
      const ahead = newest ? dateOfStamp(newest).getTime() - this.now().getTime() : 0
      if (ahead > 5000) {
        throw new BkError(
          `the newest backup (${newest}) is dated after the clock (${stamp}); fix the clock or move that backup away`,
        )
      }
      if (!wait || attempt > 20) return undefined
      // the stamp's second must pass the newest's: wait until that second is over (ahead is negative then)
      await sleep(Math.max(20, ahead + 1000 + 5))
    }
  }

  private async shipIncrement(size: number, final: boolean): Promise<boolean> {
    const pos = this.pos!
    let scan = await scanTransactions(this.fh!, pos.end, size)
    if (scan.end === pos.end) return false
    const stamp = await this.stampNow(final)
    if (!stamp) return false
    // the scan may have been made a while ago: take what is complete now
    scan = await scanTransactions(this.fh!, pos.end, (await this.fh!.stat()).size)
    const name = `${stamp}.${this.options.gzip ? 'deltafsz' : 'deltafs'}`
    let dat = ''
    const copied = await this.discardOnError(stamp, name, async () => {
      const copied = await this.copyChecked(pos.end, scan.end, name)
      if (!copied) return undefined
      for (const [oid, at] of copied.records) pos.index.set(oid, at)
      await this.publishIndex(stamp, copied.end, pos.index)
      crashPoint('zodb-follow-index')
      // the blobs first: once the .dat names this shipment, a restore of it finds every blob it needs
      if (this.blobs)
        await this.blobs.ship(
          pos.head.stamp,
          copied.records.map(([oid, , tid]) => [oid, tid]),
        )
      dat = pos.dat + formatDatLine(this.location, name, pos.end, copied.end, copied.md5)
      await atomicFile(datPathOf(this.location, pos.head), (tmp) => writeText(tmp, dat), {overwrite: true})
      return copied
    })
    if (!copied) return false
    crashPoint('zodb-follow-dat')
    const start = pos.end
    pos.dat = dat
    pos.end = copied.end
    pos.lastTid = copied.lastTid
    pos.newestStamp = stamp
    this.report('incremental', name, start, copied)
    return true
  }

  private async shipFull(reason: string): Promise<void> {
    const size = (await this.fh!.stat()).size
    if (!(await hasMagic(this.fh!))) throw new BkError(`${this.datafs} is not a FileStorage (no FS30 header)`)
    const scan = await scanTransactions(this.fh!, 4, size)
    const stamp = (await this.stampNow(true))!
    if (!stamp) throw new BkError('no backup stamp later than the newest one is available; check the clock')
    const name = `${stamp}.${this.options.gzip ? 'fsz' : 'fs'}`
    const head = repoFileOf(this.location, name)
    const index = new FsIndex()
    let dat = ''
    const copied = await this.discardOnError(stamp, name, async () => {
      const copied = await this.copyChecked(0, scan.end, name)
      if (!copied) throw new BkError(`${this.datafs} could not be copied whole (it changed while being read)`)
      for (const [oid, at] of copied.records) index.set(oid, at)
      await this.publishIndex(stamp, copied.end, index)
      crashPoint('zodb-follow-full-index')
      if (this.blobs) await this.blobs.startChain(stamp)
      dat = formatDatLine(this.location, name, 0, copied.end, copied.md5)
      await atomicFile(datPathOf(this.location, head), (tmp) => writeText(tmp, dat))
      return copied
    })
    if (!copied) throw new BkError(`${this.datafs} could not be copied whole`)
    crashPoint('zodb-follow-full-dat')
    this.pos = {
      head,
      dat,
      end: copied.end,
      lastTid: copied.lastTid,
      firstTid: await firstTid(this.fh!, size),
      index,
      newestStamp: stamp,
    }
    this.shipped.fulls++
    this.report('full', name, 0, copied, reason)
  }

  /**
   * Runs one shipment's publication; when it fails before its `.dat` line is written (a full disk, an I/O
   * error), the data file and .index it wrote are removed, so the location holds exactly the shipped chain.
   */
  private async discardOnError<T>(stamp: string, name: string, publish: () => Promise<T>): Promise<T> {
    try {
      return await publish()
    } catch (e) {
      // the .dat names the file once it is published: then it stays, whatever failed after
      const head = name.includes('delta') ? this.pos?.head : repoFileOf(this.location, name)
      const dat = head ? await readFile(datPathOf(this.location, head), 'utf8').catch(() => '') : ''
      if (!dat.includes(name)) {
        await rm(join(this.location, name), {force: true}).catch(() => {})
        await rm(indexPathOf(this.location, {stamp} as RepoFile), {force: true}).catch(() => {})
      }
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new BkError(
          `no space left in ${this.location}: the shipment ${name} was discarded; free space and start again (it resumes after the last shipped file)`,
          {code: 'ENOSPC'},
        )
      }
      throw e
    }
  }

  private report(kind: Shipment['kind'], name: string, start: number, copied: Copied, reason?: string): void {
    this.shipped.shipments++
    this.shipped.bytes += copied.end - start
    const time = copied.lastTid ? tidToDate(copied.lastTid) : undefined
    const shipment: Shipment = {
      kind,
      file: join(this.location, name),
      tid: copied.lastTid?.toString('hex') ?? '',
      time: time?.toISOString() ?? '',
      start,
      end: copied.end,
      bytes: copied.end - start,
      transactions: copied.transactions,
      lagMs: time ? Math.max(0, Date.now() - time.getTime()) : 0,
      ...(reason ? {reason} : {}),
    }
    this.log.shipped?.(shipment)
  }

  private async publishIndex(stamp: string, end: number, index: FsIndex): Promise<void> {
    await atomicFile(indexPathOf(this.location, {stamp} as RepoFile), (tmp) => writeIndexFile(tmp, end, index), {
      overwrite: true,
    })
  }

  /**
   * Copies [start, end) of the Data.fs into `name` (atomically), every byte through the record parser. When the
   * parser finds a damaged record (a transaction whose header checked out but whose body is torn) only the
   * transactions before it are shipped. Returns undefined when nothing complete is left to ship.
   */
  private async copyChecked(start: number, end: number, name: string): Promise<Copied | undefined> {
    for (let attempt = 0; attempt < 3 && end > start; attempt++) {
      try {
        return await atomicFile(join(this.location, name), (tmp) => this.copyRange(start, end, tmp))
      } catch (e) {
        if (!(e instanceof StructureError)) throw e
        const cut = await scanTransactions(this.fh!, start === 0 ? 4 : start, e.offset)
        if (this.damagedAt !== e.offset) {
          // said once per place: the follower looks again every interval, and a writer may still fix it
          this.damagedAt = e.offset
          this.log.note(
            `${this.datafs}: ${e.message}; shipping only the ${cut.transactions} complete transactions before it`,
          )
        }
        if (cut.end >= end) break
        end = cut.end
      }
    }
    return undefined
  }

  private async copyRange(start: number, end: number, tmp: string | undefined): Promise<Copied> {
    const records: [Buffer, number, Buffer][] = []
    // the parser has read the transaction's header (its tid) before its records
    const parser: RecordParser = new RecordParser({
      start,
      onRecord: (oid, at) => records.push([Buffer.from(oid), at, parser.lastTransactionTid!]),
    })
    const md5 = createHash('md5')
    const out = tmp ? await open(tmp, 'w', 0o644) : undefined
    const gzip = this.options.gzip && out ? createGzip({level: 6}) : undefined
    const gzipDone = gzip
      ? (async () => {
          for await (const chunk of gzip as AsyncIterable<Buffer>) await writeAll(out!, chunk)
        })()
      : undefined
    // awaited once the copy is fed; a write that fails before (a full disk) ends the wait for a drain that would
    // never come, and must not go unhandled meanwhile
    gzipDone?.catch(() => {})
    try {
      for (let at = start; at < end; ) {
        const n = Math.min(CHUNK, end - at)
        const chunk = await preadExactly(this.fh!, n, at)
        if (!chunk) throw new StructureError(`${this.datafs} ended at ${at} while being copied`, at)
        parser.push(chunk)
        md5.update(chunk)
        if (gzip) {
          if (!gzip.write(chunk)) await Promise.race([new Promise((r) => gzip.once('drain', r)), gzipDone])
        } else if (out) await writeAll(out, chunk)
        at += n
      }
      parser.end()
      if (gzip) {
        gzip.end()
        await gzipDone
      }
      await out?.sync()
    } finally {
      if (gzip && !gzip.writableEnded) gzip.destroy()
      await out?.close()
    }
    return {
      end,
      md5: md5.digest('hex'),
      records,
      transactions: parser.transactions,
      lastTid: parser.lastTransactionTid,
    }
  }

  /** The index as of `end`: the last backup's .index when it is for `end`, else rebuilt from the Data.fs. */
  private async indexAt(chain: ChainState, end: number): Promise<FsIndex> {
    try {
      const loaded = await readIndexFile(indexPathOf(this.location, chain.last))
      if (loaded.pos === end) return loaded.index
    } catch (e) {
      if (!(e instanceof IndexFormatError) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    this.log.note(`${chain.last.stamp}.index does not match byte ${end}: rebuilding the index from ${this.datafs}`)
    const copied = await this.copyRange(0, end, undefined)
    const index = new FsIndex()
    for (const [oid, at] of copied.records) index.set(oid, at)
    return index
  }
}

interface Copied {
  end: number
  md5: string
  /** oid, record offset, tid of its transaction */
  records: [Buffer, number, Buffer][]
  transactions: number
  lastTid?: Buffer
}

async function writeText(path: string, text: string): Promise<void> {
  const fh = await open(path, 'w', 0o644)
  try {
    await fh.write(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function openDataFs(datafs: string): Promise<FileHandle> {
  let fh: FileHandle
  try {
    fh = await open(datafs, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new BkError(`filestorage ${datafs} does not exist; check the Data.fs argument`)
    throw new BkError(`cannot read ${datafs}: ${(e as Error).message}`)
  }
  if (!(await hasMagic(fh))) {
    await fh.close()
    throw new BkError(`${datafs} is not a FileStorage (no FS30 header)`)
  }
  return fh
}

/** The tid of the first transaction, when there is one. */
async function firstTid(fh: FileHandle, size: number): Promise<Buffer | undefined> {
  if (size < 4 + TXN_HEADER_LEN) return undefined
  return (await preadExactly(fh, 8, 4)) ?? undefined
}

/**
 * Resume the newest chain or start a full backup? Resume only when the chain is whole, the Data.fs is at least
 * as long as what it holds, a committed transaction still ends exactly there, the last shipped file's bytes
 * equal the Data.fs's at its range (its `.dat` md5) and the first transaction is the one the full backup holds.
 */
export async function decideResume(fh: FileHandle, size: number, location: string): Promise<Resume> {
  const full = (reason: string): Resume => ({kind: 'full', reason: `${reason}: full backup first`})
  const chain = await newestChain(location).catch(() => undefined)
  if (!chain) return full(`no whole backup chain in ${location} yet`)
  if (size < chain.end) return full(`Data.fs is shorter than the shipped ${chain.end} bytes (packed?)`)
  const boundary = await checkBoundary(fh, chain.end, size)
  if (!boundary.ok) return full(`Data.fs changed before the shipped end: ${boundary.reason}`)
  const line = chain.lastLine
  const hash = createHash('md5')
  for (let at = line.start; at < line.end; ) {
    const n = Math.min(CHUNK, line.end - at)
    const chunk = await preadExactly(fh, n, at)
    if (!chunk) return full('Data.fs could not be read at the shipped range')
    hash.update(chunk)
    at += n
  }
  if (hash.digest('hex') !== line.md5) return full(`Data.fs differs from ${line.name} (its .dat checksum)`)
  if (chain.lines.length > 1) {
    const head = await repoFileHead(chain.head, 4 + TXN_HEADER_LEN)
    const now = await preadExactly(fh, 4 + TXN_HEADER_LEN, 0)
    if (!head || !now || !head.equals(now)) return full('the first transaction of Data.fs changed (packed?)')
  }
  return {kind: 'resume', reason: `${line.name} matches Data.fs (md5 of bytes ${line.start}-${line.end})`, chain}
}
