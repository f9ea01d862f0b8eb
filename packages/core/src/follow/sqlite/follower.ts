// `bk <app> follow` for SQLite: continuous, Litestream-style backup of a live database in WAL mode.
//
// The follower keeps a read transaction open on the database (connection `reader`), so no checkpoint can
// restart the WAL over frames not yet copied. Every poll it reads the -wal file itself, checks each frame (salts
// and the checksum chain) and ships the frames of whole committed transactions, up to the last commit frame, as
// one segment file; the manifest beside it records when each commit was seen (for --as-of). Then it moves its
// read transaction forward. Now and then it checkpoints itself: holding the write lock (connection `writer`) it
// ships the rest, lets a PASSIVE checkpoint copy every frame into the database and releases — the next write
// of the application then restarts the WAL, which the follower recognises, under the write lock, as the
// continuation (salt1 + 1, and every frame of the old log after the shipped end shipped first). A WAL reset any other way, a replaced database file, or a
// resume that cannot prove continuity starts a new generation with a snapshot (the online backup API, taken
// inside the read transaction pinned at a known WAL position). Snapshots are also taken every
// `snapshotInterval`.
import {type FileHandle, mkdir, open, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import type Database from 'better-sqlite3'
import {loadSqlite} from '../../db/drivers.js'
import {BkError, messageOf} from '../../errors.js'
import {sha256File} from '../../fs/hash.js'
import {atomicFile, crashPoint} from '../../safety/index.js'
import {type Plan, step} from '../../workflow/plan.js'
import {StopSignal} from '../loop.js'
import {FilesFollower, type FollowedFolder} from './files.js'
import {
  FOLLOW_FORMAT,
  FOLLOW_MARKER,
  type FollowManifest,
  generationName,
  generationsBeyond,
  generationsDir,
  newestGeneration,
  removeGenerations,
  removeLeftovers,
  seqName,
  type WalPosition,
  writeData,
  writeManifest,
} from './location.js'
import {FRAME_HEADER_LEN, frameOffset, readWalHeader, scanWal, type WalHeader} from './wal.js'

/** What to follow: the database and the application's folders of files. */
export interface SqliteFollowTarget {
  /** the application, for messages and the location marker ('trac', 'roundup') */
  app: string
  /** the SQLite database file (absolute) */
  db: string
  /** folders of files shipped as they appear (attachments …) */
  folders?: FollowedFolder[]
}

/** How often the follower polls, snapshots and checkpoints. */
export interface SqliteFollowOptions {
  location: string
  /** ms between polls of the WAL (default 100) */
  pollMs?: number
  /** seconds between snapshots (default 86400) */
  snapshotInterval?: number
  /** frames in the WAL after which the follower checkpoints it (default 1000) */
  checkpointFrames?: number
  /** seconds between scans of the followed folders (default 5) */
  filesInterval?: number
  /** keep only the newest N generations (≥ 1; the current one always stays); undefined keeps all */
  keepGenerations?: number
  /** Testing: called when a restarted WAL is seen, before the old log's tail is read from it */
  onRestartSeen?: () => Promise<void>
}

/** One shipment, for the --json status line. */
export interface SqliteShipment {
  kind: 'snapshot' | 'wal' | 'files'
  generation: string
  file: string
  bytes: number
  commits: number
  /** when the newest shipped commit was seen */
  time: string
  /** ms from the start of the poll that found it to its publication */
  lagMs: number
  reason?: string
}

/** What the follower did, when it stopped. */
export interface SqliteFollowResult {
  db: string
  location: string
  generation?: string
  shipments: number
  snapshots: number
  commits: number
  bytes: number
  files: number
  lastCommit?: string
  stoppedBy: string
}

interface Position extends WalPosition {
  gen: string
  genDir: string
  /** next sequence number */
  seq: number
  dbId: {dev: number; ino: number}
  /** the follower checkpointed the whole WAL under the write lock at this position */
  sealed: boolean
  lastSnapshotAt: number
}

const BUSY_MS = 10_000

/** Follows one SQLite database (and folders) into a location until stop(). */
export class SqliteFollower {
  private reader?: Database.Database
  private writer?: Database.Database
  private pos?: Position
  private readonly signal = new StopSignal()
  private readonly files: FilesFollower
  private readonly counts = {shipments: 0, snapshots: 0, commits: 0, bytes: 0, files: 0}
  private lastCommit?: string
  private lastFilesScan = 0

  constructor(
    readonly target: SqliteFollowTarget,
    readonly options: SqliteFollowOptions,
    private readonly log: {info(m: string): void; note(m: string): void; shipped?(s: SqliteShipment): void},
  ) {
    this.files = new FilesFollower(options.location, target.folders ?? [])
  }

  get location(): string {
    return this.options.location
  }

  /** Reads only: the database is in WAL mode, the location is a follow location (or absent). */
  async plan(): Promise<Plan> {
    await checkWalMode(this.target.db)
    const marker = await readMarker(this.location)
    const steps = [step('check', this.target.db, 'SQLite database in WAL mode')]
    if (marker === undefined) steps.push(step('create', this.location, 'follow location'))
    const gen = marker === undefined ? undefined : await newestGeneration(this.location)
    if (gen) steps.push(step('keep', gen.dir, 'resume this generation when the WAL continues it, else a new one'))
    else steps.push(step('create', join(this.location, 'generations/<time>/00000000.snapshot.db'), 'first snapshot'))
    steps.push(step('copy', join(this.location, 'generations/<time>/<seq>.wal'), 'committed WAL frames, until SIGTERM'))
    for (const f of this.target.folders ?? [])
      steps.push(step('copy', join(this.location, 'files', f.name), `new files of ${f.dir}`))
    const keep = this.options.keepGenerations
    if (keep !== undefined) {
      for (const name of marker === undefined ? [] : await generationsBeyond(this.location, keep))
        steps.push(step('remove', join(generationsDir(this.location), name), `beyond the newest ${keep} generation(s)`))
      steps.push(
        step(
          'remove',
          join(this.location, 'generations/<older>'),
          `as new generations start, all but the newest ${keep} (never the current one)`,
        ),
      )
    }
    return {summary: `follow ${this.target.db} into ${this.location}`, steps}
  }

  /** Under the lock: removes what a killed run left. */
  async recover(): Promise<string[]> {
    if ((await readMarker(this.location)) === undefined) return []
    return [...(await removeLeftovers(this.location)), ...(await this.files.recover())]
  }

  /** Asks the loop to stop: it ships what is committed now, then returns. */
  stop(reason: string): void {
    this.signal.stop(reason)
  }

  async run(): Promise<SqliteFollowResult> {
    await mkdir(this.location, {recursive: true})
    if ((await readMarker(this.location)) === undefined) {
      await atomicFile(
        join(this.location, FOLLOW_MARKER),
        (tmp) => writeFile(tmp, `${JSON.stringify({format: FOLLOW_FORMAT, version: 1, app: this.target.app})}\n`),
        {overwrite: true},
      )
    }
    await mkdir(generationsDir(this.location), {recursive: true})
    const Driver = await loadSqlite()
    try {
      this.reader = new Driver(this.target.db, {fileMustExist: true, timeout: BUSY_MS})
      this.writer = new Driver(this.target.db, {fileMustExist: true, timeout: BUSY_MS})
    } catch (error) {
      throw new BkError(`cannot open the SQLite database ${this.target.db}: ${messageOf(error)}`)
    }
    try {
      if (String(this.reader.pragma('journal_mode', {simple: true})).toLowerCase() !== 'wal')
        throw notWal(this.target.db)
      await this.files.start()
      if (!this.signal.stopping) await this.start()
      while (!this.signal.stopping) {
        await this.signal.pause(this.options.pollMs ?? 100)
        if (this.signal.stopping) break
        await this.tick()
      }
      // a clean stop ships everything committed up to now
      if (this.pos) await this.tick(true)
    } finally {
      this.endRead()
      this.reader?.close()
      this.writer?.close()
    }
    return {
      db: this.target.db,
      location: this.location,
      generation: this.pos?.gen,
      ...this.counts,
      lastCommit: this.lastCommit,
      stoppedBy: this.signal.stopping ?? 'done',
    }
  }

  private beginRead(): void {
    const r = this.reader!
    if (r.inTransaction) r.exec('COMMIT')
    r.exec('BEGIN')
    r.prepare('SELECT count(*) FROM sqlite_master').get()
  }

  private endRead(): void {
    if (this.reader?.inTransaction) this.reader.exec('COMMIT')
  }

  /** Resume the newest generation when the database and WAL continue it; else a new generation. */
  private async start(): Promise<void> {
    const gen = await newestGeneration(this.location)
    const dbId = await fileId(this.target.db)
    const last = gen?.manifests.at(-1)
    if (gen && last && last.db.dev === dbId.dev && last.db.ino === dbId.ino) {
      this.beginRead()
      const fh = await openWal(this.target.db)
      try {
        const header = fh ? await readWalHeader(fh) : undefined
        const a = last.after
        const same = header && header.salt1 === a.salt1 && header.salt2 === a.salt2 && header.pageSize === a.pageSize
        if (same && fh && (a.frame === 0 || (await frameChecksumIs(fh, header, a.frame, a.cksum)))) {
          const lastSnapshot = gen.manifests.filter((m) => m.kind === 'snapshot').at(-1)!
          this.pos = {
            ...a,
            gen: gen.name,
            genDir: gen.dir,
            seq: last.seq + 1,
            dbId,
            sealed: false,
            lastSnapshotAt: Date.parse(lastSnapshot.time),
          }
          this.log.info(`resuming generation ${gen.name} at WAL frame ${a.frame}`)
          await this.retain()
          return
        }
      } finally {
        await fh?.close()
      }
      await this.snapshot('new', 'the WAL no longer continues the last generation (restarted while not followed)')
      return
    }
    await this.snapshot('new', gen ? 'the database file was replaced' : 'first run')
  }

  /** Pin the read transaction at the WAL's last commit (under the write lock, briefly), then copy the database. */
  private async snapshot(requested: 'new' | 'same', reason: string): Promise<void> {
    let mode = requested
    const w = this.writer!
    const dbId = await fileId(this.target.db)
    let header: WalHeader | undefined
    let frame = 0
    let cksum: [number, number] = [0, 0]
    const polled = Date.now()
    w.exec('BEGIN IMMEDIATE')
    try {
      // everything before the snapshot stays in its segments; a broken continuity makes it a new generation
      if (mode === 'same' && (await this.ship(polled, true))) mode = 'new'
      const fh = await openWal(this.target.db)
      try {
        header = fh ? await readWalHeader(fh) : undefined
        if (fh && header) {
          const scan = await scanAll(fh, header, 0, header.cksum)
          frame = scan.end
          cksum = scan.cksum
        }
      } finally {
        await fh?.close()
      }
      this.beginRead()
    } finally {
      w.exec('ROLLBACK')
    }
    const time = new Date()
    let genName: string
    let genDir: string
    let seq: number
    if (mode === 'new' || !this.pos) {
      genName = generationName(time)
      genDir = join(generationsDir(this.location), genName)
      await mkdir(genDir, {recursive: true})
      seq = 0
    } else {
      genName = this.pos.gen
      genDir = this.pos.genDir
      seq = this.pos.seq
    }
    const file = `${seqName(seq)}.snapshot.db`
    const dest = join(genDir, file)
    await atomicFile(dest, (tmp) => this.reader!.backup(tmp).then(() => undefined), {overwrite: true})
    const pageSize = header?.pageSize ?? Number(this.reader!.pragma('page_size', {simple: true}))
    const after: WalPosition = {salt1: header?.salt1, salt2: header?.salt2, pageSize, frame, cksum}
    const bytes = (await stat(dest)).size
    crashPoint('follow-snapshot-manifest')
    await writeManifest(genDir, {
      kind: 'snapshot',
      seq,
      time: time.toISOString(),
      polledAt: new Date(polled).toISOString(),
      file,
      sha256: await sha256File(dest),
      bytes,
      pageSize,
      db: dbId,
      after,
      reason,
    })
    this.pos = {...after, gen: genName, genDir, seq: seq + 1, dbId, sealed: false, lastSnapshotAt: time.getTime()}
    this.counts.snapshots++
    this.counts.bytes += bytes
    this.log.shipped?.({
      kind: 'snapshot',
      generation: genName,
      file: dest,
      bytes,
      commits: 0,
      time: time.toISOString(),
      lagMs: Date.now() - polled,
      reason,
    })
    if (seq === 0) await this.retain()
  }

  /** --keep-generations: remove the complete generations older than the newest N (the current one is the newest). */
  private async retain(): Promise<void> {
    const keep = this.options.keepGenerations
    if (keep === undefined) return
    const old = (await generationsBeyond(this.location, keep)).filter((g) => g !== this.pos?.gen)
    for (const line of await removeGenerations(this.location, old))
      this.log.info(`${line} (--keep-generations ${keep})`)
  }

  /** One poll: ship what is committed, keep the WAL small, snapshot when due, ship new files. */
  private async tick(final = false): Promise<void> {
    const pos = this.pos!
    const dbId = await fileId(this.target.db).catch(() => undefined)
    if (!dbId || dbId.dev !== pos.dbId.dev || dbId.ino !== pos.dbId.ino) {
      if (!dbId) throw new BkError(`${this.target.db} disappeared; the follower stops (start it again once it is back)`)
      await this.reopen()
      await this.snapshot('new', 'the database file was replaced')
      return
    }
    const shippedBefore = this.counts.shipments
    const broken = await this.ship(Date.now())
    if (broken) return this.snapshot('new', broken)
    // renew the read transaction only when something was shipped (so a checkpoint can go that far): an idle poll
    // keeps the one it has, which pins no less (renewing it every poll was ~30 % of an idle follower's CPU)
    if (this.counts.shipments !== shippedBefore || !this.reader!.inTransaction) this.beginRead()
    if (!final && this.pos!.frame >= (this.options.checkpointFrames ?? 1000)) await this.checkpoint()
    if (!final && Date.now() - this.pos!.lastSnapshotAt >= (this.options.snapshotInterval ?? 86_400) * 1000) {
      await this.snapshot('same', 'periodic snapshot')
    }
    if (final || Date.now() - this.lastFilesScan >= (this.options.filesInterval ?? 5) * 1000) {
      this.lastFilesScan = Date.now()
      for (const s of await this.files.scan()) {
        this.counts.files += s.commits
        this.counts.bytes += s.bytes
        this.log.shipped?.(s)
      }
    }
  }

  private async reopen(): Promise<void> {
    this.endRead()
    this.reader?.close()
    this.writer?.close()
    const Driver = await loadSqlite()
    this.reader = new Driver(this.target.db, {fileMustExist: true, timeout: BUSY_MS})
    this.writer = new Driver(this.target.db, {fileMustExist: true, timeout: BUSY_MS})
  }

  /**
   * Read the WAL and ship its new commits (a restart of the log is followed when it provably continues).
   * Returns why a new generation is needed, when the WAL no longer continues what was shipped. `locked`: the
   * caller holds the write lock (connection `writer`).
   */
  private async ship(polled: number, locked = false): Promise<string | undefined> {
    const fh = await openWal(this.target.db)
    try {
      const header = fh ? await readWalHeader(fh) : undefined
      const pos = this.pos!
      if (!fh || !header) {
        // an empty or truncated log: fine when nothing was after our end (we sealed it, or it was empty)
        if (pos.salt1 !== undefined && !pos.sealed) return 'the WAL was truncated by another process'
        if (pos.salt1 !== undefined)
          this.pos = {...pos, salt1: undefined, salt2: undefined, frame: 0, cksum: [0, 0], sealed: false}
        return undefined
      }
      if (header.pageSize !== pos.pageSize) return 'the page size changed'
      if (pos.salt1 === undefined) {
        // the log was empty at our position: this is its first epoch
        this.pos = {...pos, salt1: header.salt1, salt2: header.salt2, frame: 0, cksum: header.cksum, sealed: false}
      } else if (header.salt1 !== pos.salt1 || header.salt2 !== pos.salt2) {
        // A restarted log is read under the write lock: the old log's tail (frames past ours, copied into the
        // database by a checkpoint but never shipped) lies past the new log's frames, and a writer appending to the
        // new log between the reads below would overwrite it unseen: its commits would be lost to the location.
        if (!locked) return await this.underWriteLock(() => this.ship(polled, true))
        const fresh = await scanAll(fh, header, 0, header.cksum)
        await this.options.onRestartSeen?.()
        const k = fresh.end + fresh.pending
        const size = (await fh.stat()).size
        const oldVisible = pos.frame + 1 > k && size >= frameOffset(pos.frame + 2, header.pageSize)
        if (header.salt1 !== (pos.salt1 + 1) >>> 0 || (!oldVisible && !pos.sealed)) {
          return 'the WAL was restarted by another process before all of it was shipped'
        }
        if (oldVisible) {
          // frames the old log got after our end are still there, past the new log's frames: ship them first, all
          // of them (a scan reads at most 64 MiB: a long tail is more than one segment)
          const old: WalHeader = {...header, salt1: pos.salt1, salt2: pos.salt2!, cksum: pos.cksum}
          for (;;) {
            const rest = await scanAll(fh, old, this.pos!.frame, this.pos!.cksum)
            if (rest.commits.length === 0) break
            await this.writeSegment(rest, polled)
          }
        }
        this.pos = {
          ...this.pos!,
          salt1: header.salt1,
          salt2: header.salt2,
          frame: 0,
          cksum: header.cksum,
          sealed: false,
        }
      }
      const p = this.pos!
      const scan = await scanAll(fh, header, p.frame, p.cksum)
      if (scan.commits.length > 0) await this.writeSegment(scan, polled)
      return undefined
    } finally {
      await fh?.close()
    }
  }

  private async writeSegment(scan: ScanResult, polled: number): Promise<void> {
    const pos = this.pos!
    const time = new Date().toISOString()
    const file = `${seqName(pos.seq)}.wal`
    const dest = join(pos.genDir, file)
    const sha256 = await writeData(dest, scan.frames)
    crashPoint('follow-wal-manifest')
    const before: WalPosition = {
      salt1: pos.salt1,
      salt2: pos.salt2,
      pageSize: pos.pageSize,
      frame: pos.frame,
      cksum: pos.cksum,
    }
    const after: WalPosition = {...before, frame: scan.end, cksum: scan.cksum}
    const commits = scan.commits.map((c) => ({frame: c.last - pos.frame - 1, pages: c.pages, time}))
    const manifest: FollowManifest = {
      kind: 'wal',
      seq: pos.seq,
      time,
      polledAt: new Date(polled).toISOString(),
      file,
      sha256,
      bytes: scan.frames.length,
      pageSize: pos.pageSize,
      db: pos.dbId,
      before,
      after,
      commits,
    }
    await writeManifest(pos.genDir, manifest)
    this.pos = {...pos, frame: scan.end, cksum: scan.cksum, seq: pos.seq + 1, sealed: false}
    this.counts.shipments++
    this.counts.commits += commits.length
    this.counts.bytes += scan.frames.length
    this.lastCommit = time
    this.log.shipped?.({
      kind: 'wal',
      generation: pos.gen,
      file: dest,
      bytes: scan.frames.length,
      commits: commits.length,
      time,
      lagMs: Date.now() - polled,
    })
  }

  /**
   * Runs `work` holding the write lock (BEGIN IMMEDIATE on `writer`, waiting up to its busy timeout); undefined,
   * and nothing done, when the lock cannot be had: the next poll tries again.
   */
  private async underWriteLock(work: () => Promise<string | undefined>): Promise<string | undefined> {
    const w = this.writer!
    try {
      w.exec('BEGIN IMMEDIATE')
    } catch (error) {
      // busy, or one of its extended codes (another connection recovering the WAL: SQLITE_BUSY_RECOVERY)
      if (String((error as {code?: string}).code).startsWith('SQLITE_BUSY')) return undefined
      throw error
    }
    try {
      return await work()
    } finally {
      w.exec('ROLLBACK')
    }
  }

  /**
   * Checkpoint the whole WAL under the write lock, after shipping all of it, so its restart continues ours. A busy
   * lock waits for the next poll; any other error of the lock propagates (underWriteLock).
   */
  private async checkpoint(): Promise<void> {
    const broken = await this.underWriteLock(async () => {
      const reason = await this.ship(Date.now(), true)
      if (reason) return reason
      this.endRead()
      const [r] = this.reader!.pragma('wal_checkpoint(PASSIVE)') as {busy: number; log: number; checkpointed: number}[]
      const pos = this.pos!
      if (r && r.busy === 0 && r.log === r.checkpointed && r.log === pos.frame) this.pos = {...pos, sealed: true}
      this.beginRead()
      return undefined
    })
    if (broken) await this.snapshot('new', broken)
  }
}

type ScanResult = Awaited<ReturnType<typeof scanWal>>

/** scanWal to the end, growing the read when one transaction is larger than a read. */
async function scanAll(fh: FileHandle, header: WalHeader, from: number, chain: [number, number]): Promise<ScanResult> {
  let maxBytes = 64 << 20
  for (;;) {
    const scan = await scanWal(fh, header, from, chain, {maxBytes})
    const frameLen = FRAME_HEADER_LEN + header.pageSize
    const read = scan.frames.length / frameLen + scan.pending
    if (scan.commits.length > 0 || read * frameLen < maxBytes - frameLen) return scan
    maxBytes *= 4
  }
}

async function frameChecksumIs(
  fh: FileHandle,
  header: WalHeader,
  frame: number,
  cksum: [number, number],
): Promise<boolean> {
  const buf = Buffer.alloc(FRAME_HEADER_LEN)
  const {bytesRead} = await fh.read(buf, 0, FRAME_HEADER_LEN, frameOffset(frame, header.pageSize))
  if (bytesRead !== FRAME_HEADER_LEN) return false
  return (
    buf.readUInt32BE(8) === header.salt1 &&
    buf.readUInt32BE(12) === header.salt2 &&
    buf.readUInt32BE(16) === cksum[0] &&
    buf.readUInt32BE(20) === cksum[1]
  )
}

async function openWal(db: string): Promise<FileHandle | undefined> {
  return open(`${db}-wal`, 'r').catch(() => undefined)
}

async function fileId(path: string): Promise<{dev: number; ino: number}> {
  const s = await stat(path)
  return {dev: s.dev, ino: s.ino}
}

function notWal(db: string): BkError {
  return new BkError(
    `${db} is not in WAL mode; follow needs it: run sqlite3 ${db} 'PRAGMA journal_mode=WAL' once (it stays set)`,
  )
}

/** Read-only check that the database exists and is in WAL mode (bytes 18 and 19 of its header are 2). */
export async function checkWalMode(db: string): Promise<void> {
  const fh = await open(db, 'r').catch(() => {
    throw new BkError(`${db} does not exist or cannot be read; check the path`)
  })
  try {
    const buf = Buffer.alloc(100)
    const {bytesRead} = await fh.read(buf, 0, 100, 0)
    if (bytesRead < 100 || buf.subarray(0, 16).toString('latin1') !== 'SQLite format 3\0') {
      throw new BkError(`${db} is not an SQLite database; check the path`)
    }
    if (buf[18] !== 2 || buf[19] !== 2) throw notWal(db)
  } finally {
    await fh.close()
  }
}

/** The location's marker, or undefined when the location is absent or empty; a foreign folder is an error. */
export async function readMarker(location: string): Promise<{format: string; app: string} | undefined> {
  const s = await stat(location).catch(() => undefined)
  if (!s) return undefined
  if (!s.isDirectory()) throw new BkError(`${location} is not a directory; check --location`)
  const text = await readFile(join(location, FOLLOW_MARKER), 'utf8').catch(() => undefined)
  if (text === undefined) {
    const names = await readdir(location)
    if (names.length === 0) return undefined
    throw new BkError(`${location} is not a follow location (no ${FOLLOW_MARKER}); choose an empty or new folder`)
  }
  const marker = JSON.parse(text) as {format: string; app: string}
  if (marker.format !== FOLLOW_FORMAT) throw new BkError(`${location} holds another kind of follow (${marker.format})`)
  return marker
}
