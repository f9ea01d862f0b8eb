// A site's backup locations as core's ArtifactStore: one artifact per chain (a full backup with its
// incrementals, .dat, .index files, sidecars, and the blob backups stamped from its full backup up to the next
// one: the recipe's rule that blob backups go with the oldest kept full). The `.dat` line is a backup's commit
// point: a data file (and its .index and sidecar) not recorded in any .dat is a backup that was interrupted; it
// is listed as `partial` and pinned (never counted as a good backup, never pruned) until the next backup removes
// it (`recoverRepository`). Retention, list and prune all read this one store.
import {readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import type {Artifact, ArtifactStore} from '@bkcli/core'
import {dirSize} from '@bkcli/core/fs'
import {type BlobBackupEntry, blobBase, listBlobBackups, listSnars} from './blob-listing.js'
import {allChains, datPathOf, listDataFiles, type RepoFile, readDat} from './repository.js'
import {dateOfStamp} from './repozo-date.js'
import {type Mode, repositoryOf, type Site, type Storage} from './settings.js'

/** Every file of ours in a repository, by stamp: data files, .dat, .index, sidecars. */
const OWN_FILE = /^(\d{4}(?:-\d\d){5})\.(?:(?:delta)?fsz?(?:\.bk\.json)?|dat|index)$/

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

async function bytesOf(paths: string[]): Promise<number> {
  let total = 0
  for (const p of paths) total += await dirSize(p).catch(() => 0)
  return total
}

interface RepoState {
  files: RepoFile[]
  /** names of data files recorded in a .dat of their chain */
  recorded: Set<string>
  /** every own file name, by stamp */
  own: Map<string, string[]>
}

async function readRepo(dir: string): Promise<RepoState> {
  const files = await listDataFiles(dir).catch(() => [] as RepoFile[])
  const recorded = new Set<string>()
  for (const chain of allChains(files)) {
    const head = chain[0]!
    if (!head.full) continue
    for (const line of (await readDat(datPathOf(dir, head)).catch(() => undefined)) ?? []) recorded.add(line.name)
  }
  const own = new Map<string, string[]>()
  for (const name of await names(dir)) {
    const m = /^(\d{4}(?:-\d\d){5})\./.exec(name)
    if (!m || !OWN_FILE.test(name)) continue
    own.set(m[1]!, [...(own.get(m[1]!) ?? []), name])
  }
  return {files, recorded, own}
}

/** Stamps of data files not recorded in any .dat: backups interrupted before their commit point. */
function partialStamps(state: RepoState): Set<string> {
  return new Set(state.files.filter((f) => !state.recorded.has(f.name)).map((f) => f.stamp))
}

/**
 * Under the location's lock, before a backup: remove what an interrupted backup left (data files not recorded in
 * a .dat, with their .index and sidecar, when they are newer than every recorded backup: never an older file
 * someone else may care about). Returns one line per removal.
 */
export async function recoverRepository(dir: string): Promise<string[]> {
  const state = await readRepo(dir)
  const newestRecorded = state.files.filter((f) => state.recorded.has(f.name)).at(-1)?.stamp ?? ''
  const lines: string[] = []
  for (const stamp of [...partialStamps(state)].sort()) {
    if (stamp <= newestRecorded) continue
    const doomed = state.own.get(stamp) ?? []
    // a full backup's .dat of the same stamp lists nothing of it (else it would be recorded): it goes too
    for (const name of doomed) await rm(join(dir, name), {force: true})
    lines.push(`removed ${doomed.map((n) => join(dir, n)).join(', ')}: a backup interrupted before it was recorded`)
  }
  return lines
}

async function storageArtifacts(site: Site, storage: Storage, mode: Mode): Promise<Artifact[]> {
  const repo = repositoryOf(storage, mode)
  const blobs =
    site.backupBlobs && storage.blobStorage ? await listBlobBackups(repo.blobs, blobBase(storage.blobStorage)) : []
  const out: Artifact[] = []
  for (const b of blobs.filter((e) => e.stamp === undefined)) {
    out.push({
      name: b.name,
      path: b.path,
      kind: 'blobs',
      date: dateOfStamp(b.when),
      bytes: await bytesOf([b.path]),
      group: storage.name,
      description: 'rotated blob backup (not made by bk)',
      pinned: true,
    })
  }
  const stamped = blobs.filter((e) => e.stamp !== undefined)
  // incremental_blobs' .snar files go with the blob chain (and so the filestorage chain) of their stamp
  const snars =
    site.backupBlobs && storage.blobStorage ? await listSnars(repo.blobs, blobBase(storage.blobStorage)) : []
  const state = site.onlyBlobs ? undefined : await readRepo(repo.abs)
  const partial = state ? partialStamps(state) : new Set<string>()
  const chains = state ? allChains(state.files.filter((f) => !partial.has(f.stamp))) : []
  if (!state || chains.length === 0) {
    for (const b of stamped) {
      const artifact = await blobArtifact(b, storage)
      const snar = snars.find((s) => s.stamp === b.stamp && !b.delta)
      if (snar) artifact.paths = [snar.path]
      out.push(artifact)
    }
  }
  const heads = chains.map((c) => c[0]!.stamp)
  // a chain owns every stamp from its head up to the next head; older stamps go with the first chain
  const owner = (stamp: string) => heads.filter((h) => h <= stamp).at(-1) ?? heads[0]!
  for (const chain of chains) {
    const head = chain[0]!
    const paths: string[] = []
    for (const [stamp, list] of state?.own ?? []) {
      if (!partial.has(stamp) && owner(stamp) === head.stamp) paths.push(...list.map((n) => join(repo.abs, n)))
    }
    paths.push(...stamped.filter((b) => owner(b.stamp!) === head.stamp).map((b) => b.path))
    paths.push(...snars.filter((s) => owner(s.stamp) === head.stamp).map((s) => s.path))
    const deltas = chain.length - 1
    out.push({
      name: head.name,
      path: head.path,
      kind: head.full ? 'full' : 'incremental',
      date: dateOfStamp(head.stamp),
      bytes: await bytesOf(paths),
      group: storage.name,
      description: head.full
        ? `${deltas} incremental${deltas === 1 ? '' : 's'}, until ${chain.at(-1)!.stamp}`
        : 'incrementals without their full backup',
      madeBy: paths.some((p) => p.endsWith('.bk.json')) ? 'bk' : 'repozo',
      paths: paths.filter((p) => p !== head.path),
    })
  }
  for (const stamp of partial) {
    const list = (state?.own.get(stamp) ?? []).map((n) => join(repo.abs, n))
    out.push({
      name: list[0]?.split('/').pop() ?? stamp,
      path: list[0] ?? join(repo.abs, stamp),
      kind: 'partial',
      date: dateOfStamp(stamp),
      bytes: await bytesOf(list),
      group: storage.name,
      description: 'not recorded in a .dat: an interrupted backup (the next backup removes it)',
      pinned: true,
      paths: list.slice(1),
    })
  }
  return out
}

async function blobArtifact(b: BlobBackupEntry, storage: Storage): Promise<Artifact> {
  return {
    name: b.name,
    path: b.path,
    kind: 'blobs',
    date: dateOfStamp(b.stamp!),
    bytes: await bytesOf([b.path]),
    group: `${storage.name}:blobs`,
  }
}

/** The locations of one mode of a site (every filestorage, with its blob backups). */
export function siteStore(site: Site, mode: Mode): ArtifactStore {
  const main = site.storages.at(-1)!
  const repo = repositoryOf(main, mode)
  return {
    location: site.onlyBlobs ? repo.blobs : repo.abs,
    clock: 'utc',
    async list() {
      const all: Artifact[] = []
      for (const storage of site.storages) all.push(...(await storageArtifacts(site, storage, mode)))
      return all
    },
  }
}
