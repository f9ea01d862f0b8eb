/**
 * `bk trac hotcopy`: trac-admin hotcopy's result layout (a copy of the whole env, symlinks kept, SQLite side
 * files left out, pg/mysql dumps under db/ with trac's names) without its defects: a consistent SQLite copy
 * through the backup API, dumps that do not deadlock, `?params` and databases outside the env handled, the
 * partial destination removed on any failure, a bk-manifest.json written last.
 */
import {rmSync} from 'node:fs'
import {cp, mkdir, mkdtemp, rename, rm, rmdir} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {
  atomicDir,
  BkError,
  buildManifest,
  copyTree,
  isInside,
  onInterrupt,
  type Plan,
  type PlanStep,
  pathExists,
  pluginIdentity,
  redactUrl,
  sha256File,
  step,
  writeManifest,
} from '@bkcli/core'
import {type DatabaseSnapshot, DUMP_FILES, snapshotDatabase} from './database.js'
import {type ExternalDependency, externalDependencies} from './dependencies.js'
import type {TracEnvironment} from './environment.js'

export interface HotcopyOptions {
  /** false: files only, like trac-admin's --no-database. */
  database?: boolean
  /** Copy what the env depends on outside itself into `bk-external/<absolute path>`. */
  includeExternal?: boolean
  description?: string
  /** Manifest kind ('hotcopy' by default; backup uses 'full'). */
  kind?: string
  onProgress?: (bytes: number) => void
}

export interface HotcopyResult {
  source: string
  dest: string
  engine: string
  database?: DatabaseSnapshot
  databaseVersion?: number
  files: number
  bytes: number
  symlinks: number
  /** Sockets/fifos/devices that were not copied. */
  skipped: string[]
  external: ExternalDependency[]
  externalIncluded: boolean
}

/** Name of the directory inside a hotcopy holding included outside dependencies. */
export const EXTERNAL_DIR = 'bk-external'

export async function hotcopy(
  env: TracEnvironment,
  destArg: string,
  options: HotcopyOptions = {},
): Promise<HotcopyResult> {
  const dest = resolve(destArg)
  checkDestination(env, dest, destArg, await pathExists(dest))
  const withDb = options.database ?? true
  const db = env.database
  const sqlite = env.sqlitePath
  // SQLite: the database and its side files are never copied as files (the snapshot replaces the db file).
  const dbRel = sqlite && isInside(sqlite, env.path) ? relative(env.path, sqlite) : undefined
  const skipped = new Set<string>()
  if (dbRel) for (const suffix of ['', '-journal', '-stmtjrnl', '-wal', '-shm']) skipped.add(dbRel + suffix)
  const snapshotRel = dbRel ?? (sqlite ? join('db', sqliteBaseName(sqlite)) : undefined)

  {
    const external = await externalDependencies(env)
    let copied = {files: 0, bytes: 0, symlinks: 0, skipped: [] as string[]}
    return await atomicDir(dest, async (stage) => {
      // The database first: every row's attachment file is then on disk when the tree is copied after it. The
      // tree copy starts as soon as the database copy's content is fixed, while that copy is hashed and fsynced.
      // It is taken into a scratch dir beside the stage, since copyTree must create the stage root itself.
      let snapshot: DatabaseSnapshot | undefined
      const hashed = new Map<string, {size: number; sha256: string}>()
      const scratch = await mkdtemp(join(dirname(dest), `.${basename(dest)}.bk-partial-db-`))
      const unregister = onInterrupt(() => rmSync(scratch, {recursive: true, force: true}), {sweep: true})
      try {
        let fixed = () => {}
        const snapshotFixed = new Promise<void>((resolve) => {
          fixed = resolve
        })
        const database = withDb
          ? snapshotDatabase(env, scratch, snapshotRel ?? '', {onSnapshot: fixed})
          : Promise.resolve(undefined)
        database.catch(() => {}) // awaited below, after the tree copy if that started
        await Promise.race([snapshotFixed, database])
        let treeFailure: unknown
        // each copied file is hashed for the manifest while the next ones are copied (one at a time: hashing is
        // CPU, copying is the thread pool's and the disk's); the manifest then reads none of them again
        let hashing = Promise.resolve()
        const hashCopy = (path: string, target: string, size: number) => {
          hashing = hashing.then(async () => {
            // copyTree renames its own stage onto `stage` when done: a copy not opened by then is found there
            const sha256 = await sha256File(target).catch((error: NodeJS.ErrnoException) => {
              if (error.code === 'ENOENT') return sha256File(join(stage, path))
              throw error
            })
            hashed.set(path, {size, sha256})
          })
          hashing.catch(() => {}) // a failure is awaited below
        }
        try {
          await rmdir(stage) // copyTree creates the root itself, with the env's mode
          copied = await copyTree(env.path, stage, {
            skip: (path) => skipped.has(path),
            onProgress: options.onProgress,
            onFile: hashCopy,
          })
          await hashing
        } catch (error) {
          treeFailure = error
          await hashing.catch(() => {})
        }
        snapshot = await database
        if (treeFailure) throw treeFailure
        if (snapshot) {
          await mkdir(dirname(join(stage, snapshot.path)), {recursive: true, mode: 0o755})
          await rename(join(scratch, snapshot.path), join(stage, snapshot.path))
        }
      } finally {
        unregister()
        await rm(scratch, {recursive: true, force: true})
      }
      if (options.includeExternal) await includeExternal(stage, external)
      if (snapshot?.sha256) hashed.set(snapshot.path, {size: snapshot.bytes, sha256: snapshot.sha256})
      const manifest = await buildManifest(
        stage,
        {
          ...pluginIdentity(import.meta.url),
          application: 'trac',
          kind: options.kind ?? 'hotcopy',
          source: env.path,
          description: options.description,
          components: [
            {type: 'files', path: '.', count: copied.files, bytes: copied.bytes},
            ...(snapshot
              ? [
                  {
                    type: 'database' as const,
                    engine: snapshot.engine,
                    path: snapshot.path,
                    database: db.engine === 'sqlite' ? undefined : db.database,
                    format: snapshot.format,
                  },
                ]
              : []),
          ],
          extra: {
            database: redactUrl(env.databaseUri),
            databaseVersion: snapshot?.databaseVersion,
            sqliteOriginalPath: snapshot?.originalPath,
            external: external.map((d) => ({...d, included: Boolean(options.includeExternal && d.exists)})),
          },
        },
        {hashed},
      )
      await writeManifest(stage, manifest)
      return {
        source: env.path,
        dest,
        engine: db.engine,
        database: snapshot,
        databaseVersion: snapshot?.databaseVersion,
        files: copied.files,
        bytes: copied.bytes + (snapshot?.bytes ?? 0),
        symlinks: copied.symlinks,
        skipped: copied.skipped,
        external,
        externalIncluded: Boolean(options.includeExternal),
      }
    })
  }
}

/** What a hotcopy would do; reads only, and fails as the real run would (destination exists, inside the env). */
export async function planHotcopy(env: TracEnvironment, destArg: string, options: HotcopyOptions = {}): Promise<Plan> {
  const dest = resolve(destArg)
  checkDestination(env, dest, destArg, await pathExists(dest))
  const withDb = options.database ?? true
  const db = env.database
  const steps: PlanStep[] = [step('create', dest, 'copy of the environment')]
  if (withDb) {
    const sqlite = env.sqlitePath
    const rel = sqlite
      ? isInside(sqlite, env.path)
        ? relative(env.path, sqlite)
        : join('db', sqliteBaseName(sqlite))
      : DUMP_FILES[db.engine as 'postgres' | 'mysql']
    steps.push(step('copy', redactUrl(env.databaseUri), `${db.engine} database into ${rel}`))
  }
  const warnings = (await externalDependencies(env))
    .filter((d) => d.kind !== 'database')
    .map(
      (d) => `outside the env: ${d.source}: ${d.path}${options.includeExternal ? ' (copied into bk-external/)' : ''}`,
    )
  return {summary: `hotcopy ${env.path} to ${dest}`, steps, warnings}
}

function checkDestination(env: TracEnvironment, dest: string, destArg: string, exists: boolean): void {
  if (exists) {
    throw new BkError(`hotcopy can't overwrite existing '${destArg}'; choose a new destination`, {code: 'EEXIST'})
  }
  if (dest === env.path || isInside(dest, env.path)) {
    throw new BkError(`hotcopy destination ${destArg} is inside the environment ${env.path}; choose a path outside it`)
  }
}

function sqliteBaseName(path: string): string {
  return path.split('/').pop() || 'trac.db'
}

/** Copies each existing outside dependency to bk-external/<its absolute path> (modes and symlinks kept). */
async function includeExternal(stage: string, deps: ExternalDependency[]): Promise<void> {
  for (const dep of deps) {
    if (!dep.exists || dep.kind === 'database') continue
    const target = join(stage, EXTERNAL_DIR, dep.path)
    if (await pathExists(target)) continue
    await mkdir(dirname(target), {recursive: true, mode: 0o700})
    await cp(dep.path, target, {recursive: true, preserveTimestamps: true, verbatimSymlinks: true, errorOnExist: true})
  }
}
