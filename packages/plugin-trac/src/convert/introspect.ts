/**
 * Describes every table of a Trac database (core and plugin tables alike) in Trac's schema terms, so that
 * convert can recreate it on another backend.
 */
import type {SqlConnection} from '@bkcli/core/db'
import {abstractType, type ColumnDef, type IndexDef, type TableDef} from './schema.js'

export async function introspectSqlite(db: SqlConnection): Promise<TableDef[]> {
  const names = (
    await db.all(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
  ).map((r) => String(r[0]))
  const out: TableDef[] = []
  for (const name of names) {
    const info = await db.objects<{name: string; type: string; pk: number | bigint}>(
      `PRAGMA table_info(${db.quoteIdent(name)})`,
    )
    const pk = info.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk))
    const columns: ColumnDef[] = info.map((c) => {
      // SQLite's "integer" is Trac's int and int64 alike: keep the wider one for tables Trac does not know.
      const declared = c.type.toLowerCase()
      const type = declared === 'integer' ? 'int64' : abstractType(declared || 'text')
      const col: ColumnDef = {name: c.name, type}
      if (pk.length === 1 && pk[0]!.name === c.name && declared === 'integer') col.auto = true
      return col
    })
    let key = pk.map((c) => c.name)
    const indices: IndexDef[] = []
    const list = await db.objects<{name: string; unique: number | bigint; origin: string}>(
      `PRAGMA index_list(${db.quoteIdent(name)})`,
    )
    for (const index of list.reverse()) {
      const cols = (await db.objects<{name: string}>(`PRAGMA index_info(${db.quoteIdent(index.name)})`)).map(
        (c) => c.name,
      )
      if (index.origin === 'pk') continue
      if (index.origin === 'u' && key.length === 0) {
        key = cols // Trac writes a multi-column key as UNIQUE (...)
        continue
      }
      indices.push({
        name: index.origin === 'c' ? index.name : undefined,
        columns: cols,
        unique: Number(index.unique) === 1,
      })
    }
    out.push({name, columns, key, indices})
  }
  return out
}

export async function introspectPostgres(db: SqlConnection, schema: string): Promise<TableDef[]> {
  const tables = await db.objects<{name: string}>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [schema],
  )
  const out: TableDef[] = []
  for (const {name} of tables) {
    const cols = await db.objects<{name: string; type: string; def: string | null}>(
      `SELECT column_name AS name, data_type AS type, column_default AS def FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, name],
    )
    const idx = await db.objects<{name: string; primary: boolean; unique: boolean; columns: string[]}>(
      `SELECT i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
              array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = $1 AND t.relname = $2 ORDER BY i.relname`,
      [schema, name],
    )
    const primary = idx.find((r) => r.primary)
    out.push({
      name,
      columns: cols.map((c) => {
        const col: ColumnDef = {name: c.name, type: abstractType(c.type)}
        if (c.def?.startsWith('nextval(')) col.auto = true
        return col
      }),
      key: primary?.columns ?? [],
      indices: idx.filter((r) => !r.primary).map((r) => ({name: r.name, columns: r.columns, unique: r.unique})),
    })
  }
  return out
}

export async function introspectMysql(db: SqlConnection, database: string): Promise<TableDef[]> {
  const tables = await db.objects<{name: string}>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES
     WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    [database],
  )
  const out: TableDef[] = []
  for (const {name} of tables) {
    const cols = await db.objects<{name: string; type: string; extra: string}>(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, EXTRA AS extra FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [database, name],
    )
    const stats = await db.objects<{name: string; nonUnique: number | string; col: string}>(
      `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      [database, name],
    )
    const indexes = new Map<string, IndexDef>()
    for (const s of stats) {
      const index = indexes.get(s.name) ?? {name: s.name, columns: [], unique: Number(s.nonUnique) === 0}
      index.columns.push(s.col)
      indexes.set(s.name, index)
    }
    const primary = indexes.get('PRIMARY')
    indexes.delete('PRIMARY')
    out.push({
      name,
      columns: cols.map((c) => {
        const col: ColumnDef = {name: c.name, type: abstractType(c.type)}
        if (/auto_increment/i.test(c.extra)) col.auto = true
        return col
      }),
      key: primary?.columns ?? [],
      indices: [...indexes.values()],
    })
  }
  return out
}
