import type mysql from 'mysql2'
import type {Connection as MysqlConnection} from 'mysql2/promise'
import type pg from 'pg'
import {messageOf} from '../errors.js'
import {mysqlConnectionConfig, pgConnectionConfig} from './connect.js'
import {loadMysql, loadPg} from './drivers.js'
import {dbFailure} from './failure.js'
import type {DbTarget} from './url.js'

/**
 * Raw driver connections, for plugins that stream rows through cursors (convert, migrate-backend), resolved
 * and failing (one-line BkErrors) the same way as DbClient. The caller closes them.
 */
export async function connectPostgres(
  target: DbTarget,
  database = target.database,
  overrides: Partial<pg.ClientConfig> = {},
): Promise<pg.Client> {
  const config = {...pgConnectionConfig(target, database), ...overrides}
  const {Client} = await loadPg()
  const client = new Client(config)
  // A server that drops the connection later must not crash the process with an unhandled 'error'.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw failure(target, error, config.database)
  }
  return client
}

/** A mysql2 connection to a target, the driver loaded on first use. */
export async function connectMysql(
  target: DbTarget,
  database = target.database,
  overrides: Partial<mysql.ConnectionOptions> = {},
): Promise<MysqlConnection> {
  const config = {...mysqlConnectionConfig(target, database), ...overrides}
  const {createConnection} = await loadMysql()
  const conn = createConnection(config as mysql.ConnectionOptions)
  conn.on('error', () => {})
  const promise = conn.promise()
  try {
    await promise.connect()
  } catch (error) {
    conn.destroy()
    throw failure(target, error, config.database)
  }
  return promise
}

function failure(target: DbTarget, error: unknown, database?: string) {
  const err = error as {code?: string; errno?: number}
  return dbFailure(target, {code: err.code, errno: err.errno, message: messageOf(error)}, {cause: error, database})
}
