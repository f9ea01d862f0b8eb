import type pg from 'pg'
import {BkError, messageOf} from '../../errors.js'
import {connectPostgres} from '../driver.js'
import {loadPg} from '../drivers.js'
import type {DbTarget} from '../url.js'
import {copyable, copyRows} from './pg-copy.js'
import {insertSql, quoteIdent, rowsPerInsert} from './quote.js'
import type {OpenSqlOptions, SqlConnection, SqlRow} from './types.js'

let cursors = 0

export async function openPostgresConnection(target: DbTarget, options: OpenSqlOptions = {}): Promise<SqlConnection> {
  const parsers = options.pgTypeParsers
  const driver = parsers && (await loadPg())
  const types = parsers &&
    driver && {
      getTypeParser: ((oid: number, format?: string) =>
        parsers[oid] ?? driver.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
    }
  const client = await connectPostgres(target, options.database ?? target.database, types ? {types} : {})
  const fail = (error: unknown): never => {
    throw new BkError(`PostgreSQL ${options.database ?? target.database ?? ''}: ${messageOf(error)}`, {
      code: (error as {code?: string}).code === '42P01' ? 'ENOTABLE' : 'ESQL',
      cause: error,
    })
  }
  const query = async (config: pg.QueryConfig | pg.QueryArrayConfig) => {
    try {
      return await client.query(config as pg.QueryConfig)
    } catch (error) {
      return fail(error)
    }
  }
  if (options.searchPath) await query({text: `SET search_path TO ${quoteIdent('postgres', options.searchPath)}`})
  let transaction = false
  let closed = false
  const connection: SqlConnection = {
    engine: 'postgres',
    get inTransaction() {
      return transaction
    },
    param: (i) => `$${i}`,
    quoteIdent: (name) => quoteIdent('postgres', name),
    async all(sql, params = []) {
      return (await query({text: sql, values: params, rowMode: 'array'})).rows as SqlRow[]
    },
    async column(sql, params = []) {
      return ((await query({text: sql, values: params, rowMode: 'array'})).rows as SqlRow[]).map((row) => row[0])
    },
    async objects<T>(sql: string, params: unknown[] = []) {
      return (await query({text: sql, values: params})).rows as T[]
    },
    async run(sql, params = []) {
      await query({text: sql, values: params})
    },
    async *cursor(sql, options = {}) {
      const size = Math.max(1, options.batchSize ?? 500)
      const own = !transaction
      if (own) await query({text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'})
      const name = quoteIdent('postgres', `bk_cursor_${++cursors}`)
      await query({text: `DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, values: options.params ?? []})
      try {
        for (;;) {
          const result = await query({text: `FETCH ${size} FROM ${name}`, rowMode: 'array'})
          if (result.rows.length === 0) break
          yield result.rows as SqlRow[]
        }
      } finally {
        await client.query(`CLOSE ${name}`).catch(() => {})
        if (own) await client.query('COMMIT').catch(() => {})
      }
    },
    async insertRows(table, columns, rows) {
      if (rows.length === 0) return
      if (copyable(rows)) {
        try {
          await copyRows(client, table, columns, rows)
        } catch (error) {
          fail(error)
        }
        return
      }
      const per = rowsPerInsert('postgres', columns.length)
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per)
        await query({text: insertSql('postgres', table, columns, chunk.length, (n) => `$${n}`), values: chunk.flat()})
      }
    },
    async begin(mode = 'write') {
      await query({text: mode === 'snapshot' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN'})
      transaction = true
    },
    async commit() {
      await query({text: 'COMMIT'})
      transaction = false
    },
    async rollback() {
      if (!transaction) return
      transaction = false
      await client.query('ROLLBACK').catch(() => {})
    },
    async close() {
      if (closed) return
      closed = true
      if (transaction) await client.query('ROLLBACK').catch(() => {})
      transaction = false
      await client.end().catch(() => {})
    },
  }
  return connection
}
