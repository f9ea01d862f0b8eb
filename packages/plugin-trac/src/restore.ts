/**
 * `bk trac restore`: Trac has no restore command; its wiki's instructions fail on its own pg dump. This
 * restores a hotcopy (trac-admin's or bk's) or a bk archive into an env: files through core's safe restore
 * (stage beside, verify, swap — the existing env is never deleted before the new one is complete), the
 * database loaded into a new or empty database (from trac.ini, or `--db` elsewhere, trac.ini rewritten),
 * SQLite side files of a stale database removed, a dump newer than Trac can use refused.
 */
import {copyFile, mkdir, mkdtemp, readdir, rm, rmdir, stat} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {
  acquireLock,
  BkError,
  copyTree,
  extractArchive,
  IniFile,
  isInside,
  MANIFEST_NAME,
  pathExists,
  readManifest,
  redactUrl,
  safeRestore,
  sqliteIntegrityCheck,
  sqliteTableCounts,
  verifyManifest,
} from '@bkcli/core'
import {TRAC_DB_VERSION} from './convert/schema.js'
import {DUMP_FILES, dumpDatabaseVersion, sqliteDatabaseVersion} from './database.js'
import {formatTracDbUrl, parseTracDbUrl, sqlitePathIn, type TracDbUrl} from './db-url.js'
import {checkEnvironmentDir, DEFAULT_DATABASE, TracEnvironment} from './environment.js'
import {loadTracDump} from './restore-db.js'
import {TracConfig} from './trac-config.js'

export interface RestoreOptions {
  /** Restore the database here instead of where the hotcopy's trac.ini points (password from env/--password-file). */
  db?: TracDbUrl
  /** Asked before replacing an existing env; throws to abort. */
  confirmReplace: (question: string) => Promise<void>
  /** Highest database_version the installed Trac can use (default 45, or the replaced env's own if higher). */
  maxDatabaseVersion?: number
  keepPrevious?: boolean
  /** Check the backup and the target, report the plan, change nothing. */
  dryRun?: boolean
}

export interface RestoreResult {
  source: string
  env: string
  engine: string
  database: string
  databaseVersion?: number
  tables?: Record<string, number>
  replaced: boolean
  previous?: string
  removedSideFiles: string[]
  dryRun?: boolean
}

const SIDE_FILES = ['-wal', '-shm', '-journal']

export async function restore(sourceArg: string, envArg: string, options: RestoreOptions): Promise<RestoreResult> {
  const target = resolve(envArg)
  const source = resolve(sourceArg)
  const info = await stat(source).catch(() => {
    throw new BkError(`${sourceArg} does not exist; give a hotcopy directory or a bk trac backup archive`)
  })
  await mkdirParent(target)
  let extracted: string | undefined
  try {
    let dir = source
    if (!info.isDirectory()) {
      extracted = await mkdtemp(join(dirname(target), `.${basename(target)}.bk-extract-`))
      await extractArchive({file: source, target: extracted})
      dir = extracted
    }
    return await restoreFrom(dir, sourceArg, target, options)
  } finally {
    if (extracted) await rm(extracted, {recursive: true, force: true})
  }
}

async function mkdirParent(target: string): Promise<void> {
  if (!(await pathExists(dirname(target)))) {
    throw new BkError(`the parent directory of ${target} does not exist; create it first`)
  }
}

async function restoreFrom(
  dir: string,
  sourceArg: string,
  target: string,
  options: RestoreOptions,
): Promise<RestoreResult> {
  try {
    await checkEnvironmentDir(dir)
  } catch (error) {
    throw new BkError(`${sourceArg} is not a Trac hotcopy: ${(error as Error).message}`)
  }
  let manifestVersion: number | undefined
  let sqliteOriginalPath: string | undefined
  if (await pathExists(join(dir, MANIFEST_NAME))) {
    const check = await verifyManifest(dir)
    if (!check.ok) {
      const bad = [...check.missing, ...check.changed].slice(0, 3).join(', ')
      throw new BkError(`${sourceArg} is damaged: ${bad} do not match its manifest; nothing was restored`)
    }
    const manifest = await readManifest(dir)
    const extra = (manifest.extra ?? {}) as {databaseVersion?: number; sqliteOriginalPath?: string}
    manifestVersion = extra.databaseVersion
    sqliteOriginalPath = extra.sqliteOriginalPath
  }
  const config = await TracConfig.load(join(dir, 'conf', 'trac.ini'))
  const written = parseTracDbUrl(config.get('trac', 'database')?.trim() || DEFAULT_DATABASE)
  const db = options.db ?? written
  if (db.engine !== written.engine) {
    throw new BkError(
      `the hotcopy holds a ${written.engine} database but --db is ${db.engine}; restore first, then use bk trac convert`,
    )
  }

  // What the hotcopy holds, and whether this Trac can use it.
  let snapshot: string | undefined
  if (db.engine === 'sqlite') {
    const inCopy =
      written.path && !written.path.startsWith('/') ? written.path : join('db', basename(written.path ?? 'trac.db'))
    snapshot = join(dir, inCopy)
  } else {
    snapshot = join(dir, DUMP_FILES[db.engine])
  }
  if (!(await pathExists(snapshot))) {
    throw new BkError(
      `${sourceArg} holds no database (${relative(dir, snapshot)} is missing: a --no-database hotcopy?)`,
    )
  }
  const version =
    manifestVersion ??
    (db.engine === 'sqlite' ? await sqliteDatabaseVersion(snapshot) : await dumpDatabaseVersion(snapshot))
  let maxVersion = options.maxDatabaseVersion ?? TRAC_DB_VERSION
  const replacing = await pathExists(target)
  if (replacing) {
    const current = await currentVersion(target)
    if (options.maxDatabaseVersion === undefined && current !== undefined) maxVersion = Math.max(maxVersion, current)
  }
  if (version !== undefined && version > maxVersion) {
    throw new BkError(
      `the backup's database_version is ${version} but this Trac uses at most ${maxVersion} (Trac would say "Need to downgrade"); upgrade Trac first or pass --max-database-version`,
      {code: 'EDBVERSION'},
    )
  }
  if (version === undefined) throw new BkError(`${sourceArg} has no database_version: not a Trac database`)

  if (replacing) {
    const isEnv = await checkEnvironmentDir(target).then(
      () => true,
      () => false,
    )
    if (!isEnv && (await readdir(target)).length > 0) {
      throw new BkError(`${target} exists and is not a Trac environment; choose an empty or new directory`)
    }
    if (isEnv && !options.dryRun)
      await options.confirmReplace(`Replace the Trac environment ${target} with ${sourceArg}?`)
  }

  if (options.dryRun) {
    return {
      source: sourceArg,
      env: target,
      engine: db.engine,
      database: redactUrl(formatTracDbUrl(db)),
      databaseVersion: version,
      replaced: replacing,
      removedSideFiles: [],
      dryRun: true,
    }
  }
  if (db.engine === 'sqlite') {
    const outside = sqlitePathIn(target, db)
    if (!isInside(outside, target) && (await pathExists(outside))) {
      await options.confirmReplace(
        `Replace the SQLite database ${outside} (outside the environment) with the backup's?`,
      )
    }
  }

  const lock = await acquireLock(target, {operation: 'bk trac restore'})
  const removedSideFiles: string[] = []
  let tables: Record<string, number> | undefined
  let undoDb: (() => Promise<void>) | undefined
  try {
    if (db.engine !== 'sqlite') {
      const loaded = await loadTracDump(db, snapshot, dirname(target))
      tables = loaded.tables
      undoDb = loaded.undo
    }
    // SQLite: the copy in the hotcopy (srcRel) goes to where the restored trac.ini points (inside the env,
    // or back to its own path outside it)
    const srcRel = db.engine === 'sqlite' ? relative(dir, snapshot) : undefined
    const live = db.engine === 'sqlite' ? sqlitePathIn(target, db) : undefined
    const targetRel = live && isInside(live, target) ? relative(target, live) : undefined
    const result = await safeRestore({
      target,
      keepPrevious: options.keepPrevious,
      stage: async (stage) => {
        await rmdir(stage)
        await copyTree(dir, stage, {
          skip: (path) =>
            path === MANIFEST_NAME || (srcRel !== undefined && ['', ...SIDE_FILES].some((s) => path === srcRel + s)),
        })
        if (srcRel && targetRel) {
          await mkdir(dirname(join(stage, targetRel)), {recursive: true})
          await copyFile(snapshot, join(stage, targetRel))
        }
        if (options.db) await rewriteDatabase(join(stage, 'conf', 'trac.ini'), options.db)
      },
      verify: async (stage) => {
        await checkEnvironmentDir(stage)
        const file = targetRel ? join(stage, targetRel) : srcRel ? snapshot : undefined
        if (file) {
          const problems = await sqliteIntegrityCheck(file)
          if (problems.length > 0)
            throw new BkError(`the restored SQLite database fails integrity_check: ${problems[0]}`)
        }
      },
    })
    if (live) {
      for (const suffix of SIDE_FILES) {
        // a stale -wal would be replayed over the restored file
        if (await pathExists(live + suffix)) {
          await rm(live + suffix, {force: true})
          removedSideFiles.push(live + suffix)
        }
      }
      if (!isInside(live, target)) await restoreOutsideSqlite(snapshot, live, sqliteOriginalPath)
      tables = await sqliteTableCounts(live)
    }
    return {
      source: sourceArg,
      env: target,
      engine: db.engine,
      database: redactUrl(formatTracDbUrl(db)),
      databaseVersion: version,
      tables,
      replaced: result.replaced,
      previous: result.previous,
      removedSideFiles,
    }
  } catch (error) {
    await undoDb?.().catch(() => {})
    throw error
  } finally {
    await lock.release()
  }
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

/** An SQLite database that lives outside the env goes back to its own path, itself restored safely. */
async function restoreOutsideSqlite(snapshot: string, live: string, _original?: string): Promise<void> {
  await safeRestore({
    target: live,
    type: 'file',
    stage: async (stagePath) => {
      await copyFile(snapshot, stagePath)
    },
  })
}
