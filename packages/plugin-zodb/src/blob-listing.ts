// The blob backups of a location, by name (see blobs.ts for their shapes): what list, prune and a restore's
// choice read, kept apart from the code that copies blobs so those commands load only this.
import {lstat, readdir} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {isStamp, stampOf} from './repozo-date.js'

export interface BlobBackupEntry {
  name: string
  path: string
  kind: 'dir' | 'archive'
  /** repozo-style stamp, for timestamped backups */
  stamp?: string
  /** N of a rotated `<base>.N` backup (0 = newest) */
  rotation?: number
  delta?: boolean
  gzip?: boolean
  /** the stamp, or the mtime (UTC) for rotated backups: what restore-by-date compares */
  when: string
  /** for an incremental tar backup: the archives to extract in order, full first */
  chain?: BlobBackupEntry[]
}

/** The directory's name without a trailing slash (the recipe's 4.0b2 bug made `.0` of a trailing `/`). */
export function blobBase(blobStorage: string): string {
  return basename(resolve(blobStorage))
}

/** Transient blob-storage content that never goes into a backup. */
export function skipTransient(rel: string): boolean {
  return rel === 'tmp' || rel.startsWith('tmp/') || rel === '.removed' || rel.endsWith('.tmp')
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Blob backups in a location, newest first. */
export async function listBlobBackups(location: string, base: string): Promise<BlobBackupEntry[]> {
  let names: string[]
  try {
    names = await readdir(location)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
  const re = new RegExp(`^${escapeRegExp(base)}\\.(\\d{4}(?:-\\d\\d){5}|\\d+)(\\.delta)?(\\.tar(\\.gz)?)?$`)
  const out: BlobBackupEntry[] = []
  for (const name of names) {
    const m = re.exec(name)
    if (!m) continue
    const path = join(location, name)
    const st = await lstat(path)
    const archive = m[3] !== undefined
    if (archive ? !st.isFile() : !st.isDirectory()) continue
    const stamped = isStamp(m[1]!)
    if (!stamped && m[2]) continue
    out.push({
      name,
      path,
      kind: archive ? 'archive' : 'dir',
      stamp: stamped ? m[1] : undefined,
      rotation: stamped ? undefined : Number(m[1]),
      delta: m[2] !== undefined,
      gzip: m[4] !== undefined,
      when: stamped ? m[1]! : stampOf(st.mtime),
    })
  }
  return out.sort((a, b) => {
    if (a.stamp && b.stamp) return a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0
    if (a.stamp) return -1
    if (b.stamp) return 1
    return (a.rotation ?? 0) - (b.rotation ?? 0)
  })
}

/** `<base>.<stamp>.snar` files of a location, oldest first: GNU tar's listed-incremental state, one per chain. */
export async function listSnars(location: string, base: string): Promise<{stamp: string; path: string}[]> {
  const names = await readdir(location).catch(() => [] as string[])
  const re = new RegExp(`^${escapeRegExp(base)}\\.(\\d{4}(?:-\\d\\d){5})\\.snar$`)
  return names
    .map((n) => re.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({stamp: m[1]!, path: join(location, m[0])}))
    .sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0))
}

/**
 * The blob backup to restore as of `date` (repozo's string rule on stamps; mtimes for rotated backups), or
 * the newest. Throws a BkError when there is none, before anything is touched.
 */
export async function findBlobBackup(location: string, base: string, date?: string): Promise<BlobBackupEntry> {
  const all = await listBlobBackups(location, base)
  if (all.length === 0)
    throw new BkError(`there are no blob backups of ${base} in ${location}; check --blob-backup-location`)
  const candidates = date === undefined ? all : all.filter((e) => e.when <= date)
  const pick = candidates.find((e) => e.stamp !== undefined) ?? candidates[0]
  if (!pick) throw new BkError(`no blob backup of ${base} in ${location} at or before ${date}`)
  if (pick.delta) {
    // the recipe's incremental_blobs: a full tar and the deltas after it, newest first until the full one
    const chain: BlobBackupEntry[] = []
    for (const e of candidates.filter((c) => c.kind === 'archive' && c.stamp !== undefined)) {
      chain.push(e)
      if (!e.delta) break
    }
    if (chain.at(-1)?.delta) throw new BkError(`the incremental blob backup ${pick.name} has no full archive before it`)
    pick.chain = chain.reverse()
  }
  return pick
}
