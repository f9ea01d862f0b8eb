/**
 * `bk roundup migrate-backend`: the admin guide's "Migrating Backends" in one command, natively.
 * One read snapshot of the source; a copy of the home (db/files included) with
 * config.ini pointed at the new backend; the target
 * schema created as Roundup creates it; rows, multilinks, journals (Date/Boolean params re-encoded), counters,
 * the schema row and the native full-text index (__textids/__words + counter) copied table by table, __fts
 * (native-fts) filled from the data as Roundup's indexer fills it; then both
 * trackers exported (exporttables) and compared; then the new home swapped in (the old one kept as `<home>.old-<UTC stamp>`),
 * or left beside it with --no-swap. The source database is never written.
 */
import {existsSync, rmSync} from 'node:fs'
import {lstat, mkdir, rename, rm, stat, utimes} from 'node:fs/promises'
import {basename, dirname, isAbsolute, join, relative, resolve} from 'node:path'
import {parseDbUrl, redactUrl} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {copyTree, copyTreeInThread, syncTree} from '@bkcli/core/fs'
import {IniFile} from '@bkcli/core/ini'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {commitParts, journalPathFor, type Plan, recoverCommit, step, sweepLeftovers} from '@bkcli/core/workflow'
import {LIVE_DB_FILES} from './backup.js'
import {compareExports, listFilesSorted} from './compare.js'
import {clearMarker, dropOrphanDatabases, markCreatedDatabase} from './created-database.js'
import {loadSchema, readStoredSchemaText} from './dbschema.js'
import {classColumns, createStatements, setNextIdSql} from './ddl.js'
import {exportFromConnection} from './export.js'
import {contentFromFiles, fillFullText, indexerNote, indexerSettings, setTextIdCounter} from './fulltext.js'
import {Pipeline} from './pipeline.js'
import type {Backend} from './rdate.js'
import {keptName, pointConfigAt} from './restore.js'
import {allProps, type ClassDef, type TrackerSchema} from './schema.js'
import {openFreshDatabase} from './target.js'
import {describeDatabase, openTracker, type Tracker} from './tracker.js'
import {connect, type SqlConn} from './tracker-db.js'
import {convertDate, convertJournalParams} from './values.js'

export interface MigrateOptions {
  to: Backend
  /** target database URL (postgresql://user@host:port/name, mysql://…); sqlite needs none */
  url?: string
  /** file holding the target database password (config.ini gets `password = file://<it>`) */
  passwordFile?: string
  /** leave the new home beside the old one instead of swapping */
  noSwap?: boolean
  /** where the new home goes with --no-swap (default `<home>-<backend>`) */
  newHome?: string
  onStep?: (step: string) => void
  /** bk roundup move: copy into a new home on the same backend */
  sameBackend?: boolean
}

export interface MigrateResult {
  home: string
  from: Backend
  to: Backend
  database: string
  newHome: string
  oldHome?: string
  classes: {name: string; items: number; journals: number}[]
  verified: {files: number}
  notes: string[]
}

const BATCH = 1000

/** Checks a migration as the real run does before writing; returns the tracker and where the new home goes. */
export async function migrateTarget(
  homeArg: string,
  options: MigrateOptions,
): Promise<{source: Tracker; home: string; finalHome: string}> {
  const source = await openTracker(homeArg)
  if (source.backend === options.to && !options.sameBackend) {
    throw new BkError(`${homeArg} already uses the ${options.to} backend`)
  }
  if (options.to !== 'sqlite' && !options.url) {
    throw new BkError(`--url is required for --to ${options.to} (e.g. ${options.to}://user@host/newdb)`)
  }
  if (options.url) {
    const t = parseDbUrl(options.url)
    const engine = t.engine === 'postgres' ? 'postgresql' : t.engine
    if (engine !== options.to) throw new BkError(`--url ${options.url} is not a ${options.to} URL`)
  }
  const home = source.home
  const finalHome = options.noSwap ? resolve(options.newHome ?? `${home}-${options.to}`) : home
  if (options.noSwap && existsSync(finalHome))
    throw new BkError(`${finalHome} already exists; choose another --new-home`)
  return {source, home, finalHome}
}

/** The plan of a migration or move (reads only). */
export async function migratePlan(homeArg: string, options: MigrateOptions): Promise<Plan> {
  const {source, home, finalHome} = await migrateTarget(homeArg, options)
  const target = options.url ? redactUrl(options.url) : `${options.noSwap ? finalHome : home}/db/db`
  const steps = [
    step('copy', describeDatabase(source), 'one read snapshot; the source is never written'),
    step('create', target, `new ${options.to} database (an existing one must be empty)`),
    step('load', target, 'rows, multilinks, journals, counters, full-text index; then both exported and compared'),
  ]
  if (options.noSwap) steps.push(step('create', finalHome, 'the new tracker home'))
  else steps.push(step('replace', home, `home pointed at ${options.to}`), step('keep', keptName(home), 'the old home'))
  return {summary: `${options.sameBackend ? 'copy' : 'migrate'} ${home} to ${options.to}`, steps}
}

/**
 * A run killed inside its swap left the commit journal: the home may be at its kept name, and the new one (checked
 * before the journal was written) at its stage. Such a home is not checked as a source: the next run finishes the
 * swap under the lock (recoverMigrate) and reports where the home now is.
 */
export function swapPending(homeArg: string): boolean {
  return existsSync(journalPathFor(resolve(homeArg)))
}

/** The plan of finishing a swap a killed run left (reads only). */
export function finishSwapPlan(homeArg: string): Plan {
  const home = resolve(homeArg)
  return {
    summary: `finish the swap of ${home} that a killed run left`,
    steps: [step('replace', home, 'with the copy that run staged and checked; the old home stays kept')],
  }
}

/** After recoverMigrate finished a pending swap: what the home is now. */
export async function finishedSwap(homeArg: string): Promise<{home: string; backend: Backend; database: string}> {
  const t = await openTracker(homeArg)
  return {home: t.home, backend: t.backend, database: describeDatabase(t)}
}

/** Under the home's lock: finish a swap a killed run left, drop its orphan database, sweep its stages. */
export async function recoverMigrate(home: string): Promise<string[]> {
  const lines = await recoverCommit(journalPathFor(home), 'swap') // a migration's or a restore's: both swap the home
  lines.push(...(await dropOrphanDatabases(home)))
  lines.push(...(await sweepLeftovers(dirname(resolve(home)), basename(resolve(home)))))
  return lines
}

export async function migrateBackend(homeArg: string, options: MigrateOptions): Promise<MigrateResult> {
  const {source, home, finalHome} = await migrateTarget(homeArg, options)
  const notes: string[] = []
  const stage = join(dirname(home), `.${basename(home)}.bk-stage-${process.pid}`)
  await rm(stage, {recursive: true, force: true})
  // The verification exports (every row of the tracker) go beside the home, not into the temp folder: a run killed
  // before it removes them leaves them where the next run on this home sweeps them (sweepLeftovers: `.bk-stage-`).
  const scratch = `${stage}-verify`
  await rm(scratch, {recursive: true, force: true})
  await mkdir(scratch, {mode: 0o700})
  // Synchronous: a signal exits right after its cleanups (an async rm would never finish).
  const unregister = onInterrupt(
    () => {
      rmSync(stage, {recursive: true, force: true})
      rmSync(scratch, {recursive: true, force: true})
    },
    {sweep: true},
  )
  let marker: string | undefined
  let swapped = false
  const src = await connect(source, {readonly: true})
  let target: Awaited<ReturnType<typeof openFreshDatabase>> | undefined
  let committed = false
  let targetTracker: Tracker | undefined
  /** the background copy of db/files into the stage (settled, never rejected: it resolves to its failure) */
  let filesCopy: Promise<void> | undefined
  /** the source's verification export, made while the server builds the indexes (settled like filesCopy) */
  let sourceExport: Promise<void> | undefined
  const classes: MigrateResult['classes'] = []
  try {
    await src.begin(true)
    options.onStep?.('reading the source schema')
    const {schema} = await loadSchema(src, source)
    const schemaText = await readStoredSchemaText(src)

    options.onStep?.('copying the tracker home')
    const dbInHome = !relative(home, source.dbDir).startsWith('..')
    const dbRel = relative(home, source.dbDir).split('\\').join('/')
    const filesRel = dbRel === '' ? 'files' : `${dbRel}/files`
    const filesInHome = dbInHome && (await isDir(join(home, filesRel)))
    await copyTree(home, stage, {
      skip: (path) => {
        if (!dbInHome) return false
        if (filesInHome && path === filesRel) return true // below, as links
        const inDb = path.startsWith(`${dbRel}/`) ? path.slice(dbRel.length + 1) : undefined
        return inDb !== undefined && LIVE_DB_FILES.test(inDb)
      },
    })
    // db/files (most of the home's bytes) are copied in the background while the database is written: the copies
    // run in the thread pool, the rows in this thread and the database server. Awaited before anything reads them.
    if (filesInHome) filesCopy = background(copyContents(join(home, filesRel), join(stage, filesRel)))
    if (!dbInHome || isAbsolute(source.dbDirSetting)) {
      const ini = await IniFile.read(join(stage, 'config.ini'), {
        interpolation: 'basic',
        defaults: {HOME: stage, TRACKER_HOME: stage},
      })
      ini.set('main', 'database', 'db')
      await ini.write()
      await mkdir(join(stage, 'db'), {recursive: true})
      if (await isDir(join(source.dbDir, 'files')))
        filesCopy = background(copyContents(join(source.dbDir, 'files'), join(stage, 'db', 'files')))
      notes.push(`[main] database was ${source.dbDirSetting}: the new home keeps its files in its own db/`)
    }
    await pointConfigAt(stage, options.url ?? 'sqlite:', options.passwordFile)
    targetTracker = await openTracker(stage)

    // a new sqlite file goes into the copied db/ (whose times the copy sets when it is done): the copy first
    if (targetTracker.backend === 'sqlite') await filesCopy
    options.onStep?.(`creating the ${options.to} database`)
    target = await openFreshDatabase(targetTracker)
    if (target.created && targetTracker.backend !== 'sqlite') marker = markCreatedDatabase(home, targetTracker)
    crashPoint('roundup-migrate:database-created')
    const dst = target.conn
    // tables first, their indexes once the rows are in (one index build instead of an update per row)
    const ddl = createStatements(schema, dst.backend)
    const isIndex = (sql: string) => /^create (unique )?index /i.test(sql)
    for (const sql of ddl.filter((x) => !isIndex(x))) await dst.run(sql)
    // the schema row does not depend on the backend: copied verbatim
    await dst.run(`insert into ${dst.backend === 'mysql' ? '`schema`' : 'schema'} values (${dst.arg(1)})`, [schemaText])

    for (const cls of schema.classes) {
      options.onStep?.(`copying ${cls.name}`)
      classes.push(await copyClass(src, dst, cls))
    }
    options.onStep?.('copying the full-text index')
    const copiedTexts = await copyFullText(src, dst)
    const indexer = indexerSettings(targetTracker)
    // __fts (native-fts) is made from the data as Roundup's indexer makes it; __words/__textids are copied
    // as they are, or made from the data when the source has none (e.g. it used native-fts or xapian)
    if (indexer.fills === 'fts' || (indexer.fills === 'words' && copiedTexts === 0)) {
      options.onStep?.('filling the full-text index')
      // the contents read from the source's db/files (the very files being copied): the copy need not be done
      const filled = await fillFullText(dst, schema, indexer, {
        content: contentFromFiles(join(source.dbDir, 'files')),
      })
      notes.push(...indexerNote(indexer, filled))
    } else if (indexer.fills === 'none') notes.push(...indexerNote(indexer, {texts: 0, words: 0}))
    options.onStep?.('copying db/files')
    await filesCopy
    // the source's export for the verification is made (in this thread, from the source snapshot) while the
    // database server builds the indexes and commits: its own work, no rows held here
    const a = join(scratch, 'source')
    const b = join(scratch, 'target')
    sourceExport = background(exportFromConnection(src, source, schema, a, {files: false}, []))
    // the full-text tables' indexes too once their rows are in (__words: three on PostgreSQL); a unique index
    // still refuses duplicates, only at the end of the same transaction
    options.onStep?.('creating the indexes')
    const indexes = ddl.filter(isIndex)
    // PostgreSQL: every index in one simple-protocol query, one round trip (this thread is busy with the export)
    if (dst.backend === 'postgresql' && indexes.length > 0) await dst.run(indexes.join(';\n'))
    else for (const sql of indexes) await dst.run(sql)
    await target.commit()
    committed = true

    options.onStep?.('verifying: exporting both trackers')
    await sourceExport
    const check = await connect(targetTracker, {readonly: true})
    try {
      await check.begin(true)
      const {schema: tschema} = await loadSchema(check, targetTracker)
      // after the source's: run at once, the target's batches (held across its round trips) outlived the
      // source's allocations and were promoted, growing the heap by ~40 MB at 20k issues (peak RSS past 200 MB)
      await exportFromConnection(check, targetTracker, tschema, b, {files: false}, [])
    } finally {
      await check.rollback().catch(() => {})
      await check.close()
    }
    const dropMillis = source.backend === 'mysql' || options.to === 'mysql'
    const difference = await compareExports(a, b, dropMillis)
    if (difference) {
      throw new BkError(
        `verification failed: ${difference.file} differs after migration (line ${difference.line}); nothing was swapped`,
      )
    }
    const verifiedFiles = (await listFilesSorted(a)).length
    await src.rollback()
    // no copy of the rows outlives the check: a kill from here on finds no scratch to leave behind
    await rm(scratch, {recursive: true, force: true})

    let oldHome: string | undefined
    // every file of the stage on disk before it is published: one syncfs (fsync per file where there is none)
    await syncTree(stage)
    crashPoint('roundup-migrate:staged')
    if (options.noSwap) {
      // --new-home may name a folder not made yet: its parents are created, as for any new home
      await mkdir(dirname(finalHome), {recursive: true})
      await rename(stage, finalHome)
      if (options.to === 'sqlite') await pointConfigAt(finalHome, 'sqlite:')
    } else {
      const {kept} = await commitParts([{stage, target: home}], {
        journal: journalPathFor(home),
        keepAs: (p) => keptName(p.target),
      })
      oldHome = kept[0]
    }
    swapped = true
    crashPoint('roundup-migrate:committed')
    clearMarker(marker)
    if (source.rdbms.passwordFile && options.to !== 'sqlite')
      notes.push(`[rdbms] password stays ${source.rdbms.passwordFile}: check it is right for the new database`)
    notes.push('sessions and one-time keys were not copied: users log in again')
    const t = await openTracker(finalHome)
    return {
      home,
      from: source.backend,
      to: options.to,
      database: describeDatabase(t),
      newHome: finalHome,
      oldHome,
      classes,
      verified: {files: verifiedFiles},
      notes,
    }
  } catch (error) {
    // nothing may still be writing into the stage (or reading the source) when it is removed (or closed)
    await filesCopy?.catch(() => {})
    await sourceExport?.catch(() => {})
    if (target && !committed) await target.abort().catch(() => {})
    else if (committed && !swapped && targetTracker && targetTracker.backend !== 'sqlite') {
      const {dropDatabaseOf} = await import('./target.js')
      await dropDatabaseOf(targetTracker).catch(() => {})
    }
    if (!swapped) {
      clearMarker(marker)
      await rm(stage, {recursive: true, force: true})
    }
    throw error
  } finally {
    await src.rollback().catch(() => {})
    await src.close()
    await rm(scratch, {recursive: true, force: true})
    unregister()
  }
}

/**
 * A promise started now and awaited later: its rejection is not "unhandled" meanwhile (whoever awaits it gets it).
 */
function background(p: Promise<unknown>): Promise<void> {
  const settled = p.then(() => {})
  settled.catch(() => {})
  return settled
}

async function isDir(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false
}

/**
 * db/files into the new home: copies (reflinks where the file system has them), never hard links. Roundup itself
 * replaces a content file by rename, but `roundup-admin import` writes over existing ones in place
 * (shutil.copyfile), which through a shared inode would change the old home, the one kept to go back to.
 * The folder's own mode and times stay as copyTree sets them; its parent's times are put back after.
 */
async function copyContents(src: string, dest: string): Promise<void> {
  const parent = await stat(dirname(dest))
  // in a thread of its own: its small-file copies run on the other core, not between the rows on this one
  await copyTreeInThread(src, dest).done
  await utimes(dirname(dest), parent.atime, parent.mtime)
}

function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8')
  if (typeof v === 'bigint') return Number(v)
  return v
}

function boolTo(v: unknown, to: Backend): unknown {
  if (v === null || v === undefined) return null
  const n = v === true || v === 'TRUE' || v === 't' ? 1 : v === false || v === 'FALSE' || v === 'f' ? 0 : Number(v)
  return to === 'postgresql' ? n !== 0 : n
}

async function copyClass(
  src: SqlConn,
  dst: SqlConn,
  cls: ClassDef,
): Promise<{name: string; items: number; journals: number}> {
  const from = src.backend
  const to = dst.backend
  const {columns, multilinks} = classColumns(cls, to)
  const names = ['id', '__retired__', ...columns.map((c) => c.name)]
  const props = allProps(cls)
  const ml = (c: SqlConn, m: string) => (c.backend === 'mysql' ? `\`${cls.name}_${m}\`` : `${cls.name}_${m}`)
  const tie = from === 'postgresql' ? ', ctid' : from === 'sqlite' ? ', rowid' : ''
  let items = 0
  let journals = 0
  let last = 0
  // each batch's insert runs while the next batch is read and converted
  const inserts = new Pipeline()
  for (;;) {
    const rows = await src.all(
      `select ${names.join(',')} from _${cls.name} where id > ${src.arg(1)} order by id limit ${BATCH}`,
      [last],
    )
    const lo = last
    const hi = rows.length === 0 ? undefined : Number(rows[rows.length - 1]![0])
    if (rows.length > 0) {
      const out = rows.map((r) =>
        r.map((v, i) => {
          if (i < 2) return Number(v)
          const c = columns[i - 2]!
          if (c.intervalSeconds) return v === null ? null : Number(v)
          if (c.prop?.type === 'Date') return convertDate(v, from, to)
          if (c.prop?.type === 'Boolean') return boolTo(v, to)
          if (c.prop?.type === 'Link' || c.prop?.type === 'Integer') return v === null ? null : Number(v)
          return plain(v)
        }),
      )
      await inserts.add(() => dst.insertMany(`_${cls.name}`, names, out))
      items += rows.length
    }
    // multilink and journal rows of the node-id window (lo, hi]; the last window is open-ended (orphans too)
    const range = hi === undefined ? `nodeid > ${src.arg(1)}` : `nodeid > ${src.arg(1)} and nodeid <= ${src.arg(2)}`
    const args = hi === undefined ? [lo] : [lo, hi]
    for (const m of multilinks) {
      const links = await src.all(`select linkid, nodeid from ${ml(src, m.name)} where ${range}`, args)
      if (links.length > 0) {
        const rows = links.map(([l, n]) => (to === 'mysql' ? [String(l), String(n)] : [Number(l), Number(n)]))
        await inserts.add(() => dst.insertMany(ml(dst, m.name), ['linkid', 'nodeid'], rows))
      }
    }
    const jrows = await src.all(
      `select nodeid, date, tag, action, params from ${cls.name}__journal where ${range} order by nodeid, date${tie}`,
      args,
    )
    if (jrows.length > 0) {
      const rows = jrows.map(([n, d, t, a, p]) => {
        const action = String(plain(a))
        const params = p === null ? null : convertJournalParams(String(plain(p)), action, props, from, to)
        return [Number(n), convertDate(d, from, to), t === null ? null : String(plain(t)), action, params]
      })
      await inserts.add(() =>
        dst.insertMany(`${cls.name}__journal`, ['nodeid', 'date', 'tag', 'action', 'params'], rows),
      )
      journals += jrows.length
    }
    if (hi === undefined) break
    last = hi
  }
  await inserts.drain()
  const next = await nextId(src, cls.name)
  const {sql, params} = setNextIdSql(cls.name, next, to)
  await dst.run(sql, params)
  return {name: cls.name, items, journals}
}

/** The next id a class would get (ids of destroyed items are never reused). */
export async function nextId(conn: SqlConn, cls: string): Promise<number> {
  if (conn.backend === 'postgresql') {
    const [row] = await conn.all(`select last_value, is_called from _${cls}_ids`)
    const lastValue = Number(row?.[0])
    return row?.[1] ? lastValue + 1 : lastValue
  }
  const [row] = await conn.all(`select num from ids where name = ${conn.arg(1)}`, [cls])
  return row ? Number(row[0]) : 1
}

/** Copy __textids/__words and the text id counter as they are; returns the texts copied. */
async function copyFullText(src: SqlConn, dst: SqlConn): Promise<number> {
  let texts = 0
  const inserts = new Pipeline()
  for (const [table, cols] of [
    ['__textids', ['_textid', '_class', '_itemid', '_prop']],
    ['__words', ['_word', '_textid']],
  ] as const) {
    // one ordered read (LIMIT/OFFSET pages would sort the whole table again for every page)
    for await (const rows of src.cursor(`select ${cols.join(',')} from ${table} order by ${cols.join(',')}`, BATCH)) {
      const out = rows.map((r) => r.map(plain))
      await inserts.add(() => dst.insertMany(table, [...cols], out))
      if (table === '__textids') texts += rows.length
    }
  }
  await inserts.drain()
  if (texts > 0) await setTextIdCounter(dst, await nextId(src, '__textids').catch(() => 1))
  return texts
}

export type {TrackerSchema}
