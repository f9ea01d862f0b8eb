/**
 * One connection to a tracker's database, the same shape for sqlite, PostgreSQL and MySQL.
 * Rows come back as arrays; timestamps as text (Roundup dates are UTC: a driver must not apply the local zone).
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {BkError, connectMysql, connectPostgres, type DbTarget, DEFAULT_PORTS, dbFailure, isBkError} from '@bkcli/core'
import Database from 'better-sqlite3'
import pg from 'pg'
import type {Backend} from './rdate.js'
import type {RdbmsSettings, Tracker} from './tracker.js'

export type Row = unknown[]

export interface SqlConn {
  backend: Backend
  /** placeholder for parameter i (1-based) */
  arg(i: number): string
  all(sql: string, params?: unknown[]): Promise<Row[]>
  run(sql: string, params?: unknown[]): Promise<void>
  /** many rows of one insert statement in one round trip where the driver allows */
  insertMany(table: string, columns: string[], rows: Row[]): Promise<void>
  begin(readonly?: boolean): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
  close(): Promise<void>
  /** quote an identifier */
  q(name: string): string
}

export function sqlitePath(tracker: Tracker): string {
  return join(tracker.dbDir, 'db')
}

export interface ConnectOptions {
  readonly?: boolean
  /** sqlite: create the file (import into a new tracker) */
  create?: boolean
  /** connect to this database name instead of the tracker's (postgres: 'postgres', mysql: none) */
  database?: string | null
}

export async function connect(tracker: Tracker, options: ConnectOptions = {}): Promise<SqlConn> {
  if (tracker.backend === 'sqlite') return openSqlite(sqlitePath(tracker), options)
  if (tracker.backend === 'postgresql') return openPostgres(tracker.rdbms, options)
  return openMysql(tracker.rdbms, options)
}

export function openSqlite(file: string, options: ConnectOptions = {}): SqlConn {
  if (!options.create && !existsSync(file)) {
    throw new BkError(`no sqlite database at ${file}; is the tracker initialised?`)
  }
  let db: Database.Database
  try {
    db = new Database(file, {readonly: options.readonly ?? false, fileMustExist: !options.create, timeout: 30000})
  } catch (error) {
    throw new BkError(`cannot open the sqlite database ${file}: ${(error as Error).message}`)
  }
  const cache = new Map<string, Database.Statement>()
  const prep = (sql: string) => {
    let s = cache.get(sql)
    if (!s) {
      s = db.prepare(sql)
      cache.set(sql, s)
    }
    return s
  }
  const norm = (params: unknown[]) => params.map((p) => (typeof p === 'boolean' ? Number(p) : p))
  return {
    backend: 'sqlite',
    arg: () => '?',
    q: (n) => `"${n}"`,
    async all(sql, params = []) {
      const s = prep(sql)
      if (s.reader) return s.raw(true).all(...norm(params)) as Row[]
      s.run(...norm(params))
      return []
    },
    async run(sql, params = []) {
      if (params.length === 0 && !cache.has(sql) && /;\s*\S/.test(sql)) db.exec(sql)
      else prep(sql).run(...norm(params))
    },
    async insertMany(table, columns, rows) {
      const s = prep(`insert into ${table} (${columns.join(',')}) values (${columns.map(() => '?').join(',')})`)
      for (const r of rows) s.run(...norm(r))
    },
    async begin(readonly) {
      db.exec(readonly ? 'BEGIN' : 'BEGIN IMMEDIATE')
    },
    async commit() {
      db.exec('COMMIT')
    },
    async rollback() {
      if (db.inTransaction) db.exec('ROLLBACK')
    },
    async close() {
      db.close()
    },
  }
}

/** The core DbTarget for the tracker's [rdbms] settings. */
export function rdbmsTarget(s: RdbmsSettings, engine: 'postgres' | 'mysql', database?: string): DbTarget {
  const target: DbTarget = {engine, host: s.host, port: s.port ?? DEFAULT_PORTS[engine], user: s.user, params: {}}
  if (s.password !== undefined) target.password = s.password
  if (database !== undefined) target.database = database
  return target
}

/** Where the user fixes each kind of failure core recognises: the tracker's config.ini, not a URL or flag. */
const CONFIG_HINTS: Record<string, string> = {
  EDBAUTH: 'check [rdbms] user and password in config.ini',
  EDBACCESS: 'check [rdbms] user and password in config.ini',
  EDBMISSING: 'check [rdbms] name in config.ini',
}

/** Core's one-line message, its generic hint replaced by the config.ini setting to check. */
export function withConfigHint(error: unknown): unknown {
  if (!isBkError(error)) return error
  const hint = CONFIG_HINTS[error.code]
  if (!hint) return error
  const [what] = error.message.split(' — ', 1)
  return new BkError(`${what} — ${hint}`, {code: error.code, exit: error.exit, cause: error.cause})
}

async function inConfigTerms<T>(connecting: Promise<T>): Promise<T> {
  try {
    return await connecting
  } catch (error) {
    throw withConfigHint(error)
  }
}

/** A driver error after connecting (connection lost, authentication): core's message, in config.ini terms. */
function failure(target: DbTarget, error: unknown): unknown {
  const e = error as {code?: string; errno?: number; message?: string}
  return withConfigHint(
    dbFailure(target, {code: e.code, errno: e.errno, message: e.message ?? String(error)}, {cause: error}),
  )
}

const TEXT = (v: string) => v

export async function openPostgres(s: RdbmsSettings, options: ConnectOptions = {}): Promise<SqlConn> {
  const [dbName, schemaName] = s.name.split('.', 2)
  const target = rdbmsTarget(s, 'postgres', dbName)
  const database = options.database === undefined ? dbName : (options.database ?? 'postgres')
  const client = await inConfigTerms(
    connectPostgres(target, database, {
      types: {
        getTypeParser: (oid: number, format?: string) => {
          if (oid === 1114 || oid === 1184 || oid === 1082) return TEXT // timestamps stay text (UTC)
          if (oid === 20) return (v: string) => Number(v)
          return pg.types.getTypeParser(oid, format as 'text')
        },
      } as pg.CustomTypesConfig,
    }),
  )
  try {
    if (schemaName && options.database === undefined) await client.query(`SET search_path TO "${schemaName}"`)
  } catch (error) {
    await client.end().catch(() => {})
    throw failure(target, error)
  }
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (error) {
      const e = error as {code?: string}
      if (e.code && /^[0-9A-Z]{5}$/.test(e.code) && !e.code.startsWith('28')) throw error
      throw failure(target, error)
    }
  }
  return {
    backend: 'postgresql',
    arg: (i) => `$${i}`,
    q: (n) => `"${n}"`,
    all: (sql, params = []) =>
      wrap(async () => (await client.query({text: sql, values: params, rowMode: 'array'})).rows),
    run: (sql, params = []) => wrap(async () => void (await client.query(sql, params))),
    insertMany: (table, columns, rows) =>
      wrap(async () => {
        const per = Math.max(1, Math.floor(30000 / Math.max(columns.length, 1)))
        for (let i = 0; i < rows.length; i += per) {
          const chunk = rows.slice(i, i + per)
          let n = 0
          const values = chunk.map((r) => `(${r.map(() => `$${++n}`).join(',')})`).join(',')
          await client.query(`insert into ${table} (${columns.join(',')}) values ${values}`, chunk.flat())
        }
      }),
    begin: (readonly) =>
      wrap(
        async () => void (await client.query(readonly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN')),
      ),
    commit: () => wrap(async () => void (await client.query('COMMIT'))),
    rollback: () => wrap(async () => void (await client.query('ROLLBACK'))),
    close: async () => {
      await client.end().catch(() => {})
    },
  }
}

export async function openMysql(s: RdbmsSettings, options: ConnectOptions = {}): Promise<SqlConn> {
  // database null: connect to no database (the target then names none, so the driver's default does not apply)
  const target = rdbmsTarget(s, 'mysql', options.database === undefined ? s.name : (options.database ?? undefined))
  const conn = await inConfigTerms(
    connectMysql(target, target.database, {
      rowsAsArray: true,
      charset: 'UTF8MB4_UNICODE_CI',
      timezone: 'Z',
    }),
  )
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (error) {
      const e = error as {code?: string; errno?: number}
      if (e.errno && e.code?.startsWith('ER_') && e.code !== 'ER_ACCESS_DENIED_ERROR') throw error
      throw failure(target, error)
    }
  }
  return {
    backend: 'mysql',
    arg: () => '?',
    q: (n) => `\`${n}\``,
    all: (sql, params = []) => wrap(async () => (await conn.query({sql, values: params}))[0] as Row[]),
    run: (sql, params = []) => wrap(async () => void (await conn.query(sql, params))),
    insertMany: (table, columns, rows) =>
      wrap(async () => {
        const per = 2000
        for (let i = 0; i < rows.length; i += per) {
          await conn.query(`insert into ${table} (${columns.join(',')}) values ?`, [rows.slice(i, i + per)])
        }
      }),
    begin: (readonly) =>
      wrap(async () => {
        if (readonly) await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
        else await conn.query('START TRANSACTION')
      }),
    commit: () => wrap(async () => void (await conn.query('COMMIT'))),
    rollback: () => wrap(async () => void (await conn.query('ROLLBACK'))),
    close: async () => {
      await conn.end().catch(() => {})
    },
  }
}
