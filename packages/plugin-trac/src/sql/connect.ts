/**
 * Driver connections for Trac databases, configured and failing the way core's clients do. Used where a
 * streaming cursor is needed (convert); dumps, loads and counts go through core.
 */

import {BkError, connectMysql as coreMysql, connectPostgres as corePostgres, messageOf} from '@bkcli/core'
import Database from 'better-sqlite3'
import type {TracDbUrl} from '../db-url.js'

export type SqliteDb = Database.Database

/** Trac's MySQL columns hold 64-bit ids and times: keep big numbers as exact strings. */
const MYSQL_OPTIONS = {bigNumberStrings: true}

export function connectPostgres(url: TracDbUrl, database = url.database) {
  return corePostgres(url, database)
}

export function connectMysql(url: TracDbUrl, database = url.database) {
  return coreMysql(url, database, MYSQL_OPTIONS)
}

export function openSqlite(path: string, options: {readonly?: boolean; create?: boolean} = {}): SqliteDb {
  try {
    return new Database(path, {readonly: options.readonly ?? false, fileMustExist: !options.create, timeout: 10_000})
  } catch (error) {
    throw new BkError(`cannot open the SQLite database ${path}: ${messageOf(error)}`, {cause: error})
  }
}
