/**
 * `bk trac restore`: Trac has no restore command; its wiki's instructions fail on its own pg dump. A hotcopy
 * (trac-admin's or bk's) or a bk archive goes into an env with one commit point: the env and, for an SQLite file
 * outside the env, the database are staged complete and checked beside their targets, then swapped in together
 * through core's commit journal (`commitParts`): a kill, a signal or a full disk at any instant leaves the old
 * state or the new one, never a mix, and the next bk on the env finishes or cleans up. The replaced env and
 * database (with its -wal/-shm) are kept under new dated names, never overwritten. A PostgreSQL/MySQL dump goes
 * into a new or empty database; one bk created is dropped again when the restore fails or was killed before
 * its commit (one that was empty before is emptied again).
 */
import {rmSync} from 'node:fs'
import {chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {extractArchive, readArchiveMember} from '@bkcli/core/archive'
import {redactUrl, sqliteIntegrityCheck, sqliteTableCounts} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {copyTree, dirSize, fsyncPath, fsyncTree, isInside, pathExists} from '@bkcli/core/fs'
import {IniFile} from '@bkcli/core/ini'
import {MANIFEST_NAME, readManifest, verifyManifest} from '@bkcli/core/manifest'
import {type Frontend, type FrontendReport, frontendSteps, withFrontendsStopped} from '@bkcli/core/process'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {
  commitParts,
  journalPathFor,
  type OperationContext,
  type Plan,
  type PlanStep,
  recoverCommit,
  step,
  sweepLeftovers,
} from '@bkcli/core/workflow'
import {TRAC_DB_VERSION} from './convert/schema.js'
import {DUMP_FILES, dumpDatabaseVersion, sqliteDatabaseVersion} from './database.js'
import {formatTracDbUrl, parseTracDbUrl, sqlitePathIn, type TracDbUrl} from './db-url.js'
import {checkEnvironmentDir, DEFAULT_DATABASE, TracEnvironment} from './environment.js'
import {createdDatabaseMarker, dropCreatedDatabase, loadTracDump} from './restore-db.js'
import {TracConfig} from './trac-config.js'
import {restoreFrontends} from './tracd.js'

export interface RestoreOptions {
  /** Restore the database here instead of where the hotcopy's trac.ini points (password already resolved). */
  db?: TracDbUrl
  /** Highest database_version the installed Trac can use (default 45, or the replaced env's own if higher). */
  maxDatabaseVersion?: number
  /** Frontends to stop before the restore and start again after it (--stop-server/--stop-unit/--stop-command). */
  frontends?: Frontend[]
  /** Also stop (and start again) every tracd found serving the environment (default true). */
  stopTracd?: boolean
}

export interface RestoreResult {
  source: string
  target: string
  env: string
  engine: string
  database: string
  databaseVersion?: number
  tables?: Record<string, number>
  replaced: boolean
  /** The replaced env (and outside database, with its side files), kept under these new names. */
  kept: string[]
  previous?: string
  /** The frontends stopped for the restore and started again. */
  frontends?: FrontendReport[]
}

const SIDE_FILES = ['-wal', '-shm', '-journal']

/** What the backup holds, read without writing anything. */
interface BackupInfo {
  isArchive: boolean
  written: TracDbUrl
  version?: number
  hasManifest: boolean
}

/** `<path>.old-YYYYmmddTHHMMSSZ`, with `-2`, `-3` … when taken: a kept copy is never overwritten. */
async function keptName(path: string, stamp: string): Promise<string> {
  const base = `${path}.old-${stamp}`
  if (!(await pathExists(base))) return base
  for (let i = 2; ; i++) if (!(await pathExists(`${base}-${i}`))) return `${base}-${i}`
}

export class TracRestore {
  private constructor(
    readonly source: string,
    readonly sourceArg: string,
    /** The env restored into (absolute). */
    readonly env: string,
    private readonly options: RestoreOptions,
    private readonly info: BackupInfo,
  ) {}

  /** Reads the backup (manifest, trac.ini; an archive's members without extracting it): nothing is written. */
  static async open(sourceArg: string, envArg: string, options: RestoreOptions = {}): Promise<TracRestore> {
    const source = resolve(sourceArg)
    const env = resolve(envArg)
    const st = await stat(source).catch(() => {
      throw new BkError(`${sourceArg} does not exist; give a hotcopy directory or a bk trac backup archive`)
    })
    if (!(await pathExists(dirname(env)))) {
      throw new BkError(`the parent directory of ${env} does not exist; create it first`)
    }
    const envStat = await stat(env).catch(() => undefined)
    if (envStat && !envStat.isDirectory()) {
      throw new BkError(`${env} exists and is a file; choose an empty or new directory`, {code: 'ENOTDIR'})
    }
    const info = st.isDirectory() ? await dirInfo(source, sourceArg) : await archiveInfo(source, sourceArg)
    return new TracRestore(source, sourceArg, env, options, info)
  }

  /** The database restored into: --db, else the backup's own. */
  get database(): TracDbUrl {
    return this.options.db ?? this.info.written
  }

  /** The live SQLite file, when the database is SQLite. */
  get sqliteFile(): string | undefined {
    return this.database.engine === 'sqlite' ? sqlitePathIn(this.env, this.database) : undefined
  }

  /** An SQLite file outside the env: replaced beside the env, in the same commit. */
  get outsideSqlite(): string | undefined {
    const file = this.sqliteFile
    return file && !isInside(file, this.env) ? file : undefined
  }

  /** Paths locked for the run: the env, and an outside SQLite database. */
  get locks(): string[] {
    return [this.env, ...(this.outsideSqlite ? [this.outsideSqlite] : [])]
  }

  /** Everything a real run checks before it changes anything; reads only. */
  /** The given frontends, then the tracd processes found serving the environment (not already given). */
  frontends(): Frontend[] {
    return restoreFrontends(this.env, this.options.frontends ?? [], this.options.stopTracd)
  }

  async plan(): Promise<Plan> {
    const frontends = frontendSteps(this.frontends())
    const plan = await this.planRestore()
    return {...plan, steps: [...frontends.stop, ...plan.steps, ...frontends.start]}
  }

  private async planRestore(): Promise<Plan> {
    const db = this.database
    const written = this.info.written
    if (db.engine !== written.engine) {
      throw new BkError(
        `the hotcopy holds a ${written.engine} database but --db is ${db.engine}; restore first, then use bk trac convert`,
      )
    }
    const replacing = await this.replacing()
    await this.checkVersion(this.info.version)
    const stamp = 'YYYYmmddTHHMMSSZ'
    const size = (path: string) => dirSize(path).catch(() => undefined)
    const steps: PlanStep[] = [
      step(
        'check',
        this.source,
        this.info.hasManifest ? 'checksums against its manifest' : 'a Trac hotcopy',
        await size(this.source),
      ),
    ]
    if (db.engine !== 'sqlite') {
      steps.push(step('load', `${db.engine} database ${db.database}`, redactUrl(formatTracDbUrl(db))))
    }
    steps.push(step(replacing ? 'replace' : 'create', this.env, 'Trac environment'))
    if (replacing)
      steps.push(step('keep', `${this.env}.old-${stamp}`, 'the replaced environment', await size(this.env)))
    const outside = this.outsideSqlite
    if (outside) {
      const exists = await pathExists(outside)
      steps.push(step(exists ? 'replace' : 'create', outside, 'SQLite database outside the environment'))
      if (exists) {
        let bytes = 0
        for (const suffix of ['', ...SIDE_FILES]) bytes += (await size(outside + suffix)) ?? 0
        steps.push(step('keep', `${outside}.old-${stamp}`, 'the replaced database, with its -wal/-shm', bytes))
      }
    }
    return {summary: `restore ${this.sourceArg} into ${this.env}`, steps}
  }

  /** Asked before anything is replaced. */
  confirm(plan: Plan): {question: string; action: string} | undefined {
    const replaced = plan.steps.filter((s) => s.op === 'replace').map((s) => s.target)
    if (replaced.length === 0) return undefined
    return {
      question: `Replace ${replaced.join(' and ')} with ${this.sourceArg}?`,
      action: `replace the Trac environment ${this.env}`,
    }
  }

  /**
   * Under the lock, before acting: finishes a commit a killed restore left (roll forward), drops a database a
   * killed restore created but never committed, removes its stage and extract folders.
   */
  async recover(): Promise<string[]> {
    return recoverEnv(this.env, {known: this.database, outsideSqlite: this.outsideSqlite})
  }

  /** The restore, with the frontends stopped around it and started again afterwards (also on failure). */
  async run(context?: OperationContext): Promise<RestoreResult> {
    const {value, frontends} = await withFrontendsStopped(this.frontends(), () => this.restore(context))
    return {...value, frontends}
  }

  /** The restore itself (see the file's comment). */
  private async restore(context?: OperationContext): Promise<RestoreResult> {
    let extracted: string | undefined
    // synchronous: the process exits right after a signal
    const unregister = onInterrupt(() => {
      if (extracted) rmSync(extracted, {recursive: true, force: true})
    })
    try {
      let dir = this.source
      if (this.info.isArchive) {
        extracted = await mkdtemp(join(dirname(this.env), `.${basename(this.env)}.bk-extract-`))
        context?.info(`Extracting ${this.sourceArg} ...`)
        await extractArchive({file: this.source, target: extracted})
        crashPoint('trac-restore:extracted')
        dir = extracted
      }
      return await this.restoreFrom(dir, context)
    } finally {
      unregister()
      if (extracted) await rm(extracted, {recursive: true, force: true})
    }
  }

  private async replacing(): Promise<boolean> {
    if (!(await pathExists(this.env))) return false
    const isEnv = await checkEnvironmentDir(this.env).then(
      () => true,
      () => false,
    )
    if (!isEnv && (await readdir(this.env)).length > 0) {
      throw new BkError(`${this.env} exists and is not a Trac environment; choose an empty or new directory`)
    }
    return true
  }

  private async checkVersion(version: number | undefined): Promise<void> {
    let max = this.options.maxDatabaseVersion ?? TRAC_DB_VERSION
    if (this.options.maxDatabaseVersion === undefined && (await pathExists(this.env))) {
      const current = await currentVersion(this.env)
      if (current !== undefined) max = Math.max(max, current)
    }
    if (version !== undefined && version > max) {
      throw new BkError(
        `the backup's database_version is ${version} but this Trac uses at most ${max} (Trac would say "Need to downgrade"); upgrade Trac first or pass --max-database-version`,
        {code: 'EDBVERSION'},
      )
    }
  }

  private async restoreFrom(dir: string, context?: OperationContext): Promise<RestoreResult> {
    await checkHotcopy(dir, this.sourceArg)
    if (await pathExists(join(dir, MANIFEST_NAME))) {
      const check = await verifyManifest(dir)
      if (!check.ok) {
        const bad = [...check.missing, ...check.changed].slice(0, 3).join(', ')
        throw new BkError(`${this.sourceArg} is damaged: ${bad} do not match its manifest; nothing was restored`)
      }
    }
    const db = this.database
    const written = this.info.written
    const snapshot = join(dir, snapshotPath(written))
    if (!(await pathExists(snapshot))) {
      throw new BkError(
        `${this.sourceArg} holds no database (${relative(dir, snapshot)} is missing: a --no-database hotcopy?)`,
      )
    }
    const version =
      this.info.version ??
      (db.engine === 'sqlite' ? await sqliteDatabaseVersion(snapshot) : await dumpDatabaseVersion(snapshot))
    await this.checkVersion(version)
    if (version === undefined) throw new BkError(`${this.sourceArg} has no database_version: not a Trac database`)

    const replaced = await this.replacing()
    const envMode = replaced ? (await stat(this.env)).mode & 0o7777 : 0o755
    let tables: Record<string, number> | undefined
    let dropDb: (() => Promise<void>) | undefined
    const stage = join(dirname(this.env), `.${basename(this.env)}.bk-stage-${process.pid}`)
    const outside = this.outsideSqlite
    const dbStage = outside ? join(dirname(outside), `.${basename(outside)}.bk-stage-${process.pid}`) : undefined
    try {
      if (db.engine !== 'sqlite') {
        context?.info(`Loading the ${db.engine} database ${db.database} ...`)
        const loaded = await loadTracDump(db, snapshot, this.env)
        tables = loaded.tables
        dropDb = loaded.undo
        crashPoint('trac-restore:db-loaded')
      }
      // SQLite: the copy in the hotcopy goes where the restored trac.ini points (inside the env, or outside it)
      const srcRel = db.engine === 'sqlite' ? relative(dir, snapshot) : undefined
      const live = this.sqliteFile
      const targetRel = live && !outside ? relative(this.env, live) : undefined
      await copyTree(dir, stage, {
        skip: (path) =>
          path === MANIFEST_NAME || (srcRel !== undefined && ['', ...SIDE_FILES].some((s) => path === srcRel + s)),
      })
      await chmod(stage, envMode)
      if (srcRel && targetRel) {
        await mkdir(dirname(join(stage, targetRel)), {recursive: true})
        await copyFile(snapshot, join(stage, targetRel))
      }
      if (this.options.db) await rewriteDatabase(join(stage, 'conf', 'trac.ini'), this.options.db)
      await checkEnvironmentDir(stage)
      if (targetRel) await checkSqlite(join(stage, targetRel))
      if (dbStage) {
        await mkdir(dirname(dbStage), {recursive: true})
        await copyFile(snapshot, dbStage)
        await chmod(dbStage, 0o600)
        await checkSqlite(dbStage)
        await fsyncPath(dbStage)
      }
      await fsyncTree(stage)
      crashPoint('trac-restore:staged')

      // One commit point: the env, the outside database and its stale side files (which must never meet the
      // new file: a -wal would be replayed over it) move together; the replaced ones are kept, never deleted.
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z')
      const keptEnv = await keptName(this.env, stamp)
      const keptDb = outside ? await keptName(outside, stamp) : undefined
      const parts: {stage?: string; target: string}[] = [{stage, target: this.env}]
      if (outside && dbStage) {
        for (const suffix of SIDE_FILES) parts.push({target: outside + suffix})
        parts.push({stage: dbStage, target: outside})
      }
      const {kept} = await commitParts(parts, {
        journal: journalPathFor(this.env),
        keepAs: (part) => {
          if (part.target === this.env) return keptEnv
          const suffix = SIDE_FILES.find((s) => part.target === outside + s) ?? ''
          return `${keptDb}${suffix}`
        },
      })
      dropDb = undefined
      crashPoint('trac-restore:committed')
      await rm(createdDatabaseMarker(this.env), {force: true})
      if (live) tables = await sqliteTableCounts(live)
      return {
        source: this.sourceArg,
        target: this.env,
        env: this.env,
        engine: db.engine,
        database: redactUrl(formatTracDbUrl(db)),
        databaseVersion: version,
        tables,
        replaced,
        kept,
        previous: replaced ? keptEnv : undefined,
      }
    } catch (error) {
      await rm(stage, {recursive: true, force: true}).catch(() => {})
      if (dbStage) await rm(dbStage, {force: true}).catch(() => {})
      await dropDb?.().catch(() => {})
      throw error
    }
  }
}

/**
 * What any bk run on an env does first, under the env's lock: finish a restore killed inside its commit (roll
 * forward), drop a database a killed restore created and never committed, remove stage and extract folders of
 * killed runs beside the env (and beside an outside SQLite file). Returns one line per thing done.
 */
export async function recoverEnv(
  env: string,
  options: {known?: TracDbUrl; outsideSqlite?: string} = {},
): Promise<string[]> {
  const lines = await recoverCommit(journalPathFor(env))
  const marker = createdDatabaseMarker(env)
  if (lines.length > 0) await rm(marker, {force: true})
  else lines.push(...(await dropCreatedDatabase(marker, options.known, [env])))
  lines.push(...(await sweepLeftovers(dirname(env), basename(env))))
  const outside = options.outsideSqlite
  if (outside) lines.push(...(await sweepLeftovers(dirname(outside), basename(outside))))
  return lines
}

/** Where the database is inside a hotcopy: SQLite at trac.ini's relative path (or db/<name>), dumps by engine. */
function snapshotPath(written: TracDbUrl): string {
  if (written.engine !== 'sqlite') return DUMP_FILES[written.engine]
  return written.path && !written.path.startsWith('/') ? written.path : join('db', basename(written.path ?? 'trac.db'))
}

async function checkHotcopy(dir: string, sourceArg: string): Promise<void> {
  try {
    await checkEnvironmentDir(dir)
  } catch (error) {
    throw new BkError(`${sourceArg} is not a Trac hotcopy: ${(error as Error).message}`)
  }
}

async function checkSqlite(file: string): Promise<void> {
  const problems = await sqliteIntegrityCheck(file)
  if (problems.length > 0) throw new BkError(`the restored SQLite database fails integrity_check: ${problems[0]}`)
}

async function dirInfo(dir: string, sourceArg: string): Promise<BackupInfo> {
  await checkHotcopy(dir, sourceArg)
  const config = await TracConfig.load(join(dir, 'conf', 'trac.ini'))
  const written = parseTracDbUrl(config.get('trac', 'database')?.trim() || DEFAULT_DATABASE)
  let version: number | undefined
  const hasManifest = await pathExists(join(dir, MANIFEST_NAME))
  if (hasManifest) {
    version = ((await readManifest(dir)).extra as {databaseVersion?: number} | undefined)?.databaseVersion
  }
  if (version === undefined) {
    const snapshot = join(dir, snapshotPath(written))
    if (!(await pathExists(snapshot))) {
      throw new BkError(
        `${sourceArg} holds no database (${snapshotPath(written)} is missing: a --no-database hotcopy?)`,
      )
    }
    version = written.engine === 'sqlite' ? await sqliteDatabaseVersion(snapshot) : await dumpDatabaseVersion(snapshot)
    if (version === undefined) throw new BkError(`${sourceArg} has no database_version: not a Trac database`)
  }
  return {isArchive: false, written, version, hasManifest}
}

/** An archive's manifest (its first member) and trac.ini, read without extracting anything. */
async function archiveInfo(file: string, sourceArg: string): Promise<BackupInfo> {
  const manifestText = await readArchiveMember(file, MANIFEST_NAME, {firstOnly: true}).catch(() => undefined)
  const ini = await readArchiveMember(file, 'conf/trac.ini').catch((error) => {
    throw new BkError(`${sourceArg} is not a Trac hotcopy archive: ${(error as Error).message}`)
  })
  const version = await readArchiveMember(file, 'VERSION').catch(() => undefined)
  if (!ini || !version) {
    throw new BkError(`${sourceArg} is not a Trac hotcopy: no Trac environment found in the archive`)
  }
  const scratchIni = IniFile.parse(ini.toString('utf8'))
  const written = parseTracDbUrl(scratchIni.get('trac', 'database')?.trim() || DEFAULT_DATABASE)
  const extra = manifestText
    ? ((JSON.parse(manifestText.toString('utf8')) as {extra?: {databaseVersion?: number}}).extra ?? {})
    : {}
  return {isArchive: true, written, version: extra.databaseVersion, hasManifest: Boolean(manifestText)}
}

async function currentVersion(target: string): Promise<number | undefined> {
  try {
    const env = await TracEnvironment.open(target)
    const path = env.sqlitePath
    return path ? await sqliteDatabaseVersion(path) : undefined
  } catch {
    return undefined
  }
}

/** `[trac] database = <url>` in the restored trac.ini (password included: Trac reads it from there; the file is 0600). */
async function rewriteDatabase(file: string, db: TracDbUrl): Promise<void> {
  const ini = await IniFile.read(file)
  ini.set('trac', 'database', formatTracDbUrl(db, {withPassword: true}))
  await ini.write(file)
}
