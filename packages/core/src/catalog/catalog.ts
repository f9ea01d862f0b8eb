import {lstat, readdir, readFile, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {BkError} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import type {Naming} from './naming.js'

/** One artifact of a backup location. */
export interface CatalogEntry {
  name: string
  path: string
  /** When it was made: from its name, else its manifest, else its mtime (`dateFrom` says which). */
  date: Date
  dateFrom: 'name' | 'manifest' | 'mtime'
  /** Collision number of the name (`_1` → 1). */
  seq: number
  /** Rolling slot, for rolling names. */
  slot?: number
  type: 'file' | 'dir'
  /** Bytes: the file's size, or the sum of a directory's regular files. */
  size: number
  /** From the artifact's manifest, when it has one. */
  kind?: string
  description?: string
  application?: string
  /** `<artifact>.bk.json`, when present. */
  sidecar?: string
  /** Other files that belong to this entry and go with it when pruned (e.g. a repozo .dat/.index). */
  extraPaths?: string[]
}

/** Which names a catalog takes and whether it reads their manifests. */
export interface CatalogOptions {
  /** Only names for which this returns true (after the naming recognised them). */
  filter?: (name: string) => boolean
  /** Read kind/description from manifests (default true). */
  manifests?: boolean
}

/** The suffix of a backup's sidecar manifest (`<artifact>.bk.json`). */
export const SIDECAR_SUFFIX = '.bk.json'
const MANIFEST_FILE = 'bk-manifest.json'
const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.zst)$/

interface ManifestSummary {
  kind?: string
  description?: string
  application?: string
  created?: string
}

async function readJson(path: string): Promise<ManifestSummary | undefined> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
    return {
      kind: str(data.kind),
      description: str(data.description),
      application: str(data.application),
      created: str(data.created),
    }
  } catch {
    return undefined
  }
}

/**
 * What the catalog shows of an artifact's manifest: `bk-manifest.json` inside a directory or the sidecar
 * (read leniently: a listing shows what it can), or a bk archive's first member (through the manifest module).
 * No manifest, or an unreadable one → undefined.
 */
async function manifestOf(path: string, type: 'file' | 'dir', sidecar: string | undefined) {
  if (type === 'dir') return readJson(join(path, MANIFEST_FILE))
  if (sidecar) return readJson(sidecar)
  if (ARCHIVE.test(path)) {
    try {
      // loaded here: the manifest module brings the archive reader, which a command that lists no archive never needs
      const {readManifest} = await import('../manifest/io.js')
      return await readManifest(path)
    } catch {
      return undefined // a foreign archive (IOTstack, provision) has none
    }
  }
  return undefined
}

/** Sum of the sizes of the regular files under `dir` (symlinks not followed). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => [])
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await treeSize(path)
    else if (entry.isFile()) total += (await lstat(path)).size
  }
  return total
}

/** A backup location: a directory of artifacts named by one Naming. */
export class Catalog {
  readonly dir: string
  constructor(
    dir: string,
    readonly naming: Naming,
    readonly options: CatalogOptions = {},
  ) {
    this.dir = resolve(dir)
  }

  /** The artifacts, newest first. A location that does not exist yet is empty. Hidden names (partials, locks) are skipped. */
  async list(): Promise<CatalogEntry[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return []
      if (code === 'ENOTDIR') throw notAFolder(this.dir, error)
      if (code === 'EACCES') throw new BkError(`cannot read ${this.dir}: permission denied`, {cause: error})
      throw error
    }
    const present = new Set(names)
    const entries: CatalogEntry[] = []
    for (const name of names) {
      if (name.startsWith('.') || name.endsWith(SIDECAR_SUFFIX)) continue
      const parsed = this.naming.parse(name)
      if (!parsed) continue
      if (this.options.filter && !this.options.filter(name)) continue
      const path = join(this.dir, name)
      const st = await stat(path).catch(() => undefined)
      if (!st || !(st.isFile() || st.isDirectory())) continue
      const type = st.isDirectory() ? 'dir' : 'file'
      const sidecar = present.has(name + SIDECAR_SUFFIX) ? join(this.dir, name + SIDECAR_SUFFIX) : undefined
      const manifest = this.options.manifests === false ? undefined : await manifestOf(path, type, sidecar)
      let date = parsed.date
      let dateFrom: CatalogEntry['dateFrom'] = 'name'
      if (!date) {
        const created = manifest?.created ? new Date(manifest.created) : undefined
        if (created && !Number.isNaN(created.getTime())) {
          date = created
          dateFrom = 'manifest'
        } else {
          date = st.mtime
          dateFrom = 'mtime'
        }
      }
      entries.push({
        name,
        path,
        date,
        dateFrom,
        seq: parsed.seq,
        slot: parsed.slot,
        type,
        size: type === 'dir' ? await treeSize(path) : st.size,
        kind: manifest?.kind,
        description: manifest?.description,
        application: manifest?.application,
        sidecar,
      })
    }
    return sortNewestFirst(entries)
  }

  /** The newest artifact, if any. */
  async latest(): Promise<CatalogEntry | undefined> {
    return (await this.list())[0]
  }

  /** The newest artifact made at or before `date` (the state as of that moment). */
  async asOf(date: Date): Promise<CatalogEntry | undefined> {
    return (await this.list()).find((entry) => entry.date.getTime() <= date.getTime())
  }

  /** The name for a new artifact made at `date`: `_1`, `_2`… when taken (rolling names are reused). */
  async nextName(date: Date = new Date()): Promise<string> {
    const st = await stat(this.dir).catch(() => undefined)
    if (st && !st.isDirectory()) throw notAFolder(this.dir)
    if (this.naming.reuses) return this.naming.format(date)
    for (let seq = 0; ; seq++) {
      const name = this.naming.format(date, seq)
      const path = join(this.dir, name)
      if (!(await pathExists(path)) && !(await pathExists(path + SIDECAR_SUFFIX))) return name
    }
  }

  /** `nextName` joined to the location. */
  async nextPath(date: Date = new Date()): Promise<string> {
    return join(this.dir, await this.nextName(date))
  }
}

function notAFolder(dir: string, cause?: unknown): BkError {
  return new BkError(`${dir} is a file, not a folder of backups: move it away and run again`, {cause})
}

/** Sorts entries newest first (date, then sequence, then name), in place, and returns them. */
export function sortNewestFirst<T extends {date: Date; seq: number; name: string}>(entries: T[]): T[] {
  return entries.sort(
    (a, b) => b.date.getTime() - a.date.getTime() || b.seq - a.seq || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  )
}
