import type BetterSqlite3 from 'better-sqlite3'
import type * as Mysql2 from 'mysql2'
import type * as Mysql2Promise from 'mysql2/promise'
import type Pg from 'pg'
import {BkError, messageOf} from '../errors.js'

/**
 * The database drivers are optional peer dependencies of core: loading core loads none of them, so the bare CLI
 * and the plugins that never open a database (zodb, aegir, iotstack) install without compiling anything. Each
 * driver is imported on first use; the plugins that use one (trac, roundup) depend on it, so it is installed
 * beside them. A missing driver is a one-line BkError (code EDRIVER) naming the package to install.
 */

/** The better-sqlite3 module: its Database constructor. */
export type SqliteDriver = typeof BetterSqlite3
/** The pg (node-postgres) module. */
export type PgDriver = typeof Pg
/** The mysql2 module (callback API). */
export type MysqlDriver = typeof Mysql2
/** The mysql2/promise module. */
export type MysqlPromiseDriver = typeof Mysql2Promise

const loaded = new Map<string, Promise<unknown>>()

/**
 * Import `pkg` once (the promise is shared); the CommonJS default export when there is one. A package that cannot be
 * found is an EDRIVER BkError naming it. Exported for tests and for adapters that need another entry point.
 */
export function loadDriverModule<T>(pkg: string, purpose: string): Promise<T> {
  let promise = loaded.get(pkg) as Promise<T> | undefined
  if (!promise) {
    promise = import(pkg).then(
      (mod: {default?: T}) => (mod.default ?? mod) as T,
      (error: unknown) => {
        loaded.delete(pkg)
        throw driverError(pkg, purpose, error)
      },
    )
    loaded.set(pkg, promise)
  }
  return promise
}

function driverError(pkg: string, purpose: string, error: unknown): BkError {
  const code = (error as {code?: string}).code
  const what = pkg.split('/')[0]
  const missing =
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && messageOf(error).includes(`'${what}`)
  const message = missing
    ? `the ${purpose} driver ${what} is not installed; install it (npm install ${what}) or install the bk plugin that needs it`
    : `cannot load the ${purpose} driver ${what}: ${messageOf(error).split('\n')[0]}`
  return new BkError(message, {code: 'EDRIVER', cause: error})
}

/** better-sqlite3 (its Database constructor), loaded on first use. */
export function loadSqlite(): Promise<SqliteDriver> {
  return loadDriverModule<SqliteDriver>('better-sqlite3', 'SQLite')
}

/** pg (node-postgres), loaded on first use. */
export function loadPg(): Promise<PgDriver> {
  return loadDriverModule<PgDriver>('pg', 'PostgreSQL')
}

/** mysql2 (its callback API; `.promise()` on a connection gives the promise API), loaded on first use. */
export function loadMysql(): Promise<MysqlDriver> {
  return loadDriverModule<MysqlDriver>('mysql2', 'MySQL/MariaDB')
}

/** mysql2/promise, loaded on first use. */
export function loadMysqlPromise(): Promise<MysqlPromiseDriver> {
  return loadDriverModule<MysqlPromiseDriver>('mysql2/promise', 'MySQL/MariaDB')
}
