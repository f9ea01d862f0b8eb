/**
 * Writes Trac tables into an empty database, all rows in one transaction (MySQL commits DDL implicitly, so
 * there the tables are created first and dropped again on failure).
 */
import type {Connection as MysqlConnection} from 'mysql2/promise'
import type pg from 'pg'
import {pgSchema, type TracDbUrl} from '../db-url.js'
import {createTableSql, quoteIdent, type TableDef} from '../schema.js'
import {connectMysql, connectPostgres, openSqlite, type SqliteDb} from './connect.js'
import type {Row} from './source.js'

export interface TargetDb {
  readonly engine: TracDbUrl['engine']
  /** Tables already there (a non-empty target is refused). */
  existingTables(): Promise<string[]>
  /** Creates the tables and opens the transaction the rows go into. */
  begin(tables: TableDef[]): Promise<void>
  insert(table: TableDef, rows: Row[]): Promise<void>
  count(table: string): Promise<number>
  /** PostgreSQL SERIAL sequences continue after the copied ids. */
  resetSequences(tables: TableDef[]): Promise<void>
  commit(): Promise<void>
  /** Undo everything, tables included. */
  rollback(): Promise<void>
  close(): Promise<void>
}

/** Values as each driver wants them for the declared column type. */
function normalize(engine: TracDbUrl['engine'], table: TableDef, row: Row): Row {
  return row.map((value, i) => {
    const type = table.columns[i]!.type
    if (value === null || value === undefined) return null
    if (typeof value === 'bigint') return engine === 'sqlite' ? value : value.toString()
    if (
      engine === 'sqlite' &&
      (type === 'int' || type === 'int64') &&
      typeof value === 'string' &&
      /^-?\d+$/.test(value)
    ) {
      return BigInt(value)
    }
    if (type === 'text' && typeof value === 'number') return String(value)
    if (typeof value === 'boolean') return value ? 1 : 0
    if (value instanceof Date) return value.toISOString()
    return value
  })
}

export async function openTarget(url: TracDbUrl, sqlitePath?: string): Promise<TargetDb> {
  if (url.engine === 'sqlite') return sqliteTarget(openSqlite(sqlitePath!, {create: true}))
  if (url.engine === 'postgres') return postgresTarget(await connectPostgres(url), pgSchema(url))
  return mysqlTarget(await connectMysql(url), url.database!)
}

function sqliteTarget(db: SqliteDb): TargetDb {
  const statements = new Map<string, ReturnType<SqliteDb['prepare']>>()
  return {
    engine: 'sqlite',
    async existingTables() {
      return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]
    },
    async begin(tables) {
      db.pragma('synchronous = OFF') // the file is new and only renamed into place once complete
      db.exec('BEGIN')
      for (const table of tables) for (const sql of createTableSql('sqlite', table)) db.exec(sql)
    },
    async insert(table, rows) {
      const cols = table.columns.length
      const per = Math.max(1, Math.min(rows.length, Math.floor(999 / cols)))
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per)
        const key = `${table.name}/${chunk.length}`
        let stmt = statements.get(key)
        if (!stmt) {
          const one = `(${Array(cols).fill('?').join(',')})`
          stmt = db.prepare(
            `INSERT INTO ${quoteIdent('sqlite', table.name)} (${table.columns.map((c) => quoteIdent('sqlite', c.name)).join(',')}) VALUES ${Array(chunk.length).fill(one).join(',')}`,
          )
          statements.set(key, stmt)
        }
        stmt.run(chunk.flatMap((r) => normalize('sqlite', table, r)))
      }
    },
    async count(table) {
      return Number(
        db
          .prepare(`SELECT COUNT(*) FROM ${quoteIdent('sqlite', table)}`)
          .pluck()
          .get(),
      )
    },
    async resetSequences() {},
    async commit() {
      db.exec('COMMIT')
      db.pragma('synchronous = FULL')
    },
    async rollback() {
      if (db.inTransaction) db.exec('ROLLBACK')
    },
    async close() {
      db.close()
    },
  }
}

function postgresTarget(client: pg.Client, schema: string): TargetDb {
  const q = (n: string) => quoteIdent('postgres', n)
  return {
    engine: 'postgres',
    async existingTables() {
      const r = await client.query<{name: string}>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1`,
        [schema],
      )
      return r.rows.map((x) => x.name)
    },
    async begin(tables) {
      await client.query('BEGIN')
      if (schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`)
      await client.query(`SET LOCAL search_path TO ${q(schema)}`)
      for (const table of tables) for (const sql of createTableSql('postgres', table)) await client.query(sql)
    },
    async insert(table, rows) {
      const cols = table.columns.length
      const per = Math.max(1, Math.floor(65535 / cols))
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per)
        const values: unknown[] = []
        const tuples = chunk.map((row) => {
          const start = values.length
          values.push(...normalize('postgres', table, row))
          return `(${row.map((_, j) => `$${start + j + 1}`).join(',')})`
        })
        await client.query(
          `INSERT INTO ${q(table.name)} (${table.columns.map((c) => q(c.name)).join(',')}) VALUES ${tuples.join(',')}`,
          values,
        )
      }
    },
    async count(table) {
      const r = await client.query<{n: string}>(`SELECT COUNT(*) AS n FROM ${q(table)}`)
      return Number(r.rows[0]!.n)
    },
    async resetSequences(tables) {
      for (const table of tables) {
        const auto = table.columns.find((c) => c.auto)
        if (!auto) continue
        // Trac: SELECT SETVAL('"<t>_id_seq"', (SELECT MAX(id) FROM <t>)); an empty table keeps its fresh sequence.
        await client.query(
          `SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT MAX(${q(auto.name)}) AS m FROM ${q(table.name)}) s WHERE m IS NOT NULL`,
          [`${q(schema)}.${q(table.name)}`, auto.name],
        )
      }
    },
    async commit() {
      await client.query('COMMIT')
    },
    async rollback() {
      await client.query('ROLLBACK').catch(() => {})
    },
    async close() {
      await client.end()
    },
  }
}

function mysqlTarget(conn: MysqlConnection, database: string): TargetDb {
  const q = (n: string) => quoteIdent('mysql', n)
  let created: string[] = []
  return {
    engine: 'mysql',
    async existingTables() {
      const [rows] = (await conn.query(
        `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`,
        [database],
      )) as unknown as [{name: string}[]]
      return rows.map((r) => r.name)
    },
    async begin(tables) {
      const [info] = (await conn.query(
        'SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [database],
      )) as unknown as [{cs: string}[]]
      const maxBytes = info[0]?.cs === 'utf8mb4' ? 4 : 3
      for (const table of tables) {
        const [create, ...indexes] = createTableSql('mysql', table, {mysqlMaxBytes: maxBytes})
        await conn.query(`${create} ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
        created.push(table.name)
        for (const sql of indexes) await conn.query(sql)
      }
      await conn.query('SET foreign_key_checks = 0, unique_checks = 0')
      await conn.query('START TRANSACTION')
    },
    async insert(table, rows) {
      const per = 500
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per).map((r) => normalize('mysql', table, r))
        await conn.query(`INSERT INTO ${q(table.name)} (${table.columns.map((c) => q(c.name)).join(',')}) VALUES ?`, [
          chunk,
        ])
      }
    },
    async count(table) {
      const [rows] = (await conn.query(`SELECT COUNT(*) AS n FROM ${q(table)}`)) as unknown as [{n: string}[]]
      return Number(rows[0]!.n)
    },
    async resetSequences() {},
    async commit() {
      await conn.query('COMMIT')
      created = []
    },
    async rollback() {
      await conn.query('ROLLBACK').catch(() => {})
      for (const name of created.reverse()) await conn.query(`DROP TABLE IF EXISTS ${q(name)}`).catch(() => {})
      created = []
    },
    async close() {
      await conn.end()
    },
  }
}
