/**
 * One connection to a tracker's database, the same shape for sqlite, PostgreSQL and MySQL.
 * Rows come back as arrays; timestamps as text (Roundup dates are UTC: a driver must not apply the local zone).
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {BkError} from '@bkcli/core'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
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

function pgError(error: unknown, s: RdbmsSettings): never {
  const e = error as {code?: string; message?: string}
  const where = `${s.host}:${s.port ?? 5432}`
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ETIMEDOUT') {
    throw new BkError(`cannot connect to PostgreSQL at ${where} (${e.code}); is the server running?`)
  }
  if (e.code === '28P01' || e.code === '28000') {
    throw new BkError(`PostgreSQL at ${where} refused the password for user ${s.user}; check [rdbms] password`)
  }
  if (e.code === '3D000') throw new BkError(`PostgreSQL database ${s.name} does not exist at ${where}`)
  throw new BkError(`PostgreSQL at ${where}: ${e.message ?? String(error)}`)
}

const TEXT = (v: string) => v

export async function openPostgres(s: RdbmsSettings, options: ConnectOptions = {}): Promise<SqlConn> {
  const [dbName, schemaName] = s.name.split('.', 2)
  const client = new pg.Client({
    host: s.host,
    port: s.port ?? 5432,
    user: s.user,
    password: s.password,
    database: options.database === undefined ? dbName : (options.database ?? 'postgres'),
    types: {
      getTypeParser: (oid: number, format?: string) => {
        if (oid === 1114 || oid === 1184 || oid === 1082) return TEXT // timestamps stay text (UTC)
        if (oid === 20) return (v: string) => Number(v)
        return pg.types.getTypeParser(oid, format as 'text')
      },
    } as pg.CustomTypesConfig,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    if (schemaName && options.database === undefined) await client.query(`SET search_path TO "${schemaName}"`)
  } catch (error) {
    await client.end().catch(() => {})
    pgError(error, s)
  }
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (error) {
      const e = error as {code?: string}
      if (e.code && /^[0-9A-Z]{5}$/.test(e.code) && !e.code.startsWith('28')) throw error
      return pgError(error, s)
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

function mysqlError(error: unknown, s: RdbmsSettings): never {
  const e = error as {code?: string; message?: string}
  const where = `${s.host}:${s.port ?? 3306}`
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ETIMEDOUT') {
    throw new BkError(`cannot connect to MySQL at ${where} (${e.code}); is the server running?`)
  }
  if (e.code === 'ER_ACCESS_DENIED_ERROR') {
    throw new BkError(`MySQL at ${where} refused the password for user ${s.user}; check [rdbms] password`)
  }
  if (e.code === 'ER_BAD_DB_ERROR') throw new BkError(`MySQL database ${s.name} does not exist at ${where}`)
  throw new BkError(`MySQL at ${where}: ${e.message ?? String(error)}`)
}

export async function openMysql(s: RdbmsSettings, options: ConnectOptions = {}): Promise<SqlConn> {
  let conn: mysql.Connection
  try {
    conn = await mysql.createConnection({
      host: s.host,
      port: s.port ?? 3306,
      user: s.user,
      password: s.password,
      database: options.database === undefined ? s.name : (options.database ?? undefined),
      dateStrings: true,
      rowsAsArray: true,
      supportBigNumbers: true,
      charset: 'UTF8MB4_UNICODE_CI',
      timezone: 'Z',
    })
  } catch (error) {
    mysqlError(error, s)
  }
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (error) {
      const e = error as {code?: string; errno?: number}
      if (e.errno && e.code?.startsWith('ER_') && e.code !== 'ER_ACCESS_DENIED_ERROR') throw error
      return mysqlError(error, s)
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
