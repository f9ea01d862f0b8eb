import type {Clock} from '../catalog/naming.js'
import {formatBytes} from '../ui/progress.js'

/**
 * One thing in a backup location, as every plugin lists it: a bk archive, a hotcopy folder, a repozo chain, a
 * provision tarball, an IOTstack archive. Plugins describe their artifacts; core lists, prunes and renders them.
 */
export interface Artifact {
  name: string
  /** The artifact's main path (what `verify` and `restore` take). */
  path: string
  /** The application's word for it: full, incremental, snapshot, zip, backup, hotcopy, rolling, pre-restore … */
  kind: string
  date: Date
  /** Bytes on disk, all its paths together. */
  bytes: number
  /** What it is a backup of (env name, site uri, storage name): retention applies per group. */
  group?: string
  description?: string
  /** 'bk', or the original tool that made it (repozo, provision, IOTstack, trac-admin). */
  madeBy?: string
  /** Every path that goes with it when pruned (sidecar, .dat/.index, blob backup); `path` is implied. */
  paths?: string[]
  /** Never pruned (e.g. a safety copy taken before a restore), listed only. */
  pinned?: boolean
}

/** A backup location as a plugin sees it. */
export interface ArtifactStore {
  /** The folder listed (or the main one, for plugins with several). */
  location: string
  /** Clock of the artifacts' names: retention's days and weeks follow it. */
  clock: Clock
  /** Every artifact, any order. A missing location lists nothing. */
  list(): Promise<Artifact[]>
}

/** An artifact as `--json` shows it. */
export interface ArtifactRow {
  name: string
  path: string
  kind: string
  date: string
  bytes: number
  group?: string
  description?: string
  madeBy?: string
  pinned?: boolean
}

/** The list row of an artifact (date, kind, size, name, note). */
export function artifactRow(a: Artifact): ArtifactRow {
  return {
    name: a.name,
    path: a.path,
    kind: a.kind,
    date: a.date.toISOString(),
    bytes: a.bytes,
    ...(a.group === undefined ? {} : {group: a.group}),
    ...(a.description === undefined ? {} : {description: a.description}),
    ...(a.madeBy === undefined ? {} : {madeBy: a.madeBy}),
    ...(a.pinned ? {pinned: true} : {}),
  }
}

/**
 * A copy of `list` sorted newest first, ties by name descending with digit runs compared as numbers:
 * `x_10.tar.gz` before `x_2.tar.gz` before `x_1.tar.gz` before `x.tar.gz` (collision numbers of one second).
 * localeCompare orders punctuation its own way and put `x.tar.gz` above `x_1.tar.gz`.
 */
export function newestFirst<A extends {date: Date; name: string}>(list: A[]): A[] {
  return [...list].sort((a, b) => b.date.getTime() - a.date.getTime() || compareNames(b.name, a.name))
}

const RUNS = /\d+|\D+/g

/** Names in ascending order: digit runs by value, the rest by code units (no locale rules). */
function compareNames(a: string, b: string): number {
  const left = a.match(RUNS) ?? []
  const right = b.match(RUNS) ?? []
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i] as string
    const y = right[i] as string
    if (x === y) continue
    const order = /^\d/.test(x) && /^\d/.test(y) ? compareNumbers(x, y) : codeUnits(x, y)
    if (order !== 0) return order
  }
  return left.length - right.length
}

/** Two runs of digits by value, without a size limit; `01` after `1` so that unequal names never tie. */
function compareNumbers(x: string, y: string): number {
  const a = x.replace(/^0+/, '')
  const b = y.replace(/^0+/, '')
  return a.length - b.length || codeUnits(a, b) || codeUnits(x, y)
}

function codeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The one listing table of every plugin: date (UTC), kind, size, name, then who made it and the note. */
export function formatArtifacts(rows: ArtifactRow[], location: string): string[] {
  if (rows.length === 0) return [`No backups in ${location}.`]
  const kindWidth = Math.max(4, ...rows.map((r) => r.kind.length))
  const nameWidth = Math.max(4, ...rows.map((r) => r.name.length))
  const lines = [
    `${'DATE (UTC)'.padEnd(16)}  ${'KIND'.padEnd(kindWidth)}  ${'SIZE'.padStart(10)}  ${'NAME'.padEnd(nameWidth)}  NOTE`,
  ]
  for (const r of rows) {
    const note = [
      r.madeBy && r.madeBy !== 'bk' ? `made by ${r.madeBy}` : undefined,
      r.pinned ? 'never pruned' : undefined,
      r.description,
    ]
      .filter(Boolean)
      .join('; ')
    lines.push(
      `${r.date.slice(0, 16).replace('T', ' ')}  ${r.kind.padEnd(kindWidth)}  ${formatBytes(r.bytes).padStart(10)}  ${r.name.padEnd(nameWidth)}  ${note}`.trimEnd(),
    )
  }
  return lines
}
