import {createHash} from 'node:crypto'
import {closeSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync} from 'node:fs'
import {chmod, stat} from 'node:fs/promises'
import {basename} from 'node:path'
import type Database from 'better-sqlite3'
import {BkError, messageOf} from '../errors.js'
import {sha256File} from '../fs/hash.js'
import {fsyncPath} from '../fs/paths.js'
import {writeAllSync} from '../fs/write-all.js'
import {atomicFile} from '../safety/index.js'
import {stepProgress} from '../ui/progress.js'
import {warn} from '../ui/warn.js'
import {loadSqlite, type SqliteDriver} from './drivers.js'
import {quotePgIdent as quoteSqliteIdent} from './quote.js'

/** How an online SQLite backup steps, reports progress and writes its copy. */
export interface SqliteBackupOptions {
  /** Called after each step with the pages copied so far and the total. */
  onProgress?: (progress: {pagesDone: number; totalPages: number}) => void
  /**
   * Pages copied per step in rollback-journal mode, where a reader blocks writers from committing: between steps
   * the read lock is released so they get their turn. Default: adaptive — each step copies for up to `stepMillis`
   * (so an idle database that copies fast goes in one or two steps, and a writer never waits much longer than
   * `stepMillis` for its lock). A number here fixes the step size.
   * (In WAL mode readers never block writers: the copy is one step, one snapshot.)
   */
  pagesPerStep?: number
  /** Adaptive steps: the longest a step should hold the read lock, in ms. Default 200. */
  stepMillis?: number
  /**
   * Rollback-journal mode: the longest the read lock is ever held at once, in ms (default 600), so a writer waits
   * at most about this long plus its own busy-handler sleep (SQLite's is ≤ 100 ms) and its own commit: under 1 s. A copy the source
   * changed under is done again in holds this long; it is consistent once one pass saw no commit.
   */
  maxLockMillis?: number
  /**
   * Rollback-journal mode: how long to keep trying for a pass that no commit interrupts, in ms (default 60 000).
   * Then one last pass copies the file under one hold, however long, and a warning says how long writers waited:
   * a backup that never finishes would be worse (trac-admin hotcopy blocks them for the whole copy, always).
   */
  retryMillis?: number
  /** Clock for the lock-hold limits, in ms (default performance.now; tests pass a fake one). */
  clock?: () => number
  /** How long to wait for a lock held by another connection, in ms (SQLite busy_timeout). Default 10000. */
  busyTimeout?: number
  /** Mode of the copy; default the source's mode. */
  mode?: number
  /** Replace an existing file at `dest` (default true); false: an existing file is a BkError. */
  overwrite?: boolean
  /**
   * Called once, as soon as the copy's content is fixed (the source is no longer read), before the copy is made
   * durable and renamed into place: what the source held at that moment is what the copy holds.
   */
  onSnapshot?: () => void
  /** Also return the copy's sha256 (hashed as it is copied, or while it is being fsynced after a restarted copy). */
  sha256?: boolean
  /**
   * Rollback-journal mode: let the event loop turn every few MiB of the first pass while the read lock is held, so
   * the caller's other work (a tree copy feeding the thread pool) goes on meanwhile. Only for a caller that knows
   * what runs then: whatever runs lengthens the hold, and a write to this database from another connection of this
   * process would wait for a lock its own process holds (its whole busy timeout, every other writer waiting too).
   * Default false: each hold is synchronous.
   */
  turnUnderLock?: boolean
}

/** The copy made: pages, bytes, and the journal mode of the source. */
export interface SqliteBackupResult {
  pages: number
  bytes: number
  /** The source's journal mode ('wal', 'delete', …). */
  sourceJournalMode: string
  /** sha256 (hex) of the copy, when asked for with `sha256: true`. */
  sha256?: string
}

/**
 * Copy a live SQLite database: committed rows still in the -wal file are included, writers in other processes keep
 * working. `dest` appears complete or not at all, in rollback-journal mode (journal_mode=DELETE) so it needs no -wal
 * beside it. A rollback-journal database is copied byte for byte under SQLite's own read lock (see
 * {@link copyUnderReadLock}); a WAL database through SQLite's online backup API, in one step (one snapshot).
 * Another connection of this process must not be in a transaction on `src` meanwhile: closing the copy's own
 * descriptor drops every POSIX lock this process holds on the file (other processes are not affected).
 */
export async function sqliteBackup(
  src: string,
  dest: string,
  options: SqliteBackupOptions = {},
): Promise<SqliteBackupResult> {
  const busyTimeout = options.busyTimeout ?? 10_000
  const Driver = await loadSqlite()
  const source = openSource(Driver, src, busyTimeout)
  try {
    const sourceJournalMode = String(source.pragma('journal_mode', {simple: true})).toLowerCase()
    const srcMode = (await stat(src)).mode & 0o7777
    const step = stepProgress(`copying ${basename(src)}`, {unit: 'pages'})
    const report = (pagesDone: number, totalPages: number) => {
      options.onProgress?.({pagesDone, totalPages})
      step.setTotal(totalPages)
      step.update(pagesDone)
    }
    const meta = await atomicFile(
      dest,
      async (tmp) => {
        const copied =
          sourceJournalMode === 'wal' ? undefined : await copyUnderReadLock(source, src, tmp, options, report)
        const totalPages = copied?.totalPages ?? (await backupApi(source, tmp, options, report))
        options.onSnapshot?.()
        if (!copied) setRollbackJournal(Driver, tmp, busyTimeout)
        await chmod(tmp, options.mode ?? srcMode)
        // a copy hashed on its way (one pass no commit interrupted) is not read again; otherwise hashing (CPU) and
        // the fsync (disk) overlap. atomicFile's own fsync then finds nothing left to write
        const [sha256] = await Promise.all([
          options.sha256 ? (copied?.sha256 ?? sha256File(tmp)) : undefined,
          fsyncPath(tmp),
        ])
        return {totalPages, sha256}
      },
      {overwrite: options.overwrite ?? true},
    )
    report(meta.totalPages, meta.totalPages)
    step.done()
    return {
      pages: meta.totalPages,
      bytes: (await stat(dest)).size,
      sourceJournalMode,
      ...(meta.sha256 ? {sha256: meta.sha256} : {}),
    }
  } catch (error) {
    throw sqliteError(`cannot back up the SQLite database ${src}`, error)
  } finally {
    source.close()
  }
}

/** The source's page cache during a backup API copy, in KiB (SQLite's own default is 2000). */
const BACKUP_CACHE_KIB = 2000

/** Backup API: steps restarted this often (the source changed under a stepwise copy) → the rest in one step. */
const MAX_RESTARTS = 3

/** Bytes per read/write of the rollback-journal copy: small enough to stay in the CPU cache (8 MiB took twice the time). */
const CHUNK_BYTES = 1024 * 1024

/** Chunks the first pass copies between two turns of the event loop within a hold of the lock. */
const TURN_CHUNKS = 4

/** Size of the SQLite file header. */
const HEADER_BYTES = 100

/**
 * The rollback-journal copy: the database file's bytes, read while this connection holds SQLite's read (SHARED)
 * lock, which no other process can write the file under (a writer needs the EXCLUSIVE lock to write it, and a hot
 * journal left by a crashed writer is rolled back by SQLite before the lock is granted). Each hold of the lock is
 * bounded: a first pass goes in steps of at most `stepMillis` (or `pagesPerStep` pages); at the start of every
 * later step the first 100 bytes (file change counter, page count, schema cookie, journal mode) and the file size
 * are compared with the pass's first step's: SQLite increments the change counter on every commit in this mode and
 * a rolled-back transaction restores every byte, so equal means the bytes already copied are still the file's —
 * the test SQLite itself uses to keep a reader's page cache. A change restarts the copy as a pass that compares
 * each chunk with the copy and writes only those that differ, in holds of up to `maxLockMillis` (a writer that
 * commits every few ms then usually finds the whole pass done in one hold); a pass is consistent once no commit
 * came between its holds. No hold lasts longer than `maxLockMillis` (checked after every chunk) — unless the source
 * kept changing under every pass for `retryMillis`: then the last pass is one hold, and a warning says so.
 *
 * The file is read through a descriptor of our own, closed only after the lock is released: closing any
 * descriptor of a file drops the process's POSIX locks on it (so no copyFile here). Returns undefined, having
 * copied nothing, when the file is not a rollback-journal database (WAL, empty, not a database): the backup API
 * then copies it.
 */
async function copyUnderReadLock(
  source: Database.Database,
  src: string,
  tmp: string,
  options: SqliteBackupOptions,
  report: (pagesDone: number, totalPages: number) => void,
): Promise<{totalPages: number; sha256?: string} | undefined> {
  const fixed = options.pagesPerStep === undefined ? undefined : Math.max(1, Math.floor(options.pagesPerStep))
  const maxLockMillis = Math.max(1, options.maxLockMillis ?? 600)
  const stepMillis = Math.min(maxLockMillis, Math.max(1, options.stepMillis ?? 200))
  const now = options.clock ?? (() => performance.now())
  const giveUpAt = now() + Math.max(0, options.retryMillis ?? 60_000)
  let locked = false
  const lock = () => {
    source.exec('BEGIN')
    locked = true
    source.prepare('SELECT count(*) FROM sqlite_master').get() // takes the SHARED lock, kept until COMMIT
  }
  const unlock = () => {
    if (!locked) return
    locked = false
    source.exec('COMMIT')
  }
  let input: number | undefined
  let output: number | undefined
  // what the steps wrote goes to the disk while the next ones copy (one flush at a time): no single big flush at
  // the end, whose journal commit a writer's own commit would have to wait behind (ext4 data=ordered)
  let flushing: Promise<void> | undefined
  let flushError: unknown
  const flush = (fd: number) => {
    flushing ??= new Promise<void>((resolve) =>
      fdatasync(fd, (error) => {
        if (error) flushError ??= error
        flushing = undefined
        resolve()
      }),
    )
  }
  try {
    input = openSync(src, 'r')
    output = openSync(tmp, 'w+')
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES)
    const copied = Buffer.allocUnsafe(CHUNK_BYTES)
    // after a restart the copy is compared with the file and only what differs is written again: a pass under
    // the lock then mostly reads (cached pages), and writes little that could wait on the disk
    let verify = false
    let first: Buffer | undefined
    let size = 0
    let pageSize = 0
    let pos = 0
    let restarts = 0
    let lastResort = false
    let heldFrom = 0
    // the first pass's bytes are hashed as they are copied, in order: the copy is not read again to hash it. A
    // restart rewrites chunks already hashed: the copy is then hashed after it is complete
    let hash = options.sha256 ? createHash('sha256') : undefined
    let hashedTo = 0
    for (;;) {
      lock()
      const heldSince = now()
      heldFrom = heldSince
      const header = Buffer.alloc(HEADER_BYTES)
      const headerBytes = readSync(input, header, 0, HEADER_BYTES, 0)
      const fileSize = fstatSync(input).size
      if (first && (!header.equals(first) || fileSize !== size)) {
        // a backup that never finishes is worse than one long wait: the last pass takes as long as it takes
        if (heldSince >= giveUpAt) lastResort = true
        restarts++
        hash = undefined
        first = undefined
        pos = 0
        verify = true
      }
      if (!first) {
        if (headerBytes < HEADER_BYTES || !isRollbackHeader(header)) {
          unlock()
          // switched to WAL after steps were copied: the backup API must find an empty file, not a page 1 that
          // counts pages the file does not have (SQLite calls that "database disk image is malformed")
          ftruncateSync(output, 0)
          return undefined
        }
        first = header
        size = fileSize
        pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16)
      }
      // a first pass in short steps; after a restart (the source is being written) as much as one hold may take
      const holdMillis = lastResort ? Number.POSITIVE_INFINITY : restarts > 0 ? maxLockMillis : stepMillis
      const chunk = Math.min(CHUNK_BYTES, fixed === undefined ? CHUNK_BYTES : fixed * pageSize)
      // synchronous on purpose: a step is a run of memory copies bounded by holdMillis, and under the lock every
      // thread-pool round trip (two per chunk) would add to how long writers wait, most of all on a loaded machine.
      // With turnUnderLock, the first pass lets the event loop turn every few chunks (the lock stays held): the
      // caller's other work (a tree copy feeding the thread pool) goes on meanwhile, not after the hold
      let sinceTurn = 0
      while (pos < size) {
        const want = Math.min(chunk, size - pos)
        if (readFully(input, buffer, want, pos) !== want) {
          throw new BkError(`${src} became shorter while it was read under a lock`)
        }
        const same =
          verify &&
          readFully(output, copied, want, pos) === want &&
          buffer.subarray(0, want).equals(copied.subarray(0, want))
        if (!same) writeAllSync(output, buffer.subarray(0, want), pos)
        if (hash && hashedTo === pos) {
          hash.update(buffer.subarray(0, want))
          hashedTo += want
        }
        pos += want
        report(Math.floor(pos / pageSize), Math.ceil(size / pageSize))
        if (pos >= size) break
        if ((fixed !== undefined && restarts === 0) || now() - heldSince >= holdMillis) break
        if (options.turnUnderLock && restarts === 0 && ++sinceTurn >= TURN_CHUNKS) {
          sinceTurn = 0
          await new Promise((resolve) => setImmediate(resolve))
          if (now() - heldSince >= holdMillis) break
        }
      }
      if (pos >= size) break
      unlock()
      if (flushError) throw flushError
      flush(output)
      await new Promise((resolve) => setImmediate(resolve))
    }
    // still under the lock: the copy is the file as it is now
    const heldFor = now() - heldFrom
    unlock()
    if (lastResort) {
      warn(
        `${src} changed under every copy pass for ${Math.round((options.retryMillis ?? 60_000) / 1000)} s ` +
          `(${restarts} restarts): the last pass held its read lock for ${Math.round(heldFor)} ms, and its writers ` +
          `waited that long; switch it to WAL mode (PRAGMA journal_mode=WAL), where a copy never blocks writers`,
      )
    }
    await flushing
    if (flushError) throw flushError
    ftruncateSync(output, size)
    const sha256 = hash && hashedTo === size ? hash.digest('hex') : undefined
    return {totalPages: Math.ceil(size / pageSize), ...(sha256 ? {sha256} : {})}
  } finally {
    try {
      unlock()
    } finally {
      await flushing // the descriptor stays open until its flush is done
      if (output !== undefined) closeSync(output)
      if (input !== undefined) closeSync(input)
    }
  }
}

/** A valid SQLite header of a database in rollback-journal mode (read/write versions 1). */
function isRollbackHeader(header: Buffer): boolean {
  if (header.toString('latin1', 0, 16) !== 'SQLite format 3\0') return false
  const pageSize = header.readUInt16BE(16)
  const validSize = pageSize === 1 || (pageSize >= 512 && pageSize <= 32_768 && (pageSize & (pageSize - 1)) === 0)
  return validSize && header[18] === 1 && header[19] === 1
}

function readFully(fd: number, buffer: Buffer, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done)
    if (read === 0) break
    done += read
  }
  return done
}

/**
 * SQLite's online backup API into `tmp`: one step in WAL mode (readers do not block writers there: one snapshot);
 * otherwise (a rollback-journal file the byte copy could not take) adaptive steps as {@link SqliteBackupOptions}
 * says. Returns the pages copied.
 */
async function backupApi(
  source: Database.Database,
  tmp: string,
  options: SqliteBackupOptions,
  report: (pagesDone: number, totalPages: number) => void,
): Promise<number> {
  const wal = String(source.pragma('journal_mode', {simple: true})).toLowerCase() === 'wal'
  const fixed = options.pagesPerStep === undefined ? undefined : Math.max(1, Math.floor(options.pagesPerStep))
  const stepMillis = Math.max(1, options.stepMillis ?? 200)
  let stepPages = fixed ?? 1024
  let lastAt = performance.now()
  let restarts = 0
  let lastRemaining = Number.POSITIVE_INFINITY
  // each page is read once: the source's page cache only holds memory (better-sqlite3's default, 16 MB, filled on
  // any database larger than that; the C allocator kept it for the rest of the run: a Roundup backup of 80 000
  // issues, 121 MB of database, +30 MiB of peak)
  source.pragma(`cache_size = -${BACKUP_CACHE_KIB}`)
  const result = await source.backup(tmp, {
    progress({totalPages, remainingPages}) {
      if (remainingPages > lastRemaining) restarts++
      // the first call follows a step of 0 pages (better-sqlite3 opens the copy with it): nothing to measure
      const copied = Number.isFinite(lastRemaining) ? lastRemaining - remainingPages : 0
      lastRemaining = remainingPages
      report(totalPages - remainingPages, totalPages)
      if (wal || restarts >= MAX_RESTARTS) return 0x7fffffff
      const now = performance.now()
      const took = now - lastAt
      lastAt = now
      if (fixed === undefined && copied > 0 && took > 0) {
        // the time since the last call is the step plus one event-loop turn: a slight underestimate of speed
        const fit = Math.floor((copied * stepMillis) / took)
        stepPages = Math.max(64, Math.min(fit, stepPages * 8))
      }
      return stepPages
    },
  })
  return result.totalPages
}

/** Open read-only where possible; a WAL database whose -shm cannot be created read-only needs read-write. */
function openSource(Driver: SqliteDriver, src: string, busyTimeout: number): Database.Database {
  let db: Database.Database | undefined
  try {
    db = new Driver(src, {readonly: true, fileMustExist: true, timeout: busyTimeout})
    db.prepare('SELECT count(*) FROM sqlite_master').get()
    return db
  } catch (readOnlyError) {
    db?.close()
    try {
      db = new Driver(src, {fileMustExist: true, timeout: busyTimeout})
      db.prepare('SELECT count(*) FROM sqlite_master').get()
      return db
    } catch (error) {
      db?.close()
      throw sqliteError(`cannot open the SQLite database ${src}`, error ?? readOnlyError)
    }
  }
}

function setRollbackJournal(Driver: SqliteDriver, file: string, busyTimeout: number): void {
  const db = new Driver(file, {fileMustExist: true, timeout: busyTimeout})
  try {
    db.pragma('journal_mode = DELETE')
  } finally {
    db.close()
  }
}

function sqliteError(prefix: string, error: unknown): BkError {
  if (error instanceof BkError) return error
  const message = messageOf(error)
  let hint = ''
  if (/database is locked|SQLITE_BUSY/i.test(message))
    hint = '; another process holds a lock: try again, or raise the busy timeout'
  else if (/not a database|SQLITE_NOTADB/i.test(message)) hint = '; the file is not an SQLite database'
  else if (/unable to open|SQLITE_CANTOPEN|does not exist/i.test(message)) hint = '; check the path and permissions'
  return new BkError(`${prefix}: ${message}${hint}`, {code: 'ESQLITE', cause: error})
}

function openReadOnly(Driver: SqliteDriver, path: string): Database.Database {
  try {
    return openSource(Driver, path, 10_000)
  } catch (error) {
    throw sqliteError(`cannot open the SQLite database ${path}`, error)
  }
}

/** `PRAGMA integrity_check`: the problems found, [] when the database is sound. A file that is not a database is one problem. */
export async function sqliteIntegrityCheck(path: string): Promise<string[]> {
  await stat(path).catch((error) => {
    throw new BkError(`cannot check ${path}: ${messageOf(error)}`, {code: 'ESQLITE', cause: error})
  })
  const Driver = await loadSqlite()
  let db: Database.Database
  try {
    db = openSource(Driver, path, 10_000)
  } catch (error) {
    return [messageOf(error)]
  }
  try {
    const rows = db.pragma('integrity_check') as {integrity_check: string}[]
    const problems = rows.map((row) => row.integrity_check).filter((text) => text !== 'ok')
    return problems
  } catch (error) {
    return [messageOf(error)]
  } finally {
    db.close()
  }
}

/** Exact row count of every table (SQLite's internal `sqlite_*` tables left out), by table name. */
export async function sqliteTableCounts(path: string): Promise<Record<string, number>> {
  const db = openReadOnly(await loadSqlite(), path)
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
      )
      .pluck()
      .all() as string[]
    const counts: Record<string, number> = {}
    for (const table of tables) {
      counts[table] = Number(
        db
          .prepare(`SELECT count(*) FROM ${quoteSqliteIdent(table)}`)
          .pluck()
          .get(),
      )
    }
    return counts
  } finally {
    db.close()
  }
}
