// `follow --status` and `follow --verify` for an SQLite follow location: read only.
import {createHash} from 'node:crypto'
import {stat} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '../../errors.js'
import {sha256File} from '../../fs/hash.js'
import {readWholeFile, reusedBuffer} from '../../fs/read-whole.js'
import {chainBreaks} from './chain.js'
import {filesAsOf, objectPath, readFilesLogs} from './files.js'
import {readMarker} from './follower.js'
import {completeGenerations, generationsDir, listGenerations, readManifests} from './location.js'
import {checkFrame, FRAME_HEADER_LEN} from './wal.js'

/** What a follow location holds. */
export interface SqliteFollowStatus {
  location: string
  app?: string
  /** false when nothing was shipped yet */
  ok: boolean
  /** complete generations (their first snapshot recorded): what a restore can start from */
  generations: number
  generation?: string
  snapshots: number
  segments: number
  commits: number
  bytes: number
  lastSnapshot?: string
  /** when the newest shipped commit was seen */
  lastCommit?: string
  /** ms from the newest shipped commit (or snapshot) to now */
  ageMs?: number
  files: Record<string, number>
}

/** `follow --status`: what a follow location holds and how old its newest shipped commit is (reads only). */
export async function sqliteFollowStatus(location: string, folders: string[] = []): Promise<SqliteFollowStatus> {
  const marker = await readMarker(location)
  if (marker === undefined)
    throw new BkError(`${location} is not a follow location (nothing shipped there); check --location`)
  // complete generations only: a folder whose first snapshot a killed run never recorded holds nothing to restore
  // (the next follow removes it), and counting it told a monitor a generation existed when none did
  const gens = await completeGenerations(location)
  const status: SqliteFollowStatus = {
    location,
    app: marker.app,
    ok: false,
    generations: gens.length,
    snapshots: 0,
    segments: 0,
    commits: 0,
    bytes: 0,
    files: {},
  }
  for (const gen of gens) {
    for (const m of await readManifests(join(generationsDir(location), gen))) {
      status.ok = true
      status.generation = gen
      status.bytes += m.bytes
      if (m.kind === 'snapshot') {
        status.snapshots++
        status.lastSnapshot = m.time
      } else {
        status.segments++
        status.commits += m.commits?.length ?? 0
        status.lastCommit = m.time
      }
    }
  }
  const newest = status.lastCommit ?? status.lastSnapshot
  if (newest) status.ageMs = Math.max(0, Date.now() - Date.parse(newest))
  for (const f of folders) status.files[f] = filesAsOf(await readFilesLogs(location, f)).size
  return status
}

/** The human lines of `follow --status`. */
export function sqliteFollowStatusText(s: SqliteFollowStatus): string[] {
  if (!s.ok) return [`${s.location}: nothing shipped yet.`]
  const files = Object.entries(s.files).map(([k, v]) => `${v} file(s) in ${k}`)
  return [
    `${s.location}: ${s.generations} generation(s), newest ${s.generation}; ${s.snapshots} snapshot(s), ${s.segments} WAL segment(s) holding ${s.commits} commit(s), ${s.bytes} bytes${files.length ? `; ${files.join(', ')}` : ''}.`,
    `Last snapshot ${s.lastSnapshot}; last commit shipped ${s.lastCommit ?? '(none yet)'} (${((s.ageMs ?? 0) / 1000).toFixed(1)} s ago).`,
  ]
}

/** A check of every shipped file: sha256 against its manifest, and the frames' salts and checksum chain. */
export async function verifySqliteFollow(
  location: string,
  folders: string[] = [],
): Promise<{artifact: string; ok: boolean; checked: number; problems: string[]}> {
  if ((await readMarker(location)) === undefined)
    throw new BkError(`${location} is not a follow location; check --location`)
  const problems: string[] = []
  let checked = 0
  // one buffer for the segments, as a restore reads them (a location holds hundreds of thousands)
  const into = reusedBuffer()
  for (const gen of await listGenerations(location)) {
    const dir = join(generationsDir(location), gen)
    const manifests = await readManifests(dir)
    for (const problem of chainBreaks(manifests)) problems.push(`${dir}: ${problem}`)
    for (const m of manifests) {
      const path = join(dir, m.file)
      checked++
      const exists = await stat(path).catch(() => undefined)
      if (!exists) {
        problems.push(`${path} is missing`)
        continue
      }
      if (m.kind === 'snapshot') {
        if ((await sha256File(path)) !== m.sha256) problems.push(`${path}: sha256 does not match its manifest`)
        continue
      }
      const data = await readWholeFile(path, into)
      if (createHash('sha256').update(data).digest('hex') !== m.sha256) {
        problems.push(`${path}: sha256 does not match its manifest`)
        continue
      }
      const b = m.before!
      const frameLen = FRAME_HEADER_LEN + m.pageSize
      let chain = b.cksum
      const bigEndian = await endianOf(data, b, frameLen)
      for (let i = 0; i * frameLen < data.length; i++) {
        const next = checkFrame(
          data.subarray(i * frameLen, (i + 1) * frameLen),
          {salt1: b.salt1!, salt2: b.salt2!},
          bigEndian,
          chain,
        )
        if (!next) {
          problems.push(`${path}: frame ${i} breaks the WAL checksum chain`)
          break
        }
        chain = next
      }
      if (chain[0] !== m.after.cksum[0] || chain[1] !== m.after.cksum[1])
        problems.push(`${path}: the chain does not end where its manifest says`)
    }
  }
  for (const f of folders) {
    for (const [path, e] of filesAsOf(await readFilesLogs(location, f))) {
      checked++
      const obj = objectPath(location, f, e.sha256!)
      if ((await sha256File(obj).catch(() => undefined)) !== e.sha256)
        problems.push(`${f}/${path}: its copy ${obj} is missing or damaged`)
    }
  }
  return {artifact: location, ok: problems.length === 0, checked, problems}
}

/** The WAL's byte order is not in the segment: the one under which its first frame checks. */
async function endianOf(
  data: Buffer,
  b: {salt1?: number; salt2?: number; cksum: [number, number]},
  frameLen: number,
): Promise<boolean> {
  const first = data.subarray(0, frameLen)
  return checkFrame(first, {salt1: b.salt1!, salt2: b.salt2!}, false, b.cksum) === undefined
}
