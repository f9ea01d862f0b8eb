/**
 * `roundup-admin export` / `exporttables`, natively and byte-for-byte: `<class>.csv` (sorted property names +
 * `is retired`, rows in roundup-admin's order), headerless `<class>-journals.csv`, `<class>-files/` trees.
 * Read inside one read transaction, so the export is a consistent snapshot of a live tracker.
 */

import {closeSync, openSync, readdirSync, renameSync, rmdirSync, statSync, utimesSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {setImmediate as nextTurn} from 'node:timers/promises'
import {BkError} from '@bkcli/core/errors'
import {copyLiveFile, copyTreeInThread, type ThreadCopy, writeAllSync} from '@bkcli/core/fs'
import {crashPoint} from '@bkcli/core/safety'
import {csvLine} from './csv.js'
import {loadSchema, selectClasses} from './dbschema.js'
import {ExportThread, SnapshotProbe} from './export-thread.js'
import {compareCodePoints} from './pyrepr.js'
import {allProps, type ClassDef, type PropDef, type TrackerSchema} from './schema.js'
import {writeDirAtomically} from './staging.js'
import {blobPlaces, openTracker, type Tracker} from './tracker.js'
import {connect, type SqlConn, scanCache, sqlitePath} from './tracker-db.js'
import {exportField, exportJournalLine, multilinkField} from './values.js'

export interface ExportOptions {
  /** roundup-admin's class argument: `a,b` or `-a,b` */
  classes?: string
  /** false: exporttables (no file contents) */
  files?: boolean
  /** Called as each class's export starts (two threads may be writing two classes). */
  onClass?: (name: string) => void
  /**
   * Called as each part (a class's table or its journals) is written, with the thread that wrote it: the main one,
   * or one of the export's threads (1, 2).
   */
  onPart?: (cls: string, part: 'table' | 'journals', thread: 'main' | number) => void
  /**
   * Testing: called once the export's read snapshot is taken, before its threads take their own (a commit made
   * here must not reach the export).
   */
  afterSnapshot?: () => void | Promise<void>
  /** Testing: file contents per copy thread (default BK_ROUNDUP_COPY_CHUNK, else {@link COPY_CHUNK}). */
  copyChunk?: number
}

/** The threads a sqlite export writes its CSVs with (the machine's cores are shared with the file copies). */
const THREADS = 2

export interface ClassExport {
  name: string
  items: number
  journals: number
  files: number
  /** bytes written for the class: its two CSVs and its files' contents */
  bytes: number
}

export interface ExportResult {
  tracker: string
  backend: string
  dir: string
  classes: ClassExport[]
  files: number
  /** bytes of every file in the export (counted while written: no walk of the export afterwards) */
  bytes: number
  warnings: string[]
}

const BATCH = 500

/**
 * File contents per copy thread: a thread's list of paths is ~0.1 KB a content (its heap is capped at 32 MiB); at
 * 65 536 a thread's lists held ~10 MB more at the export's peak (40 000 issues: ~205 MB) for a few thread starts less.
 */
const COPY_CHUNK = 1 << 14

/** BK_ROUNDUP_COPY_CHUNK makes the copy chunks small (tests of a whole `bk roundup export` run on small data). */
function copyChunkSize(): number {
  const v = Number(process.env.BK_ROUNDUP_COPY_CHUNK)
  return Number.isInteger(v) && v > 0 ? v : COPY_CHUNK
}

/**
 * Lines gathered into ~64 KiB writes, written with synchronous calls (into the page cache: cheaper than a
 * stream's queue, events and thread-pool trips), with a turn of the event loop every ~1 MiB so signals and
 * other work get in.
 */
class LineWriter {
  private readonly fd: number
  private pending = ''
  private sinceTurn = 0
  /** bytes handed to the file so far */
  bytes = 0
  constructor(file: string) {
    this.fd = openSync(file, 'wx')
  }

  /** Adds a line; a promise (to await) only when the lines gathered were written out, so most lines cost no turn. */
  write(text: string): Promise<void> | undefined {
    this.pending += text
    if (this.pending.length >= 1 << 16) return this.flush()
    return undefined
  }

  private async flush(): Promise<void> {
    const text = this.pending
    this.pending = ''
    if (text === '') return
    const data = Buffer.from(text, 'utf8')
    writeAllSync(this.fd, data)
    this.bytes += data.length
    this.sinceTurn += data.length
    if (this.sinceTurn >= 1 << 20) {
      this.sinceTurn = 0
      await nextTurn()
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      closeSync(this.fd)
    }
  }
}

export async function exportTracker(
  home: string | Tracker,
  dest: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const tracker = typeof home === 'string' ? await openTracker(home) : home
  // sqlite: threads with connections of their own write the CSVs, if their snapshots are this one's
  const probe = tracker.backend === 'sqlite' ? await SnapshotProbe.open(sqlitePath(tracker)) : undefined
  const helpers: ExportThread[] = []
  const conn = await connect(tracker, {readonly: true})
  try {
    await scanCache(conn)
    await conn.begin(true)
    await options.afterSnapshot?.()
    if (probe) for (let i = 0; i < THREADS; i++) helpers.push(ExportThread.start(sqlitePath(tracker), probe))
    const {schema, warnings} = await loadSchema(conn, tracker)
    const classes = await exportFromConnection(conn, tracker, schema, dest, options, warnings, helpers)
    await conn.commit()
    return {
      tracker: tracker.home,
      backend: tracker.backend,
      dir: dest,
      classes,
      files: classes.reduce((n, c) => n + c.files, 0),
      bytes: classes.reduce((n, c) => n + c.bytes, 0),
      warnings,
    }
  } finally {
    await Promise.all(helpers.map((h) => h.close()))
    await probe?.close()
    await conn.rollback().catch(() => {})
    await conn.close()
  }
}

/**
 * Export through an open connection (inside the caller's read transaction: one consistent snapshot). `helpers`:
 * threads reading the same snapshot through connections of their own, which write the CSVs; the main thread
 * writes them only when no thread can.
 */
export async function exportFromConnection(
  conn: SqlConn,
  tracker: Tracker,
  schema: TrackerSchema,
  dest: string,
  options: ExportOptions,
  warnings: string[],
  helpers: ExportThread[] = [],
): Promise<ClassExport[]> {
  const names = selectClasses(schema, options.classes)
  const defs = names.map((name) => schema.classes.find((c) => c.name === name) as ClassDef)
  const classes: ClassExport[] = defs.map((c) => ({name: c.name, items: 0, journals: 0, files: 0, bytes: 0}))
  await writeDirAtomically(dest, async (stage) => {
    const copies =
      options.files !== false ? new BlobCopier(tracker, stage, options.copyChunk ?? copyChunkSize()) : undefined
    try {
      // every file copy is queued first, so the copies run (in the background) while the tables are written
      const fileIds = new Map<string, Float64Array>()
      for (const cls of defs) {
        if (cls.kind !== 'FileClass' || !copies) continue
        const ids = await nodeIds(conn, cls)
        fileIds.set(cls.name, ids)
        copies.add(cls.name, ids)
      }
      // each class's table and journals are files of their own: the parts, the largest first when two threads
      // share them (each thread takes the next part when it is done with one)
      const parts: Array<{at: number; job: PartJob; cost: number}> = []
      for (const [at, cls] of defs.entries()) {
        const ids = fileIds.get(cls.name)
        if (ids) (classes[at] as ClassExport).files = ids.length
        for (const kind of ['table', 'journals'] as const) {
          parts.push({at, job: {cls, kind, dir: stage, ...(ids ? {ids} : {})}, cost: 0})
        }
      }
      if (helpers.length > 0) {
        for (const part of parts) part.cost = await partCost(conn, part.job)
        parts.sort((a, b) => b.cost - a.cost)
      }
      // while the threads write the CSVs they keep both cores busy: the copies go without lane threads of their own
      // (an isolate each: with them the export's peak was five threads' heaps at once)
      if (copies && helpers.length > 0) copies.sharingCores = true
      const partWarnings = new Map<PartJob, string[]>()
      const started = new Set<number>()
      const take = () => {
        copies?.check()
        for (const h of helpers) h.check()
        const part = parts.shift()
        if (part && !started.has(part.at)) {
          started.add(part.at)
          options.onClass?.(part.job.cls.name)
        }
        return part
      }
      const record = (part: {at: number; job: PartJob}, r: PartResult, thread: 'main' | number) => {
        options.onPart?.(part.job.cls.name, part.job.kind, thread)
        const c = classes[part.at] as ClassExport
        if (part.job.kind === 'table') c.items = r.count
        else c.journals = r.count
        c.bytes += r.bytes
        partWarnings.set(part.job, r.warnings)
      }
      // woken by a thread when it may have changed (a part written, its snapshot checked, the thread gone)
      let woken: () => void = () => {}
      const wake = () => woken()
      for (const [i, h] of helpers.entries()) h.work(take, (part, r) => record(part, r, i + 1), wake)
      try {
        await Promise.all(helpers.map((h) => h.settled()))
        for (;;) {
          copies?.check()
          for (const h of helpers) h.check()
          if (parts.length === 0) break
          if (helpers.some((h) => h.helping)) {
            await new Promise<void>((resolve) => {
              woken = resolve
            })
            continue
          }
          const part = take()
          if (!part) break
          record(part, await exportPart(conn, part.job), 'main')
        }
      } finally {
        // the threads' parts under way are written (or failed) before the stage can go
        await Promise.all(helpers.map((h) => h.idle().catch(() => {})))
      }
      for (const h of helpers) h.check()
      // their heaps go now, not after the file copies
      await Promise.all(helpers.map((h) => h.close()))
      if (copies) copies.sharingCores = false
      await copies?.finish()
      for (const c of classes) c.bytes += copies?.bytes.get(c.name) ?? 0
      // in class order, as one thread would have met them
      for (const cls of defs) {
        for (const [job, list] of partWarnings) if (job.cls === cls) warnings.push(...list)
      }
    } finally {
      await copies?.abort()
    }
  })
  return classes
}

/**
 * getnodeids(): `select id from _<class>` in the database's own order (sqlite: the __retired__ index), as a typed
 * array: the ids are kept for the whole export and sent to the threads. Read as one column (no array per row) into a
 * store outside the JavaScript heap: 120 000 rows read as arrays, kept in an array of numbers, survived scavenge after
 * scavenge and grew the main thread's young generation to its largest (32 MiB).
 */
async function nodeIds(conn: SqlConn, cls: ClassDef): Promise<Float64Array> {
  const ids = await conn.column(`select id from _${cls.name}`)
  const out = new Float64Array(ids.length)
  for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i])
  return out
}

function exportPropnames(cls: ClassDef): string[] {
  const names = [...allProps(cls).keys()]
  return names.filter((n) => !(cls.kind === 'FileClass' && n === 'content')).sort(compareCodePoints)
}

/** One file of an export: a class's `<class>.csv` (table) or `<class>-journals.csv`. */
export interface PartJob {
  cls: ClassDef
  kind: 'table' | 'journals'
  /** the export's folder */
  dir: string
  /** the class's node ids in getnodeids() order, when the caller has them already */
  ids?: Float64Array
}

/** What a part wrote: its rows (nodes or journal entries), bytes and warnings. */
export interface PartResult {
  count: number
  bytes: number
  warnings: string[]
}

/** Writes one part of an export through `conn` (inside its read transaction). */
export async function exportPart(conn: SqlConn, job: PartJob): Promise<PartResult> {
  const ids = Array.from(job.ids ?? (await nodeIds(conn, job.cls)))
  const warnings: string[] = []
  if (job.kind === 'table') return {...(await exportTable(conn, job.cls, job.dir, ids)), warnings}
  return {...(await exportJournals(conn, job.cls, ids, allProps(job.cls), job.dir, warnings)), warnings}
}

/** Roughly how long a part takes, in fields encoded: rows times fields (a journal row: 5, its params the most). */
async function partCost(conn: SqlConn, job: PartJob): Promise<number> {
  const {cls} = job
  if (job.kind === 'journals') {
    if (!cls.journalling) return 0
    return Number((await conn.all(`select count(*) from ${cls.name}__journal`))[0]?.[0] ?? 0) * 8
  }
  const nodes = job.ids?.length ?? Number((await conn.all(`select count(*) from _${cls.name}`))[0]?.[0] ?? 0)
  return nodes * (allProps(cls).size + 1)
}

/** `<class>.csv`: the nodes of `ids`, in roundup-admin's order. */
async function exportTable(
  conn: SqlConn,
  cls: ClassDef,
  dir: string,
  ids: number[],
): Promise<{count: number; bytes: number}> {
  const props = allProps(cls)
  const propnames = exportPropnames(cls)
  const columns = propnames.filter((n) => n !== 'id' && props.get(n)?.type !== 'Multilink')
  const multilinks = propnames.filter((n) => props.get(n)?.type === 'Multilink')
  // per exported property: its definition and its column in the node row (id, __retired__, columns…)
  // and, for a stored column, how its field is written
  const plan = propnames.map((name) => {
    const p = props.get(name) as PropDef
    const field = name === 'id' || p.type === 'Multilink' ? undefined : exportField(p, conn.backend)
    return [name, p, 2 + columns.indexOf(name), field] as const
  })
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
  const out = new LineWriter(join(dir, `${cls.name}.csv`))
  try {
    await out.write(csvLine([...propnames, 'is retired']))
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
        let line = ''
        for (const [name, p, column, field] of plan) {
          if (name === 'id') line += `'${id}':`
          else if (p.type === 'Multilink') {
            line += `${multilinkField((links.get(name)?.get(id) ?? []).sort((a, b) => a - b))}:`
          } else line += `${(field as (v: unknown) => string)(r[column])}:`
        }
        const wrote = out.write(Number(r[1]) > 0 ? `${line}True\n` : `${line}False\n`)
        if (wrote) await wrote
      }
    }
  } finally {
    await out.close()
  }
  return {count: order.length, bytes: out.bytes}
}

/** Copies the first of `places` that exists (blobPlaces order, without a blocking existence check per file). */
async function copyFirst(places: string[], dest: string): Promise<void> {
  for (const [i, src] of places.entries()) {
    try {
      await copyLiveFile(src, dest)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || i === places.length - 1) throw error
    }
  }
}

/**
 * Copies FileClass contents into `<class>-files/` in the background, so the copies overlap the rest of the export
 * (journals, other classes): one core copyTree per class from `db/files/<class>`, in a thread of its own (its
 * small files copied with that thread's synchronous calls, on the other core), filtered to the snapshot's node ids.
 * Contents not in their usual place (`.tmp`, the old flat layout, a symlink, a multiply-linked file) are copied
 * one by one afterwards, from the first of blobPlaces that exists. Only node ids are held, never file contents.
 */
class BlobCopier {
  private chain: Promise<void> = Promise.resolve()
  private failure: unknown
  private stopped = false
  /** the class copy under way in its thread */
  private running: ThreadCopy | undefined
  /** bytes copied per class */
  readonly bytes = new Map<string, number>()
  /** Other threads keep the cores busy: the chunks copied meanwhile use no lane threads (core copyTree's). */
  sharingCores = false
  constructor(
    private readonly tracker: Tracker,
    private readonly dir: string,
    /** contents per copy thread (whole folders: a chunk may hold up to 999 more) */
    private readonly chunk: number,
  ) {}

  /** Throws the first copy failure, if any (so a missing content stops the export early). */
  check(): void {
    if (this.failure) throw this.failure
  }

  /** Queues the contents of `ids` (copied after the classes queued before). */
  add(cls: string, ids: Float64Array): void {
    this.check()
    this.chain = this.chain.then(async () => {
      if (this.stopped || this.failure) return
      try {
        await this.copyClass(cls, ids)
      } catch (error) {
        this.failure ??= error
      }
    })
  }

  private count(cls: string, size: number): void {
    this.bytes.set(cls, (this.bytes.get(cls) ?? 0) + size)
  }

  private async copyClass(cls: string, ids: Float64Array): Promise<void> {
    if (ids.length === 0) return
    const pending: number[] = []
    const source = join(this.tracker.dbDir, 'files', cls)
    const dest = join(this.dir, `${cls}-files`)
    const sourceStat = statSync(source, {throwIfNoEntry: false})
    if (sourceStat?.isDirectory()) {
      // `<id//1000>/<class><id>`: where roundup keeps a node's content. Whole folders at a time, at most about
      // `chunk` contents per copy thread: the paths listed (in this thread and the copy's) stay bounded however
      // many contents there are (a single list of 600k paths ran the copy thread out of its heap).
      const sorted = ids.slice().sort()
      let chunks = 0
      for (let from = 0; from < sorted.length; ) {
        let to = Math.min(from + this.chunk, sorted.length)
        const folder = Math.floor((sorted[to - 1] as number) / 1000)
        while (to < sorted.length && Math.floor((sorted[to] as number) / 1000) === folder) to++
        await this.copyChunk(cls, source, dest, chunks++, sorted.subarray(from, to), pending)
        from = to
        if (this.stopped) return
      }
      // the later chunks' folders were moved in: the folder's times as one copy leaves them (copyTree's: the
      // source's to the microsecond; from whole milliseconds they differed by 1 ms one run in two)
      if (chunks > 1) utimesSync(dest, sourceStat.atimeMs / 1000, sourceStat.mtimeMs / 1000)
    } else for (const id of ids) pending.push(id)
    for (const id of pending) {
      if (this.stopped) return
      const places = blobPlaces(this.tracker, cls, id)
      const sub = join(dest, String(Math.floor(id / 1000)))
      await mkdir(sub, {recursive: true})
      const target = join(sub, `${cls}${id}`)
      try {
        await copyFirst(places, target)
      } catch {
        throw new BkError(
          `the content of ${cls}${id} is missing (expected ${places[0]}); the export would be incomplete — restore db/files first`,
        )
      }
      this.count(cls, statSync(target).size)
    }
  }

  /**
   * Copies the contents of `ids` (whole folders) from `source` into `dest` in a thread; the first chunk makes
   * `dest`, a later one is copied beside it (a folder of its own in the export's stage) and its folders moved in.
   * Ids whose content is not a lone regular file in its usual place go to `pending`.
   */
  private async copyChunk(
    cls: string,
    source: string,
    dest: string,
    n: number,
    ids: Float64Array,
    pending: number[],
  ): Promise<void> {
    const into = n === 0 ? dest : `${dest}.${n}`
    const only: string[] = []
    for (const id of ids) only.push(`${Math.floor(id / 1000)}/${cls}${id}`)
    const copy = copyTreeInThread(source, into, {stage: false, only, ...(this.sharingCores ? {laneThreads: 0} : {})})
    only.length = 0 // the thread has its own copy of the list
    this.running = copy
    try {
      const {missed, bytes} = await copy.done
      this.count(cls, bytes)
      for (const path of missed) pending.push(Number(path.slice(path.indexOf('/') + 1 + cls.length)))
    } finally {
      this.running = undefined
    }
    if (into === dest) return
    for (const folder of readdirSync(into)) {
      renameSync(join(into, folder), join(dest, folder))
      crashPoint('roundup-export:chunk-rename')
    }
    rmdirSync(into)
  }

  /** Waits for every queued copy; throws the first failure. */
  async finish(): Promise<void> {
    await this.chain
    this.check()
  }

  /** Stops copying (after a failure elsewhere) and waits for the copy under way. */
  async abort(): Promise<void> {
    this.stopped = true
    await this.running?.stop()
    await this.chain
  }
}

/** Above this many ascending runs in getnodeids() order, one query per node is cheaper than one scan per run. */
const MAX_RUNS = 64

/** [start, end) index ranges of `ids` that are strictly ascending. */
function ascendingRuns(ids: number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  let start = 0
  for (let i = 1; i <= ids.length; i++) {
    if (i === ids.length || (ids[i] as number) <= (ids[i - 1] as number)) {
      if (i > start) runs.push([start, i])
      start = i
    }
  }
  return runs
}

/** export_journals(): per node in getnodeids() order, `order by date`, filtered as history() does. */
async function exportJournals(
  conn: SqlConn,
  cls: ClassDef,
  ids: number[],
  props: Map<string, PropDef>,
  dir: string,
  warnings: string[],
): Promise<{count: number; bytes: number}> {
  const out = new LineWriter(join(dir, `${cls.name}-journals.csv`))
  let count = 0
  try {
    if (!cls.journalling) {
      warnings.push(
        `${cls.name} has journalling disabled: its -journals.csv is empty (roundup-admin export fails here)`,
      )
      return {count: 0, bytes: 0}
    }
    const cols = `nodeid, date, tag, action, params from ${cls.name}__journal`
    // a promise only when the writer wrote its lines out
    const emit = (r: unknown[]): Promise<void> | undefined => {
      const line = exportJournalLine(r, props, conn.backend)
      if (line === undefined) return undefined
      count++
      return out.write(line)
    }
    const runs = ascendingRuns(ids)
    if (conn.backend === 'sqlite' && runs.length <= MAX_RUNS) {
      // One ordered scan per ascending run of getnodeids(), merged with the run: per node the rows come in the
      // order roundup's own `where nodeid=? order by date` gives (the nodeid index, then a sort by date per node,
      // ties in index order), without a query per node.
      const sql = `select ${cols} where nodeid >= ? and nodeid <= ? order by nodeid, date`
      for (const [from, to] of runs) {
        let k = from
        for await (const rows of conn.cursor(sql, BATCH, [ids[from], ids[to - 1]])) {
          for (const r of rows) {
            const nodeid = Number(r[0])
            while (k < to && (ids[k] as number) < nodeid) k++
            if (k < to && ids[k] === nodeid) {
              const wrote = emit(r)
              if (wrote) await wrote
            }
          }
        }
      }
    } else if (conn.backend === 'sqlite') {
      // the very statement roundup runs, so ties within one date keep sqlite's order
      for (const id of ids) {
        for (const r of await conn.all(`select ${cols} where nodeid=? order by date`, [id])) await emit(r)
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
          for (const r of byNode.get(id) ?? []) await emit(r)
        }
      }
    }
  } finally {
    await out.close()
  }
  return {count, bytes: out.bytes}
}
