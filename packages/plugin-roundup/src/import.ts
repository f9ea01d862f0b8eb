/**
 * `roundup-admin import` / `importtables`, natively: a roundup-admin export into a fresh, empty database,
 * all or nothing. Rows, multilinks, journals and id counters are written as Roundup's import writes them
 * (ids kept; counters at max id + 2, like roundup-admin), and the full-text index filled as Roundup's indexer
 * fills it during an import (`fulltext.ts`), so the tracker is searchable without `roundup-admin reindex`.
 */
import {existsSync, readdirSync} from 'node:fs'
import {copyFile, mkdir, rename, rm} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {type Plan, step} from '@bkcli/core/workflow'
import {CsvError, readCsv} from './csv.js'
import {classColumns, createStatements, schemaRow, setNextIdSql} from './ddl.js'
import {contentFromFiles, type FillResult, fillFullText, indexerNote, indexerSettings} from './fulltext.js'
import {compareCodePoints, evalImport, PyDict, PyLiteralError, type PyValue, reprExport} from './pyrepr.js'
import {DateFormatError, dateFromTuple, dateToSql} from './rdate.js'
import {allProps, type ClassDef, type PropDef, SchemaError, type TrackerSchema} from './schema.js'
import {assertEmptyTarget} from './staging.js'
import {openFreshDatabase} from './target.js'
import {describeDatabase, openTracker, readSchemaPy, type Tracker} from './tracker.js'
import type {SqlConn} from './tracker-db.js'
import {importValue, intervalSecondsOf, journalValueToBackend} from './values.js'

export interface ImportOptions {
  /** false: importtables (no file contents) */
  files?: boolean
  onClass?: (name: string) => void
}

export interface ClassImport {
  name: string
  items: number
  journals: number
  files: number
  nextId: number
}

export interface ImportResult {
  tracker: string
  backend: string
  database: string
  classes: ClassImport[]
  /** the full-text index bk filled: texts indexed, __words rows */
  fullText: FillResult & {indexer: string}
  notes: string[]
}

const BATCH = 500

/** The classes an export directory holds, checked like roundup-admin does (and before anything is written). */
export function exportClasses(dir: string, schema: TrackerSchema): ClassDef[] {
  if (!existsSync(dir)) throw new BkError(`${dir} does not exist; give the directory of a roundup-admin export`)
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.csv') && !f.endsWith('-journals.csv'))
    .map((f) => f.slice(0, -4))
  if (names.length === 0) throw new BkError(`${dir} holds no <class>.csv files; is it a roundup-admin export?`)
  for (const n of names) {
    if (!schema.classes.some((c) => c.name === n)) {
      throw new BkError(`${dir}/${n}.csv: no such class "${n}" in the tracker's schema.py`)
    }
    if (!existsSync(join(dir, `${n}-journals.csv`))) {
      throw new BkError(`${dir}/${n}-journals.csv is missing (every <class>.csv needs one, even empty)`)
    }
  }
  return schema.classes.filter((c) => names.includes(c.name))
}

function schemaFor(tracker: Tracker): TrackerSchema {
  try {
    return readSchemaPy(tracker)
  } catch (error) {
    if (error instanceof SchemaError) throw new BkError(`${error.message}; bk needs it to create the tables`)
    throw error
  }
}

/** What an import would do, checked as the real run checks before writing (reads only). */
export function importPlan(tracker: Tracker, dir: string, options: ImportOptions = {}): Plan {
  const classes = exportClasses(dir, schemaFor(tracker))
  const withFiles = options.files !== false
  const filesDir = join(tracker.dbDir, 'files')
  if (tracker.backend === 'sqlite' && existsSync(join(tracker.dbDir, 'db'))) {
    throw new BkError(
      `${join(tracker.dbDir, 'db')} already exists; bk imports only into a fresh, empty database (move the old db away or use a new tracker home)`,
    )
  }
  if (withFiles) assertEmptyTarget(filesDir)
  const steps = [
    step('create', describeDatabase(tracker), `new ${tracker.backend} database (an existing one must be empty)`),
    step('load', dir, `${classes.length} classes: ${classes.map((c) => c.name).join(', ')}`),
  ]
  if (withFiles) steps.push(step('create', filesDir, 'file contents'))
  return {summary: `import ${dir} into ${tracker.home}`, steps}
}

export async function importTracker(
  home: string | Tracker,
  dir: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const tracker = typeof home === 'string' ? await openTracker(home) : home
  const schema = schemaFor(tracker)
  const classes = exportClasses(dir, schema)
  const withFiles = options.files !== false
  const filesDir = join(tracker.dbDir, 'files')
  const filesStage = join(tracker.dbDir, `.files.bk-stage-${process.pid}`)
  const target = await openFreshDatabase(tracker)
  const conn = target.conn
  const result: ClassImport[] = []
  const notes: string[] = []
  let ft: ImportResult['fullText'] = {texts: 0, words: 0, indexer: ''}
  try {
    if (withFiles) assertEmptyTarget(filesDir)
    for (const sql of createStatements(schema, conn.backend)) await conn.run(sql)
    const row = schemaRow(schema, conn.backend)
    await conn.run(row.sql, [row.value])
    for (const cls of classes) {
      options.onClass?.(cls.name)
      const r = await importClass(conn, cls, dir, withFiles ? filesStage : undefined, tracker.csvFieldSize)
      r.journals = await importJournals(conn, cls, dir, tracker.csvFieldSize)
      // roundup-admin: setid(cls, maxid + 1) with maxid starting at 1 → next id is maxid + 2
      const {sql, params} = setNextIdSql(cls.name, r.nextId, conn.backend)
      await conn.run(sql, params)
      result.push(r)
    }
    const indexer = indexerSettings(tracker)
    const fullText = await fillFullText(conn, {classes}, indexer, {
      // roundup-admin indexes file contents only when it imports them (not importtables)
      content: withFiles ? contentFromFiles(filesStage) : undefined,
    })
    ft = {...fullText, indexer: indexer.name || 'native'}
    notes.push(...indexerNote(indexer, fullText))
    if (withFiles && existsSync(filesStage)) {
      if (existsSync(filesDir)) await rm(filesDir, {recursive: true})
      await rename(filesStage, filesDir)
    }
    await target.commit()
  } catch (error) {
    await target.abort()
    await rm(filesStage, {recursive: true, force: true})
    if (error instanceof CsvError) throw new BkError(`${error.message}; the CSV is corrupt (nothing was imported)`)
    throw error
  }
  if (!withFiles) notes.push('file contents were not imported (importtables): db/files must come from elsewhere')
  return {
    tracker: tracker.home,
    backend: tracker.backend,
    database: tracker.backend === 'sqlite' ? join(tracker.dbDir, 'db') : tracker.rdbms.name,
    classes: result,
    fullText: ft,
    notes,
  }
}

function parseField(text: string, where: () => string): PyValue {
  try {
    return evalImport(text)
  } catch (error) {
    if (error instanceof PyLiteralError) {
      throw new BkError(`${where()}: ${JSON.stringify(text.slice(0, 60))} is not a Roundup export value (corrupt CSV?)`)
    }
    throw error
  }
}

async function importClass(
  conn: SqlConn,
  cls: ClassDef,
  dir: string,
  filesStage: string | undefined,
  fieldLimit: number,
): Promise<ClassImport> {
  const file = join(dir, `${cls.name}.csv`)
  const props = allProps(cls)
  const {columns} = classColumns(cls, conn.backend)
  let header: string[] | undefined
  let items = 0
  let files = 0
  let maxid = 1
  let line = 1
  let rows: unknown[][] = []
  let colNames: string[] = []
  let colSources: {index: number; column: (typeof columns)[number]}[] = []
  let idIndex = -1
  let retiredIndex = -1
  const links = new Map<string, unknown[][]>()
  let mlIndexes: {index: number; prop: PropDef}[] = []
  const flush = async () => {
    if (rows.length > 0) await conn.insertMany(`_${cls.name}`, colNames, rows)
    rows = []
    for (const [table, list] of links) {
      if (list.length > 0) await conn.insertMany(table, ['linkid', 'nodeid'], list)
      links.set(table, [])
    }
  }
  for await (const fields of readCsv(file, fieldLimit)) {
    if (!header) {
      header = fields
      for (const name of header) {
        if (name !== 'is retired' && !props.has(name) && !(cls.kind === 'FileClass' && name === 'content')) {
          throw new BkError(`${file}: "${name}" is not a property of class ${cls.name}`)
        }
      }
      idIndex = header.indexOf('id')
      retiredIndex = header.indexOf('is retired')
      if (idIndex < 0) throw new BkError(`${file}: no id column; bk keeps ids and needs them`)
      colSources = columns
        .filter((c) => c.prop && header?.includes(c.prop.name))
        .map((c) => ({index: (header as string[]).indexOf((c.prop as PropDef).name), column: c}))
      colNames = ['id', '__retired__', ...colSources.map((c) => c.column.name)]
      mlIndexes = header
        .map((name, index) => ({index, prop: props.get(name) as PropDef}))
        .filter((x) => x.prop?.type === 'Multilink')
      for (const m of mlIndexes)
        links.set(`${conn.backend === 'mysql' ? `\`${cls.name}_${m.prop.name}\`` : `${cls.name}_${m.prop.name}`}`, [])
      continue
    }
    line++
    const where = () => `${file} line ${line}`
    if (fields.length !== header.length) {
      throw new BkError(`${where()} has ${fields.length} fields, the header ${header.length} (corrupt CSV?)`)
    }
    const idValue = parseField(fields[idIndex] as string, where)
    const id = Number(idValue)
    if (!Number.isInteger(id) || id < 1) throw new BkError(`${where()}: bad id ${String(idValue)}`)
    const retired = retiredIndex >= 0 && Boolean(Number(parseField(fields[retiredIndex] as string, where)))
    const out: unknown[] = [id, retired ? id : 0]
    for (const {index, column} of colSources) {
      const v = parseField(fields[index] as string, where)
      try {
        if (column.intervalSeconds) out.push(intervalSecondsOf(v))
        else out.push(importValue(column.prop as PropDef, v, conn.backend))
      } catch (error) {
        if (error instanceof DateFormatError) throw new BkError(`${where()}: ${error.message}`)
        throw error
      }
    }
    rows.push(out)
    for (const {index, prop} of mlIndexes) {
      const v = parseField(fields[index] as string, where)
      if (v === null) continue
      if (!Array.isArray(v)) throw new BkError(`${where()}: ${prop.name} is not a list of ids`)
      const table = conn.backend === 'mysql' ? `\`${cls.name}_${prop.name}\`` : `${cls.name}_${prop.name}`
      const list = links.get(table) as unknown[][]
      for (const link of v) list.push(conn.backend === 'mysql' ? [String(link), String(id)] : [Number(link), id])
    }
    if (filesStage && cls.kind === 'FileClass') {
      const rel = join(String(Math.floor(id / 1000)), `${cls.name}${id}`)
      const src = join(dir, `${cls.name}-files`, rel)
      if (!existsSync(src)) {
        throw new BkError(
          `${src} is missing: an export without files (exporttables) needs --no-files; nothing was imported`,
        )
      }
      const dest = join(filesStage, cls.name, rel)
      await mkdir(dirname(dest), {recursive: true})
      await copyFile(src, dest)
      files++
    }
    items++
    maxid = Math.max(maxid, id)
    if (rows.length >= BATCH) await flush()
  }
  if (!header) throw new BkError(`${file} is empty: it needs at least its header row`)
  await flush()
  return {name: cls.name, items, journals: 0, files, nextId: maxid + 2}
}

/** import_journals: rows sorted by (id, raw fields), params marshalled for the target backend. */
async function importJournals(conn: SqlConn, cls: ClassDef, dir: string, fieldLimit: number): Promise<number> {
  const file = join(dir, `${cls.name}-journals.csv`)
  const props = allProps(cls)
  const entries: {n: number; fields: string[]; line: number}[] = []
  let line = 0
  for await (const fields of readCsv(file, fieldLimit)) {
    line++
    if (fields.length !== 5) throw new BkError(`${file} line ${line} has ${fields.length} fields, not 5 (corrupt CSV?)`)
    const n = Number((fields[0] as string).replaceAll("'", ''))
    if (!Number.isInteger(n)) throw new BkError(`${file} line ${line}: bad node id ${fields[0]}`)
    entries.push({n, fields, line})
  }
  // Python sorts the (int id, row) tuples: by id, then by the raw field texts
  entries.sort((a, b) => a.n - b.n || compareRows(a.fields, b.fields))
  const rows: unknown[][] = []
  for (const e of entries) {
    const where = () => `${file} line ${e.line}`
    const [nodeid, jdate, user, action, params] = e.fields.map((f) => parseField(f, where))
    let p = params as PyValue
    const act = String(action)
    if (act === 'set' && p instanceof PyDict) {
      for (const entry of p.entries) {
        const [k, v] = entry
        const prop = typeof k === 'string' ? props.get(k) : undefined
        if (!prop) throw new BkError(`${where()}: journal names "${String(k)}", which is not a property of ${cls.name}`)
        if (!truthy(v)) continue // _journal_marshal leaves falsy values alone
        entry[1] = journalValueToBackend(prop, v as PyValue, conn.backend)
      }
    } else if (act === 'create' && truthy(p)) {
      p = new PyDict()
    }
    let date: string
    try {
      date = dateToSql(dateFromTuple(jdate as PyValue), conn.backend)
    } catch (error) {
      if (error instanceof DateFormatError) throw new BkError(`${where()}: ${error.message}`)
      throw error
    }
    rows.push([Number(nodeid), date, user === null ? null : String(user), act, reprExport(p)])
    if (rows.length >= BATCH) {
      await conn.insertMany(`${cls.name}__journal`, ['nodeid', 'date', 'tag', 'action', 'params'], rows.splice(0))
    }
  }
  if (rows.length > 0)
    await conn.insertMany(`${cls.name}__journal`, ['nodeid', 'date', 'tag', 'action', 'params'], rows)
  return entries.length
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareCodePoints(a[i] as string, b[i] as string)
    if (c !== 0) return c
  }
  return a.length - b.length
}

function truthy(v: PyValue | undefined): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === 0n || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (v instanceof PyDict) return v.entries.length > 0
  return true
}
