/**
 * A tracker's database: one connection the same shape for sqlite, PostgreSQL and MySQL, on core's SQL layer
 * (`openSql`). Rows come back as arrays; timestamps as text or UTC (Roundup dates are UTC: a driver must not
 * apply the local zone); failures name the config.ini setting to check.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {type DbTarget, DEFAULT_PORTS, openSql, type SqlConnection} from '@bkcli/core/db'
import {BkError, isBkError} from '@bkcli/core/errors'
import type {Backend} from './rdate.js'
import type {RdbmsSettings, Tracker} from './tracker.js'

export type Row = unknown[]

export interface SqlConn {
  backend: Backend
  /** placeholder for parameter i (1-based) */
  arg(i: number): string
  all(sql: string, params?: unknown[]): Promise<Row[]>
  /** the first column of every row (sqlite: no array per row) */
  column(sql: string, params?: unknown[]): Promise<unknown[]>
  run(sql: string, params?: unknown[]): Promise<void>
  /** a large result in batches (one statement or server-side cursor, not one query per page) */
  cursor(sql: string, batchSize: number, params?: unknown[]): AsyncIterable<Row[]>
  /** many rows into one table (name as Roundup writes it, quoted or not) in few round trips */
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
  /** sqlite: how long to wait for a lock, ms (default 30 s) */
  busyTimeout?: number
}

export async function connect(tracker: Tracker, options: ConnectOptions = {}): Promise<SqlConn> {
  if (tracker.backend === 'sqlite') return openSqlite(sqlitePath(tracker), options)
  if (tracker.backend === 'postgresql') return openPostgres(tracker.rdbms)
  return openMysql(tracker.rdbms)
}

/** Roundup's DDL leaves names unquoted: PostgreSQL folds them to lower case, so the quoted form must too. */
function bare(name: string, backend: Backend): string {
  const unquoted = name.replace(/^[`"](.*)[`"]$/, '$1')
  return backend === 'postgresql' ? unquoted.toLowerCase() : unquoted
}

function adapt(c: SqlConnection, backend: Backend, failure: (error: unknown) => unknown): SqlConn {
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (error) {
      throw failure(error)
    }
  }
  return {
    backend,
    arg: (i) => c.param(i),
    q: (n) => c.quoteIdent(n),
    all: (sql, params = []) => wrap(() => c.all(sql, params)),
    column: (sql, params = []) => wrap(() => c.column(sql, params)),
    run: (sql, params = []) => wrap(() => c.run(sql, params)),
    cursor: (sql, batchSize, params) => ({
      async *[Symbol.asyncIterator]() {
        const it = c.cursor(sql, params ? {batchSize, params} : {batchSize})[Symbol.asyncIterator]()
        try {
          for (;;) {
            const next = await wrap(() => it.next())
            if (next.done) return
            yield next.value
          }
        } finally {
          await it.return?.()
        }
      },
    }),
    insertMany: (table, columns, rows) =>
      wrap(() =>
        c.insertRows(
          bare(table, backend),
          columns.map((n) => bare(n, backend)),
          rows,
        ),
      ),
    begin: (readonly) => wrap(() => c.begin(readonly ? 'snapshot' : 'write')),
    commit: () => wrap(() => c.commit()),
    rollback: () => wrap(() => c.rollback()),
    close: () => c.close(),
  }
}

export async function openSqlite(file: string, options: ConnectOptions = {}): Promise<SqlConn> {
  if (!options.create && !existsSync(file)) {
    throw new BkError(`no sqlite database at ${file}; is the tracker initialised?`)
  }
  const c = await openSql(
    {engine: 'sqlite', path: file, params: {}},
    {
      readonly: options.readonly ?? false,
      create: options.create,
      busyTimeout: options.busyTimeout ?? 30000,
    },
  )
  return adapt(c, 'sqlite', (error) => error)
}

/**
 * A connection that reads a whole database once (an export's): its page cache at SQLite's usual 2 MiB, not the
 * 16 MiB better-sqlite3 is built with. A scan reads each page once, so the larger cache only held 14 MiB more per
 * connection (measured: an export's two threads' caches were 32 of its 200 MB peak) for no speed.
 */
export async function scanCache(conn: SqlConn): Promise<void> {
  if (conn.backend === 'sqlite') await conn.run('pragma cache_size = -2000')
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

const TEXT = (v: string) => v

export async function openPostgres(s: RdbmsSettings): Promise<SqlConn> {
  const [dbName, schemaName] = s.name.split('.', 2)
  const c = await inConfigTerms(
    openSql(rdbmsTarget(s, 'postgres', dbName), {
      searchPath: schemaName,
      // timestamps stay text (UTC), int8 (counts, sequences) a number
      pgTypeParsers: {1114: TEXT, 1184: TEXT, 1082: TEXT, 20: (v) => Number(v)},
    }),
  )
  return adapt(c, 'postgresql', withConfigHint)
}

export async function openMysql(s: RdbmsSettings): Promise<SqlConn> {
  const c = await inConfigTerms(openSql(rdbmsTarget(s, 'mysql', s.name), {mysqlTimezone: 'Z'}))
  return adapt(c, 'mysql', withConfigHint)
}
