/**
 * Driver connections for Trac databases, configured and failing the way core's clients do. Used where a
 * streaming cursor is needed (convert); dumps, loads and counts go through core.
 */

import {BkError, dbFailure, effectivePassword, messageOf} from '@bkcli/core'
import Database from 'better-sqlite3'
import mysql from 'mysql2'
import type {Connection as MysqlConnection} from 'mysql2/promise'
import pg from 'pg'
import type {TracDbUrl} from '../db-url.js'

export type SqliteDb = Database.Database

// core's pg/mysql connection settings are not exported (yet): the same essentials, for streaming cursors.
function pgConfig(url: TracDbUrl, database?: string): pg.ClientConfig {
  return {
    host: url.socket ?? url.host ?? process.env.PGHOST ?? 'localhost',
    port: url.port ?? 5432,
    user: url.user ?? process.env.PGUSER,
    password: effectivePassword(url),
    database: database ?? 'postgres',
    connectionTimeoutMillis: 15_000,
    application_name: 'bk',
  }
}

function mysqlConfig(url: TracDbUrl, database?: string): mysql.ConnectionOptions {
  return {
    ...(url.socket ? {socketPath: url.socket} : {host: url.host ?? 'localhost', port: url.port ?? 3306}),
    user: url.user ?? process.env.USER,
    password: effectivePassword(url) ?? '',
    database,
    connectTimeout: 15_000,
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  }
}

function failure(url: TracDbUrl, error: unknown, database?: string): BkError {
  const err = error as {code?: string; errno?: number; message?: string}
  return dbFailure(url, {code: err.code, errno: err.errno, message: messageOf(error)}, {cause: error, database})
}

export async function connectPostgres(url: TracDbUrl, database = url.database): Promise<pg.Client> {
  const client = new pg.Client(pgConfig(url, database))
  // A server that drops the connection later must not crash the process with an unhandled 'error'.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw failure(url, error, database)
  }
  return client
}

export async function connectMysql(url: TracDbUrl, database = url.database): Promise<MysqlConnection> {
  const conn = mysql.createConnection(mysqlConfig(url, database))
  conn.on('error', () => {})
  const promise = conn.promise()
  try {
    await promise.connect()
  } catch (error) {
    conn.destroy()
    throw failure(url, error, database)
  }
  return promise
}

export function openSqlite(path: string, options: {readonly?: boolean; create?: boolean} = {}): SqliteDb {
  try {
    return new Database(path, {readonly: options.readonly ?? false, fileMustExist: !options.create, timeout: 10_000})
  } catch (error) {
    throw new BkError(`cannot open the SQLite database ${path}: ${messageOf(error)}`, {cause: error})
  }
}
