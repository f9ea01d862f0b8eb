/**
 * `bk trac convert`: what `trac-admin convert_db` does, natively — every table (plugin tables included) copied
 * between SQLite, PostgreSQL and MySQL/MariaDB in one target transaction, batch by batch, verified by row
 * counts, sequences reset on PostgreSQL. Into a new env (a full copy of the env, trac.ini edited in place
 * with its comments kept) or in place (trac.ini saved as trac.ini.convert_db-<unixtime>, as Trac names it).
 */
import {rmSync} from 'node:fs'
import {copyFile, mkdir, rename, rm, rmdir} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {redactUrl} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {copyTree, fsyncTree, isInside, pathExists} from '@bkcli/core/fs'
import {IniFile} from '@bkcli/core/ini'
import {atomicDir, crashPoint, onInterrupt} from '@bkcli/core/safety'
import {type Plan, type PlanStep, step, sweepLeftovers} from '@bkcli/core/workflow'
import {formatTracDbUrl, sqlitePathIn, type TracDbUrl} from '../db-url.js'
import type {TracEnvironment} from '../environment.js'
import {
  createdDatabaseMarker,
  dropCreatedDatabase,
  markConfigCopy,
  markCreatedSqlite,
  prepareEmptyDatabase,
  sqliteLeftByKilledRun,
} from '../restore-db.js'
import {copyTables, type TableCopy} from './copy-tables.js'
import {openSource} from './source.js'
import {openTarget} from './target.js'

export interface ConvertOptions {
  /** The target database (password already resolved). */
  to: TracDbUrl
  /** A new env to create; omit for in-place. */
  newEnv?: string
  batchSize?: number
  onTable?: (table: TableCopy) => void
}

export interface ConvertResult {
  source: string
  target: string
  env: string
  inPlace: boolean
  from: string
  to: string
  tables: TableCopy[]
  rows: number
  /** Tables Trac does not define (plugin tables): trac-admin convert_db can drop these. */
  pluginTables: string[]
  configBackup?: string
  kept: string[]
}

/**
 * One conversion: `plan()` reads only; `recover()` drops a database a killed conversion created and never
 * committed (the commit point is the new env's rename, or trac.ini's rewrite in place) and removes its stages;
 * `run()` copies every table in one target transaction and rolls back (drops what it created) on failure.
 */
export class TracConvert {
  readonly dest: string
  constructor(
    readonly env: TracEnvironment,
    private readonly options: ConvertOptions,
  ) {
    this.dest = options.newEnv ? resolve(options.newEnv) : env.path
  }

  get inPlace(): boolean {
    return !this.options.newEnv
  }

  /** The SQLite file the conversion creates (in the final env). */
  get sqliteTarget(): string | undefined {
    return this.options.to.engine === 'sqlite' ? sqlitePathIn(this.dest, this.options.to) : undefined
  }

  get locks(): string[] {
    return [this.env.path, ...(this.inPlace ? [] : [this.dest])]
  }

  async plan(): Promise<Plan> {
    const {env, options} = this
    const to = options.to
    if (
      formatTracDbUrl(env.database) === formatTracDbUrl(to) &&
      (env.database.engine !== 'sqlite' || env.sqlitePath === sqlitePathIn(env.path, to))
    ) {
      throw new BkError(`source database and destination database are the same: ${redactUrl(formatTracDbUrl(to))}`)
    }
    if (!this.inPlace) {
      if (await pathExists(this.dest))
        throw new BkError(`cannot create Trac environment: ${this.dest} already exists; give a new path`)
      if (isInside(this.dest, env.path))
        throw new BkError(`the new environment ${this.dest} is inside ${env.path}; give a path outside it`)
    }
    const sqlite = this.sqliteTarget
    // a file a killed conversion moved into place and never committed is not the user's: recover() removes it
    if (
      sqlite &&
      this.inPlace &&
      (await pathExists(sqlite)) &&
      !(await sqliteLeftByKilledRun(createdDatabaseMarker(this.dest), sqlite))
    ) {
      throw new BkError(`the target SQLite database ${sqlite} already exists; give a new file`, {
        code: 'ETARGETNOTEMPTY',
      })
    }
    const steps: PlanStep[] = []
    if (!this.inPlace) steps.push(step('create', this.dest, `copy of ${env.path}`))
    steps.push(
      sqlite
        ? step('create', sqlite, 'SQLite database')
        : step('create', `${to.engine} database ${to.database}`, `${redactUrl(formatTracDbUrl(to))}, when missing`),
    )
    steps.push(step('load', redactUrl(formatTracDbUrl(to)), `every table of ${redactUrl(env.databaseUri)}`))
    if (this.inPlace) {
      steps.push(step('keep', `${env.config.file}.convert_db-<unixtime>`, 'the previous trac.ini'))
      steps.push(step('write', env.config.file, '[trac] database'))
    }
    return {summary: `convert ${env.path} to ${redactUrl(formatTracDbUrl(to))}`, steps}
  }

  async recover(): Promise<string[]> {
    const lines = await dropCreatedDatabase(createdDatabaseMarker(this.dest), this.options.to, [this.dest])
    lines.push(...(await sweepLeftovers(dirname(this.dest), basename(this.dest))))
    const sqlite = this.sqliteTarget
    if (sqlite) lines.push(...(await sweepLeftovers(dirname(sqlite), basename(sqlite))))
    return lines
  }

  async run(): Promise<ConvertResult> {
    const {env, options} = this
    const done = this.inPlace ? await inPlace(env, options) : await intoNewEnv(env, this.dest, options)
    await rm(createdDatabaseMarker(this.dest), {force: true})
    return {
      source: env.path,
      target: this.dest,
      env: this.dest,
      inPlace: this.inPlace,
      from: redactUrl(env.databaseUri),
      to: redactUrl(formatTracDbUrl(options.to)),
      tables: done.tables,
      rows: done.tables.reduce((sum, t) => sum + t.rows, 0),
      pluginTables: done.tables.filter((t) => !t.trac).map((t) => t.name),
      configBackup: done.configBackup,
      kept: done.configBackup ? [done.configBackup] : [],
    }
  }
}

/** Copies the env's tables to `to`; an SQLite target file is built beside its final path and renamed at the end. */
async function copyDatabase(
  env: TracEnvironment,
  to: TracDbUrl,
  sqliteFile: string | undefined,
  /** The note of what the run created; omitted for an SQLite file inside the new env's stage (swept with it). */
  marker: string | undefined,
  options: ConvertOptions,
) {
  let partial: string | undefined
  let undo: (() => Promise<void>) | undefined
  if (to.engine === 'sqlite') {
    if (await pathExists(sqliteFile!)) {
      throw new BkError(`the target SQLite database ${sqliteFile} already exists; give a new file`, {
        code: 'ETARGETNOTEMPTY',
      })
    }
    await mkdir(dirname(sqliteFile!), {recursive: true})
    partial = join(dirname(sqliteFile!), `.${basename(sqliteFile!)}.bk-partial-${process.pid}`)
    await rm(partial, {force: true})
  } else {
    undo = (await prepareEmptyDatabase(to, marker)).undo
    crashPoint('trac-convert:db-created')
  }
  const unregister = onInterrupt(() => partial && rmSync(partial, {force: true}), {sweep: true})
  const source = await openSource(env.database, env.sqlitePath)
  try {
    const target = await openTarget(to, partial)
    try {
      const tables = await copyTables(source, target, {batchSize: options.batchSize, onTable: options.onTable})
      await target.close()
      crashPoint('trac-convert:copied')
      if (partial) {
        // noted first: a run killed after this rename but before its commit leaves a file the next run removes
        if (marker) await markCreatedSqlite(marker, sqliteFile!)
        await rename(partial, sqliteFile!)
      }
      return tables
    } catch (error) {
      await target.close().catch(() => {})
      throw error
    }
  } catch (error) {
    if (partial) await rm(partial, {force: true})
    await undo?.().catch(() => {})
    throw error
  } finally {
    unregister()
    await source.close().catch(() => {})
  }
}

async function intoNewEnv(env: TracEnvironment, dest: string, options: ConvertOptions) {
  const sqlite = env.sqlitePath
  const dbRel = sqlite && isInside(sqlite, env.path) ? relative(env.path, sqlite) : undefined
  const skip = new Set(dbRel ? ['', '-journal', '-wal', '-shm'].map((s) => dbRel + s) : [])
  let undo: (() => Promise<void>) | undefined
  try {
    return await atomicDir(dest, async (stage) => {
      await rmdir(stage)
      await copyTree(env.path, stage, {skip: (path) => skip.has(path)})
      // a relative sqlite target lives in the new env: build it in the stage
      const file = options.to.engine === 'sqlite' ? sqlitePathIn(stage, options.to) : undefined
      const marker = file && isInside(file, stage) ? undefined : createdDatabaseMarker(dest)
      const tables = await copyDatabase(env, options.to, file, marker, options)
      if (options.to.engine !== 'sqlite')
        undo = () => dropCreatedDatabase(createdDatabaseMarker(dest), options.to).then(() => {})
      const ini = await IniFile.read(join(stage, 'conf', 'trac.ini'))
      ini.set('trac', 'database', formatTracDbUrl(options.to, {withPassword: true}))
      await ini.write(join(stage, 'conf', 'trac.ini'))
      await fsyncTree(stage)
      crashPoint('trac-convert:staged')
      return {tables, configBackup: undefined as string | undefined}
    })
  } catch (error) {
    await undo?.().catch(() => {})
    throw error
  }
}

async function inPlace(env: TracEnvironment, options: ConvertOptions) {
  const file = options.to.engine === 'sqlite' ? sqlitePathIn(env.path, options.to) : undefined
  const marker = createdDatabaseMarker(env.path)
  const tables = await copyDatabase(env, options.to, file, marker, options)
  const iniPath = env.config.file
  const configBackup = await uniqueName(`${iniPath}.convert_db-${Math.floor(Date.now() / 1000)}`)
  // noted first: a run killed before it rewrote trac.ini leaves a copy the next run removes (it copies nothing)
  await markConfigCopy(marker, {path: configBackup, of: iniPath})
  await copyFile(iniPath, configBackup)
  const ini = await IniFile.read(iniPath)
  ini.set('trac', 'database', formatTracDbUrl(options.to, {withPassword: true}))
  crashPoint('trac-convert:before-ini')
  await ini.write(iniPath)
  return {tables, configBackup}
}

/** Trac's create_unique_file: name, name.2, name.3 … */
async function uniqueName(base: string): Promise<string> {
  if (!(await pathExists(base))) return base
  for (let i = 2; ; i++) if (!(await pathExists(`${base}.${i}`))) return `${base}.${i}`
}
