/**
 * Loading a hotcopy's dump into a PostgreSQL or MySQL/MariaDB database that is new or empty — never over
 * a database that has tables. A database bk created is dropped again when the load fails; the tables loaded into
 * one that was empty are dropped.
 */
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {
  dbClient,
  describeServer,
  formatDbUrl,
  loadDump,
  parseDbUrl,
  quoteMysqlIdent,
  quotePgIdent,
  resolvePassword,
} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {atomicFile, crashPoint, pidAlive} from '@bkcli/core/safety'
import {sweepLeftovers} from '@bkcli/core/workflow'
import type {TracDbUrl} from './db-url.js'
import {TracEnvironment} from './environment.js'
import {PgDumpRewriter} from './pg-dump-rewrite.js'

export interface LoadedDatabase {
  created: boolean
  tables: Record<string, number>
  /** Drops the database again (only when bk created it); for rolling back a failed restore. */
  undo: () => Promise<void>
}

/**
 * Creates `target.database` if missing (UTF8 / utf8mb4_bin, as Trac requires), refuses one with tables,
 * loads `dumpFile` (trac's pg dump rewritten so it loads under any name), and returns the row counts.
 */
export interface PreparedDatabase {
  created: boolean
  /** Drops the database again (only when bk created it). */
  undo: () => Promise<void>
}

/**
 * Makes sure `target.database` exists and has no tables: creates it when missing (UTF8 / utf8mb4_bin, as Trac
 * requires), refuses one that has tables.
 */
export async function prepareEmptyDatabase(target: TracDbUrl, marker?: string): Promise<PreparedDatabase> {
  const name = target.database!
  const maintenance = () => dbClient({...target, database: target.engine === 'postgres' ? 'postgres' : undefined})
  const admin = maintenance()
  let created = false
  try {
    if (await admin.databaseExists(name)) {
      const client = dbClient(target)
      const tables = await client.listTables().finally(() => client.close())
      if (tables.length > 0) {
        throw new BkError(
          `database '${name}' on ${describeServer(target)} already has tables (${tables.slice(0, 3).join(', ')}${tables.length > 3 ? ', …' : ''}); give a new or empty database`,
          {code: 'ETARGETNOTEMPTY'},
        )
      }
      // the user's empty database: a killed run's tables in it are dropped again, so that a rerun is not refused
      if (marker) await saveMarker(marker, {pid: process.pid, url: formatDbUrl(target), existed: true})
    } else {
      // Written (fsynced) before the database exists: a killed run leaves the note that lets the next run drop it.
      if (marker) await writeMarker(marker, target)
      crashPoint('trac-db:marked')
      if (target.engine === 'postgres') await admin.createDatabase(name, {encoding: 'UTF8'})
      else await admin.createDatabase(name, {encoding: 'utf8mb4', collation: 'utf8mb4_bin'})
      created = true
    }
  } finally {
    await admin.close()
  }
  const existed = !created
  return {
    created,
    undo: async () => {
      if (existed) {
        // it was empty: what this run loaded into it goes (a load that failed half-way leaves tables otherwise)
        await dropTables(target)
        if (marker) await rm(marker, {force: true})
        return
      }
      const again = maintenance()
      try {
        await again.dropDatabase(name, {force: true})
      } finally {
        await again.close()
      }
      if (marker) await rm(marker, {force: true})
    },
  }
}

/** Loads `dumpFile` into a new or empty `target.database` and returns the row counts; undone on failure. */
export async function loadTracDump(target: TracDbUrl, dumpFile: string, env: string): Promise<LoadedDatabase> {
  const prepared = await prepareEmptyDatabase(target, createdDatabaseMarker(env))
  try {
    crashPoint('trac-db:created')
    if (target.engine === 'postgres') await loadPgDump(target, dumpFile, env)
    else await loadDump(target, dumpFile, {onError: 'stop'})
    const client = dbClient(target)
    try {
      return {created: prepared.created, tables: await client.tableCounts(), undo: prepared.undo}
    } finally {
      await client.close()
    }
  } catch (error) {
    await prepared.undo().catch(() => {})
    throw error
  }
}

/** trac's `pg_dump -C` output, rewritten (see pg-dump-rewrite) into a 0600 scratch file, then loaded. */
async function loadPgDump(target: TracDbUrl, dumpFile: string, env: string): Promise<void> {
  // a name the next run's sweep of the env's leftovers removes, should this one be killed
  const scratch = await mkdtemp(join(dirname(env), `.${basename(env)}.bk-extract-pgload-`))
  const rewritten = join(scratch, 'load.sql')
  try {
    const input = createReadStream(dumpFile)
    const stages = dumpFile.endsWith('.gz') ? [input, createGunzip()] : [input]
    await pipeline([...stages, new PgDumpRewriter(), createWriteStream(rewritten, {mode: 0o600})] as unknown as [
      NodeJS.ReadableStream,
      NodeJS.WritableStream,
    ])
    // the scratch file is gone when the user reads the message: name the dump, and that lines moved
    await loadDump(target, rewritten, {
      onError: 'stop',
      createStatements: 'skip',
      dumpName: `${dumpFile} (as rewritten for loading: its line numbers differ)`,
    })
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
}

function sameDatabase(a: TracDbUrl, b: TracDbUrl): boolean {
  return (
    a.engine === b.engine &&
    a.database === b.database &&
    (a.socket ?? a.host ?? '') === (b.socket ?? b.host ?? '') &&
    a.port === b.port
  )
}

/** `.<env>.bk-created-db.json` beside the env: names the database a running restore or convert created. */
export function createdDatabaseMarker(env: string): string {
  return join(dirname(env), `.${basename(env)}.bk-created-db.json`)
}

interface Marker {
  pid: number
  /** What the run created: a database's URL without its password, or `sqlite:<absolute path>`; absent: nothing. */
  url?: string
  /** The database existed (empty) before the run: its tables are dropped, not the database. */
  existed?: boolean
  /** The copy of trac.ini a conversion in place made (`path`, a copy of `of`), before it rewrote `of`. */
  config?: {path: string; of: string}
}

async function readMarker(marker: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(marker, 'utf8')) as Marker
  } catch {
    return undefined
  }
}

/** Replaces the note whole (temp + fsync + rename): a kill while it is written leaves the old note or the new. */
async function saveMarker(marker: string, doc: Marker): Promise<void> {
  await atomicFile(marker, (tmp) => writeFile(tmp, `${JSON.stringify(doc)}\n`), {overwrite: true, mode: 0o600})
}

async function writeMarker(marker: string, target: TracDbUrl): Promise<void> {
  await saveMarker(marker, {pid: process.pid, url: formatDbUrl(target)})
}

/** Notes an SQLite file the run is about to move into place, so that a killed run's file is removed, not reused. */
export async function markCreatedSqlite(marker: string, file: string): Promise<void> {
  await saveMarker(marker, {pid: process.pid, url: `sqlite:${file}`})
}

/** Adds to the run's note the copy of trac.ini it is about to make (kept only if the conversion commits). */
export async function markConfigCopy(marker: string, config: {path: string; of: string}): Promise<void> {
  const doc = await readMarker(marker)
  await saveMarker(marker, {...(doc?.pid === process.pid ? doc : {}), pid: process.pid, config})
}

/** Whether `file` is the SQLite file of a run that was killed before its commit (the next run removes it). */
export async function sqliteLeftByKilledRun(marker: string, file: string): Promise<boolean> {
  const doc = await readMarker(marker)
  return Boolean(doc && doc.pid !== process.pid && !pidAlive(doc.pid) && doc.url === `sqlite:${file}`)
}

/**
 * Under the env's lock: a database that a killed restore or convert created and never committed is dropped
 * (its password from `known` when it is the same database, else from BK_DB_PASSWORD/PGPASSWORD/MYSQL_PWD).
 * A note a run was killed while writing (atomicFile's temp beside it) is removed too: the note it would have
 * replaced, if any, is the one read.
 */
export async function dropCreatedDatabase(
  marker: string,
  known?: TracDbUrl,
  inUseBy: string[] = [],
): Promise<string[]> {
  const partials = await sweepLeftovers(dirname(marker), basename(marker))
  return [...partials, ...(await dropNoted(marker, known, inUseBy))]
}

async function dropNoted(marker: string, known: TracDbUrl | undefined, inUseBy: string[]): Promise<string[]> {
  const doc = await readMarker(marker)
  if (!doc) {
    await rm(marker, {force: true})
    return []
  }
  if (doc.pid !== process.pid && pidAlive(doc.pid)) return []
  const parsed = doc.url ? parseDbUrl(doc.url) : undefined
  for (const env of inUseBy) {
    // the run was killed after its commit point: the env uses the database now, only the note is left
    const uses = await TracEnvironment.open(env).then(
      (e) =>
        parsed?.engine === 'sqlite'
          ? e.sqlitePath === parsed.path
          : Boolean(parsed && sameDatabase(e.database, parsed)),
      () => false,
    )
    if (uses) {
      await rm(marker, {force: true})
      return []
    }
  }
  const lines: string[] = []
  if (parsed?.engine === 'sqlite') {
    const file = parsed.path as string
    const existed = await pathExists(file)
    for (const suffix of ['', '-journal', '-wal', '-shm']) await rm(file + suffix, {force: true})
    if (existed) lines.push(`removed ${file}, created by an interrupted run (pid ${doc.pid}) and never used`)
  } else if (parsed && doc.existed) {
    const same = known && formatDbUrl(known) === doc.url
    const password = same ? known.password : await resolvePassword(parsed, {})
    const dropped = await dropTables({...parsed, password})
    if (dropped > 0)
      lines.push(
        `dropped the ${dropped} tables an interrupted run (pid ${doc.pid}) loaded into ${doc.url}, empty before it and never used`,
      )
  } else if (parsed) {
    const same = known && formatDbUrl(known) === doc.url
    const password = same ? known.password : await resolvePassword(parsed, {})
    const target = {...parsed, password}
    const name = target.database as string
    const admin = dbClient({...target, database: target.engine === 'postgres' ? 'postgres' : undefined})
    try {
      // killed between the note and CREATE DATABASE: there is nothing to drop, and saying so would mislead
      if (await admin.databaseExists(name)) {
        await admin.dropDatabase(name, {force: true})
        lines.push(`dropped the database ${doc.url}, created by an interrupted run (pid ${doc.pid}) and never used`)
      }
    } finally {
      await admin.close()
    }
  }
  // the conversion never rewrote trac.ini: its copy is a duplicate that would suggest a conversion took place
  const config = doc.config
  if (config && (await sameBytes(config.path, config.of))) {
    await rm(config.path, {force: true})
    lines.push(`removed ${config.path}, a copy of trac.ini made by an interrupted conversion (pid ${doc.pid})`)
  }
  await rm(marker, {force: true})
  return lines
}

/** Drops every table of `target.database` (a database that was empty before this run or a killed one). */
async function dropTables(target: TracDbUrl): Promise<number> {
  const client = dbClient(target)
  try {
    const tables = await client.listTables()
    for (const table of tables) {
      // listTables names tables outside the default schema `schema.table` (postgres)
      const name = target.engine === 'postgres' ? table.split('.').map(quotePgIdent).join('.') : quoteMysqlIdent(table)
      await client.query(`DROP TABLE IF EXISTS ${name}${target.engine === 'postgres' ? ' CASCADE' : ''}`)
    }
    return tables.length
  } finally {
    await client.close()
  }
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a).catch(() => undefined), readFile(b).catch(() => undefined)])
  return Boolean(x && y && x.equals(y))
}
