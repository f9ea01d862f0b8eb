// The layout of an SQLite follow location, and reading it back:
//
//   <location>/bk-follow.json                         what is followed (format, app)
//   <location>/generations/<gen>/<seq>.snapshot.db    a copy of the database (online backup API) at a WAL position
//   <location>/generations/<gen>/<seq>.wal            frames of whole committed transactions, as in the WAL
//   <location>/generations/<gen>/<seq>.<kind>.json    the manifest of the file before it: sha256, bytes, the WAL
//                                                     position after it, and the time each commit was seen
//   <location>/files/<name>/…                         the application's files (see files.ts)
//
// A generation is one unbroken history of the database: a snapshot (seq 0), then WAL segments and further
// snapshots in sequence order. The manifest is the commit point of each file: it is written (atomically) after
// its data file, so a data file without one is the leftover of a killed run, removed and shipped again.
import {createHash} from 'node:crypto'
import {access, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '../../errors.js'
import {atomicFile, crashPoint} from '../../safety/index.js'

/** The location's own marker file. */
export const FOLLOW_MARKER = 'bk-follow.json'
export const FOLLOW_FORMAT = 'bk-sqlite-follow'

/** Where the WAL stood after a shipped file: salts of the log, last frame shipped and the chain's checksum there. */
export interface WalPosition {
  /** undefined while the WAL held no valid header */
  salt1?: number
  salt2?: number
  pageSize: number
  frame: number
  cksum: [number, number]
}

/** One commit shipped in a WAL segment: its last frame (within the segment), the database size, when it was seen. */
export interface ShippedCommit {
  /** index (0-based) of its commit frame in the segment */
  frame: number
  pages: number
  /** when the follower had read it (ISO): it was committed at or before this */
  time: string
}

/** The manifest of a snapshot or a WAL segment. */
export interface FollowManifest {
  kind: 'snapshot' | 'wal'
  seq: number
  /** snapshot: the time its state was pinned; wal: the time its commits were read (each was committed before) */
  time: string
  /** when the read that found this state began: everything committed before this is in it (or in earlier files) */
  polledAt: string
  file: string
  sha256: string
  bytes: number
  pageSize: number
  /** the database file this generation follows: device and inode (a replaced file starts a new generation) */
  db: {dev: number; ino: number}
  /** the WAL position after this file */
  after: WalPosition
  /** wal: the salts and checksum the frames chain from (their own epoch of the log) */
  before?: WalPosition
  commits?: ShippedCommit[]
  /** snapshot: why it was taken */
  reason?: string
}

/** Sequence numbers as fixed-width names, so names sort in order. */
export function seqName(seq: number): string {
  return String(seq).padStart(8, '0')
}

/** A UTC stamp usable as a folder name that sorts by time. */
export function generationName(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '')
}

export function generationsDir(location: string): string {
  return join(location, 'generations')
}

/** Every generation folder, oldest first. */
export async function listGenerations(location: string): Promise<string[]> {
  const names = await readdir(generationsDir(location)).catch(() => [] as string[])
  return names.filter((n) => /^\d{8}T\d{9}Z(-\d+)?$/.test(n)).sort()
}

/** The manifests of a generation, in sequence order (only complete ones: a manifest exists only once its file does). */
export async function readManifests(genDir: string): Promise<FollowManifest[]> {
  const names = await readdir(genDir).catch(() => [] as string[])
  const out: FollowManifest[] = []
  for (const name of names.filter((n) => /^\d{8}\.(snapshot|wal)\.json$/.test(n)).sort()) {
    const text = await readFile(join(genDir, name), 'utf8')
    try {
      out.push(JSON.parse(text) as FollowManifest)
    } catch {
      throw new BkError(`${join(genDir, name)} is not a valid manifest; run verify, or move the generation aside`)
    }
  }
  return out.sort((a, b) => a.seq - b.seq || (a.kind === 'snapshot' ? 1 : -1))
}

/** Data files of a generation that no manifest records, and temp files of killed runs: what recover removes. */
export async function findLeftovers(location: string): Promise<string[]> {
  const out: string[] = []
  for (const gen of await listGenerations(location)) {
    const dir = join(generationsDir(location), gen)
    const names = await readdir(dir)
    const recorded = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)))
    for (const n of names) {
      if (n.includes('.bk-partial-')) out.push(join(dir, n))
      else if (/^\d{8}\.(snapshot\.db|wal)$/.test(n)) {
        const key = n.endsWith('.wal') ? n : n.replace(/\.db$/, '')
        if (!recorded.has(key)) out.push(join(dir, n))
      }
    }
    // a generation whose snapshot never completed holds nothing usable
    if (!recorded.has(`${seqName(0)}.snapshot`)) out.push(dir)
  }
  return out
}

/** Remove leftovers; one line per thing removed. */
export async function removeLeftovers(location: string): Promise<string[]> {
  const lines: string[] = []
  for (const n of await readdir(generationsDir(location)).catch(() => [] as string[])) {
    if (!n.endsWith(REMOVING_SUFFIX)) continue
    await rm(join(generationsDir(location), n), {recursive: true, force: true})
    lines.push(`removed ${join(generationsDir(location), n)} (a generation retention had set aside)`)
  }
  for (const p of await findLeftovers(location)) {
    await rm(p, {recursive: true, force: true})
    lines.push(`removed ${p} (left by a follow run that was killed; shipped again)`)
  }
  return lines
}

/** Write a manifest atomically: the commit point of its file. */
export async function writeManifest(genDir: string, manifest: FollowManifest): Promise<void> {
  const name = manifest.kind === 'wal' ? `${seqName(manifest.seq)}.wal.json` : `${seqName(manifest.seq)}.snapshot.json`
  await atomicFile(join(genDir, name), (tmp) => writeFile(tmp, `${JSON.stringify(manifest, null, 1)}\n`), {
    overwrite: true,
  })
}

/** Write a data file atomically; its sha256. */
export async function writeData(path: string, data: Buffer): Promise<string> {
  await atomicFile(path, (tmp) => writeFile(tmp, data), {overwrite: true})
  return createHash('sha256').update(data).digest('hex')
}

/** The newest complete generation and its manifests, or undefined. */
export async function newestGeneration(
  location: string,
): Promise<{name: string; dir: string; manifests: FollowManifest[]} | undefined> {
  const gens = await listGenerations(location)
  for (let i = gens.length - 1; i >= 0; i--) {
    const dir = join(generationsDir(location), gens[i]!)
    const manifests = await readManifests(dir)
    if (manifests.some((m) => m.kind === 'snapshot' && m.seq === 0)) return {name: gens[i]!, dir, manifests}
  }
  return undefined
}

/**
 * The suffix of a generation folder retention is removing: it is renamed aside first (one rename: the generation
 * is listed whole or not at all), then deleted; a kill in between leaves it for recover.
 */
export const REMOVING_SUFFIX = '.bk-removing'

/** Complete generations (their first snapshot's manifest exists), oldest first. */
export async function completeGenerations(location: string): Promise<string[]> {
  const out: string[] = []
  for (const gen of await listGenerations(location)) {
    const ok = await access(join(generationsDir(location), gen, `${seqName(0)}.snapshot.json`)).then(
      () => true,
      () => false,
    )
    if (ok) out.push(gen)
  }
  return out
}

/** The complete generations older than the newest `keep` (keep ≥ 1: the newest, the one followed, always stays). */
export async function generationsBeyond(location: string, keep: number): Promise<string[]> {
  const gens = await completeGenerations(location)
  return gens.slice(0, Math.max(0, gens.length - Math.max(1, keep)))
}

/** Removes generations: each renamed aside, then deleted. One line per generation removed. */
export async function removeGenerations(location: string, names: string[]): Promise<string[]> {
  const lines: string[] = []
  for (const name of names) {
    const dir = join(generationsDir(location), name)
    const aside = `${dir}${REMOVING_SUFFIX}`
    await rename(dir, aside)
    crashPoint('follow-retention-aside')
    await rm(aside, {recursive: true, force: true})
    lines.push(`removed generation ${name}`)
  }
  return lines
}
