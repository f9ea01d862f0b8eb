// Blob storage backups, in collective.recipe.backup's shapes so its restore scripts (and bk) read them:
//   <location>/<base>.<stamp>/<base>/…     a dated directory (default); unchanged blobs are hard links into
//                                          the previous one (rsync --link-dest, natively); `latest` → newest
//   <location>/<base>.<stamp>.tar[.gz]     archive_blob mode; the archive holds the blob dir's contents
// <stamp> is the newest repozo file's stamp, so a filestorage backup and its blobs pair up by name. Blobs are
// immutable files, so "unchanged" = same size and mtime. Transient content is left out: tmp/ (uncommitted
// blobs), .removed and *.tmp (pack leftovers); .layout is kept. Rotated backups (<base>.N) are read, not written.
// Unlike the recipe, every copy is built in a stage and renamed into place, and every failure is an error.
import {rmSync} from 'node:fs'
import {chmod, copyFile, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {copyTree, fsyncPath, fsyncTree} from '@bkcli/core/fs'
import {runTool} from '@bkcli/core/process'
import {atomicDir, atomicFile, crashPoint, onInterrupt} from '@bkcli/core/safety'
import {commitParts, journalPathFor} from '@bkcli/core/workflow'
import {
  type BlobBackupEntry,
  blobBase,
  findBlobBackup,
  listBlobBackups,
  listSnars,
  skipTransient,
} from './blob-listing.js'
import {stagePathOf} from './restore.js'

export {type BlobBackupEntry, blobBase, findBlobBackup, listBlobBackups, listSnars, skipTransient}

export interface BlobBackupOptions {
  source: string
  location: string
  /** the stamp of the filestorage backup this pairs with (UTC) */
  stamp: string
  archive?: boolean
  compress?: boolean
  /**
   * With `archive`: the recipe's incremental_blobs. `fullStamp` is the stamp of the filestorage full backup this
   * backup's chain starts with (undefined with --only-blobs: the newest .snar at or before `stamp`, else a new
   * chain). See backupIncrementalArchive.
   */
  incremental?: {fullStamp?: string; onlyBlobs: boolean}
  /** hard-link unchanged blobs to the previous dated backup (default true) */
  hardLinks?: boolean
  onProgress?: (bytes: number) => void
}

export interface BlobBackupResult {
  kind: 'dir' | 'archive' | 'none'
  path?: string
  reason?: string
  files: number
  /** bytes copied (hard-linked files are not counted) */
  bytes: number
  linked: number
  /** incremental_blobs: a chain's full archive, a delta, or a plain archive (no .snar for this chain yet) */
  incremental?: 'full' | 'delta' | 'plain'
}

export async function backupBlobs(options: BlobBackupOptions): Promise<BlobBackupResult> {
  const source = resolve(options.source)
  const base = blobBase(source)
  const st = await stat(source).catch(() => undefined)
  if (!st?.isDirectory())
    throw new BkError(`blob storage ${source} does not exist or is not a directory; check --blob-storage`)
  const existing = await listBlobBackups(options.location, base)
  const same = existing.find((e) => e.stamp === options.stamp)
  if (same) {
    return {
      kind: 'none',
      path: same.path,
      reason: `blob backup ${same.name} already exists: no database changes since the last backup`,
      files: 0,
      bytes: 0,
      linked: 0,
    }
  }
  if (options.archive && options.incremental) return backupIncrementalArchive(options, source, base)
  if (options.archive) {
    const file = join(options.location, `${base}.${options.stamp}.tar${options.compress ? '.gz' : ''}`)
    // loaded when an archive is made or read: a directory backup (the usual) does without its modules
    const {createArchive} = await import('@bkcli/core/archive')
    const r = await createArchive({
      cwd: source,
      file,
      filter: (p) => !skipTransient(p),
      onProgress: options.onProgress,
    })
    return {kind: 'archive', path: file, files: r.entries, bytes: r.bytes, linked: 0}
  }
  const dest = join(options.location, `${base}.${options.stamp}`)
  const previous = existing.find((e) => e.kind === 'dir' && e.stamp !== undefined && e.stamp < options.stamp)
  const linkFrom = options.hardLinks !== false && previous ? await innerDir(previous.path, base) : undefined
  // the backup holds the blob directory itself (<base>.<stamp>/<base>/…), as the recipe's rsync makes it; the
  // copy is made straight inside this stage, which atomicDir flushes and renames into place once
  const r = await atomicDir(dest, (stage) =>
    copyTree(source, join(stage, base), {
      stage: false,
      skip: (rel) => skipTransient(rel),
      hardlinkFrom: linkFrom,
      onProgress: options.onProgress,
    }),
  )
  await updateLatest(options.location, basename(dest))
  return {kind: 'dir', path: dest, files: r.files, bytes: r.bytes, linked: r.linked}
}

/**
 * The recipe's incremental_blobs, in its names so its restore (and bk's) reads them: a chain is a full
 * `<base>.<full stamp>.tar[.gz]` made with `tar --listed-incremental=<base>.<full stamp>.snar`, then one
 * `<base>.<stamp>.delta.tar[.gz]` per backup, relative to the state the .snar records. The full stamp is the
 * filestorage chain's full backup (a new full backup starts a new blob chain); a backup in the middle of a
 * filestorage chain that has no .snar yet makes a plain full archive, as the recipe does (its warning included).
 * Unlike the recipe, tar works on copies: the archive and the updated .snar are written under temporary names
 * and renamed into place, the archive first — a killed run leaves the old .snar, and the next delta is then
 * relative to an older state, which restores the same. Transient files (tmp/, .removed, *.tmp) are left out.
 */
async function backupIncrementalArchive(
  options: BlobBackupOptions,
  source: string,
  base: string,
): Promise<BlobBackupResult> {
  const {location, stamp} = options
  let fullStamp = options.incremental!.fullStamp
  if (options.incremental!.onlyBlobs) {
    fullStamp = (await listSnars(location, base)).filter((s) => s.stamp <= stamp).at(-1)?.stamp ?? stamp
  }
  const gz = options.compress ? '.gz' : ''
  const snar = fullStamp === undefined ? undefined : join(location, `${base}.${fullStamp}.snar`)
  const haveSnar = snar !== undefined && (await stat(snar).catch(() => undefined))?.isFile() === true
  let reason: string | undefined
  let kind: 'full' | 'delta' | 'plain'
  if (haveSnar) kind = 'delta'
  else if (snar !== undefined && fullStamp === stamp) kind = 'full'
  else {
    kind = 'plain'
    reason =
      'Not making an incremental blob backup: this is a partial backup and there is no snapshot file (.snar) yet; incremental blob backups start with the next full backup'
  }
  const file = join(location, `${base}.${stamp}${kind === 'delta' ? '.delta' : ''}.tar${gz}`)
  const snarTmp = snar && kind !== 'plain' ? join(location, `.${basename(snar)}.bk-partial-${process.pid}`) : undefined
  const unregister = snarTmp ? onInterrupt(() => rmSync(snarTmp, {force: true}), {sweep: true}) : undefined
  try {
    if (snarTmp) {
      await rm(snarTmp, {force: true})
      if (haveSnar) await copyFile(snar!, snarTmp)
    }
    await atomicFile(file, async (tmp) => {
      const args = [`-c${gz ? 'z' : ''}f`, tmp]
      if (snarTmp) args.push(`--listed-incremental=${snarTmp}`)
      args.push('--exclude=./tmp', '--exclude=./.removed', '--exclude=*.tmp', '-C', source, '.')
      await runTool('tar', args, {label: 'tar'})
    })
    crashPoint('zodb-backup:blob-archive')
    if (snarTmp) {
      await fsyncPath(snarTmp)
      await rename(snarTmp, snar!)
    }
  } finally {
    unregister?.()
    if (snarTmp) await rm(snarTmp, {force: true})
  }
  const size = (await stat(file)).size
  return {kind: 'archive', path: file, files: 0, bytes: size, linked: 0, reason, incremental: kind}
}

/** The blob directory inside a dated backup: `<base>` when present, else its only directory. */
async function innerDir(backup: string, base: string): Promise<string> {
  const names = await readdir(backup, {withFileTypes: true})
  const dirs = names.filter((d) => d.isDirectory())
  const named = dirs.find((d) => d.name === base)
  if (named) return join(backup, named.name)
  if (dirs.length === 1) return join(backup, dirs[0]!.name)
  throw new BkError(`${backup} does not hold one blob directory (found ${dirs.length}); it is not a blob backup`)
}

/** `<location>/latest` → the newest dated backup, replaced atomically. */
async function updateLatest(location: string, target: string): Promise<void> {
  const link = join(location, 'latest')
  const current = await readlink(link).catch(() => undefined)
  if (current === target) return
  const st = await lstat(link).catch(() => undefined)
  if (st && !st.isSymbolicLink()) return // not ours
  const tmp = join(location, `.latest.bk-${process.pid}`)
  await rm(tmp, {force: true})
  await symlink(target, tmp)
  await rename(tmp, link)
}

export interface BlobRestoreResult {
  target: string
  from: string
  kind: 'dir' | 'archive'
}

/**
 * Builds the blob storage of a backup in a stage of its own beside `target` (unique per run; the mode of the
 * current folder kept), fsynced whole: swapped in by the caller's commit. Returns the stage.
 */
export async function stageBlobs(
  entry: BlobBackupEntry,
  target: string,
  options: {onProgress?: (bytes: number) => void} = {},
): Promise<string> {
  const abs = resolve(target)
  const base = blobBase(abs)
  const current = await stat(abs).catch(() => undefined)
  if (current && !current.isDirectory()) {
    throw new BkError(`blob storage ${abs} is not a directory; check --blob-storage`)
  }
  const stage = stagePathOf(abs)
  const unregister = onInterrupt(() => rmSync(stage, {recursive: true, force: true}), {sweep: true})
  try {
    if (entry.chain) {
      await mkdir(stage, {mode: 0o700})
      // GNU tar's listed-incremental dumps: only GNU tar applies them (deletions included)
      for (const part of entry.chain) {
        await runTool('tar', [`-x${part.gzip ? 'z' : ''}f`, part.path, '--incremental', '-C', stage], {label: 'tar'})
      }
    } else if (entry.kind === 'archive') {
      await mkdir(stage, {mode: 0o700})
      const {extractArchive} = await import('@bkcli/core/archive')
      await extractArchive({file: entry.path, target: stage, onProgress: options.onProgress})
    } else {
      await copyTree(await innerDir(entry.path, base), stage, {onProgress: options.onProgress})
    }
    if (current) await chmod(stage, current.mode & 0o7777)
    await fsyncTree(stage)
    return stage
  } catch (e) {
    await rm(stage, {recursive: true, force: true})
    throw e
  } finally {
    unregister()
  }
}

export interface BlobRestoreResult {
  target: string
  from: string
  kind: 'dir' | 'archive'
}

/** Replaces the blob storage with a backup on its own (stage, then one commit). */
export async function restoreBlobs(entry: BlobBackupEntry, target: string): Promise<BlobRestoreResult> {
  const abs = resolve(target)
  const stage = await stageBlobs(entry, abs)
  try {
    await commitParts([{stage, target: abs}], {journal: journalPathFor(abs)})
  } finally {
    await rm(stage, {recursive: true, force: true})
  }
  return {target: abs, from: entry.path, kind: entry.kind}
}
