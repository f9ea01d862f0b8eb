/**
 * `roundup-admin export` / `exporttables`, natively and byte-for-byte: `<class>.csv` (sorted property names +
 * `is retired`, rows in roundup-admin's order), headerless `<class>-journals.csv`, `<class>-files/` trees.
 * Read inside one read transaction, so the export is a consistent snapshot of a live tracker.
 */

import {once} from 'node:events'
import {createWriteStream, type WriteStream} from 'node:fs'
import {copyFile, mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '@bkcli/core'
import {csvLine} from './csv.js'
import {loadSchema, selectClasses} from './dbschema.js'
import {compareCodePoints, type PyValue, reprExport} from './pyrepr.js'
import {allProps, type ClassDef, type PropDef, type TrackerSchema} from './schema.js'
import {writeDirAtomically} from './staging.js'
import {blobPlaces, openTracker, type Tracker} from './tracker.js'
import {connect, type SqlConn} from './tracker-db.js'
import {exportJournalRow, exportValue} from './values.js'

export interface ExportOptions {
  /** roundup-admin's class argument: `a,b` or `-a,b` */
  classes?: string
  /** false: exporttables (no file contents) */
  files?: boolean
  onClass?: (name: string) => void
}

export interface ClassExport {
  name: string
  items: number
  journals: number
  files: number
}

export interface ExportResult {
  tracker: string
  backend: string
  dir: string
  classes: ClassExport[]
  files: number
  warnings: string[]
}

const BATCH = 500

async function write(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain')
}

async function closeStream(out: WriteStream): Promise<void> {
  await new Promise<void>((res, rej) => {
    out.once('error', rej)
    out.end(res)
  })
}

export async function exportTracker(
  home: string | Tracker,
  dest: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const tracker = typeof home === 'string' ? await openTracker(home) : home
  const conn = await connect(tracker, {readonly: true})
  try {
    await conn.begin(true)
    const {schema, warnings} = await loadSchema(conn, tracker)
    const classes = await exportFromConnection(conn, tracker, schema, dest, options, warnings)
    await conn.commit()
    return {
      tracker: tracker.home,
      backend: tracker.backend,
      dir: dest,
      classes,
      files: classes.reduce((n, c) => n + c.files, 0),
      warnings,
    }
  } finally {
    await conn.rollback().catch(() => {})
    await conn.close()
  }
}

/** Export through an open connection (inside the caller's read transaction: one consistent snapshot). */
export async function exportFromConnection(
  conn: SqlConn,
  tracker: Tracker,
  schema: TrackerSchema,
  dest: string,
  options: ExportOptions,
  warnings: string[],
): Promise<ClassExport[]> {
  const names = selectClasses(schema, options.classes)
  const classes: ClassExport[] = []
  await writeDirAtomically(dest, async (stage) => {
    for (const name of names) {
      options.onClass?.(name)
      const cls = schema.classes.find((c) => c.name === name) as ClassDef
      classes.push(await exportClass(conn, tracker, cls, stage, options.files !== false, warnings))
    }
  })
  return classes
}

/** getnodeids(): `select id from _<class>` in the database's own order (sqlite: the __retired__ index). */
async function nodeIds(conn: SqlConn, cls: ClassDef): Promise<number[]> {
  const rows = await conn.all(`select id from _${cls.name}`)
  return rows.map((r) => Number(r[0]))
}

function exportPropnames(cls: ClassDef): string[] {
  const names = [...allProps(cls).keys()]
  return names.filter((n) => !(cls.kind === 'FileClass' && n === 'content')).sort(compareCodePoints)
}

async function exportClass(
  conn: SqlConn,
  tracker: Tracker,
  cls: ClassDef,
  dir: string,
  withFiles: boolean,
  warnings: string[],
): Promise<ClassExport> {
  const props = allProps(cls)
  const propnames = exportPropnames(cls)
  const columns = propnames.filter((n) => n !== 'id' && props.get(n)?.type !== 'Multilink')
  const multilinks = propnames.filter((n) => props.get(n)?.type === 'Multilink')
  const ids = await nodeIds(conn, cls)
  const order = [...ids]
  if (cls.key) {
    const keyRows = await conn.all(`select id, _${cls.key}, __retired__ from _${cls.name}`)
    const keyOf = new Map<number, [string, boolean]>()
    for (const [id, k, r] of keyRows) {
      const key = k === null ? '' : Buffer.isBuffer(k) ? k.toString('utf8') : String(k)
      keyOf.set(Number(id), [key, Number(r) > 0])
    }
    // (key, not retired): retired duplicates first; Array.prototype.sort is stable like Python's
    order.sort((a, b) => {
      const [ka, ra] = keyOf.get(a) as [string, boolean]
      const [kb, rb] = keyOf.get(b) as [string, boolean]
      return compareCodePoints(ka, kb) || Number(!ra) - Number(!rb)
    })
  }
  const out = createWriteStream(join(dir, `${cls.name}.csv`))
  let files = 0
  const copies = new BlobCopier(tracker, cls.name, dir)
  try {
    await write(out, csvLine([...propnames, 'is retired']))
    const select = `select id, __retired__${columns.map((c) => `, _${c}`).join('')} from _${cls.name} where id in `
    for (let i = 0; i < order.length; i += BATCH) {
      const batch = order.slice(i, i + BATCH)
      const inList = `(${batch.map((_, j) => conn.arg(j + 1)).join(',')})`
      const rows = new Map<number, unknown[]>()
      for (const r of await conn.all(select + inList, batch)) rows.set(Number(r[0]), r)
      const links = new Map<string, Map<number, number[]>>()
      for (const m of multilinks) {
        const byNode = new Map<number, number[]>()
        for (const [nodeid, linkid] of await conn.all(
          `select nodeid, linkid from ${cls.name}_${m} where nodeid in ${inList}`,
          batch,
        )) {
          const list = byNode.get(Number(nodeid)) ?? []
          list.push(Number(linkid))
          byNode.set(Number(nodeid), list)
        }
        links.set(m, byNode)
      }
      for (const id of batch) {
        const r = rows.get(id)
        if (!r) continue
        const fields: string[] = []
        for (const name of propnames) {
          const p = props.get(name) as PropDef
          let v: PyValue
          if (name === 'id') v = String(id)
          else if (p.type === 'Multilink') {
            v = (links.get(name)?.get(id) ?? []).sort((a, b) => a - b).map(String)
          } else v = exportValue(p, r[2 + columns.indexOf(name)], conn.backend)
          fields.push(reprExport(v))
        }
        fields.push(reprExport(Number(r[1]) > 0))
        await write(out, csvLine(fields))
        if (withFiles && cls.kind === 'FileClass') {
          await copies.add(id)
          files++
        }
      }
    }
    await copies.finish()
  } finally {
    await copies.settle()
    await closeStream(out)
  }
  const journals = await exportJournals(conn, cls, ids, props, dir, warnings)
  return {name: cls.name, items: order.length, journals, files}
}

/** Copies the first of `places` that exists (blobPlaces order, without a blocking existence check per file). */
async function copyFirst(places: string[], dest: string): Promise<void> {
  for (const [i, src] of places.entries()) {
    try {
      await copyFile(src, dest)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || i === places.length - 1) throw error
    }
  }
}

/** Copies FileClass contents into `<class>-files/`, several at a time (small files: latency-bound). */
class BlobCopier {
  private readonly pending = new Set<Promise<void>>()
  private readonly dirs = new Set<string>()
  private failure: unknown
  constructor(
    private readonly tracker: Tracker,
    private readonly cls: string,
    private readonly dir: string,
    private readonly limit = 16,
  ) {}

  async add(id: number): Promise<void> {
    if (this.failure) throw this.failure
    const places = blobPlaces(this.tracker, this.cls, id)
    const sub = join(this.dir, `${this.cls}-files`, String(Math.floor(id / 1000)))
    if (!this.dirs.has(sub)) {
      await mkdir(sub, {recursive: true})
      this.dirs.add(sub)
    }
    const p: Promise<void> = copyFirst(places, join(sub, `${this.cls}${id}`)).then(
      () => {
        this.pending.delete(p)
      },
      () => {
        this.pending.delete(p)
        this.failure ??= new BkError(
          `the content of ${this.cls}${id} is missing (expected ${places[0]}); the export would be incomplete — restore db/files first`,
        )
      },
    )
    this.pending.add(p)
    if (this.pending.size >= this.limit) await Promise.race(this.pending)
  }

  async finish(): Promise<void> {
    await this.settle()
    if (this.failure) throw this.failure
  }

  async settle(): Promise<void> {
    await Promise.all([...this.pending])
  }
}

/** export_journals(): per node in getnodeids() order, `order by date`, filtered as history() does. */
async function exportJournals(
  conn: SqlConn,
  cls: ClassDef,
  ids: number[],
  props: Map<string, PropDef>,
  dir: string,
  warnings: string[],
): Promise<number> {
  const out = createWriteStream(join(dir, `${cls.name}-journals.csv`))
  let count = 0
  try {
    if (!cls.journalling) {
      warnings.push(
        `${cls.name} has journalling disabled: its -journals.csv is empty (roundup-admin export fails here)`,
      )
      return 0
    }
    const cols = `nodeid, date, tag, action, params from ${cls.name}__journal`
    if (conn.backend === 'sqlite') {
      // the very statement roundup runs, so ties within one date keep sqlite's order
      for (const id of ids) {
        for (const r of await conn.all(`select ${cols} where nodeid=? order by date`, [id])) {
          const row = exportJournalRow(r, props, conn.backend)
          if (row) {
            await write(out, csvLine(row))
            count++
          }
        }
      }
    } else {
      for (let i = 0; i < ids.length; i += BATCH) {
        const batch = ids.slice(i, i + BATCH)
        const inList = `(${batch.map((_, j) => conn.arg(j + 1)).join(',')})`
        const byNode = new Map<number, unknown[][]>()
        for (const r of await conn.all(`select ${cols} where nodeid in ${inList} order by nodeid, date`, batch)) {
          const list = byNode.get(Number(r[0])) ?? []
          list.push(r)
          byNode.set(Number(r[0]), list)
        }
        for (const id of batch) {
          for (const r of byNode.get(id) ?? []) {
            const row = exportJournalRow(r, props, conn.backend)
            if (row) {
              await write(out, csvLine(row))
              count++
            }
          }
        }
      }
    }
  } finally {
    await closeStream(out)
  }
  return count
}
