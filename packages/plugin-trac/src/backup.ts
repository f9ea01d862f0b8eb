/**
 * `bk trac backup` / `list`: a hotcopy packed into one archive (bk-manifest.json first, 0600: it holds the
 * database and trac.ini's password) in a backup location with dated names, then retention.
 */
import {rmSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {createArchive} from '@bkcli/core/archive'
import type {Catalog} from '@bkcli/core/catalog'
import {BkError} from '@bkcli/core/errors'
import {isInside, pathExists} from '@bkcli/core/fs'
import {MANIFEST_NAME} from '@bkcli/core/manifest'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {type Artifact, type Plan, type PlanStep, step, sweepLeftovers} from '@bkcli/core/workflow'
import type {TracEnvironment} from './environment.js'
import {type HotcopyResult, hotcopy} from './hotcopy.js'
import {recoverEnv} from './restore.js'
import {tracCatalog} from './store.js'

export interface BackupOptions {
  location?: string
  description?: string
  includeExternal?: boolean
}

export interface BackupResult {
  artifacts: {path: string; bytes: number; kind: string}[]
  archive: string
  bytes: number
  sha256: string
  engine: string
  databaseVersion?: number
  files: number
  external: HotcopyResult['external']
}

/** Default location: `<env>.backups` beside the env (inside it, later hotcopies would copy old backups). */
export function defaultLocation(envPath: string): string {
  return join(dirname(envPath), `${basename(envPath)}.backups`)
}

/**
 * One backup run: `plan()` reads only (the archive it would write), `recover()` removes what killed backups left
 * in the location, `run()` hotcopies into a stage in the location and publishes the archive atomically (the
 * manifest is its first member: an archive in the location is always complete), then removes the stage.
 */
export class TracBackup {
  private constructor(
    readonly env: TracEnvironment,
    readonly location: string,
    private readonly options: BackupOptions,
  ) {}

  static async open(env: TracEnvironment, options: BackupOptions = {}): Promise<TracBackup> {
    const location = resolve(options.location ?? defaultLocation(env.path))
    if (isInside(location, env.path) || location === env.path) {
      throw new BkError(`the backup location ${location} is inside the environment; choose a path outside it`)
    }
    const st = await stat(location).catch(() => undefined)
    if (st && !st.isDirectory()) {
      throw new BkError(`the backup location ${location} is a file; give a directory`, {code: 'ENOTDIR'})
    }
    return new TracBackup(env, location, options)
  }

  get catalog(): Catalog {
    return tracCatalog(this.location, basename(this.env.path))
  }

  async plan(): Promise<Plan> {
    const archive = await this.catalog.nextPath()
    const steps: PlanStep[] = []
    if (!(await pathExists(this.location))) steps.push(step('create', this.location, 'backup location, mode 0700'))
    steps.push(step('copy', this.env.path, `hotcopy with its ${this.env.database.engine} database`))
    steps.push(step('create', archive, 'archive, mode 0600'))
    return {summary: `back up ${this.env.path} to ${this.location}`, steps}
  }

  /** The archive this run will add (for --dry-run's retention steps). */
  upcoming(plan: Plan): Artifact | undefined {
    const created = plan.steps.filter((s) => s.op === 'create').pop()
    if (!created) return undefined
    return {
      name: basename(created.target),
      path: created.target,
      kind: 'full',
      date: new Date(),
      bytes: 0,
      group: basename(this.env.path),
    }
  }

  /** Under the locks: a killed restore of the env is finished first; stages and partial archives of killed backups go. */
  async recover(): Promise<string[]> {
    const sqlite = this.env.sqlitePath
    const outsideSqlite = sqlite && !isInside(sqlite, this.env.path) ? sqlite : undefined
    return [...(await recoverEnv(this.env.path, {outsideSqlite})), ...(await sweepLeftovers(this.location))]
  }

  async run(): Promise<BackupResult> {
    const name = basename(this.env.path)
    await mkdir(this.location, {recursive: true, mode: 0o700})
    const file = await this.catalog.nextPath()
    const scratch = await mkdtemp(join(this.location, `.${name}.bk-stage-`))
    const unregister = onInterrupt(() => rmSync(scratch, {recursive: true, force: true}), {sweep: true})
    let copy: HotcopyResult
    let archive: Awaited<ReturnType<typeof createArchive>>
    try {
      copy = await hotcopy(this.env, join(scratch, name), {
        kind: 'full',
        description: this.options.description,
        includeExternal: this.options.includeExternal,
      })
      crashPoint('trac-backup:staged')
      const manifest = await readFile(join(copy.dest, MANIFEST_NAME))
      archive = await createArchive({
        cwd: copy.dest,
        file,
        mode: 0o600,
        prepend: [{name: MANIFEST_NAME, content: manifest, mode: 0o600}],
        filter: (path) => path !== MANIFEST_NAME,
      })
      crashPoint('trac-backup:published')
    } finally {
      await rm(scratch, {recursive: true, force: true})
      unregister()
    }
    return {
      artifacts: [{path: archive.file, bytes: archive.bytes, kind: 'full'}],
      archive: archive.file,
      bytes: archive.bytes,
      sha256: archive.sha256,
      engine: copy.engine,
      databaseVersion: copy.databaseVersion,
      files: copy.files,
      external: copy.external,
    }
  }
}
