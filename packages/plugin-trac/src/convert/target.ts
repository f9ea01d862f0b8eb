/**
 * Writes Trac tables into an empty database, all rows in one transaction (MySQL commits DDL implicitly, so
 * there the tables are created first and dropped again on failure). The connection is core's SQL layer;
 * this file knows Trac's DDL and value types.
 */
import {openSql, type SqlConnection} from '@bkcli/core/db'
import {pgSchema, type TracDbUrl} from '../db-url.js'
import {createTableSql, type TableDef} from './schema.js'
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
  if (url.engine === 'sqlite') return sqliteTarget(await openSql({...url, path: sqlitePath}, {create: true}))
  if (url.engine === 'postgres') return postgresTarget(await openSql(url), pgSchema(url))
  return mysqlTarget(await openSql(url), url.database!)
}

const names = (table: TableDef) => table.columns.map((c) => c.name)

async function count(db: SqlConnection, table: string): Promise<number> {
  return Number((await db.all(`SELECT COUNT(*) FROM ${db.quoteIdent(table)}`))[0]![0])
}

function sqliteTarget(db: SqlConnection): TargetDb {
  return {
    engine: 'sqlite',
    async existingTables() {
      return (await db.all("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => String(r[0]))
    },
    async begin(tables) {
      await db.run('PRAGMA synchronous = OFF') // the file is new and only renamed into place once complete
      await db.begin()
      for (const table of tables) for (const sql of createTableSql('sqlite', table)) await db.run(sql)
    },
    async insert(table, rows) {
      await db.insertRows(
        table.name,
        names(table),
        rows.map((r) => normalize('sqlite', table, r)),
      )
    },
    count: (table) => count(db, table),
    async resetSequences() {},
    async commit() {
      await db.commit()
      await db.run('PRAGMA synchronous = FULL')
    },
    rollback: () => db.rollback(),
    close: () => db.close(),
  }
}

function postgresTarget(db: SqlConnection, schema: string): TargetDb {
  const q = (n: string) => db.quoteIdent(n)
  return {
    engine: 'postgres',
    async existingTables() {
      return (
        await db.all('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1', [schema])
      ).map((r) => String(r[0]))
    },
    async begin(tables) {
      await db.begin()
      if (schema !== 'public') await db.run(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`)
      await db.run(`SET LOCAL search_path TO ${q(schema)}`)
      for (const table of tables) for (const sql of createTableSql('postgres', table)) await db.run(sql)
    },
    async insert(table, rows) {
      await db.insertRows(
        table.name,
        names(table),
        rows.map((r) => normalize('postgres', table, r)),
      )
    },
    count: (table) => count(db, table),
    async resetSequences(tables) {
      for (const table of tables) {
        const auto = table.columns.find((c) => c.auto)
        if (!auto) continue
        // Trac: SELECT SETVAL('"<t>_id_seq"', (SELECT MAX(id) FROM <t>)); an empty table keeps its fresh sequence.
        await db.run(
          `SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT MAX(${q(auto.name)}) AS m FROM ${q(table.name)}) s WHERE m IS NOT NULL`,
          [`${q(schema)}.${q(table.name)}`, auto.name],
        )
      }
    },
    commit: () => db.commit(),
    rollback: () => db.rollback(),
    close: () => db.close(),
  }
}

function mysqlTarget(db: SqlConnection, database: string): TargetDb {
  const q = (n: string) => db.quoteIdent(n)
  let created: string[] = []
  return {
    engine: 'mysql',
    async existingTables() {
      return (
        await db.all('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database])
      ).map((r) => String(r[0]))
    },
    async begin(tables) {
      const info = await db.all(
        'SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [database],
      )
      const maxBytes = info[0]?.[0] === 'utf8mb4' ? 4 : 3
      for (const table of tables) {
        const [create, ...indexes] = createTableSql('mysql', table, {mysqlMaxBytes: maxBytes})
        await db.run(`${create} ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
        created.push(table.name)
        for (const sql of indexes) await db.run(sql)
      }
      await db.run('SET foreign_key_checks = 0, unique_checks = 0')
      await db.begin()
    },
    async insert(table, rows) {
      await db.insertRows(
        table.name,
        names(table),
        rows.map((r) => normalize('mysql', table, r)),
      )
    },
    count: (table) => count(db, table),
    async resetSequences() {},
    async commit() {
      await db.commit()
      created = []
    },
    async rollback() {
      await db.rollback()
      for (const name of created.reverse()) await db.run(`DROP TABLE IF EXISTS ${q(name)}`).catch(() => {})
      created = []
    },
    close: () => db.close(),
  }
}
