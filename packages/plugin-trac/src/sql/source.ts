/**
 * Reads every table of a Trac database batch by batch from one consistent snapshot (SQLite read
 * transaction, PostgreSQL REPEATABLE READ cursor, MySQL consistent-snapshot stream): never a whole table
 * in memory.
 */
import type {Connection as MysqlConnection} from 'mysql2/promise'
import type pg from 'pg'
import {pgSchema, type TracDbUrl} from '../db-url.js'
import {quoteIdent, type TableDef} from '../schema.js'
import {connectMysql, connectPostgres, openSqlite, type SqliteDb} from './connect.js'
import {introspectMysql, introspectPostgres, introspectSqlite} from './introspect.js'

export type Row = unknown[]

export interface SourceDb {
  readonly engine: TracDbUrl['engine']
  tables(): Promise<TableDef[]>
  rows(table: TableDef, batchSize: number): AsyncIterable<Row[]>
  count(table: string): Promise<number>
  close(): Promise<void>
}

const selectList = (engine: TracDbUrl['engine'], table: TableDef) =>
  `SELECT ${table.columns.map((c) => quoteIdent(engine, c.name)).join(', ')} FROM ${quoteIdent(engine, table.name)}`

/** Opens the source at `url` (sqlite `path` already absolute) and starts its snapshot. */
export async function openSource(url: TracDbUrl, sqlitePath?: string): Promise<SourceDb> {
  if (url.engine === 'sqlite') return sqliteSource(openSqlite(sqlitePath!, {readonly: true}))
  if (url.engine === 'postgres') return postgresSource(await connectPostgres(url), pgSchema(url))
  return mysqlSource(await connectMysql(url), url.database!)
}

function sqliteSource(db: SqliteDb): SourceDb {
  db.exec('BEGIN') // a read transaction: the snapshot holds for every table
  let started = false
  return {
    engine: 'sqlite',
    async tables() {
      const tables = introspectSqlite(db)
      started = true
      return tables
    },
    async *rows(table, batchSize) {
      const stmt = db.prepare(selectList('sqlite', table)).raw(true).safeIntegers(true)
      let batch: Row[] = []
      for (const row of stmt.iterate() as IterableIterator<Row>) {
        batch.push(row)
        if (batch.length >= batchSize) {
          yield batch
          batch = []
        }
      }
      if (batch.length > 0) yield batch
    },
    async count(table) {
      return Number(
        db
          .prepare(`SELECT COUNT(*) FROM ${quoteIdent('sqlite', table)}`)
          .pluck()
          .get(),
      )
    },
    async close() {
      if (started || db.inTransaction) db.exec('COMMIT')
      db.close()
    },
  }
}

function postgresSource(client: pg.Client, schema: string): SourceDb {
  let begun: Promise<unknown> | undefined
  const begin = () => {
    begun ??= client
      .query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      .then(() => client.query(`SET LOCAL search_path TO ${quoteIdent('postgres', schema)}`))
    return begun
  }
  return {
    engine: 'postgres',
    async tables() {
      await begin()
      return introspectPostgres(client, schema)
    },
    async *rows(table, batchSize) {
      await begin()
      await client.query(`DECLARE bk_rows NO SCROLL CURSOR FOR ${selectList('postgres', table)}`)
      try {
        for (;;) {
          const result = await client.query({text: `FETCH ${batchSize} FROM bk_rows`, rowMode: 'array'})
          if (result.rows.length === 0) break
          yield result.rows as Row[]
        }
      } finally {
        await client.query('CLOSE bk_rows')
      }
    },
    async count(table) {
      await begin()
      const r = await client.query<{n: string}>(`SELECT COUNT(*) AS n FROM ${quoteIdent('postgres', table)}`)
      return Number(r.rows[0]!.n)
    },
    async close() {
      if (begun) await client.query('COMMIT').catch(() => {})
      await client.end()
    },
  }
}

function mysqlSource(conn: MysqlConnection, database: string): SourceDb {
  let begun: Promise<unknown> | undefined
  const begin = () => {
    begun ??= conn
      .query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
      .then(() => conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY'))
    return begun
  }
  return {
    engine: 'mysql',
    async tables() {
      await begin()
      return introspectMysql(conn, database)
    },
    async *rows(table, batchSize) {
      await begin()
      // The callback connection's stream pauses the socket when we stop reading: back-pressure, not buffering.
      const raw = (conn as unknown as {connection: import('mysql2').Connection}).connection
      const stream = raw.query({sql: selectList('mysql', table), rowsAsArray: true}).stream({
        highWaterMark: batchSize,
      })
      let batch: Row[] = []
      for await (const row of stream as AsyncIterable<Row>) {
        batch.push(row)
        if (batch.length >= batchSize) {
          yield batch
          batch = []
        }
      }
      if (batch.length > 0) yield batch
    },
    async count(table) {
      await begin()
      const [rows] = (await conn.query(`SELECT COUNT(*) AS n FROM ${quoteIdent('mysql', table)}`)) as unknown as [
        {n: string | number}[],
      ]
      return Number(rows[0]!.n)
    },
    async close() {
      if (begun) await conn.query('COMMIT').catch(() => {})
      await conn.end()
    },
  }
}
