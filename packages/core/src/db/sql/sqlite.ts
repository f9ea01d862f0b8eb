import type Database from 'better-sqlite3'
import {BkError, messageOf} from '../../errors.js'
import type {SqliteDriver} from '../drivers.js'
import {insertSql, quoteIdent, rowsPerInsert} from './quote.js'
import type {OpenSqlOptions, SqlConnection, SqlRow} from './types.js'

const norm = (params: unknown[]) => params.map((p) => (typeof p === 'boolean' ? Number(p) : p))

/** `Driver`: better-sqlite3, loaded by the caller (`loadSqlite()`) so that loading core loads no driver. */
export function openSqliteConnection(Driver: SqliteDriver, path: string, options: OpenSqlOptions = {}): SqlConnection {
  let db: Database.Database
  try {
    db = new Driver(path, {
      readonly: options.readonly ?? false,
      fileMustExist: !options.create,
      timeout: options.busyTimeout ?? 10_000,
    })
  } catch (error) {
    throw new BkError(`cannot open the SQLite database ${path}: ${messageOf(error)}`, {code: 'ESQLITE', cause: error})
  }
  const exact = options.exactIntegers ?? false
  const cache = new Map<string, Database.Statement>()
  const prepare = (sql: string) => {
    let statement = cache.get(sql)
    if (!statement) {
      statement = db.prepare(sql)
      if (exact && statement.reader) statement.safeIntegers(true)
      cache.set(sql, statement)
    }
    return statement
  }
  const fail = (sql: string, error: unknown): never => {
    throw new BkError(`SQLite ${path}: ${messageOf(error)} (in: ${sql.slice(0, 80)})`, {code: 'ESQLITE', cause: error})
  }
  let closed = false
  return {
    engine: 'sqlite',
    get inTransaction() {
      return !closed && db.inTransaction
    },
    param: () => '?',
    quoteIdent: (name) => quoteIdent('sqlite', name),
    async all(sql, params = []) {
      try {
        return prepare(sql).raw(true).all(norm(params)) as SqlRow[]
      } catch (error) {
        return fail(sql, error)
      }
    },
    async column(sql, params = []) {
      try {
        // a statement of its own: pluck and raw are modes of the statement, and the cached one's is raw
        const statement = db.prepare(sql).pluck(true)
        if (exact) statement.safeIntegers(true)
        return statement.all(norm(params)) as unknown[]
      } catch (error) {
        return fail(sql, error)
      }
    },
    async objects<T>(sql: string, params: unknown[] = []) {
      try {
        return prepare(sql).raw(false).all(norm(params)) as T[]
      } catch (error) {
        return fail(sql, error)
      }
    },
    async run(sql, params = []) {
      try {
        if (params.length === 0 && !cache.has(sql) && /;\s*\S/.test(sql)) db.exec(sql)
        else {
          const statement = prepare(sql)
          if (statement.reader) statement.all(norm(params))
          else statement.run(norm(params))
        }
      } catch (error) {
        fail(sql, error)
      }
    },
    async *cursor(sql, options = {}) {
      const size = Math.max(1, options.batchSize ?? 500)
      // A fresh statement: a cached one may be iterating already.
      const statement = db.prepare(sql).raw(true)
      if (exact) statement.safeIntegers(true)
      let batch: SqlRow[] = []
      for (const row of statement.iterate(norm(options.params ?? [])) as IterableIterator<SqlRow>) {
        batch.push(row)
        if (batch.length >= size) {
          yield batch
          batch = []
        }
      }
      if (batch.length > 0) yield batch
    },
    async insertRows(table, columns, rows) {
      const per = rowsPerInsert('sqlite', columns.length)
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per)
        const sql = insertSql('sqlite', table, columns, chunk.length, () => '?')
        try {
          prepare(sql).run(norm(chunk.flat()))
        } catch (error) {
          fail(sql, error)
        }
      }
    },
    async begin(mode = 'write') {
      db.exec(mode === 'snapshot' ? 'BEGIN' : 'BEGIN IMMEDIATE')
      // SQLite's BEGIN is lazy: read once so the snapshot starts now.
      if (mode === 'snapshot') db.prepare('SELECT count(*) FROM sqlite_master').get()
    },
    async commit() {
      if (db.inTransaction) db.exec('COMMIT')
    },
    async rollback() {
      if (!closed && db.inTransaction) db.exec('ROLLBACK')
    },
    async close() {
      if (closed) return
      if (db.inTransaction) db.exec('ROLLBACK')
      closed = true
      db.close()
    },
  }
}
