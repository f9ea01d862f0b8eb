/**
 * The tables, indexes and counters Roundup creates for a tracker, per backend, as its own first open does
 * (rdbms_common / back_sqlite / back_postgresql / back_mysql). Reference: the fixtures' postgresql-dump.sql
 * and mysql-dump.sql.
 */
import type {Backend} from './rdate.js'
import {type ClassDef, PROTECTED, type PropDef, type PropType, storedSchemaText, type TrackerSchema} from './schema.js'

export const SCHEMA_VERSION = 8

const TYPES: Record<Backend, Record<PropType, string>> = {
  sqlite: {
    String: 'VARCHAR(255)',
    Date: 'VARCHAR(30)',
    Link: 'INTEGER',
    Interval: 'VARCHAR(255)',
    Password: 'VARCHAR(255)',
    Boolean: 'BOOLEAN',
    Number: 'REAL',
    Integer: 'INTEGER',
    Multilink: '',
  },
  postgresql: {
    String: 'TEXT',
    Date: 'TIMESTAMP',
    Link: 'INTEGER',
    Interval: 'VARCHAR(255)',
    Password: 'VARCHAR(255)',
    Boolean: 'BOOLEAN',
    Number: 'REAL',
    Integer: 'INTEGER',
    Multilink: '',
  },
  mysql: {
    String: 'TEXT',
    Date: 'DATETIME',
    Link: 'INTEGER',
    Interval: 'VARCHAR(255)',
    Password: 'VARCHAR(255)',
    Boolean: 'BOOL',
    Number: 'REAL',
    Integer: 'INTEGER',
    Multilink: '',
  },
}

export interface Column {
  name: string
  type: string
  prop?: PropDef
  /** the `__<p>_int__` seconds column of an Interval */
  intervalSeconds?: boolean
}

/** determine_columns + determine_all_columns: sorted `_<prop>` columns, then id and __retired__. */
export function classColumns(c: ClassDef, backend: Backend): {columns: Column[]; multilinks: PropDef[]} {
  const cols: Column[] = []
  const multilinks: PropDef[] = []
  for (const [name, type] of Object.entries(PROTECTED)) {
    cols.push({
      name: `_${name}`,
      type: TYPES[backend][type],
      prop: {name, type, target: type === 'Link' ? 'user' : undefined},
    })
  }
  for (const p of c.props) {
    if (p.type === 'Multilink') {
      multilinks.push(p)
      continue
    }
    const type =
      p.type === 'Number' && p.useDouble && backend === 'postgresql' ? 'DOUBLE PRECISION' : TYPES[backend][p.type]
    cols.push({name: `_${p.name}`, type, prop: p})
    if (p.type === 'Interval') cols.push({name: `__${p.name}_int__`, type: 'BIGINT', prop: p, intervalSeconds: true})
  }
  cols.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {columns: cols, multilinks}
}

/** The statements that create an empty tracker database for this schema, in Roundup's order. */
export function createStatements(schema: TrackerSchema, backend: Backend): string[] {
  const s: string[] = []
  const engine = backend === 'mysql' ? ' ENGINE=InnoDB' : ''
  if (backend === 'sqlite') {
    s.push('create table schema (schema varchar)', 'create table ids (name varchar, num integer)')
    s.push('create index ids_name_idx on ids(name)')
    s.push('create table otks (otk_key varchar, otk_value varchar, otk_time integer)')
    s.push('create index otks_key_idx on otks(otk_key)')
    s.push('create table sessions (session_key varchar, session_time integer, session_value varchar)')
    s.push('create index sessions_key_idx on sessions(session_key)')
    s.push('CREATE TABLE __textids (_class varchar, _itemid varchar, _prop varchar, _textid integer primary key) ')
    s.push('CREATE TABLE __words (_word varchar, _textid integer)')
    s.push('CREATE INDEX words_word_ids ON __words(_word)', 'CREATE INDEX words_by_id ON __words (_textid)')
    s.push('CREATE UNIQUE INDEX __textids_by_props ON __textids (_class, _itemid, _prop)')
    s.push("insert into ids (name, num) values ('__textids', 1)")
    s.push('CREATE virtual TABLE __fts USING fts5(_class, _itemid, _prop, _textblob)')
  } else if (backend === 'postgresql') {
    s.push('CREATE TABLE schema (schema TEXT)', 'CREATE TABLE dual (dummy integer)', 'insert into dual values (1)')
    s.push('CREATE TABLE otks (otk_key VARCHAR(255), otk_time float, otk_value TEXT)')
    s.push('CREATE INDEX otks_key_idx ON otks(otk_key)')
    s.push('CREATE TABLE sessions (session_key VARCHAR(255), session_time float, session_value TEXT)')
    s.push('CREATE INDEX sessions_key_idx ON sessions(session_key)')
    s.push('CREATE SEQUENCE ___textids_ids')
    s.push(
      'CREATE TABLE __textids (_textid integer primary key, _class VARCHAR(255), _itemid VARCHAR(255), _prop VARCHAR(255))',
    )
    s.push('CREATE TABLE __words (_word VARCHAR(55), _textid integer)')
    s.push('CREATE INDEX words_word_idx ON __words(_word)', 'CREATE INDEX words_by_id ON __words (_textid)')
    s.push('CREATE UNIQUE INDEX __textids_by_props ON __textids (_class, _itemid, _prop)')
    s.push('CREATE INDEX words_both_idx ON __words USING btree (_word, _textid)')
    s.push('CREATE TABLE __fts (_class VARCHAR(255), _itemid VARCHAR(255), _prop VARCHAR(255), _tsv tsvector)')
    s.push('CREATE INDEX __fts_idx ON __fts USING GIN (_tsv)')
  } else {
    s.push(
      'CREATE TABLE `schema` (`schema` TEXT) ENGINE=InnoDB',
      'CREATE TABLE ids (name VARCHAR(255), num INTEGER) ENGINE=InnoDB',
    )
    s.push('create index ids_name_idx on ids(name)')
    s.push('CREATE TABLE otks (otk_key VARCHAR(255), otk_value TEXT, otk_time DOUBLE) ENGINE=InnoDB')
    s.push('CREATE INDEX otks_key_idx ON otks(otk_key)')
    s.push('CREATE TABLE sessions (session_key VARCHAR(255), session_time DOUBLE, session_value TEXT) ENGINE=InnoDB')
    s.push('CREATE INDEX sessions_key_idx ON sessions(session_key)')
    s.push(
      'CREATE TABLE __textids (_class VARCHAR(255), _itemid VARCHAR(255), _prop VARCHAR(255), _textid INT) ENGINE=InnoDB',
    )
    s.push('CREATE TABLE __words (_word VARCHAR(55), _textid INT) ENGINE=InnoDB')
    s.push('CREATE INDEX words_word_ids ON __words(_word)', 'CREATE INDEX words_by_id ON __words (_textid)')
    s.push('CREATE UNIQUE INDEX __textids_by_props ON __textids (_class, _itemid, _prop)')
    s.push("insert into ids (name, num) values ('__textids', 1)")
  }
  for (const c of schema.classes) {
    const {columns, multilinks} = classColumns(c, backend)
    const cols = [
      ...columns.map((x) => `${x.name} ${x.type}`),
      'id INTEGER PRIMARY KEY',
      '__retired__ INTEGER DEFAULT 0',
    ]
    if (backend === 'postgresql') s.push(`CREATE SEQUENCE _${c.name}_ids`)
    s.push(`create table _${c.name} (${cols.join(',')})${engine}`)
    s.push(`create index _${c.name}_retired_idx on _${c.name}(__retired__)`)
    if (c.key) {
      const k = backend === 'mysql' ? `_${c.key}(255)` : `_${c.key}`
      s.push(`create index _${c.name}_${c.key}_idx on _${c.name}(${k})`)
      s.push(`create unique index _${c.name}_key_retired_idx on _${c.name}(__retired__, ${k})`)
    }
    const dateType = TYPES[backend].Date
    s.push(
      `create table ${c.name}__journal (nodeid integer, date ${dateType}, tag varchar(255), action varchar(255), params text)${engine}`,
    )
    s.push(`create index ${c.name}_journ_idx on ${c.name}__journal(nodeid)`)
    for (const m of multilinks) {
      const t = `${c.name}_${m.name}`
      if (backend === 'mysql') s.push(`CREATE TABLE \`${t}\` (linkid VARCHAR(255), nodeid VARCHAR(255)) ENGINE=InnoDB`)
      else s.push(`create table ${t} (linkid INTEGER, nodeid INTEGER)`)
      s.push(`create index ${t}_l_idx on ${t}(linkid)`, `create index ${t}_n_idx on ${t}(nodeid)`)
    }
    if (backend !== 'postgresql') s.push(`insert into ids (name, num) values ('${c.name}', 1)`)
  }
  return s
}

/** The schema row's insert statement text and value. */
export function schemaRow(schema: TrackerSchema, backend: Backend): {sql: string; value: string} {
  const table = backend === 'mysql' ? '`schema`' : 'schema'
  const arg = backend === 'postgresql' ? '$1' : '?'
  return {sql: `insert into ${table} values (${arg})`, value: storedSchemaText(schema, SCHEMA_VERSION)}
}

/** Set the id counter so the next id is `next` (sqlite/mysql `ids.num`; postgresql `setval(…, next-1)`). */
export function setNextIdSql(cls: string, next: number, backend: Backend): {sql: string; params: unknown[]} {
  if (backend === 'postgresql') {
    if (next <= 1) return {sql: `select setval('_${cls}_ids', 1, false)`, params: []}
    return {sql: `select setval('_${cls}_ids', $1)`, params: [next - 1]}
  }
  return {sql: 'update ids set num=? where name=?', params: [next, cls]}
}

/** Tables of the full-text index (not copied; `roundup-admin reindex` rebuilds them). */
export const FTS_TABLES = ['__words', '__textids', '__fts']
