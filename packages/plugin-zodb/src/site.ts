// The recipe's scripts as operations on a whole site (every filestorage and its blobs), shaped for core's
// workflow: `plan()` reads only, `recover()` finishes what a killed run left, `run()` acts. Backup in the recipe's
// order (extra filestorages first; Data.fs before its blobs, so no backed-up record lacks its blob). Restore:
// every part (each Data.fs, its index, each blob storage) staged and checked beside its target first, then one
// commit (core's commitParts journal) swaps them all, keeping the previous copies under names never reused.
import {existsSync} from 'node:fs'
import {mkdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import type {Artifact, CommitPart, OperationContext, Plan, PlanStep, RetentionPolicy} from '@bkcli/core'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {crashPoint, removeStalePartials} from '@bkcli/core/safety'
import {commitParts, journalPathFor, pruneStore, recoverCommit, step, sweepLeftovers} from '@bkcli/core/workflow'
import type {BackupResult} from './backup.js'
import {
  type BlobBackupEntry,
  type BlobBackupResult,
  type BlobRestoreResult,
  backupBlobs,
  blobBase,
  findBlobBackup,
  listBlobBackups,
  stageBlobs,
} from './blobs.js'
import {FOLLOW_MARK} from './follow/blobs.js'
import {listDataFiles, selectChain} from './repository.js'
import {stampOf} from './repozo-date.js'
import {planRestore, planRestoreAsOf, type RestoreFileResult, type RestorePlan, stageFileStorage} from './restore.js'
import {type Mode, repositoryOf, type Site, type Storage} from './settings.js'
import {checkStorageLock, holdStorageLock, type StorageLock} from './storage-lock.js'
import {recoverRepository, siteStore} from './store.js'

/** A byte progress bar (the command's, drawn on a TTY only). */
export type ProgressFactory = OperationContext['progress']

const quiet: Pick<OperationContext, 'info' | 'note'> = {info: () => {}, note: () => {}}

export interface SiteBackupOptions {
  mode: Mode
  /** full backup even when an incremental is possible (`backup --full`; always for snapshot and zip) */
  full?: boolean
  gzip?: boolean
  archiveBlob?: boolean
  compressBlob?: boolean
  hardLinks?: boolean
  /** the recipe's incremental_blobs (with archiveBlob, `backup` mode only) */
  incrementalBlobs?: boolean
  /** keep_blob_days for an ordinary backup (see expiredBlobBackups); undefined = not applied */
  keepBlobDays?: number
  now?: () => Date
}

export interface StorageBackupResult {
  name: string
  datafs: string
  repository: string
  filestorage?: BackupResult
  blobs?: BlobBackupResult
  /** blob backups removed by keep_blob_days */
  expiredBlobs?: string[]
}

/** Every path a backup of `site` writes to (the core target locks): its filestorages and locations. */
export function backupLocks(site: Site, mode: Mode): string[] {
  return site.storages.flatMap((s) => {
    const repo = repositoryOf(s, mode)
    return [s.datafs, ...(site.onlyBlobs ? [] : [repo.abs]), ...(site.backupBlobs && s.blobStorage ? [repo.blobs] : [])]
  })
}

/** What a backup would write (reads only: the sources must exist, the locations may not). */
export async function planBackup(site: Site, options: SiteBackupOptions): Promise<Plan> {
  const steps: PlanStep[] = []
  for (const storage of site.storages) {
    const repo = repositoryOf(storage, options.mode)
    if (!site.onlyBlobs) {
      const st = await stat(storage.datafs).catch(() => undefined)
      if (!st?.isFile()) throw new BkError(`filestorage ${storage.datafs} does not exist; check --datafs`)
      if (!(await pathExists(repo.abs))) steps.push(step('create', repo.abs, 'backup location'))
      const how = options.full || options.mode !== 'backup' ? 'full backup' : 'incremental when possible, else full'
      const ext = options.mode === 'zip' || options.gzip !== false ? 'fsz' : 'fs'
      steps.push(step('create', `${repo.abs}/<stamp>.${ext}`, `${how}, with .dat, .index and sidecar`, st.size))
    }
    if (site.backupBlobs && storage.blobStorage) {
      const st = await stat(storage.blobStorage).catch(() => undefined)
      if (!st?.isDirectory()) {
        throw new BkError(
          `blob storage ${storage.blobStorage} does not exist or is not a directory; check --blob-storage`,
        )
      }
      const archive = options.mode === 'zip' || options.archiveBlob
      if (options.incrementalBlobs && options.mode === 'backup' && !archive) {
        throw new BkError(
          '--incremental-blobs (incremental_blobs) needs --archive-blob (archive_blob): it makes tar archives',
        )
      }
      if (options.keepBlobDays !== undefined && !site.onlyBlobs) {
        const now = (options.now ?? (() => new Date()))()
        for (const path of await expiredBlobBackups(storage, options.mode, options.keepBlobDays, now)) {
          steps.push(step('remove', path, `blob backup older than ${options.keepBlobDays} days (keep-blob-days)`))
        }
      }
      steps.push(
        step(
          'create',
          `${repo.blobs}/${blobBase(storage.blobStorage)}.<stamp>${archive ? `.tar${options.compressBlob ? '.gz' : ''}` : ''}`,
          archive
            ? options.incrementalBlobs && options.mode === 'backup'
              ? 'blob archive: a .delta.tar when the chain has its .snar, else a full one'
              : 'blob archive'
            : options.hardLinks === false
              ? 'blob copy'
              : 'blob copy, unchanged blobs hard-linked',
        ),
      )
    }
  }
  return {
    summary: `${options.mode === 'backup' ? 'back up' : `${options.mode} backup`} ${site.storages.map((s) => s.datafs).join(', ')}`,
    steps,
  }
}

/** Under the locks, before a backup: interrupted backups' files and partial blob copies removed, said so. */
export async function recoverBackup(site: Site, mode: Mode): Promise<string[]> {
  const lines: string[] = []
  for (const storage of site.storages) {
    const repo = repositoryOf(storage, mode)
    if (!site.onlyBlobs) {
      lines.push(...(await sweepLeftovers(repo.abs)))
      lines.push(...(await recoverRepository(repo.abs)))
    }
    if (site.backupBlobs && storage.blobStorage) {
      lines.push(...(await sweepLeftovers(repo.blobs)))
      const base = blobBase(storage.blobStorage)
      for (const p of await removeStalePartials(repo.blobs, base))
        lines.push(`removed ${p}, left by an interrupted run`)
    }
  }
  return lines
}

export async function backupSite(
  site: Site,
  options: SiteBackupOptions,
  context: Partial<OperationContext> = {},
): Promise<{storages: StorageBackupResult[]}> {
  const results: StorageBackupResult[] = []
  for (const storage of site.storages) results.push(await backupStorage(site, storage, options, context))
  return {storages: results}
}

async function backupStorage(
  site: Site,
  storage: Storage,
  options: SiteBackupOptions,
  context: Partial<OperationContext>,
): Promise<StorageBackupResult> {
  const log = context.info ?? quiet.info
  const repo = repositoryOf(storage, options.mode)
  const result: StorageBackupResult = {name: storage.name, datafs: storage.datafs, repository: repo.abs}
  const zip = options.mode === 'zip'
  if (!site.onlyBlobs) {
    await ensureDir(repo.abs, log)
    log(`Backing up ${storage.datafs} to ${repo.abs}`)
    const bar = context.progress?.(`backing up ${storage.name}`)
    try {
      // loaded here: a restore never needs the backup code
      const {backupFileStorage} = await import('./backup.js')
      result.filestorage = await backupFileStorage(storage.datafs, {
        repository: repo.abs,
        datPrefix: repo.written,
        full: options.full || options.mode !== 'backup',
        gzip: zip || (options.gzip ?? true),
        log,
        now: options.now,
        onProgress: bar
          ? (done, total) => {
              bar.setTotal?.(total)
              bar.update(done)
            }
          : undefined,
      })
    } finally {
      bar?.done()
    }
  }
  if (site.backupBlobs && storage.blobStorage) {
    await ensureDir(repo.blobs, log)
    const files = site.onlyBlobs ? [] : await listDataFiles(repo.abs)
    const stamp = files.at(-1)?.stamp ?? stampOf((options.now ?? (() => new Date()))())
    const archive = zip || options.archiveBlob
    const head = selectChain(files)[0]
    const incremental =
      options.incrementalBlobs && options.mode === 'backup' && archive
        ? {fullStamp: head?.full ? head.stamp : undefined, onlyBlobs: site.onlyBlobs}
        : undefined
    log(`Backing up blobs of ${storage.blobStorage} to ${repo.blobs}`)
    result.blobs = await backupBlobs({
      source: storage.blobStorage,
      location: repo.blobs,
      stamp,
      archive,
      incremental,
      compress: options.compressBlob,
      hardLinks: options.hardLinks,
    })
    crashPoint('zodb-backup:blobs')
    if (result.blobs.reason) log(result.blobs.reason)
    if (options.keepBlobDays !== undefined && !site.onlyBlobs) {
      const now = (options.now ?? (() => new Date()))()
      const expired = await expiredBlobBackups(storage, options.mode, options.keepBlobDays, now)
      await removeBlobBackups(expired)
      for (const path of expired) log(`Removed ${path}: older than ${options.keepBlobDays} days (keep-blob-days)`)
      if (expired.length > 0) result.expiredBlobs = expired
    }
  }
  return result
}

async function ensureDir(dir: string, log: (m: string) => void): Promise<void> {
  const made = await mkdir(dir, {recursive: true, mode: 0o700})
  if (made) log(`Created ${dir}`)
}

/** The retention of a mode: zip keeps one (the recipe); --only-blobs keeps blob backups by age. */
export function retentionOf(site: Site, mode: Mode, policy: RetentionPolicy, keepBlobDays?: number): RetentionPolicy {
  if (mode === 'zip') return {keep: 1}
  const days = keepBlobDays ?? DEFAULT_KEEP_BLOB_DAYS
  if (site.onlyBlobs && days) return {keepDays: days}
  return policy
}

/** The recipe's default keep_blob_days (two weeks). */
export const DEFAULT_KEEP_BLOB_DAYS = 14

/**
 * keep_blob_days on an ordinary (partial) backup, as the recipe documents it for `bin/backup`: blob backup
 * directories stamped more than `days` days before `now` — except the newest blob backup of each filestorage
 * chain (so every kept full backup stays restorable at its latest point) and the newest of all. Archives are
 * left to the chain retention (an incremental tar chain must stay whole).
 */
export async function expiredBlobBackups(storage: Storage, mode: Mode, days: number, now: Date): Promise<string[]> {
  if (days <= 0 || !storage.blobStorage) return []
  const repo = repositoryOf(storage, mode)
  const dirs = (await listBlobBackups(repo.blobs, blobBase(storage.blobStorage))).filter(
    (e) => e.kind === 'dir' && e.stamp !== undefined,
  )
  const heads = await listDataFiles(repo.abs)
    .then((files) => files.filter((f) => f.full).map((f) => f.stamp))
    .catch(() => [] as string[])
  const chainOf = (stamp: string) => heads.filter((h) => h <= stamp).at(-1) ?? ''
  const newestOfChain = new Set<string>()
  const seen = new Set<string>()
  for (const e of dirs) {
    // newest first: the first of each chain is its newest
    const chain = chainOf(e.stamp!)
    if (!seen.has(chain)) newestOfChain.add(e.path)
    seen.add(chain)
  }
  const limit = stampOf(new Date(now.getTime() - days * 86_400_000))
  return dirs.filter((e, i) => i > 0 && !newestOfChain.has(e.path) && e.stamp! < limit).map((e) => e.path)
}

/** Removes expired blob backups: each renamed to a leftover name first, so a killed run never leaves half of one. */
async function removeBlobBackups(paths: string[]): Promise<void> {
  for (const path of paths) {
    const doomed = join(dirname(path), `.${basename(path)}.bk-stage-${process.pid}-expired`)
    await rename(path, doomed)
    await rm(doomed, {recursive: true, force: true})
  }
}

/** The artifact a backup adds, for a dry run's retention plan. */
export function upcomingOf(site: Site, mode: Mode): Artifact {
  const main = site.storages.at(-1)!
  const repo = repositoryOf(main, mode)
  return {
    name: '(this backup)',
    path: `${repo.abs}/(this backup)`,
    kind: 'full',
    date: new Date(),
    bytes: 0,
    group: main.name,
  }
}

/** Retention on demand or after a backup: core's prune over the site's store. */
export function pruneSite(site: Site, mode: Mode, policy: RetentionPolicy) {
  return pruneStore(siteStore(site, mode), {clock: 'utc', ...policy})
}

export interface SiteRestoreOptions {
  mode: Mode
  /** validated repozo date (see repozo-date.ts) */
  date?: string
  /** point in time (--as-of): the chain covering it, cut after its last transaction at or before it */
  asOf?: Date
  ignoreLock?: boolean
  /** when the previous copies were replaced (names of kept copies); default now */
  now?: () => Date
}

export interface StorageRestoreResult {
  name: string
  from: {files?: string[]; blobs?: string}
  filestorage?: RestoreFileResult
  blobs?: BlobRestoreResult
  lock: StorageLock['method'] | 'ignored'
}

interface Planned {
  storage: Storage
  plan?: RestorePlan
  blob?: BlobBackupEntry
}

export interface SiteRestoreResult {
  source: string
  target: string
  date?: string
  storages: StorageRestoreResult[]
  /** the previous copies, kept under names never reused */
  kept: string[]
}

/** A restore of a site: found and checked by `open` (reads only), then planned, recovered, run. */
export class SiteRestore {
  private constructor(
    readonly site: Site,
    readonly options: SiteRestoreOptions,
    private readonly planned: Planned[],
  ) {}

  /** Finds and checks every backup to restore: a missing one fails before any question or change. */
  static async open(site: Site, options: SiteRestoreOptions): Promise<SiteRestore> {
    const planned: Planned[] = []
    for (const storage of site.storages) {
      const repo = repositoryOf(storage, options.mode)
      const p: Planned = {storage}
      if (!site.onlyBlobs) {
        p.plan = options.asOf
          ? await planRestoreAsOf(repo.abs, options.asOf)
          : await planRestore(repo.abs, options.date)
      }
      if (site.backupBlobs && storage.blobStorage) {
        // as of a time: the blobs of the backup the data comes from (they cover every transaction kept; blobs
        // of later transactions are harmless extras), or the newest at or before TIME for blobs alone
        const date = options.asOf ? (p.plan?.chain.files.at(-1)?.stamp ?? stampOf(options.asOf)) : options.date
        p.blob = await findBlobBackup(repo.blobs, blobBase(storage.blobStorage), date)
        // blob backups are stamped like the filestorage backup they go with: an older one lacks the blobs of the
        // transactions in between (one removed by keep-blob-days, or a blob backup that failed)
        const dataStamp = p.plan?.chain.files.at(-1)?.stamp
        // (a follower's blob folder holds its whole chain: any point of that chain may use it)
        const wholeChain =
          p.blob.kind === 'dir' &&
          p.blob.stamp !== undefined &&
          p.blob.stamp >= (p.plan?.chain.files[0]?.stamp ?? '') &&
          existsSync(join(p.blob.path, FOLLOW_MARK))
        if (dataStamp && p.blob.stamp && p.blob.stamp < dataStamp && !wholeChain) {
          throw new BkError(
            `the blob backup for ${dataStamp} is missing (the newest before it is ${p.blob.name}, which lacks later blobs); restore the date ${p.blob.stamp}, or the filestorage alone with --no-backup-blobs`,
          )
        }
        const st = await stat(storage.blobStorage).catch(() => undefined)
        if (st && !st.isDirectory()) {
          throw new BkError(`blob storage ${storage.blobStorage} is not a directory; check --blob-storage`)
        }
      }
      if (p.plan) {
        const st = await stat(storage.datafs).catch(() => undefined)
        if (st && !st.isFile()) throw new BkError(`${storage.datafs} is not a file; check --datafs`)
      }
      planned.push(p)
    }
    return new SiteRestore(site, options, planned)
  }

  get main(): Storage {
    return this.site.storages.at(-1)!
  }

  /** Targets and locations, locked by core for the whole run. */
  get locks(): string[] {
    return this.planned.flatMap((p) => {
      const repo = repositoryOf(p.storage, this.options.mode)
      return [p.storage.datafs, ...(p.blob ? [p.storage.blobStorage!, repo.blobs] : []), ...(p.plan ? [repo.abs] : [])]
    })
  }

  /** Whether anything live would be replaced (then core asks first). */
  async replacing(): Promise<string[]> {
    const live: string[] = []
    for (const p of this.planned) {
      if (p.plan && (await pathExists(p.storage.datafs))) live.push(p.storage.datafs)
      if (p.blob && (await pathExists(p.storage.blobStorage!))) live.push(p.storage.blobStorage!)
    }
    return live
  }

  async plan(): Promise<Plan> {
    const steps: PlanStep[] = []
    for (const p of this.planned) {
      if (p.plan && !this.options.ignoreLock) {
        await checkStorageLock(p.storage.datafs)
        steps.push(step('check', `${p.storage.datafs}.lock`, 'no Zope/ZEO holds the filestorage'))
      }
    }
    for (const p of this.planned) {
      const s = p.storage
      if (p.plan) {
        const files = p.plan.chain.files.map((f) => f.name).join(' + ')
        const had = await pathExists(s.datafs)
        const cut = p.plan.asOf ? `, cut after the last transaction at or before ${p.plan.asOf.toISOString()}` : ''
        steps.push(step(had ? 'replace' : 'create', s.datafs, `from ${files}${cut}`, p.plan.chain.size))
        steps.push(
          step(had ? 'replace' : 'create', `${s.datafs}.index`, "the backup's index, or one built from the data"),
        )
        if (had) steps.push(step('keep', `${s.datafs}.pre-restore-<stamp>`, 'the previous Data.fs and its index'))
      }
      if (p.blob) {
        const had = await pathExists(s.blobStorage!)
        steps.push(step(had ? 'replace' : 'create', s.blobStorage!, `from ${p.blob.name}`))
        if (had) steps.push(step('keep', `${s.blobStorage}.pre-restore-<stamp>`, 'the previous blob storage'))
      }
    }
    const when = this.options.asOf
      ? ` as of ${this.options.asOf.toISOString()}`
      : this.options.date
        ? ` as of ${this.options.date}`
        : ' (newest backup)'
    const warnings = [
      ...(this.options.ignoreLock ? ['--ignore-lock: a running Zope/ZEO is not checked'] : []),
      ...this.planned.flatMap((p) => (p.plan?.warning ? [p.plan.warning] : [])),
    ]
    return {
      summary: `restore ${this.site.storages.map((s) => s.datafs).join(', ')}${when}`,
      steps,
      warnings: warnings.length > 0 ? warnings : undefined,
    }
  }

  private get journal(): string {
    const first = this.planned[0]!
    return journalPathFor(first.plan ? first.storage.datafs : first.storage.blobStorage!)
  }

  /** Under the locks: a commit a killed run left is finished first, then stale stages are removed. */
  async recover(): Promise<string[]> {
    const lines = await recoverCommit(this.journal)
    for (const p of this.planned) {
      if (p.plan) {
        lines.push(...(await sweepLeftovers(dirname(p.storage.datafs), basename(p.storage.datafs))))
        lines.push(...(await sweepLeftovers(dirname(p.storage.datafs), `${basename(p.storage.datafs)}.index`)))
      }
      if (p.blob) {
        lines.push(...(await sweepLeftovers(dirname(p.storage.blobStorage!), basename(p.storage.blobStorage!))))
      }
    }
    return lines
  }

  async run(context: Partial<OperationContext> = {}): Promise<SiteRestoreResult> {
    const log = context.info ?? quiet.info
    const locks: StorageLock[] = []
    const parts: CommitPart[] = []
    const abort: (() => Promise<void>)[] = []
    const results: StorageRestoreResult[] = []
    try {
      // Zope/ZEO must not start while anything is replaced (blobs included: a running Zope uses them too)
      for (const p of this.planned) {
        if (!this.options.ignoreLock && p.plan) locks.push(await holdStorageLock(p.storage.datafs))
      }
      for (const p of this.planned) {
        const s = p.storage
        const result: StorageRestoreResult = {
          name: s.name,
          from: {files: p.plan?.chain.files.map((f) => f.path), blobs: p.blob?.path},
          lock: this.options.ignoreLock || !p.plan ? 'ignored' : (locks.at(-1)?.method ?? 'absent'),
        }
        if (p.plan) {
          log(`Restoring ${p.plan.chain.files.map((f) => f.name).join(', ')} to ${s.datafs}`)
          await mkdir(dirname(s.datafs), {recursive: true})
          const bar = context.progress?.(`restoring ${s.name}`, p.plan.chain.size)
          try {
            const staged = await stageFileStorage(p.plan, s.datafs, {
              onProgress: bar ? (n) => bar.update(n) : undefined,
            })
            abort.push(staged.abort)
            parts.push(...staged.parts)
            result.filestorage = staged.result
          } finally {
            bar?.done()
          }
        }
        if (p.blob) {
          log(`Restoring blobs from ${p.blob.path} to ${s.blobStorage}`)
          const stage = await stageBlobs(p.blob, s.blobStorage!)
          abort.push(() => rm(stage, {recursive: true, force: true}))
          parts.push({stage, target: s.blobStorage!})
          result.blobs = {target: s.blobStorage!, from: p.blob.path, kind: p.blob.kind}
        }
        results.push(result)
      }
      crashPoint('zodb-restore:staged')
      const stamp = stampOf((this.options.now ?? (() => new Date()))())
      const {kept} = await commitParts(parts, {
        journal: this.journal,
        keepAs: (part) => keptName(part.target, stamp),
      })
      return {
        source: repositoryOf(this.main, this.options.mode).abs,
        target: this.main.datafs,
        date: this.options.asOf?.toISOString() ?? this.options.date,
        storages: results,
        kept,
      }
    } finally {
      // once the journal is written the stages belong to it: the next run rolls them forward
      if (!existsSync(this.journal)) for (const a of abort) await a()
      for (const lock of locks.reverse()) await lock.release()
    }
  }
}

/** `<target>.pre-restore-<stamp>`, or with `-<pid>` (and a counter) when that exists: a kept copy is never replaced. */
function keptName(target: string, stamp: string): string {
  const base = `${target}.pre-restore-${stamp}`
  if (!existsSync(base)) return base
  for (let i = 0; ; i++) {
    const candidate = `${base}-${process.pid}${i ? `-${i}` : ''}`
    if (!existsSync(candidate)) return candidate
  }
}

/** Restore as of a date: open, recover, run (for callers outside the command, e.g. tests). */
export async function restoreSite(site: Site, options: SiteRestoreOptions): Promise<SiteRestoreResult> {
  const restore = await SiteRestore.open(site, options)
  await restore.plan()
  await restore.recover()
  return restore.run()
}

export function assertMode(mode: string): Mode {
  if (mode === 'backup' || mode === 'snapshot' || mode === 'zip') return mode
  throw new BkError(`unknown mode ${mode}`)
}
