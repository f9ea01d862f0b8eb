/**
 * Loading a hotcopy's dump into a PostgreSQL or MySQL/MariaDB database that is new or empty — never over
 * a database that has tables. A database bk created is dropped again when the load fails.
 */
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {BkError, dbClient, describeServer, loadDump} from '@bkcli/core'
import type {TracDbUrl} from './db-url.js'
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
export async function prepareEmptyDatabase(target: TracDbUrl): Promise<PreparedDatabase> {
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
    } else {
      if (target.engine === 'postgres') await admin.createDatabase(name, {encoding: 'UTF8'})
      else await admin.createDatabase(name, {encoding: 'utf8mb4', collation: 'utf8mb4_bin'})
      created = true
    }
  } finally {
    await admin.close()
  }
  return {
    created,
    undo: async () => {
      if (!created) return
      const again = maintenance()
      try {
        await again.dropDatabase(name, {force: true})
      } finally {
        await again.close()
      }
    },
  }
}

/** Loads `dumpFile` into a new or empty `target.database` and returns the row counts; undone on failure. */
export async function loadTracDump(target: TracDbUrl, dumpFile: string, scratchDir: string): Promise<LoadedDatabase> {
  const prepared = await prepareEmptyDatabase(target)
  try {
    if (target.engine === 'postgres') await loadPgDump(target, dumpFile, scratchDir)
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
async function loadPgDump(target: TracDbUrl, dumpFile: string, scratchDir: string): Promise<void> {
  const scratch = await mkdtemp(join(scratchDir, '.bk-pgload-'))
  const rewritten = join(scratch, 'load.sql')
  try {
    const input = createReadStream(dumpFile)
    const stages = dumpFile.endsWith('.gz') ? [input, createGunzip()] : [input]
    await pipeline([...stages, new PgDumpRewriter(), createWriteStream(rewritten, {mode: 0o600})] as unknown as [
      NodeJS.ReadableStream,
      NodeJS.WritableStream,
    ])
    await loadDump(target, rewritten, {onError: 'stop', createStatements: 'skip'})
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
}
