import type {Connection as CallbackConnection} from 'mysql2'
import {BkError, messageOf} from '../../errors.js'
import {connectMysql} from '../driver.js'
import type {DbTarget} from '../url.js'
import {insertSql, quoteIdent, rowsPerInsert} from './quote.js'
import type {OpenSqlOptions, SqlConnection, SqlRow} from './types.js'

export async function openMysqlConnection(target: DbTarget, options: OpenSqlOptions = {}): Promise<SqlConnection> {
  const conn = await connectMysql(target, options.database ?? target.database, {
    ...(options.exactIntegers ? {bigNumberStrings: true} : {}),
    ...(options.mysqlTimezone ? {timezone: options.mysqlTimezone} : {}),
  })
  const fail = (error: unknown): never => {
    throw new BkError(`MySQL ${options.database ?? target.database ?? ''}: ${messageOf(error)}`, {
      code: (error as {code?: string}).code === 'ER_NO_SUCH_TABLE' ? 'ENOTABLE' : 'ESQL',
      cause: error,
    })
  }
  const query = async (sql: string, params: unknown[] = [], rowsAsArray = false) => {
    try {
      return (await conn.query({sql, values: params, rowsAsArray}))[0]
    } catch (error) {
      return fail(error)
    }
  }
  let transaction = false
  let closed = false
  return {
    engine: 'mysql',
    get inTransaction() {
      return transaction
    },
    param: () => '?',
    quoteIdent: (name) => quoteIdent('mysql', name),
    async all(sql, params = []) {
      return (await query(sql, params, true)) as SqlRow[]
    },
    async column(sql, params = []) {
      return ((await query(sql, params, true)) as SqlRow[]).map((row) => row[0])
    },
    async objects<T>(sql: string, params: unknown[] = []) {
      return (await query(sql, params)) as T[]
    },
    async run(sql, params = []) {
      await query(sql, params)
    },
    async *cursor(sql, options = {}) {
      const size = Math.max(1, options.batchSize ?? 500)
      // The callback connection's stream pauses the socket when we stop reading: back-pressure, not buffering.
      const raw = (conn as unknown as {connection: CallbackConnection}).connection
      const stream = raw.query({sql, values: options.params ?? [], rowsAsArray: true}).stream({highWaterMark: size})
      let batch: SqlRow[] = []
      try {
        for await (const row of stream as AsyncIterable<SqlRow>) {
          batch.push(row)
          if (batch.length >= size) {
            yield batch
            batch = []
          }
        }
      } catch (error) {
        fail(error)
      }
      if (batch.length > 0) yield batch
    },
    async insertRows(table, columns, rows) {
      const per = rowsPerInsert('mysql', columns.length, 500)
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per)
        await query(
          insertSql('mysql', table, columns, chunk.length, () => '?'),
          chunk.flat(),
        )
      }
    },
    async begin(mode = 'write') {
      if (mode === 'snapshot') {
        await query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
        await query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
      } else await query('START TRANSACTION')
      transaction = true
    },
    async commit() {
      await query('COMMIT')
      transaction = false
    },
    async rollback() {
      if (!transaction) return
      transaction = false
      await conn.query('ROLLBACK').catch(() => {})
    },
    async close() {
      if (closed) return
      closed = true
      if (transaction) await conn.query('ROLLBACK').catch(() => {})
      transaction = false
      await conn.end().catch(() => {})
    },
  }
}
