import {BkError} from '../errors.js'
import {MysqlClient} from './mysql-client.js'
import {PgClient} from './pg-client.js'
import type {DbTarget} from './url.js'

/** Owner, encoding and collation of a database to create. */
export interface CreateDatabaseOptions {
  /** postgres: the owning role; mysql: a user ('name' or 'name@host') granted all privileges on it. */
  owner?: string
  /** postgres: 'UTF8' …; mysql: character set, e.g. 'utf8mb4'. */
  encoding?: string
  /** mysql: collation, e.g. 'utf8mb4_bin' (Trac); postgres: LC_COLLATE/LC_CTYPE locale. */
  collation?: string
}

/** A database user: the host it connects from (MySQL). */
export interface UserOptions {
  /** mysql: the host part of the account (default '%'). */
  host?: string
}

/** A user to drop, and whether what it owns goes too (PostgreSQL). */
export interface DropUserOptions extends UserOptions {
  /**
   * postgres: a role that owns objects or holds privileges cannot be dropped; with `cascade`, `DROP OWNED BY` runs
   * in every database first (its objects are dropped, its privileges revoked). Without it, a BkError says where.
   */
  cascade?: boolean
}

/**
 * One connection to a PostgreSQL or MySQL/MariaDB server (through the `pg` / `mysql2` drivers). It connects on
 * first use; failures are one-line BkErrors ("cannot connect to … is the server running?", "… refused the password …").
 */
export interface DbClient {
  readonly target: DbTarget
  /** "PostgreSQL 15.20", "MariaDB 10.11.19", "MySQL 8.0.36". */
  serverVersion(): Promise<string>
  databaseExists(name: string): Promise<boolean>
  createDatabase(name: string, options?: CreateDatabaseOptions): Promise<void>
  /** Drops if it exists. postgres `force`: end other sessions connected to it (PG 13+). */
  dropDatabase(name: string, options?: {force?: boolean}): Promise<void>
  userExists(name: string, options?: UserOptions): Promise<boolean>
  createUser(name: string, password: string, options?: UserOptions): Promise<void>
  /** Drops if it exists. */
  dropUser(name: string, options?: DropUserOptions): Promise<void>
  /** Everything on `db` (postgres: the database, its public schema, tables and sequences). */
  grantAll(db: string, user: string, options?: UserOptions): Promise<void>
  /** Base tables of `db` (default: the target's database); postgres: `schema.table` outside public/the URL's schema. */
  listTables(db?: string): Promise<string[]>
  /** Exact `COUNT(*)` of every base table of `db`, by name as in listTables. */
  tableCounts(db?: string): Promise<Record<string, number>>
  /** A query through the driver: postgres placeholders `$1`, mysql `?`. Returns the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

/** A client for a postgres or mysql target. Nothing is connected until the first call. */
export function dbClient(target: DbTarget): DbClient {
  if (target.engine === 'postgres') return new PgClient(target)
  if (target.engine === 'mysql') return new MysqlClient(target)
  throw new BkError('an SQLite database has no server to connect to: use sqliteTableCounts / sqliteBackup', {
    code: 'EDBENGINE',
  })
}

/** Run `fn` with a client and close it afterwards. */
export async function withDbClient<T>(target: DbTarget, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = dbClient(target)
  try {
    return await fn(client)
  } finally {
    await client.close()
  }
}
