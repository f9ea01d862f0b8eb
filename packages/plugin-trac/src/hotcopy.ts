/**
 * `bk trac hotcopy`: trac-admin hotcopy's result layout (a copy of the whole env, symlinks kept, SQLite side
 * files left out, pg/mysql dumps under db/ with trac's names) without its defects: a consistent SQLite copy
 * through the backup API, dumps that do not deadlock, `?params` and databases outside the env handled, the
 * partial destination removed on any failure, a bk-manifest.json written last.
 */
import {rmSync, type Stats} from 'node:fs'
import {chmod, cp, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {redactUrl} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {copyTree, fileHasher, fsyncPath, fsyncTree, isInside, pathExists, syncTree, WorkQueue} from '@bkcli/core/fs'
import {buildManifest, MANIFEST_NAME, type ManifestFile, pluginIdentity, writeManifestText} from '@bkcli/core/manifest'
import {atomicDir, crashPoint, onInterrupt} from '@bkcli/core/safety'
import {type Plan, type PlanStep, step} from '@bkcli/core/workflow'
import {type DatabaseSnapshot, DUMP_FILES, snapshotDatabase} from './database.js'
import {type ExternalDependency, externalDependencies} from './dependencies.js'
import type {TracEnvironment} from './environment.js'
import {topUpTree} from './top-up.js'

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

/** Copied files this big are fsynced one by one as they are copied (smaller ones by the stage's one flush). */
const SYNC_EARLY_BYTES = 1024 * 1024

/** Big files' fsyncs in flight at once while the copy goes on. */
const FLUSH_LANES = 2

/**
 * Copied files whose hashes are asked for and not yet answered, at most: the copy waits for the hashing thread
 * beyond that (80k small attachments queued to it at once took 372 MB).
 */
export const HASHES_IN_FLIGHT = 64

/** Big files copied and waiting for their early fsync, at most: the copy waits for the disk beyond that. */
const FLUSHES_QUEUED = 64

/**
 * A stage with more entries than this left to flush (small files and folders: big files are fsynced as they are
 * copied) is flushed by one syncfs rather than one fsync per entry: 80k small attachments in 84k folders took 55 s
 * of fsyncs, against under a second for one syncfs of their file system (which also waits for other processes'
 * dirty data there, hence not for a few entries).
 */
const FSYNC_ENTRIES_MAX = 4096

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

  // started first: the hashing thread's start-up overlaps what comes before the copy
  const hasher = fileHasher()
  try {
    const external = await externalDependencies(env)
    let copied = {files: 0, bytes: 0, symlinks: 0, skipped: [] as string[]}
    // entries of the stage its flush has to make durable one by one (the big files are fsynced as they are copied)
    let unflushed = 0
    return await atomicDir(
      dest,
      async (stage) => {
        // The database and the tree are copied at once (both cores, the disk kept busy); then what appeared or changed
        // in the env after the walk passed it is copied too (topUpTree), so every attachment a row of the snapshot
        // names is in the copy, as if the tree had been copied after the database. The snapshot is taken into a
        // scratch dir beside the stage, since copyTree must create the stage root itself.
        let snapshot: DatabaseSnapshot | undefined
        // each copied file's manifest entry, as hashed (the manifest takes these objects themselves: one per file)
        const hashed = new Map<string, ManifestFile>()
        // named as atomicDir names its stages (pid first): a run killed the hard way leaves it to the next run's sweep
        const scratchPrefix = `.${basename(dest)}.bk-partial-${process.pid}-db-`
        // that sweep passes over names of this pid (it takes them for this run's): a killed run that had the same pid
        // (a container's bk always has) left the ones found now, as atomicDir's own stage of this pid is removed
        for (const name of await readdir(dirname(dest))) {
          if (name.startsWith(scratchPrefix)) await rm(join(dirname(dest), name), {recursive: true, force: true})
        }
        const scratch = await mkdtemp(join(dirname(dest), scratchPrefix))
        const unregister = onInterrupt(() => rmSync(scratch, {recursive: true, force: true}), {sweep: true})
        try {
          // a hard link to the live SQLite file elsewhere in the env is copied only after its snapshot: closing any
          // descriptor of that file would drop the read lock the snapshot holds (POSIX locks are per process)
          const live = withDb && sqlite ? await stat(sqlite).catch(() => undefined) : undefined
          const isLive = (st: Stats) => live !== undefined && st.isFile() && st.ino === live.ino && st.dev === live.dev
          let fixed = () => {}
          const snapshotFixed = new Promise<void>((resolve) => {
            fixed = resolve
          })
          // the database copy's first pass lets the event loop turn every few MiB: the walk goes on feeding the thread
          // pool with files meanwhile
          const database = withDb
            ? snapshotDatabase(env, scratch, snapshotRel ?? '', {onSnapshot: fixed})
            : Promise.resolve(undefined)
          database.catch(() => {}) // awaited below, after the tree copy
          let treeFailure: unknown
          // each copied file is hashed for the manifest while the next ones are copied, in a thread of its own (hashing
          // is CPU: the other core's, while the main thread walks and copies the database, and the thread pool and the
          // disk copy the files); the manifest then reads none of them again. At most HASHES_IN_FLIGHT at once: the
          // copy waits for the thread beyond that, so memory does not grow with the number of files
          const hashes = new WorkQueue(HASHES_IN_FLIGHT, HASHES_IN_FLIGHT)
          // two fsyncs at a time: one waiting on the disk's journal commit does not hold up the next file's, and the
          // thread pool keeps threads for the copies
          const flushes = new WorkQueue(FLUSH_LANES, FLUSHES_QUEUED)
          const hashCopy = (path: string, target: string, size: number): Promise<void> | undefined => {
            const hashRoom = hashes.push(async () => {
              const {sha256} = await hasher.sha256(target)
              hashed.set(path, {path, size, sha256})
            })
            // a big file's bytes go to the disk now, while the next ones are copied and hashed, not all at the end
            // (the stage's flush then finds them written)
            if (size < SYNC_EARLY_BYTES) unflushed++
            const flushRoom = size >= SYNC_EARLY_BYTES ? flushes.push(() => fsyncPath(target)) : undefined
            if (hashRoom && flushRoom) return Promise.all([hashRoom, flushRoom]).then(() => {})
            return hashRoom ?? flushRoom
          }
          try {
            await rmdir(stage) // copyTree creates the root itself, with the env's mode
            // straight into this stage (no stage of its own, whose flush would be a syncfs that also waits for every
            // other process's writes on the file system, and a second rename): this stage's flush makes it durable
            const tree = await copyTree(env.path, stage, {
              stage: false,
              skip: (path, st) => skipped.has(path) || isLive(st),
              onProgress: options.onProgress,
              onFile: hashCopy,
            })
            copied = tree
            unflushed += tree.dirs + tree.symlinks
          } catch (error) {
            treeFailure = error
          }
          try {
            if (treeFailure) throw treeFailure
            // the snapshot's content is fixed (its fsync and hash may still run): the env is walked again after it
            await Promise.race([snapshotFixed, database])
            await hashes.done()
            if (withDb) {
              const added = await topUpTree(env.path, stage, (path) => skipped.has(path), hashCopy)
              copied = {
                ...copied,
                files: copied.files + added.files,
                bytes: copied.bytes + added.bytes,
                symlinks: copied.symlinks + added.symlinks,
              }
              await hashes.done()
            }
            snapshot = await database
            await flushes.done()
          } catch (error) {
            // nothing may still read or fsync the stage or the scratch dir when they are removed: every hash and fsync
            // that started is waited for, not only until the first failure
            await Promise.allSettled([hashes.settled(), flushes.settled(), database])
            throw error
          }
          crashPoint('trac-hotcopy:copied')
          if (snapshot) {
            await mkdir(dirname(join(stage, snapshot.path)), {recursive: true, mode: 0o755})
            await rename(join(scratch, snapshot.path), join(stage, snapshot.path))
          }
        } finally {
          unregister()
          await rm(scratch, {recursive: true, force: true})
        }
        if (options.includeExternal) await includeExternal(stage, external)
        if (snapshot?.sha256) {
          hashed.set(snapshot.path, {path: snapshot.path, size: snapshot.bytes, sha256: snapshot.sha256})
        }
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
          {hashed, sync: true},
        )
        hashed.clear()
        // inside the stage: made durable by its flush and published by its rename, like every other file in it
        await writeManifestText(join(stage, MANIFEST_NAME), manifest, `for ${dest}`)
        await chmod(join(stage, MANIFEST_NAME), 0o644) // whatever the umask, as writeManifest makes it
        crashPoint('trac-hotcopy:staged')
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
      },
      // the big files and the database copy are fsynced already: one fsync per entry, not a syncfs that also waits
      // for every other process's dirty data on the file system, unless the entries are so many (FSYNC_ENTRIES_MAX)
      // that their fsyncs cost far more
      {flush: (stage) => (unflushed > FSYNC_ENTRIES_MAX ? syncTree(stage) : fsyncTree(stage))},
    )
  } finally {
    await hasher.close()
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
