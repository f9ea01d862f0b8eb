/**
 * The database side of a Trac environment: where its snapshot goes in a hotcopy (trac-admin's file names),
 * how to take it, and how to read `database_version` from a live database, a copied SQLite file or a dump.
 */
import {createReadStream} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {createInterface} from 'node:readline'
import {createGunzip} from 'node:zlib'
import {dumpDatabase, openSql, sqliteBackup, withDbClient} from '@bkcli/core/db'
import {BkError, messageOf} from '@bkcli/core/errors'
import {pgSchema, type TracDbUrl} from './db-url.js'
import type {TracEnvironment} from './environment.js'

/** trac-admin hotcopy's dump names: db/postgres-db-backup.sql.gz (pg_dump -Z 8), db/mysql-db-backup.sql. */
export const DUMP_FILES = {postgres: 'db/postgres-db-backup.sql.gz', mysql: 'db/mysql-db-backup.sql'} as const

export interface DatabaseSnapshot {
  engine: TracDbUrl['engine']
  /** Path inside the hotcopy ('db/trac.db', 'db/postgres-db-backup.sql.gz', …). */
  path: string
  bytes: number
  databaseVersion?: number
  /** SQLite: where the live database is, when outside the env (the copy still goes to db/). */
  originalPath?: string
  format: 'sqlite' | 'sql' | 'sql.gz'
  /** SQLite: sha256 of the copy, taken while it was made durable (for the manifest). */
  sha256?: string
}

/** When a snapshot's content is fixed, and whether to hash it. */
export interface SnapshotOptions {
  /**
   * Called once the SQLite copy's content is fixed (before it is fsynced, hashed and renamed): what the database
   * held then is what the copy holds. Dumps call it when they are complete.
   */
  onSnapshot?: () => void
}

/**
 * Snapshots the env's database into `dest` (a hotcopy being built): SQLite through the online backup API
 * (rows still in -wal included, writers not blocked for the whole copy), PostgreSQL with pg_dump (port kept
 * even with a socket dir), MySQL/MariaDB with mysqldump --single-transaction (no self-deadlock).
 */
export async function snapshotDatabase(
  env: TracEnvironment,
  dest: string,
  relSqlite: string,
  options: SnapshotOptions = {},
): Promise<DatabaseSnapshot> {
  let fixed = false
  const onSnapshot = () => {
    if (fixed) return
    fixed = true
    options.onSnapshot?.()
  }
  const snapshot = await takeSnapshot(env, dest, relSqlite, {onSnapshot})
  onSnapshot()
  return snapshot
}

async function takeSnapshot(
  env: TracEnvironment,
  dest: string,
  relSqlite: string,
  options: SnapshotOptions,
): Promise<DatabaseSnapshot> {
  const db = env.database
  const rel = db.engine === 'sqlite' ? relSqlite : DUMP_FILES[db.engine]
  await mkdir(dirname(join(dest, rel)), {recursive: true, mode: 0o755})
  if (db.engine === 'sqlite') {
    const src = env.sqlitePath!
    // the event loop turns under the copy's lock: what runs then is the hotcopy's tree copy, which never opens the
    // database (its hard links are copied after the snapshot)
    const result = await sqliteBackup(src, join(dest, relSqlite), {
      onSnapshot: options.onSnapshot,
      sha256: true,
      turnUnderLock: true,
    })
    return {
      engine: 'sqlite',
      path: relSqlite,
      bytes: result.bytes,
      sha256: result.sha256,
      databaseVersion: await sqliteDatabaseVersion(join(dest, relSqlite)),
      originalPath: relSqlite === db.path ? undefined : src,
      format: 'sqlite',
    }
  }
  const databaseVersion = await serverDatabaseVersion(db)
  const path = DUMP_FILES[db.engine]
  if (db.engine === 'postgres') {
    // trac-admin: pg_dump -C --inserts -x -Z 8 -n "<schema>"; COPY instead of --inserts (much faster to load).
    const r = await dumpDatabase(db, join(dest, path), {
      gzip: true,
      extraArgs: ['-C', '-x', '-n', `"${pgSchema(db)}"`],
      clientPath: env.clientPath('pg_dump'),
    })
    return {engine: 'postgres', path, bytes: bytesOf(r), databaseVersion, format: 'sql.gz'}
  }
  const r = await dumpDatabase(db, join(dest, path), {singleTransaction: true, clientPath: env.clientPath('mysqldump')})
  return {engine: 'mysql', path, bytes: bytesOf(r), databaseVersion, format: 'sql'}
}

function bytesOf(result: unknown): number {
  return Number((result as {bytes?: number} | undefined)?.bytes ?? 0)
}

/** `SELECT value FROM system WHERE name='database_version'` of an SQLite file (undefined if not a Trac db). */
export async function sqliteDatabaseVersion(file: string): Promise<number | undefined> {
  try {
    const db = await openSql(file, {readonly: true})
    try {
      const rows = await db.all("SELECT value FROM system WHERE name = 'database_version'")
      return rows[0] === undefined ? undefined : Number(rows[0][0])
    } finally {
      await db.close()
    }
  } catch {
    return undefined
  }
}

export async function serverDatabaseVersion(db: TracDbUrl): Promise<number | undefined> {
  return withDbClient(db, async (client) => {
    const table = db.engine === 'postgres' ? `"${pgSchema(db).replaceAll('"', '""')}".system` : 'system'
    try {
      const rows = await client.query<{value: string}>(`SELECT value FROM ${table} WHERE name = 'database_version'`)
      return rows[0] ? Number(rows[0].value) : undefined
    } catch (error) {
      const message = messageOf(error)
      if (/relation .* does not exist|Table .* doesn.t exist/i.test(message)) {
        throw new BkError(`${db.database} is not a Trac database (no system table)`, {code: 'ENOTTRAC'})
      }
      throw error
    }
  })
}

/**
 * Finds `database_version` in a trac dump without loading it (pg: `INSERT INTO public.system VALUES
 * ('database_version', '45');` or a COPY block; mysql: a multi-row INSERT into `system`). Streams the file.
 */
export async function dumpDatabaseVersion(file: string): Promise<number | undefined> {
  const input = createReadStream(file)
  const source = file.endsWith('.gz') ? input.pipe(createGunzip()) : input
  const lines = createInterface({input: source, crlfDelay: Number.POSITIVE_INFINITY})
  let inSystemCopy = false
  let inSystemInsert = false
  try {
    for await (const line of lines) {
      if (inSystemCopy) {
        if (line === '\\.') inSystemCopy = false
        const [name, value] = line.split('\t')
        if (name === 'database_version') return Number(value)
        continue
      }
      if (/^COPY (?:\S+\.)?"?system"? /.test(line)) {
        inSystemCopy = true
        continue
      }
      if (/^INSERT INTO (?:\S+\.)?[`"]?system[`"]? /.test(line)) inSystemInsert = true
      if (inSystemInsert) {
        const m = /\('database_version', ?'(\d+)'\)/.exec(line)
        if (m) return Number(m[1])
        if (line.trimEnd().endsWith(';')) inSystemInsert = false
      }
    }
    return undefined
  } catch (error) {
    throw new BkError(`cannot read the dump ${file}: ${messageOf(error)}`, {cause: error})
  } finally {
    lines.close()
    input.destroy()
  }
}
