// The recipe's scripts as operations on a whole site (every filestorage and its blobs): backup in the
// recipe's order (extra filestorages first; Data.fs before its blobs, so no backed-up record lacks its blob),
// retention afterwards; restore with every part checked and staged before anything live is replaced.
import {mkdir} from 'node:fs/promises'
import {BkError, type Hooks, type RetentionPolicy, withHooks} from '@bkcli/core'
import {type BackupResult, backupFileStorage} from './backup.js'
import {
  type BlobBackupEntry,
  type BlobBackupResult,
  type BlobRestoreResult,
  backupBlobs,
  blobBase,
  findBlobBackup,
  restoreBlobs,
} from './blobs.js'
import {listDataFiles} from './repository.js'
import {stampOf} from './repozo-date.js'
import {
  planRestore,
  type RestoreFileResult,
  type RestorePlan,
  type StagedFileStorage,
  stageFileStorage,
} from './restore.js'
import {pruneBlobBackups, pruneRepository} from './retention.js'
import {type Mode, repositoryOf, type Site, type Storage} from './settings.js'
import {holdStorageLock, type StorageLock} from './storage-lock.js'

/** A byte progress bar (the command's, drawn on a TTY only). */
export type ProgressFactory = (
  label: string,
  total?: number,
) => {update(done: number): void; setTotal?(total: number): void; done(): void}

export interface SiteBackupOptions {
  mode: Mode
  /** full backup even when an incremental is possible (`backup --full`; always for snapshot and zip) */
  full?: boolean
  gzip?: boolean
  archiveBlob?: boolean
  compressBlob?: boolean
  hardLinks?: boolean
  retention?: RetentionPolicy
  keepBlobDays?: number
  hooks?: Hooks
  log?: (message: string) => void
  progress?: ProgressFactory
  now?: () => Date
}

export interface StorageBackupResult {
  name: string
  datafs: string
  repository: string
  filestorage?: BackupResult
  blobs?: BlobBackupResult
  pruned: string[]
}

export async function backupSite(site: Site, options: SiteBackupOptions): Promise<{storages: StorageBackupResult[]}> {
  const log = options.log ?? (() => {})
  const run = async () => {
    const results: StorageBackupResult[] = []
    for (const storage of site.storages) results.push(await backupStorage(site, storage, options, log))
    return {storages: results}
  }
  return options.hooks ? withHooks(options.hooks, run) : run()
}

async function backupStorage(
  site: Site,
  storage: Storage,
  options: SiteBackupOptions,
  log: (m: string) => void,
): Promise<StorageBackupResult> {
  const repo = repositoryOf(storage, options.mode)
  const result: StorageBackupResult = {name: storage.name, datafs: storage.datafs, repository: repo.abs, pruned: []}
  const zip = options.mode === 'zip'
  if (!site.onlyBlobs) {
    await ensureDir(repo.abs, log)
    log(`Backing up ${storage.datafs} to ${repo.abs}`)
    const bar = options.progress?.(`backing up ${storage.name}`)
    try {
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
  const policy: RetentionPolicy = zip ? {keep: 1} : (options.retention ?? {keep: 2})
  let oldestKept: string | undefined
  if (!site.onlyBlobs) {
    const pruned = await pruneRepository(repo.abs, policy)
    result.pruned.push(...pruned.removed)
    oldestKept = pruned.oldestKept
  }
  if (site.backupBlobs && storage.blobStorage) {
    await ensureDir(repo.blobs, log)
    const files = site.onlyBlobs ? [] : await listDataFiles(repo.abs)
    const stamp = files.at(-1)?.stamp ?? stampOf((options.now ?? (() => new Date()))())
    log(`Backing up blobs of ${storage.blobStorage} to ${repo.blobs}`)
    result.blobs = await backupBlobs({
      source: storage.blobStorage,
      location: repo.blobs,
      stamp,
      archive: zip || options.archiveBlob,
      compress: options.compressBlob,
      hardLinks: options.hardLinks,
    })
    if (result.blobs.reason) log(result.blobs.reason)
    result.pruned.push(
      ...(await pruneBlobBackups(repo.blobs, blobBase(storage.blobStorage), {
        oldestKept,
        keep: policy.keep,
        keepBlobDays: site.onlyBlobs ? options.keepBlobDays : undefined,
      })),
    )
  }
  return result
}

async function ensureDir(dir: string, log: (m: string) => void): Promise<void> {
  const made = await mkdir(dir, {recursive: true})
  if (made) log(`Created ${dir}`)
}

export interface SiteRestoreOptions {
  mode: Mode
  /** validated repozo date (see repozo-date.ts) */
  date?: string
  ignoreLock?: boolean
  /** find and check what would be restored, change nothing */
  dryRun?: boolean
  /** asked once everything to restore has been found; throws to abort */
  confirm?: (question: string) => Promise<void>
  hooks?: Hooks
  log?: (message: string) => void
  progress?: ProgressFactory
}

export interface StorageRestoreResult {
  name: string
  /** what is (or, with --dry-run, would be) restored */
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
  date?: string
  dryRun?: boolean
  storages: StorageRestoreResult[]
}

function fromOf(p: Planned): StorageRestoreResult['from'] {
  return {files: p.plan?.chain.files.map((f) => f.path), blobs: p.blob?.path}
}

export async function restoreSite(site: Site, options: SiteRestoreOptions): Promise<SiteRestoreResult> {
  const log = options.log ?? (() => {})
  // 1. find and check everything first: a missing backup fails before any question or change
  const planned: Planned[] = []
  for (const storage of site.storages) {
    const repo = repositoryOf(storage, options.mode)
    const p: Planned = {storage}
    if (!site.onlyBlobs) p.plan = await planRestore(repo.abs, options.date)
    if (site.backupBlobs && storage.blobStorage) {
      p.blob = await findBlobBackup(repo.blobs, blobBase(storage.blobStorage), options.date)
    }
    planned.push(p)
  }
  if (options.dryRun) {
    return {
      date: options.date,
      dryRun: true,
      storages: planned.map((p) => ({name: p.storage.name, from: fromOf(p), lock: 'ignored' as const})),
    }
  }
  if (options.confirm) {
    const lines = ['']
    for (const p of planned) {
      if (p.plan) lines.push('This will replace the filestorage:', `    ${p.storage.datafs}`)
      if (p.blob) lines.push('This will replace the blobstorage:', `    ${p.storage.blobStorage}`)
    }
    lines.push('Are you sure?')
    await options.confirm(lines.join('\n'))
  }
  const run = async () => {
    const results: StorageRestoreResult[] = []
    for (const p of planned) results.push(await restoreStorage(p, options, log))
    return {date: options.date, storages: results}
  }
  return options.hooks ? withHooks(options.hooks, run) : run()
}

async function restoreStorage(
  p: Planned,
  options: SiteRestoreOptions,
  log: (m: string) => void,
): Promise<StorageRestoreResult> {
  let lock: StorageLock | undefined
  // blobs alone are replaced under the same lock: a running Zope uses them too
  if (!options.ignoreLock) lock = await holdStorageLock(p.storage.datafs)
  try {
    let staged: StagedFileStorage | undefined
    if (p.plan) {
      log(`Restoring ${p.plan.chain.files.map((f) => f.name).join(', ')} to ${p.storage.datafs}`)
      const bar = options.progress?.(`restoring ${p.storage.name}`, p.plan.chain.size)
      try {
        staged = await stageFileStorage(p.plan, p.storage.datafs, {onProgress: bar ? (n) => bar.update(n) : undefined})
      } finally {
        bar?.done()
      }
    }
    const result: StorageRestoreResult = {name: p.storage.name, from: fromOf(p), lock: lock?.method ?? 'ignored'}
    try {
      if (p.blob) {
        log(`Restoring blobs from ${p.blob.path} to ${p.storage.blobStorage}`)
        result.blobs = await restoreBlobs(p.blob, p.storage.blobStorage!, {
          afterSwap: staged
            ? async () => {
                result.filestorage = await staged!.commit()
              }
            : undefined,
        })
      } else if (staged) result.filestorage = await staged.commit()
    } catch (e) {
      await staged?.abort()
      throw e
    }
    return result
  } finally {
    await lock?.release()
  }
}

export function assertMode(mode: string): Mode {
  if (mode === 'backup' || mode === 'snapshot' || mode === 'zip') return mode
  throw new BkError(`unknown mode ${mode}`)
}

export interface StoragePruneResult {
  name: string
  repository: string
  removed: string[]
}

/** Retention on demand (backups apply it themselves): the same rules, optionally as a dry run. */
export async function pruneSite(
  site: Site,
  options: {mode: Mode; retention: RetentionPolicy; keepBlobDays?: number; dryRun?: boolean},
): Promise<{dryRun: boolean; storages: StoragePruneResult[]}> {
  const storages: StoragePruneResult[] = []
  for (const storage of site.storages) {
    const repo = repositoryOf(storage, options.mode)
    const result: StoragePruneResult = {name: storage.name, repository: repo.abs, removed: []}
    let oldestKept: string | undefined
    if (!site.onlyBlobs) {
      const pruned = await pruneRepository(repo.abs, options.retention, {dryRun: options.dryRun})
      result.removed.push(...pruned.removed)
      oldestKept = pruned.oldestKept
    }
    if (site.backupBlobs && storage.blobStorage) {
      result.removed.push(
        ...(await pruneBlobBackups(
          repo.blobs,
          blobBase(storage.blobStorage),
          {oldestKept, keep: options.retention.keep, keepBlobDays: site.onlyBlobs ? options.keepBlobDays : undefined},
          {dryRun: options.dryRun},
        )),
      )
    }
    storages.push(result)
  }
  return {dryRun: options.dryRun ?? false, storages}
}
