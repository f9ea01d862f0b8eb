/**
 * `bk roundup restore <backup> <tracker-home>`: checks the archive against its manifest, extracts it beside the
 * target, stages the home (and an absolute [main] database folder beside its own place), puts the database back
 * (sqlite snapshot; psql/mysql into a fresh, empty database), refuses a database whose stored schema does not
 * match the restored schema.py (Roundup would alter or drop tables on open), then swaps every part in through
 * core's commit journal. The previous home is kept under a dated name that no later run reuses.
 */
import {existsSync, lstatSync, readFileSync, rmSync} from 'node:fs'
import {copyFile, mkdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, isAbsolute, join, resolve} from 'node:path'
import {extractArchive} from '@bkcli/core/archive'
import {loadDump, parseDbUrl, redactUrl} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {copyTree, fsyncTree} from '@bkcli/core/fs'
import {IniFile} from '@bkcli/core/ini'
import {type Manifest, readManifest, verifyManifest} from '@bkcli/core/manifest'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {
  type CommitPart,
  commitParts,
  journalPathFor,
  type Plan,
  recoverCommit,
  step,
  sweepLeftovers,
} from '@bkcli/core/workflow'
import {dbTarget} from './backup.js'
import {clearMarker, dropOrphanDatabases, markCreatedDatabase} from './created-database.js'
import {readStoredSchemaText} from './dbschema.js'
import {parseSchemaPy, parseStoredSchema, schemaDifferences} from './schema.js'
import {dropDatabaseOf, prepareEmptyDatabase} from './target.js'
import {describeDatabase, openTracker, type Tracker} from './tracker.js'
import {connect, openSqlite} from './tracker-db.js'

export interface RestoreOptions {
  /** point the restored home at another database: postgresql://user@host:port/name, mysql://…, sqlite: */
  backendUrl?: string
}

export interface RestoreResult {
  backup: string
  home: string
  backend: string
  database: string
  /** the previous home (and database folder), kept under names no later run reuses */
  kept: string[]
  notes: string[]
}

/** Rewrite config.ini's [rdbms] for a database URL (no password on the command line: it is kept from config.ini). */
export async function pointConfigAt(home: string, url: string, passwordFile?: string): Promise<void> {
  const ini0 = /^sqlite:?$/.test(url)
  const t = ini0 ? ({engine: 'sqlite', params: {}} as ReturnType<typeof parseDbUrl>) : parseDbUrl(url)
  if (t.password)
    throw new BkError('put no password in --backend-url (argv is visible to every user); keep it in config.ini')
  const ini = await IniFile.read(join(home, 'config.ini'), {
    interpolation: 'basic',
    defaults: {HOME: home, TRACKER_HOME: home},
  })
  const backend = t.engine === 'postgres' ? 'postgresql' : t.engine
  ini.set('rdbms', 'backend', backend)
  if (t.engine !== 'sqlite') {
    if (!t.database) throw new BkError(`--backend-url ${url} names no database`)
    ini.set('rdbms', 'name', t.database)
    if (t.host) ini.set('rdbms', 'host', t.host)
    ini.set('rdbms', 'port', t.port ? String(t.port) : '')
    if (t.user) ini.set('rdbms', 'user', t.user)
  }
  // Roundup's own secret mechanism: the password stays in a file, config.ini names it
  if (passwordFile) ini.set('rdbms', 'password', `file://${resolve(passwordFile)}`)
  await ini.write()
}

function checkSchema(home: string, schemaText: string, where: string): void {
  let py: ReturnType<typeof parseSchemaPy>
  try {
    py = parseSchemaPy(readFileSync(join(home, 'schema.py'), 'utf8'))
  } catch (error) {
    throw new BkError(`cannot check the restored schema.py against the database: ${(error as Error).message}`)
  }
  const diff = schemaDifferences(py, parseStoredSchema(schemaText), 'schema.py', where)
  if (diff.length > 0) {
    throw new BkError(
      `refusing to restore: schema.py does not match ${where} (${diff[0]}${diff.length > 1 ? `, and ${diff.length - 1} more` : ''}); Roundup would alter or drop tables on open`,
    )
  }
}

/** `<path>.old-YYYY-MM-DD_HHMMSS` (UTC), `-2`, `-3` … when taken: a kept copy is never overwritten. */
export function keptName(path: string, now = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '')
  const base = `${path}.old-${stamp}`
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`
    if (!exists(name)) return name
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/** The work names of one run beside the home: all match core's leftover sweep (`.<home>.bk-<what>-<pid>`). */
function workNames(path: string) {
  const parent = dirname(path)
  const base = basename(path)
  return {
    extract: join(parent, `.${base}.bk-extract-${process.pid}`),
    stage: join(parent, `.${base}.bk-stage-${process.pid}`),
  }
}

/** A restore of one archive into one tracker home: plan (reads only), recover (under the lock), run. */
export class TrackerRestore {
  private verified = false

  private constructor(
    readonly backup: string,
    readonly home: string,
    readonly options: RestoreOptions,
    private readonly manifest: Manifest,
  ) {}

  static async open(backupArg: string, homeArg: string, options: RestoreOptions = {}): Promise<TrackerRestore> {
    const backup = resolve(backupArg)
    const home = resolve(homeArg)
    const manifest = await readManifest(backup)
    if (manifest.application !== 'roundup') {
      throw new BkError(`${backupArg} is a ${manifest.application} backup, not a Roundup one`)
    }
    if (exists(home) && !lstatSync(home).isDirectory()) {
      throw new BkError(`${homeArg} exists and is not a directory; give the path of a tracker home`)
    }
    if (options.backendUrl && !/^sqlite:?$/.test(options.backendUrl) && parseDbUrl(options.backendUrl).password) {
      throw new BkError('put no password in --backend-url (argv is visible to every user); keep it in config.ini')
    }
    return new TrackerRestore(backup, home, options, manifest)
  }

  /** Whether a home is there to be replaced (and kept). */
  get replacing(): boolean {
    return exists(this.home)
  }

  private get extra(): {backend?: string; schema?: string; databaseDir?: string; database?: string} {
    return (this.manifest.extra ?? {}) as {backend?: string; schema?: string; databaseDir?: string; database?: string}
  }

  /** What the run would do; reads the archive (checksums) and nothing else. */
  async plan(): Promise<Plan> {
    const check = await verifyManifest(this.backup)
    if (!check.ok) {
      const bad = [...check.changed, ...check.missing]
      throw new BkError(
        `${this.backup} is damaged: ${bad.length} file(s) differ from its manifest (first: ${bad[0]}); nothing was restored`,
      )
    }
    this.verified = true
    const size = (await stat(this.backup)).size
    const url = this.options.backendUrl
    const backend = url ? (/^sqlite/.test(url) ? 'sqlite' : redactUrl(url)) : this.extra.backend
    const steps = [step('check', this.backup, `${check.checked} files match the manifest`, size)]
    const dbDir = this.extra.databaseDir ?? 'db'
    if (backend === 'sqlite') {
      const file = isAbsolute(dbDir) ? join(dbDir, 'db') : join(this.home, dbDir, 'db')
      steps.push(step('create', file, 'sqlite database from the backup'))
    } else {
      steps.push(
        step('create', url ? redactUrl(url) : String(this.extra.database), `new, empty ${this.extra.backend} database`),
        step('load', 'database/dump.sql', 'from the backup'),
      )
    }
    if (this.replacing) {
      steps.push(step('replace', this.home, 'tracker home'), step('keep', keptName(this.home), 'the previous home'))
    } else steps.push(step('create', this.home, 'tracker home'))
    if (isAbsolute(dbDir) && exists(dbDir)) {
      steps.push(step('replace', dbDir, '[main] database folder'), step('keep', keptName(dbDir), 'the previous one'))
    }
    return {summary: `restore ${this.backup} into ${this.home}`, steps}
  }

  /** Finish a commit a killed run left, drop its orphan database, sweep its stage and extract folders. */
  async recover(): Promise<string[]> {
    const lines = await recoverCommit(journalPathFor(this.home))
    lines.push(...(await dropOrphanDatabases(this.home)))
    lines.push(...(await sweepLeftovers(dirname(this.home), basename(this.home))))
    const current = await openTracker(this.home).catch(() => undefined)
    if (current && isAbsolute(current.dbDirSetting)) {
      lines.push(...(await sweepLeftovers(dirname(current.dbDir), basename(current.dbDir))))
    }
    return lines
  }

  async run(): Promise<RestoreResult> {
    if (!this.verified) await this.plan()
    const {backup, home, options} = this
    const extra = this.extra
    const notes: string[] = []
    const work = workNames(home)
    let dbStage: string | undefined
    // Synchronous: a signal exits right after its cleanups (an async rm would never finish).
    const unregister = onInterrupt(
      () => {
        for (const path of [work.extract, work.stage, dbStage]) if (path) rmSync(path, {recursive: true, force: true})
      },
      {sweep: true},
    )
    let createdDb: Tracker | undefined
    let marker: string | undefined
    let committed = false
    try {
      await mkdir(dirname(home), {recursive: true})
      await mkdir(work.extract, {mode: 0o700})
      await extractArchive({file: backup, target: work.extract})
      crashPoint('roundup-restore:extracted')
      if (!existsSync(join(work.extract, 'home', 'config.ini')))
        throw new BkError(`${backup} holds no tracker home (home/config.ini)`)
      const stage = work.stage
      await rename(join(work.extract, 'home'), stage)
      if (options.backendUrl) await pointConfigAt(stage, options.backendUrl)
      // the schema of the database in the backup must match the schema.py that comes with it
      if (extra.schema) checkSchema(stage, extra.schema, 'the schema stored in the backup')
      const staged = await openTracker(stage)
      if (staged.backend !== extra.backend) {
        throw new BkError(
          `the backup holds a ${extra.backend} database but the home is set to ${staged.backend}; use bk roundup migrate-backend after restoring`,
        )
      }
      const parts: CommitPart[] = [{stage, target: home}]
      // an absolute [main] database lives outside the home: staged beside its own place, swapped with the home
      let dbDir = staged.dbDir
      if (isAbsolute(staged.dbDirSetting)) {
        notes.push(`[main] database is the absolute path ${staged.dbDirSetting}: restored there`)
        dbStage = join(dirname(staged.dbDir), `.${basename(staged.dbDir)}.bk-stage-${process.pid}`)
        await mkdir(dbStage, {recursive: true, mode: 0o700})
        parts.push({stage: dbStage, target: staged.dbDir})
        dbDir = dbStage
      }
      if (staged.rdbms.passwordFile)
        notes.push(`[rdbms] password is read from ${staged.rdbms.passwordFile}: make sure it exists`)
      if (existsSync(join(work.extract, 'dbdir'))) {
        await mkdir(dbDir, {recursive: true})
        await copyTree(join(work.extract, 'dbdir'), join(dbDir, 'files'), {})
      }
      if (staged.backend === 'sqlite') {
        await mkdir(dbDir, {recursive: true})
        for (const f of ['db', 'db-session', 'db-otk']) {
          const src = join(work.extract, 'database', f)
          if (existsSync(src)) await copyFile(src, join(dbDir, f))
        }
        const conn = await openSqlite(join(dbDir, 'db'))
        try {
          await conn.run('pragma journal_mode=wal')
          checkSchema(stage, await readStoredSchemaText(conn), 'the restored database')
        } finally {
          await conn.close()
        }
      } else {
        const prepared = await prepareEmptyDatabase(staged)
        if (prepared.created) {
          createdDb = staged
          marker = markCreatedDatabase(home, staged)
        }
        crashPoint('roundup-restore:database-created')
        await loadDump(dbTarget(staged), join(work.extract, 'database', 'dump.sql'), {
          dumpName: `database/dump.sql in ${this.backup}`,
        })
        const conn = await connect(staged)
        try {
          checkSchema(stage, await readStoredSchemaText(conn), 'the restored database')
        } finally {
          await conn.close()
        }
      }
      for (const part of parts) if (part.stage) await fsyncTree(part.stage)
      crashPoint('roundup-restore:staged')
      const {kept} = await commitParts(parts, {journal: journalPathFor(home), keepAs: (p) => keptName(p.target)})
      committed = true
      crashPoint('roundup-restore:committed')
      clearMarker(marker)
      return {
        backup,
        home,
        backend: staged.backend,
        database:
          staged.backend === 'sqlite'
            ? join(isAbsolute(staged.dbDirSetting) ? staged.dbDir : join(home, staged.dbDirSetting), 'db')
            : describeDatabase(staged),
        kept,
        notes,
      }
    } catch (error) {
      if (createdDb && !committed) {
        await dropDatabaseOf(createdDb).catch(() => {})
        clearMarker(marker)
      }
      throw error
    } finally {
      for (const path of [work.extract, ...(committed ? [] : [work.stage, dbStage])]) {
        if (path) await removeSettled(path)
      }
      unregister()
    }
  }
}

/** The whole restore as a function (tests, programmatic use): planned, locked, recovered, run. */
export async function restoreTracker(
  backupArg: string,
  homeArg: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const {lockTargets} = await import('@bkcli/core/workflow')
  const restore = await TrackerRestore.open(backupArg, homeArg, options)
  await restore.plan()
  const release = await lockTargets([restore.home], 'bk roundup restore')
  try {
    await restore.recover()
    return await restore.run()
  } finally {
    await release()
  }
}

/**
 * Removes a work folder and makes sure it stays removed: after a failed extraction (a full disk) the extractor's
 * writes already in flight can still land and recreate part of it for a moment.
 */
async function removeSettled(path: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    await rm(path, {recursive: true, force: true, maxRetries: 3, retryDelay: 50})
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (!existsSync(path)) return
  }
}
