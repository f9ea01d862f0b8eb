import {chmod, stat} from 'node:fs/promises'
import {basename} from 'node:path'
import type Database from 'better-sqlite3'
import {BkError, messageOf} from '../errors.js'
import {atomicFile} from '../safety/index.js'
import {stepProgress} from '../ui/progress.js'
import {loadSqlite, type SqliteDriver} from './drivers.js'
import {quotePgIdent as quoteSqliteIdent} from './quote.js'

/** How an online SQLite backup steps, reports progress and writes its copy. */
export interface SqliteBackupOptions {
  /** Called after each step with the pages copied so far and the total. */
  onProgress?: (progress: {pagesDone: number; totalPages: number}) => void
  /**
   * Pages copied per step in rollback-journal mode, where a reading step blocks writers from committing: between
   * steps they get the lock. Default: adaptive — the first step copies 1024 pages, each next one as many as the
   * measured speed copies in `stepMillis` (so an idle database that copies fast goes in one or two steps, and a
   * writer never waits much longer than `stepMillis` for its lock). A number here fixes the step size.
   * (In WAL mode readers never block writers: the copy is one step, one snapshot.)
   */
  pagesPerStep?: number
  /** Adaptive steps: the longest a step should hold the read lock, in ms. Default 200. */
  stepMillis?: number
  /** How long to wait for a lock held by another connection, in ms (SQLite busy_timeout). Default 10000. */
  busyTimeout?: number
  /** Mode of the copy; default the source's mode. */
  mode?: number
  /** Replace an existing file at `dest` (default true); false: an existing file is a BkError. */
  overwrite?: boolean
}

/** The copy made: pages, bytes, and the journal mode of the source. */
export interface SqliteBackupResult {
  pages: number
  bytes: number
  /** The source's journal mode ('wal', 'delete', …). */
  sourceJournalMode: string
}

/** Steps restarted this often (the source changed under a stepwise copy) → copy the rest in one step. */
const MAX_RESTARTS = 3

/**
 * Copy a live SQLite database with SQLite's online backup API: committed rows still in the -wal file are included,
 * writers in other processes keep working. `dest` appears complete or not at all, in rollback-journal mode
 * (journal_mode=DELETE) so it needs no -wal beside it.
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
    const wal = sourceJournalMode === 'wal'
    const fixed = options.pagesPerStep === undefined ? undefined : Math.max(1, Math.floor(options.pagesPerStep))
    const stepMillis = Math.max(1, options.stepMillis ?? 200)
    let stepPages = fixed ?? 1024
    let lastAt = performance.now()
    const srcMode = (await stat(src)).mode & 0o7777
    let restarts = 0
    let lastRemaining = Number.POSITIVE_INFINITY
    const step = stepProgress(`copying ${basename(src)}`, {unit: 'pages'})
    const meta = await atomicFile(
      dest,
      async (tmp) => {
        const result = await source.backup(tmp, {
          progress({totalPages, remainingPages}) {
            if (remainingPages > lastRemaining) restarts++
            // the first call follows a step of 0 pages (better-sqlite3 opens the copy with it): nothing to measure
            const copied = Number.isFinite(lastRemaining) ? lastRemaining - remainingPages : 0
            lastRemaining = remainingPages
            options.onProgress?.({pagesDone: totalPages - remainingPages, totalPages})
            step.setTotal(totalPages)
            step.update(totalPages - remainingPages)
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
        setRollbackJournal(Driver, tmp, busyTimeout)
        await chmod(tmp, options.mode ?? srcMode)
        return result
      },
      {overwrite: options.overwrite ?? true},
    )
    options.onProgress?.({pagesDone: meta.totalPages, totalPages: meta.totalPages})
    step.update(meta.totalPages)
    step.done()
    return {pages: meta.totalPages, bytes: (await stat(dest)).size, sourceJournalMode}
  } catch (error) {
    throw sqliteError(`cannot back up the SQLite database ${src}`, error)
  } finally {
    source.close()
  }
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
