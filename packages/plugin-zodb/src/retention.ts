// Retention of a repozo repository and of its blob backups, by the stamps in the names (never by mtime, which
// copies change) and never touching a file bk does not recognise. A full backup is kept with its whole chain
// (its incrementals, .dat, .index files, sidecars); the recipe's `keep` = the number of full backups kept.
// Blob backups older than the oldest kept full backup go with it (the recipe's rule); without filestorage
// backups (only_blobs) the newest `keep` are kept, and with keep_blob_days those younger than that many days.
import {readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {planRetention, type RetentionPolicy} from '@bkcli/core'
import {type BlobBackupEntry, listBlobBackups} from './blobs.js'
import {allChains, listDataFiles} from './repository.js'
import {dateOfStamp} from './repozo-date.js'

const OWN_FILE = /^(\d{4}(?:-\d\d){5})\.(?:(?:delta)?fsz?(?:\.bk\.json)?|dat|index)$/

export interface PruneResult {
  removed: string[]
  /** stamp of the oldest full backup kept (blob backups before it go too) */
  oldestKept?: string
}

/** Applies `policy` to the full backups of a repository; removes whole chains. */
export async function pruneRepository(
  repository: string,
  policy: RetentionPolicy,
  options: {dryRun?: boolean; now?: Date} = {},
): Promise<PruneResult> {
  const files = await listDataFiles(repository)
  const chains = allChains(files).filter((c) => c[0]!.full)
  if (chains.length === 0) return {removed: []}
  const active = Object.values(policy).some((v) => typeof v === 'number' && v > 0)
  const entries = chains.map((c) => ({name: c[0]!.stamp, date: dateOfStamp(c[0]!.stamp)}))
  if (!active) return {removed: [], oldestKept: entries[0]!.name}
  const plan = planRetention(entries, policy, options.now)
  const kept = new Set(plan.keep.map((e) => e.name))
  const heads = entries.map((e) => e.name).sort()
  const oldestKept = heads.find((h) => kept.has(h))
  // a chain owns every file of ours stamped from its full backup up to the next full backup;
  // files older than the first full backup go with the first chain
  const owner = (stamp: string) => heads.filter((h) => h <= stamp).at(-1) ?? heads[0]!
  const removed: string[] = []
  for (const name of (await readdir(repository)).sort()) {
    const m = OWN_FILE.exec(name)
    if (!m || kept.has(owner(m[1]!))) continue
    removed.push(join(repository, name))
  }
  if (!options.dryRun) for (const path of removed) await rm(path, {force: true})
  return {removed, oldestKept}
}

export interface BlobPrunePolicy {
  /** stamp of the oldest kept filestorage full backup: blob backups before it are removed */
  oldestKept?: string
  keep?: number
  keepBlobDays?: number
  now?: Date
}

/** Removes blob backups per the recipe's rules (see module comment); rotated `<base>.N` backups are left alone. */
export async function pruneBlobBackups(
  location: string,
  base: string,
  policy: BlobPrunePolicy,
  options: {dryRun?: boolean} = {},
): Promise<string[]> {
  const all = (await listBlobBackups(location, base)).filter((e) => e.stamp !== undefined)
  let doomed: BlobBackupEntry[]
  if (policy.oldestKept) {
    doomed = all.filter((e) => e.stamp! < policy.oldestKept!)
  } else if (policy.keepBlobDays && policy.keepBlobDays > 0) {
    const limit = (policy.now ?? new Date()).getTime() - policy.keepBlobDays * 86_400_000
    doomed = all.slice(1).filter((e) => dateOfStamp(e.stamp!).getTime() < limit)
  } else if (policy.keep && policy.keep > 0) {
    doomed = all.slice(policy.keep)
  } else doomed = []
  // never remove the newest, whatever the policy
  doomed = doomed.filter((e) => e !== all[0])
  if (!options.dryRun) for (const e of doomed) await rm(e.path, {recursive: true, force: true})
  return doomed.map((e) => e.path)
}
