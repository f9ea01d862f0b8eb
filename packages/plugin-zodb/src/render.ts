// Human-readable lines for the command results (the --json output is the result object itself).
import {stat} from 'node:fs/promises'
import type {SiteRestoreResult, StorageBackupResult} from './site.js'

/** core's backup result (artifacts) with the storages' details. */
export interface SiteBackupOutput {
  artifacts: {path: string; bytes: number; kind: string}[]
  storages: StorageBackupResult[]
}

export async function backupOutput(result: {storages: StorageBackupResult[]}): Promise<SiteBackupOutput> {
  const artifacts: SiteBackupOutput['artifacts'] = []
  for (const s of result.storages) {
    const fs = s.filestorage
    // The file's size on disk (a .fsz is smaller than the Data.fs bytes it holds): bk status checks it.
    if (fs?.file) artifacts.push({path: fs.file, bytes: (await stat(fs.file)).size, kind: fs.kind})
    else if (fs) artifacts.push({path: s.repository, bytes: 0, kind: 'unchanged'})
    const b = s.blobs
    if (b?.path)
      artifacts.push({path: b.path, bytes: b.bytes, kind: b.kind === 'none' ? 'unchanged' : `blobs-${b.kind}`})
  }
  return {artifacts, storages: result.storages}
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`

export function backupText(result: {storages: StorageBackupResult[]}): string[] {
  const lines: string[] = []
  for (const s of result.storages) {
    const fs = s.filestorage
    if (fs) {
      if (fs.kind === 'none') lines.push(`${s.datafs}: no changes since the last backup, nothing written`)
      else lines.push(`${s.datafs}: ${fs.kind} backup ${fs.file} (${mb(fs.bytes)}, bytes ${fs.start}–${fs.end})`)
    }
    const b = s.blobs
    if (b) {
      if (b.kind === 'none') lines.push(`blobs: ${b.reason}`)
      else lines.push(`blobs: ${b.path} (${b.files} files, ${mb(b.bytes)} copied, ${b.linked} hard-linked)`)
    }
  }
  return lines
}

export function restoreText(result: SiteRestoreResult): string[] {
  const lines: string[] = []
  for (const s of result.storages) {
    const fs = s.filestorage
    if (fs) {
      lines.push(
        `${fs.output}: restored from ${fs.files.join(' + ')} (${mb(fs.bytes)}, ${fs.transactions} transactions, last ${fs.lastTransaction ?? 'n/a'})`,
      )
      if (fs.asOf) {
        lines.push(
          `  as of ${fs.asOf.time}: kept ${fs.asOf.kept} transactions, cut ${fs.asOf.cut} later ones (${fs.asOf.removed} bytes); the index was built from the data`,
        )
      } else if (fs.index !== 'restored')
        lines.push('  no matching .index in the backup: the index was built from the data')
    }
    if (s.blobs) lines.push(`${s.blobs.target}: blobs restored from ${s.blobs.from}`)
  }
  if (result.kept.length) lines.push(`The previous copies are kept as ${result.kept.join(', ')}`)
  return lines
}

/** A backup that had to stop at unreadable data is kept, but the run must not look successful (cron). */
export function damageOf(result: {storages: StorageBackupResult[]}): string | undefined {
  const bad = result.storages.find((s) => s.filestorage?.damaged)
  if (!bad?.filestorage) return undefined
  return `${bad.datafs} is damaged at byte ${bad.filestorage.end}: only the data before it was backed up; check it (fstest) before the next pack`
}
