/**
 * `bk trac backup` / `list`: a hotcopy packed into one archive (bk-manifest.json first, 0600: it holds the
 * database and trac.ini's password) in a backup location with dated names, then retention.
 */
import {mkdir, mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {
  BkError,
  Catalog,
  type CatalogEntry,
  createArchive,
  datedNaming,
  hasRetention,
  MANIFEST_NAME,
  onInterrupt,
  planRetention,
  prune,
  type RetentionPolicy,
  sortNewestFirst,
} from '@bkcli/core'
import type {TracEnvironment} from './environment.js'
import {type HotcopyResult, hotcopy} from './hotcopy.js'

export interface BackupOptions {
  location?: string
  retention?: RetentionPolicy
  description?: string
  includeExternal?: boolean
  dryRun?: boolean
}

export interface BackupResult {
  archive: string
  bytes: number
  sha256: string
  engine: string
  databaseVersion?: number
  files: number
  external: HotcopyResult['external']
  pruned: string[]
  dryRun?: boolean
}

/** Default location: `<env>.backups` beside the env (inside it, later hotcopies would copy old backups). */
export function defaultLocation(envPath: string): string {
  return join(dirname(envPath), `${basename(envPath)}.backups`)
}

/** `<env name>-YYYY-MM-DD_HHMMSS.tar.gz`, UTC. */
export function tracCatalog(location: string, envName: string): Catalog {
  return new Catalog(
    location,
    datedNaming({prefix: `${envName}-`, suffix: ['.tar.gz', '.tar.zst', '.tar'], clock: 'utc'}),
  )
}

export async function backup(env: TracEnvironment, options: BackupOptions = {}): Promise<BackupResult> {
  const location = resolve(options.location ?? defaultLocation(env.path))
  const name = basename(env.path)
  if (options.dryRun) return planBackup(env, location, options)
  await mkdir(location, {recursive: true, mode: 0o700})
  const catalog = tracCatalog(location, name)
  const file = await catalog.nextPath()
  const scratch = await mkdtemp(join(location, `.${name}.bk-stage-`))
  const unregister = onInterrupt(() => {
    void rm(scratch, {recursive: true, force: true})
  })
  let copy: HotcopyResult
  let archive: Awaited<ReturnType<typeof createArchive>>
  try {
    copy = await hotcopy(env, join(scratch, name), {
      kind: 'full',
      description: options.description,
      includeExternal: options.includeExternal,
    })
    const manifest = await readFile(join(copy.dest, MANIFEST_NAME))
    archive = await createArchive({
      cwd: copy.dest,
      file,
      mode: 0o600,
      prepend: [{name: MANIFEST_NAME, content: manifest, mode: 0o600}],
      filter: (path) => path !== MANIFEST_NAME,
    })
  } finally {
    await rm(scratch, {recursive: true, force: true})
    unregister()
  }
  let pruned: string[] = []
  if (options.retention && hasRetention(options.retention)) {
    const plan = planRetention(await catalog.list(), options.retention)
    pruned = await prune(plan, {dryRun: options.dryRun})
  }
  return {
    archive: archive.file,
    bytes: archive.bytes,
    sha256: archive.sha256,
    engine: copy.engine,
    databaseVersion: copy.databaseVersion,
    files: copy.files,
    external: copy.external,
    pruned,
  }
}

/** --dry-run: the archive that would be written and what retention would then remove; nothing is written. */
async function planBackup(env: TracEnvironment, location: string, options: BackupOptions): Promise<BackupResult> {
  const catalog = tracCatalog(location, basename(env.path))
  const archive = await catalog.nextPath()
  let pruned: string[] = []
  if (options.retention && hasRetention(options.retention)) {
    const next = {name: basename(archive), date: new Date(), path: archive}
    const plan = planRetention([next, ...(await catalog.list())], options.retention)
    pruned = plan.remove.map((e) => e.path)
  }
  return {archive, bytes: 0, sha256: '', engine: env.database.engine, files: 0, external: [], pruned, dryRun: true}
}

/** Every env's backups in a location (names `<env>-YYYY-MM-DD_HHMMSS[_n].tar.gz`), newest first. */
export async function listBackups(location: string): Promise<CatalogEntry[]> {
  const dir = resolve(location)
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const entries: CatalogEntry[] = []
  for (const prefix of envNames(names)) entries.push(...(await tracCatalog(dir, prefix).list()))
  return sortNewestFirst(entries)
}

/** The env names of the backups in a directory listing (`<env>-YYYY-MM-DD_HHMMSS[_n].tar…`). */
function envNames(names: string[]): Set<string> {
  const prefixes = new Set<string>()
  for (const name of names) {
    const m = /^(.+)-\d{4}-\d{2}-\d{2}_\d{6}(?:_\d+)?\.tar(?:\.gz|\.zst)?$/.exec(name)
    if (m && !name.startsWith('.')) prefixes.add(m[1]!)
  }
  return prefixes
}

export interface PruneResult {
  location: string
  kept: {name: string; reason: string}[]
  removed: string[]
  dryRun: boolean
}

/** Applies a retention policy to each env's backups in a location separately (the newest of each is always kept). */
export async function pruneBackups(location: string, policy: RetentionPolicy, dryRun = false): Promise<PruneResult> {
  if (!hasRetention(policy)) {
    throw new BkError('give a retention rule (--keep, --keep-days, --keep-daily, --keep-weekly or --keep-monthly)')
  }
  const dir = resolve(location)
  const names = await readdir(dir).catch(() => {
    throw new BkError(`backup location ${location} does not exist`)
  })
  const result: PruneResult = {location: dir, kept: [], removed: [], dryRun}
  for (const env of envNames(names)) {
    const plan = planRetention(await tracCatalog(dir, env).list(), policy)
    for (const e of plan.keep) result.kept.push({name: e.name, reason: plan.reasons.get(e.name) ?? ''})
    result.removed.push(...(await prune(plan, {dryRun})))
  }
  return result
}
