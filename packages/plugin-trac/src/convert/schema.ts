/**
 * Trac's database schema (trac/db_default.py at database_version 45) and the DDL each backend's connector
 * writes for it (the `to_sql` functions of trac/db/{sqlite,postgres,mysql}_backend.py). Tables that are not
 * Trac's (plugin tables) are described by introspection in the same terms, so every table can be recreated
 * on any backend.
 */
import {quoteIdent as coreQuoteIdent} from '@bkcli/core/db'
import type {TracEngine} from '../db-url.js'

/** Trac's abstract column types, plus the two a plugin table may also use. */
export type ColumnType = 'text' | 'int' | 'int64' | 'real' | 'blob'

export interface ColumnDef {
  name: string
  type: ColumnType
  /** Trac's auto_increment: SQLite rowid alias, PostgreSQL SERIAL, MySQL AUTO_INCREMENT. */
  auto?: boolean
  /** Only used for MySQL index prefixes. */
  keySize?: number
}

export interface IndexDef {
  columns: string[]
  unique?: boolean
  /** Kept from introspection for plugin tables; Trac's own names are derived. */
  name?: string
}

export interface TableDef {
  name: string
  columns: ColumnDef[]
  key: string[]
  indices: IndexDef[]
}

/** The database_version Trac 1.4, 1.6 and 1.7 write (db_default.db_version). */
export const TRAC_DB_VERSION = 45

const t = (name: string, cols: (string | ColumnDef)[], key: string[], indices: string[][] = []): TableDef => ({
  name,
  columns: cols.map((c) => (typeof c === 'string' ? parseCol(c) : c)),
  key,
  indices: indices.map((columns) => ({columns})),
})

function parseCol(spec: string): ColumnDef {
  const [name, type = 'text', extra] = spec.split(':')
  const col: ColumnDef = {name: name!, type: type as ColumnType}
  if (extra === 'auto') col.auto = true
  else if (extra) col.keySize = Number(extra)
  return col
}

/** db_default.schema, database_version 45. */
export const TRAC_SCHEMA: TableDef[] = [
  t('system', ['name', 'value'], ['name']),
  t('permission', ['username', 'action'], ['username', 'action']),
  t('auth_cookie', ['cookie', 'name', 'ipnr', 'time:int'], ['cookie', 'ipnr', 'name']),
  t(
    'session',
    ['sid', 'authenticated:int', 'last_visit:int'],
    ['sid', 'authenticated'],
    [['last_visit'], ['authenticated']],
  ),
  t('session_attribute', ['sid', 'authenticated:int', 'name', 'value'], ['sid', 'authenticated', 'name']),
  t('cache', ['id:int', 'generation:int', 'key'], ['id']),
  t(
    'attachment',
    ['type', 'id', 'filename', 'size:int', 'time:int64', 'description', 'author'],
    ['type', 'id', 'filename'],
  ),
  t(
    'wiki',
    ['name', 'version:int', 'time:int64', 'author', 'text', 'comment', 'readonly:int'],
    ['name', 'version'],
    [['time']],
  ),
  t('repository', ['id:int', 'name', 'value'], ['id', 'name']),
  t('revision', ['repos:int', 'rev:text:40', 'time:int64', 'author', 'message'], ['repos', 'rev'], [['repos', 'time']]),
  t(
    'node_change',
    ['id:int:auto', 'repos:int', 'rev:text:40', 'path:text:255', 'node_type', 'change_type', 'base_path', 'base_rev'],
    ['id'],
    [
      ['repos', 'rev', 'path'],
      ['repos', 'path', 'rev'],
    ],
  ),
  t(
    'ticket',
    [
      'id:int:auto',
      'type',
      'time:int64',
      'changetime:int64',
      'component',
      'severity',
      'priority',
      'owner',
      'reporter',
      'cc',
      'version',
      'milestone',
      'status',
      'resolution',
      'summary',
      'description',
      'keywords',
    ],
    ['id'],
    [['time'], ['status']],
  ),
  t(
    'ticket_change',
    ['ticket:int', 'time:int64', 'author', 'field', 'oldvalue', 'newvalue'],
    ['ticket', 'time', 'field'],
    [['ticket'], ['time']],
  ),
  t('ticket_custom', ['ticket:int', 'name', 'value'], ['ticket', 'name']),
  t('enum', ['type', 'name', 'value', 'description'], ['type', 'name']),
  t('component', ['name', 'owner', 'description'], ['name']),
  t('milestone', ['name', 'due:int64', 'completed:int64', 'description'], ['name']),
  t('version', ['name', 'time:int64', 'description'], ['name']),
  t('report', ['id:int:auto', 'author', 'title', 'query', 'description'], ['id']),
  t(
    'notify_subscription',
    [
      'id:int:auto',
      'time:int64',
      'changetime:int64',
      'class',
      'sid',
      'authenticated:int',
      'distributor',
      'format',
      'priority:int',
      'adverb',
    ],
    ['id'],
    [['sid', 'authenticated'], ['class']],
  ),
  t(
    'notify_watch',
    ['id:int:auto', 'sid', 'authenticated:int', 'class', 'realm', 'target'],
    ['id'],
    [
      ['sid', 'authenticated', 'class'],
      ['class', 'realm', 'target'],
    ],
  ),
]

const byName = new Map(TRAC_SCHEMA.map((table) => [table.name, table]))

/** Trac's own definition of a core table, or undefined for a plugin table. */
export function tracTable(name: string): TableDef | undefined {
  return byName.get(name)
}

export function isTracTable(name: string): boolean {
  return byName.has(name)
}

/**
 * The definition to create on the target: Trac's own for a core table whose columns match the source's
 * (types like int vs int64 are lost in SQLite, so Trac's are better), else the introspected one.
 */
export function preferTracDefinition(introspected: TableDef): TableDef {
  const known = byName.get(introspected.name)
  if (!known) return introspected
  const a = known.columns.map((c) => c.name).join(',')
  const b = introspected.columns.map((c) => c.name).join(',')
  if (a !== b) {
    // an older schema (db41 keeps ipnr, etc.): keep the source's columns, Trac's types where names match
    const knownCols = new Map(known.columns.map((c) => [c.name, c]))
    return {...introspected, columns: introspected.columns.map((c) => knownCols.get(c.name) ?? c)}
  }
  return known
}

// ---------------------------------------------------------------------------------------------- DDL

const typeMaps: Record<TracEngine, Record<ColumnType, string>> = {
  sqlite: {text: 'text', int: 'integer', int64: 'integer', real: 'real', blob: 'blob'},
  postgres: {text: 'text', int: 'int', int64: 'bigint', real: 'double precision', blob: 'bytea'},
  mysql: {text: 'mediumtext', int: 'int', int64: 'bigint', real: 'double', blob: 'longblob'},
}

export function quoteIdent(engine: TracEngine, name: string): string {
  return coreQuoteIdent(engine, name)
}

function indexName(table: TableDef, index: IndexDef): string {
  return index.name ?? `${table.name}_${index.columns.join('_')}_idx`
}

/** CREATE TABLE + CREATE INDEX statements, written the way Trac's connector writes them. */
export function createTableSql(engine: TracEngine, table: TableDef, options: {mysqlMaxBytes?: number} = {}): string[] {
  const q = (n: string) => quoteIdent(engine, n)
  const types = typeMaps[engine]
  const colByName = new Map(table.columns.map((c) => [c.name, c]))
  const auto = table.columns.find((c) => c.auto)
  const singleKey = table.key.length === 1 ? table.key[0] : undefined
  const lines: string[] = []
  const out: string[] = []
  if (engine === 'mysql') {
    const maxBytes = options.mysqlMaxBytes ?? 4
    const collist = (cols: string[]) =>
      cols
        .map((name) => {
          const col = colByName.get(name)
          if (!col || (col.type !== 'text' && col.type !== 'blob')) return q(name)
          const limit = Math.floor(767 / maxBytes)
          const prefix = col.keySize
            ? Math.min(col.keySize, limit)
            : Math.min(Math.floor(3072 / (maxBytes * cols.length)), limit)
          return `${q(name)}(${prefix})`
        })
        .join(',')
    for (const col of table.columns) {
      lines.push(col.auto ? `${q(col.name)} int unsigned NOT NULL auto_increment` : `${q(col.name)} ${types[col.type]}`)
    }
    const key = auto && !table.key.includes(auto.name) ? [auto.name] : table.key
    if (key.length > 0) lines.push(`PRIMARY KEY (${collist(key)})`)
    out.push(`CREATE TABLE ${q(table.name)} (\n    ${lines.join(',\n    ')}\n)`)
    for (const index of table.indices) {
      out.push(
        `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${q(indexName(table, index))} ON ${q(table.name)} (${collist(index.columns)})`,
      )
    }
    return out
  }
  for (const col of table.columns) {
    if (engine === 'sqlite') {
      if (col.auto) lines.push(`${col.name} integer PRIMARY KEY`)
      else lines.push(`${col.name} ${types[col.type]}${singleKey === col.name ? ' PRIMARY KEY' : ''}`)
    } else {
      const type = col.auto ? 'SERIAL' : types[col.type]
      lines.push(`${q(col.name)} ${type}${singleKey === col.name || (col.auto && !singleKey) ? ' PRIMARY KEY' : ''}`)
    }
  }
  if (table.key.length > 1) {
    if (engine === 'sqlite') lines.push(`UNIQUE (${table.key.join(',')})`)
    else lines.push(`CONSTRAINT ${q(`${table.name}_pk`)} PRIMARY KEY (${table.key.map(q).join(',')})`)
  }
  const name = engine === 'sqlite' ? table.name : q(table.name)
  out.push(`CREATE TABLE ${name} (\n    ${lines.join(',\n    ')}\n)`)
  for (const index of table.indices) {
    const cols = engine === 'sqlite' ? index.columns.join(',') : index.columns.map(q).join(',')
    const iname = engine === 'sqlite' ? indexName(table, index) : q(indexName(table, index))
    out.push(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${iname} ON ${name} (${cols})`)
  }
  return out
}

/** Maps a column type as a backend reports it back to Trac's abstract type. */
export function abstractType(declared: string): ColumnType {
  const d = declared.toLowerCase()
  if (/bigint|int8/.test(d)) return 'int64'
  if (/int/.test(d)) return 'int'
  if (/real|floa|doub|numeric|decimal/.test(d)) return 'real'
  if (/blob|bytea|binary/.test(d)) return 'blob'
  return 'text'
}
