import {quoteMysqlIdent, quotePgIdent} from '../quote.js'
import type {DbEngine} from '../url.js'

/** An identifier quoted for `engine`: `"name"` (SQLite, PostgreSQL) or `` `name` `` (MySQL), quotes doubled. */
export function quoteIdent(engine: DbEngine, name: string): string {
  return engine === 'mysql' ? quoteMysqlIdent(name) : quotePgIdent(name)
}

/** Most parameters one statement may carry, per engine (SQLite's historical default, PostgreSQL's wire limit). */
export const MAX_PARAMS: Record<DbEngine, number> = {sqlite: 999, postgres: 65535, mysql: 65535}

/** `INSERT INTO t (a,b) VALUES (p,p),(p,p)` for `count` rows, with `param(i)` placeholders. */
export function insertSql(
  engine: DbEngine,
  table: string,
  columns: string[],
  count: number,
  param: (i: number) => string,
): string {
  const tuples: string[] = []
  let n = 0
  for (let r = 0; r < count; r++) tuples.push(`(${columns.map(() => param(++n)).join(',')})`)
  const cols = columns.map((c) => quoteIdent(engine, c)).join(',')
  return `INSERT INTO ${quoteIdent(engine, table)} (${cols}) VALUES ${tuples.join(',')}`
}

/** Rows per INSERT for `columns` columns under the engine's parameter limit (at most `cap`). */
export function rowsPerInsert(engine: DbEngine, columns: number, cap = 1000): number {
  return Math.max(1, Math.min(cap, Math.floor(MAX_PARAMS[engine] / Math.max(1, columns))))
}
