// Human-readable lines for the command results (the --json output is the result object itself).
import type {SiteRestoreResult, StorageBackupResult} from './site.js'

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
    if (s.pruned.length) lines.push(`removed ${s.pruned.length} old backup file(s)`)
  }
  return lines
}

export function restoreText(result: SiteRestoreResult): string[] {
  const lines: string[] = []
  if (result.dryRun) {
    for (const s of result.storages) {
      if (s.from.files) lines.push(`would restore ${s.name} from ${s.from.files.join(' + ')}`)
      if (s.from.blobs) lines.push(`would restore its blobs from ${s.from.blobs}`)
    }
    return lines
  }
  for (const s of result.storages) {
    const fs = s.filestorage
    if (fs) {
      lines.push(
        `${fs.output}: restored from ${fs.files.join(' + ')} (${mb(fs.bytes)}, ${fs.transactions} transactions, last ${fs.lastTransaction ?? 'n/a'})`,
      )
      if (fs.index !== 'restored')
        lines.push('  no matching .index in the backup: ZODB rebuilds the index on first open')
    }
    if (s.blobs) lines.push(`${s.blobs.target}: blobs restored from ${s.blobs.from}`)
  }
  return lines
}

/** A backup that had to stop at unreadable data is kept, but the run must not look successful (cron). */
export function damageOf(result: {storages: StorageBackupResult[]}): string | undefined {
  const bad = result.storages.find((s) => s.filestorage?.damaged)
  if (!bad?.filestorage) return undefined
  return `${bad.datafs} is damaged at byte ${bad.filestorage.end}: only the data before it was backed up; check it (fstest) before the next pack`
}
