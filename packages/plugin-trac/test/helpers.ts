/** Shared test helpers: fixture envs, real PostgreSQL/MariaDB scratch databases, SQLite table dumps. */
import {createHash, randomBytes} from 'node:crypto'
import {lstatSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, fixturePath, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import pg from 'pg'

// bigint columns compare as integers on every engine (pg returns int8 as text by default)
pg.types.setTypeParser(20, (v) => BigInt(v))

export const PG_URL = 'postgres://root@127.0.0.1:5432'
export const MY_URL = 'mysql://root@127.0.0.1:3306'

/** A unique database name for this test run. */
export function dbName(prefix = 'bk_trac_t'): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`
}

/** Extracts a trac fixture tree (sqlite-env, postgres-hotcopy, …) into a temp dir; returns its path. */
export function fixtureEnv(name: string): string {
  return join(extractFixture('trac', name), name)
}

export function fixtureCounts(engine: 'sqlite' | 'postgres' | 'mysql'): Record<string, number> {
  return JSON.parse(readFileSync(fixturePath('trac', `${engine}-counts.json`), 'utf8'))
}

export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const client = new pg.Client({host: '127.0.0.1', port: 5432, user: 'root', database})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function myAdmin<T>(fn: (c: mysql.Connection) => Promise<T>, database?: string): Promise<T> {
  const conn = await mysql.createConnection({host: '127.0.0.1', port: 3306, user: 'root', password: '', database})
  try {
    return await fn(conn)
  } finally {
    await conn.end()
  }
}

export type Engine = 'postgres' | 'mysql'

/** The databases on the server whose names start with `prefix` (this test's own). */
export async function databases(engine: Engine, prefix: string): Promise<string[]> {
  if (engine === 'postgres') {
    return pgAdmin(async (c) =>
      (await c.query<{n: string}>('SELECT datname AS n FROM pg_database WHERE starts_with(datname, $1)', [prefix])).rows
        .map((r) => r.n)
        .sort(),
    )
  }
  return myAdmin(async (c) => {
    const [rows] = (await c.query('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [
      `${prefix}%`,
    ])) as unknown as [{n: string}[]]
    return rows.map((r) => r.n).sort()
  })
}

export async function ticketRows(engine: Engine, name: string): Promise<number> {
  if (engine === 'postgres') {
    return pgAdmin(async (c) => Number((await c.query('SELECT COUNT(*) AS n FROM ticket')).rows[0].n), name)
  }
  return myAdmin(async (c) => {
    const [rows] = (await c.query('SELECT COUNT(*) AS n FROM ticket')) as unknown as [{n: number}[]]
    return Number(rows[0]!.n)
  }, name)
}

export async function dropPg(name: string): Promise<void> {
  await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
}

export async function dropMy(name: string): Promise<void> {
  await myAdmin((c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``))
}

/** Every row of every table, ordered, as JSON-able values (bigints and buffers spelled out). */
export type TableDump = Record<string, string[]>

const norm = (v: unknown): string => {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v)) return `x'${v.toString('hex')}'`
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v)
  return JSON.stringify(String(v))
}
const sortRows = (rows: unknown[][]) => rows.map((r) => r.map(norm).join('|')).sort()

export function sqliteDump(file: string): TableDump {
  const db = new Database(file, {readonly: true})
  try {
    const names = db
      .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[]
    const out: TableDump = {}
    for (const n of names)
      out[n] = sortRows(db.prepare(`SELECT * FROM "${n}"`).raw(true).safeIntegers(true).all() as unknown[][])
    return out
  } finally {
    db.close()
  }
}

export async function pgDump(database: string): Promise<TableDump> {
  return pgAdmin(async (c) => {
    const t = await c.query<{n: string}>(
      "SELECT table_name AS n FROM information_schema.tables WHERE table_schema='public' AND table_type='BASE TABLE' ORDER BY 1",
    )
    const out: TableDump = {}
    for (const {n} of t.rows) out[n] = sortRows((await c.query({text: `SELECT * FROM "${n}"`, rowMode: 'array'})).rows)
    return out
  }, database)
}

export async function myDump(database: string): Promise<TableDump> {
  return myAdmin(async (c) => {
    const [t] = (await c.query(
      "SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA=? AND TABLE_TYPE='BASE TABLE' ORDER BY 1",
      [database],
    )) as unknown as [{n: string}[]]
    const out: TableDump = {}
    for (const {n} of t) {
      const [rows] = (await c.query({
        sql: `SELECT * FROM \`${n}\``,
        rowsAsArray: true,
        supportBigNumbers: true,
        bigNumberStrings: false,
      } as never)) as unknown as [unknown[][]]
      out[n] = sortRows(rows)
    }
    return out
  }, database)
}

/**
 * Row counts of a dump in the shape of a fixture's *-counts.json: the tables it lists (a missing table counts
 * as -1, so it cannot pass) plus database_version read from the system rows.
 */
export function countsOf(dump: TableDump, expected: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of Object.keys(expected)) {
    if (key === 'database_version') {
      const row = dump.system?.find((r) => r.startsWith('"database_version"|'))
      out[key] = row ? Number(JSON.parse(row.split('|')[1]!)) : -1
    } else out[key] = dump[key]?.length ?? -1
  }
  return out
}

/** Path → type/mode/content hash of a tree, for comparing copies. */
export function treeListing(root: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {}
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name
      if (skip(r)) continue
      const st = lstatSync(join(root, r))
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isSymbolicLink()) out[r] = `link ${readlinkSync(join(root, r))}`
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`
        visit(r)
      } else
        out[r] = `file ${mode} ${createHash('sha256')
          .update(readFileSync(join(root, r)))
          .digest('hex')}`
    }
  }
  visit('')
  return out
}

export {tempDir}
