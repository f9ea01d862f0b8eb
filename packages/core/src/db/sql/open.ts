import {BkError} from '../../errors.js'
import {loadSqlite} from '../drivers.js'
import {type DbTarget, parseDbUrl} from '../url.js'
import type {OpenSqlOptions, SqlConnection} from './types.js'

/**
 * Opens one {@link SqlConnection}. `target` is a parsed {@link DbTarget}, a database URL (`sqlite:…`,
 * `postgres://…`, `mysql://…`, `mariadb://…`) or the path of an SQLite file. Server connections are resolved and
 * fail (one-line BkErrors naming the server) the way core's DbClient does; a relative SQLite path is relative to
 * the working directory (resolve it first when it is relative to something else). The caller closes it.
 */
export async function openSql(target: DbTarget | string, options: OpenSqlOptions = {}): Promise<SqlConnection> {
  const resolved = typeof target === 'string' ? parseTarget(target) : target
  // each engine's connection module loads when a connection of that engine is opened, not with every command
  if (resolved.engine === 'sqlite') {
    if (!resolved.path) throw new BkError('an SQLite target needs a file path', {code: 'EDBURL'})
    const {openSqliteConnection} = await import('./sqlite.js')
    return openSqliteConnection(await loadSqlite(), resolved.path, options)
  }
  if (resolved.engine === 'postgres') return (await import('./postgres.js')).openPostgresConnection(resolved, options)
  return (await import('./mysql.js')).openMysqlConnection(resolved, options)
}

function parseTarget(text: string): DbTarget {
  return /^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text)
    ? parseDbUrl(text)
    : {engine: 'sqlite', path: text, params: {}}
}

/** Runs `use` on a connection opened by {@link openSql} and closes it afterwards, also on error. */
export async function withSql<T>(
  target: DbTarget | string,
  use: (connection: SqlConnection) => Promise<T>,
  options: OpenSqlOptions = {},
): Promise<T> {
  const connection = await openSql(target, options)
  try {
    return await use(connection)
  } finally {
    await connection.close()
  }
}
