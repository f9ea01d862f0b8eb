/**
 * Reads every table of a Trac database batch by batch from one consistent snapshot (SQLite read
 * transaction, PostgreSQL REPEATABLE READ cursor, MySQL consistent-snapshot stream): never a whole table
 * in memory. The connection is core's SQL layer; this file knows Trac's tables.
 */
import {openSql, type SqlConnection, type SqlRow} from '@bkcli/core/db'
import {pgSchema, type TracDbUrl} from '../db-url.js'
import {introspectMysql, introspectPostgres, introspectSqlite} from './introspect.js'
import type {TableDef} from './schema.js'

export type Row = SqlRow

export interface SourceDb {
  readonly engine: TracDbUrl['engine']
  tables(): Promise<TableDef[]>
  rows(table: TableDef, batchSize: number): AsyncIterable<Row[]>
  count(table: string): Promise<number>
  close(): Promise<void>
}

/** Opens the source at `url` (sqlite `path` already absolute) and starts its snapshot. */
export async function openSource(url: TracDbUrl, sqlitePath?: string): Promise<SourceDb> {
  const target = url.engine === 'sqlite' ? {...url, path: sqlitePath} : url
  const db = await openSql(target, {
    readonly: true,
    exactIntegers: true,
    searchPath: url.engine === 'postgres' ? pgSchema(url) : undefined,
  })
  try {
    await db.begin('snapshot')
  } catch (error) {
    await db.close()
    throw error
  }
  return sourceOf(db, url)
}

function sourceOf(db: SqlConnection, url: TracDbUrl): SourceDb {
  const q = (name: string) => db.quoteIdent(name)
  return {
    engine: url.engine,
    tables() {
      if (url.engine === 'sqlite') return introspectSqlite(db)
      if (url.engine === 'postgres') return introspectPostgres(db, pgSchema(url))
      return introspectMysql(db, url.database!)
    },
    rows(table, batchSize) {
      return db.cursor(`SELECT ${table.columns.map((c) => q(c.name)).join(', ')} FROM ${q(table.name)}`, {batchSize})
    },
    async count(table) {
      return Number((await db.all(`SELECT COUNT(*) FROM ${q(table)}`))[0]![0])
    },
    async close() {
      await db.rollback()
      await db.close()
    },
  }
}
