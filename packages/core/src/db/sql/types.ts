import type {DbEngine} from '../url.js'

/** One row as an array of column values, in the order of the SELECT list. */
export type SqlRow = unknown[]

/**
 * One open connection to an SQLite file, a PostgreSQL or a MySQL/MariaDB database, the same shape for all three
 * (see {@link openSql}). SQL text is passed to the driver as written: write each dialect's placeholders
 * (`?` for SQLite and MySQL, `$1…` for PostgreSQL; {@link SqlConnection.param} gives the right one).
 */
export interface SqlConnection {
  readonly engine: DbEngine
  /** Whether a transaction opened by {@link SqlConnection.begin} is still open. */
  readonly inTransaction: boolean
  /** The placeholder for parameter `i` (1-based) in this dialect: `?` or `$i`. */
  param(i: number): string
  /** An identifier (table, column, schema) quoted for this dialect. */
  quoteIdent(name: string): string
  /** Every row of a query, each as an array. */
  all(sql: string, params?: unknown[]): Promise<SqlRow[]>
  /**
   * The first column of every row of a query, as one array (SQLite makes no array per row: a long list of ids is one
   * allocation instead of one per row).
   */
  column(sql: string, params?: unknown[]): Promise<unknown[]>
  /** Every row of a query, each as an object keyed by column name. */
  objects<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** A statement whose rows are not wanted (DDL, INSERT, PRAGMA, SET…). SQLite: several statements allowed without params. */
  run(sql: string, params?: unknown[]): Promise<void>
  /**
   * The rows of a SELECT in batches of at most `batchSize` (default 500), never the whole result in memory:
   * SQLite iterates the statement, PostgreSQL fetches from a server-side cursor (inside the open transaction, or
   * in one of its own), MySQL streams with back-pressure. Finish or break the loop before the next query.
   */
  cursor(sql: string, options?: {params?: unknown[]; batchSize?: number}): AsyncIterable<SqlRow[]>
  /**
   * Inserts rows into `table` with multi-row INSERTs, as many rows per statement as the dialect's parameter limit
   * allows. `table` and `columns` are quoted here; values go as parameters.
   */
  insertRows(table: string, columns: string[], rows: SqlRow[]): Promise<void>
  /**
   * Opens a transaction. `snapshot`: a read-only consistent view for every following query (SQLite read
   * transaction, PostgreSQL REPEATABLE READ READ ONLY, MySQL WITH CONSISTENT SNAPSHOT); `write` (default): a
   * read-write transaction (SQLite BEGIN IMMEDIATE).
   */
  begin(mode?: 'write' | 'snapshot'): Promise<void>
  commit(): Promise<void>
  /** Rolls back the open transaction; does nothing when none is open. */
  rollback(): Promise<void>
  /** Closes the connection (an open transaction is rolled back). Safe to call twice. */
  close(): Promise<void>
}

/** How {@link openSql} opens a connection. */
export interface OpenSqlOptions {
  /** Server engines: connect to this database instead of the URL's (e.g. `postgres` to create one). */
  database?: string
  /** SQLite: open read-only. */
  readonly?: boolean
  /** SQLite: create the file when missing (default: it must exist). */
  create?: boolean
  /** SQLite: how long to wait for another connection's lock, in ms (default 10000). */
  busyTimeout?: number
  /**
   * Type hook for 64-bit integers: `true` returns them exactly (SQLite as `bigint`, MySQL as decimal strings,
   * PostgreSQL int8 is a string anyway) instead of JavaScript numbers that lose precision past 2^53.
   */
  exactIntegers?: boolean
  /** PostgreSQL: `SET search_path` to this schema after connecting. */
  searchPath?: string
  /**
   * PostgreSQL type hook: parsers by type oid that replace pg's own, e.g. `{1114: (v) => v}` keeps `timestamp`
   * columns as the server's text instead of a Date read in the local time zone.
   */
  pgTypeParsers?: Record<number, (value: string) => unknown>
  /** MySQL type hook: the zone DATETIME values are read and written in (mysql2's `timezone`; `'Z'` for UTC). */
  mysqlTimezone?: string
}
