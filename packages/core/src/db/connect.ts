import {existsSync} from 'node:fs'
import {userInfo} from 'node:os'
import {effectivePassword} from './password.js'
import {type DbTarget, DEFAULT_PORTS} from './url.js'

/** Where libpq looks when no host is given (Debian's socket directory), for the driver to do the same. */
const PG_SOCKET_DIRS = ['/var/run/postgresql', '/run/postgresql', '/tmp']
const MYSQL_SOCKETS = ['/run/mysqld/mysqld.sock', '/var/run/mysqld/mysqld.sock', '/tmp/mysql.sock']

export function defaultUser(target: DbTarget): string {
  if (target.user) return target.user
  const envUser = target.engine === 'postgres' ? process.env.PGUSER : process.env.USER
  return envUser || userInfo().username
}

/** Connection settings for the `pg` driver, resolved the way libpq (psql, pg_dump) resolves them. */
export function pgConnectionConfig(target: DbTarget, database?: string) {
  const host =
    target.socket ?? target.host ?? process.env.PGHOST ?? PG_SOCKET_DIRS.find((dir) => existsSync(dir)) ?? 'localhost'
  return {
    host,
    port: target.port ?? DEFAULT_PORTS.postgres,
    user: defaultUser(target),
    password: effectivePassword(target),
    database: database ?? target.database ?? 'postgres',
    connectionTimeoutMillis: 15_000,
    application_name: 'bk',
  }
}

/** The socket the mysql client uses for 'localhost' / no host, so the driver authenticates as the same account. */
export function mysqlSocket(target: DbTarget): string | undefined {
  if (target.socket) return target.socket
  if (target.host && target.host !== 'localhost') return undefined
  return MYSQL_SOCKETS.find((path) => existsSync(path))
}

/** mysql2's connection settings for a target (socket or host/port, user, password, database). */
export function mysqlConnectionConfig(target: DbTarget, database?: string) {
  const socketPath = mysqlSocket(target)
  return {
    ...(socketPath ? {socketPath} : {host: target.host ?? 'localhost', port: target.port ?? DEFAULT_PORTS.mysql}),
    user: defaultUser(target),
    password: effectivePassword(target),
    database: database ?? target.database,
    connectTimeout: 15_000,
    charset: 'utf8mb4',
    supportBigNumbers: true,
    dateStrings: true,
    multipleStatements: false,
  }
}
