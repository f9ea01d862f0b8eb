/**
 * `bk trac convert`: what `trac-admin convert_db` does, natively — every table (plugin tables included) copied
 * between SQLite, PostgreSQL and MySQL/MariaDB in one target transaction, batch by batch, verified by row
 * counts, sequences reset on PostgreSQL. Into a new env (a full copy of the env, trac.ini edited in place
 * with its comments kept) or in place (trac.ini saved as trac.ini.convert_db-<unixtime>, as Trac names it).
 */
import {copyFile, mkdir, rename, rm, rmdir} from 'node:fs/promises'
import {dirname, join, relative, resolve} from 'node:path'
import {acquireLock, atomicDir, BkError, copyTree, IniFile, isInside, pathExists, redactUrl} from '@bkcli/core'
import {formatTracDbUrl, sqlitePathIn, type TracDbUrl} from '../db-url.js'
import type {TracEnvironment} from '../environment.js'
import {prepareEmptyDatabase} from '../restore-db.js'
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
  /** Check the inputs and report the plan; connect to nothing, write nothing. */
  dryRun?: boolean
}

export interface ConvertResult {
  source: string
  env: string
  inPlace: boolean
  from: string
  to: string
  tables: TableCopy[]
  rows: number
  /** Tables Trac does not define (plugin tables): trac-admin convert_db can drop these. */
  pluginTables: string[]
  configBackup?: string
  dryRun?: boolean
}

export async function convert(env: TracEnvironment, options: ConvertOptions): Promise<ConvertResult> {
  const from = env.database
  const to = options.to
  if (
    formatTracDbUrl(from) === formatTracDbUrl(to) &&
    (from.engine !== 'sqlite' || env.sqlitePath === sqlitePathIn(env.path, to))
  ) {
    throw new BkError(`source database and destination database are the same: ${redactUrl(formatTracDbUrl(to))}`)
  }
  if (options.newEnv && (await pathExists(resolve(options.newEnv)))) {
    throw new BkError(`cannot create Trac environment: ${resolve(options.newEnv)} already exists; give a new path`)
  }
  if (options.dryRun) {
    return {
      source: env.path,
      env: options.newEnv ? resolve(options.newEnv) : env.path,
      inPlace: !options.newEnv,
      from: redactUrl(env.databaseUri),
      to: redactUrl(formatTracDbUrl(to)),
      tables: [],
      rows: 0,
      pluginTables: [],
      dryRun: true,
    }
  }
  const lock = await acquireLock(env.path, {operation: 'bk trac convert'})
  try {
    const tables = options.newEnv
      ? await intoNewEnv(env, resolve(options.newEnv), options)
      : await inPlace(env, options)
    return {
      source: env.path,
      env: options.newEnv ? resolve(options.newEnv) : env.path,
      inPlace: !options.newEnv,
      from: redactUrl(env.databaseUri),
      to: redactUrl(formatTracDbUrl(to)),
      tables: tables.tables,
      rows: tables.tables.reduce((sum, t) => sum + t.rows, 0),
      pluginTables: tables.tables.filter((t) => !t.trac).map((t) => t.name),
      configBackup: tables.configBackup,
    }
  } finally {
    await lock.release()
  }
}

/** Copies the env's tables to `to`; an SQLite target file is built beside its final path and renamed at the end. */
async function copyDatabase(
  env: TracEnvironment,
  to: TracDbUrl,
  sqliteFile: string | undefined,
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
    partial = `${sqliteFile}.bk-partial-${process.pid}`
    await rm(partial, {force: true})
  } else {
    undo = (await prepareEmptyDatabase(to)).undo
  }
  const source = await openSource(env.database, env.sqlitePath)
  try {
    const target = await openTarget(to, partial)
    try {
      const tables = await copyTables(source, target, {batchSize: options.batchSize, onTable: options.onTable})
      await target.close()
      if (partial) await rename(partial, sqliteFile!)
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
    await source.close().catch(() => {})
  }
}

async function intoNewEnv(env: TracEnvironment, dest: string, options: ConvertOptions) {
  if (await pathExists(dest))
    throw new BkError(`cannot create Trac environment: ${dest} already exists; give a new path`)
  if (isInside(dest, env.path))
    throw new BkError(`the new environment ${dest} is inside ${env.path}; give a path outside it`)
  const sqlite = env.sqlitePath
  const dbRel = sqlite && isInside(sqlite, env.path) ? relative(env.path, sqlite) : undefined
  const skip = new Set(dbRel ? ['', '-journal', '-wal', '-shm'].map((s) => dbRel + s) : [])
  return atomicDir(dest, async (stage) => {
    await rmdir(stage)
    await copyTree(env.path, stage, {skip: (path) => skip.has(path)})
    // a relative sqlite target lives in the new env: build it in the stage
    const file = options.to.engine === 'sqlite' ? sqlitePathIn(stage, options.to) : undefined
    const tables = await copyDatabase(env, options.to, file, options)
    const ini = await IniFile.read(join(stage, 'conf', 'trac.ini'))
    ini.set('trac', 'database', formatTracDbUrl(options.to, {withPassword: true}))
    await ini.write(join(stage, 'conf', 'trac.ini'))
    return {tables, configBackup: undefined as string | undefined}
  })
}

async function inPlace(env: TracEnvironment, options: ConvertOptions) {
  const file = options.to.engine === 'sqlite' ? sqlitePathIn(env.path, options.to) : undefined
  const tables = await copyDatabase(env, options.to, file, options)
  const iniPath = env.config.file
  const configBackup = await uniqueName(`${iniPath}.convert_db-${Math.floor(Date.now() / 1000)}`)
  await copyFile(iniPath, configBackup)
  const ini = await IniFile.read(iniPath)
  ini.set('trac', 'database', formatTracDbUrl(options.to, {withPassword: true}))
  await ini.write(iniPath)
  return {tables, configBackup}
}

/** Trac's create_unique_file: name, name.2, name.3 … */
async function uniqueName(base: string): Promise<string> {
  if (!(await pathExists(base))) return base
  for (let i = 2; ; i++) if (!(await pathExists(`${base}.${i}`))) return `${base}.${i}`
}
