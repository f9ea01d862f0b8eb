// Where things are: the filestorage(s), blob storage(s) and the six backup locations, resolved as
// collective.recipe.backup resolves them — defaults under the var directory (the parent of `filestorage/`),
// named extra filestorages with `_<name>` locations — and then validated after normalisation: the locations
// must be distinct (real paths compared, not strings) and none may lie inside a blob storage.
import {stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, isAbsolute, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {resolveReal, sameOrInside} from '@bkcli/core/fs'

export type Mode = 'backup' | 'snapshot' | 'zip'

export interface SiteFlags {
  datafs?: string[]
  'additional-filestorages'?: string[]
  'blob-storage'?: string[]
  'location-prefix'?: string
  location?: string
  'snapshot-location'?: string
  'zip-location'?: string
  'blob-backup-location'?: string
  'blob-snapshot-location'?: string
  'blob-zip-location'?: string
  'backup-blobs'?: boolean
  'only-blobs'?: boolean
  'rsync-options'?: string
  'rsync-hard-links-on-first-copy'?: boolean
  'blob-timestamps'?: boolean
  'alternative-restore-source'?: string
  debug?: boolean
  'enable-fullbackup'?: boolean
}

/** The recipe's options bk has no equivalent for: a value asking for that behaviour gets a one-line pointer. */
export function checkRecipeOnly(flags: SiteFlags): void {
  const refuse = (option: string, what: string) => {
    throw new BkError(`${option}: ${what}`, {code: 'ECONFIG'})
  }
  if (flags['rsync-options']) {
    refuse(
      'rsync_options',
      'bk copies blobs itself, without rsync; drop it (--no-hard-links copies instead of linking)',
    )
  }
  if (flags['rsync-hard-links-on-first-copy']) {
    refuse(
      'rsync_hard_links_on_first_copy',
      'bk never hard-links a backup to the live blobs (a pack could change them under it); drop it',
    )
  }
  if (flags['blob-timestamps'] === false) {
    refuse('blob_timestamps = false', 'bk always names blob backups by stamp (the recipe deprecated rotation); drop it')
  }
  if (flags['alternative-restore-source']) {
    refuse(
      'alternative_restore_source',
      'restore from other locations with --location DIR (and --blob-backup-location DIR) on `bk zodb restore`',
    )
  }
  if (flags.debug) refuse('debug', 'use -v (--verbose) for more detail')
  if (flags['enable-fullbackup'] === false) {
    refuse('enable_fullbackup = false', 'bk zodb fullbackup always exists; drop the option')
  }
}

export interface Locations {
  location: string
  snapshot: string
  zip: string
  blobBackup: string
  blobSnapshot: string
  blobZip: string
}

export interface Storage {
  /** 'Data' for the main filestorage, else the name given with --datafs name=path */
  name: string
  datafs: string
  blobStorage?: string
  /** absolute locations */
  locations: Locations
  /** the locations as the user wrote them, for the .dat lines (repozo writes its -r argument) */
  written: Locations
}

export interface Site {
  /** extra storages first, the main one last: the recipe's backup order */
  storages: Storage[]
  backupBlobs: boolean
  onlyBlobs: boolean
}

export const MAIN = 'Data'
const DEFAULT_DATAFS = 'var/filestorage/Data.fs'

const KEYS: [keyof Locations, keyof SiteFlags, string][] = [
  ['location', 'location', 'backups'],
  ['snapshot', 'snapshot-location', 'snapshotbackups'],
  ['zip', 'zip-location', 'zipbackups'],
  ['blobBackup', 'blob-backup-location', 'blobstoragebackups'],
  ['blobSnapshot', 'blob-snapshot-location', 'blobstoragesnapshots'],
  ['blobZip', 'blob-zip-location', 'blobstoragezips'],
]

/**
 * `~` and `${VAR}` (or `$VAR`) in a path, as buildout users write them: `~/x` is the home folder, a variable the
 * environment's value; an unset variable or a buildout reference (`${buildout:directory}`) is an error naming it.
 */
export function expandPath(value: string, env: NodeJS.ProcessEnv = process.env): string {
  let path = value.replace(/\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare!
    if (name.includes(':')) {
      throw new BkError(`${value}: ${whole} is a buildout reference; write the path it stands for`)
    }
    const got = env[name]
    if (got === undefined) throw new BkError(`${value}: the environment variable ${name} is not set`)
    return got
  })
  if (path === '~' || path.startsWith('~/')) path = homedir() + path.slice(1)
  return path
}

const NAME = /^[A-Za-z0-9_-]+$/

/** `name=path`, `path`, or a bare `name` (an extra filestorage at its default path, as the recipe has it). */
function named(value: string): {name?: string; path?: string} {
  const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(value)
  if (m) return {name: m[1], path: m[2]!}
  if (NAME.test(value) && value !== MAIN && value !== '1') return {name: value}
  return {path: value}
}

/** The recipe's `additional_filestorages` line: `NAME [DATAFS [BLOBDIR]]` (whitespace-separated, as it parses it). */
function additional(line: string): {name: string; path?: string; blobs?: string} {
  const m = /^\s*([A-Za-z0-9_-]+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/.exec(line)
  if (!m || m[1] === MAIN || m[1] === '1') {
    throw new BkError(
      `--additional-filestorages '${line}': expected 'NAME [DATAFS [BLOBDIR]]' with a NAME other than Data`,
    )
  }
  return {name: m[1]!, path: m[2], blobs: m[3]}
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false
}

export function repositoryOf(storage: Storage, mode: Mode): {abs: string; written: string; blobs: string} {
  const key = mode === 'backup' ? 'location' : mode
  const blobKey = mode === 'backup' ? 'blobBackup' : mode === 'snapshot' ? 'blobSnapshot' : 'blobZip'
  return {abs: storage.locations[key], written: storage.written[key], blobs: storage.locations[blobKey]}
}

export async function resolveSite(flags: SiteFlags, cwd = process.cwd()): Promise<Site> {
  checkRecipeOnly(flags)
  const abs = (p: string) => {
    const x = expandPath(p)
    return isAbsolute(x) ? x : resolve(cwd, x)
  }
  const entries: {name?: string; path?: string}[] = (flags.datafs ?? []).map(named)
  const extraBlobs = new Map<string, string>()
  for (const line of flags['additional-filestorages'] ?? []) {
    const a = additional(line)
    entries.push({name: a.name, path: a.path})
    if (a.blobs) extraBlobs.set(a.name, a.blobs)
  }
  if (!entries.some((e) => e.path !== undefined && (e.name === undefined || e.name === '1' || e.name === MAIN))) {
    entries.unshift({path: DEFAULT_DATAFS})
  }
  const names = new Set<string>()
  let main: {name?: string; path?: string} | undefined
  for (const e of entries) {
    const name = e.name === undefined || e.name === '1' ? MAIN : e.name
    if (names.has(name)) throw new BkError(`--datafs names the filestorage '${name}' twice`)
    names.add(name)
    if (name === MAIN) main = e
  }
  const mainPath = abs(main!.path!)
  const prefix = abs(flags['location-prefix'] ?? dirname(dirname(mainPath)))
  const blobFlags = new Map<string, string>(extraBlobs)
  for (const b of (flags['blob-storage'] ?? []).map(named)) {
    const name = b.name === undefined || b.name === '1' ? MAIN : b.name
    if (!b.path) throw new BkError(`--blob-storage ${b.name}: give NAME=PATH, or the main blob storage's path`)
    if (!names.has(name)) throw new BkError(`--blob-storage ${name}=…: there is no filestorage named '${name}'`)
    blobFlags.set(name, b.path)
  }
  const onlyBlobs = flags['only-blobs'] ?? false
  const storages: Storage[] = []
  for (const e of entries) {
    const name = e.name === undefined || e.name === '1' ? MAIN : e.name
    const suffix = name === MAIN ? '' : `_${name}`
    const written = {} as Locations
    const locations = {} as Locations
    for (const [key, flag, dir] of KEYS) {
      const given = flags[flag] as string | undefined
      written[key] = (given === undefined ? join(prefix, dir) : expandPath(given)) + suffix
      locations[key] = abs(written[key])
    }
    const defaultBlobs = join(prefix, name === MAIN ? 'blobstorage' : `blobstorage-${name}`)
    const blobStorage = blobFlags.has(name)
      ? abs(blobFlags.get(name)!)
      : (await isDir(defaultBlobs))
        ? defaultBlobs
        : undefined
    // a name alone: the recipe's default, <filestorage dir of Data.fs>/<name>.fs
    const datafs = e.path === undefined ? join(dirname(mainPath), `${name}.fs`) : abs(e.path)
    storages.push({name, datafs, blobStorage, locations, written})
  }
  const backupBlobs = flags['backup-blobs'] ?? storages.some((s) => s.blobStorage !== undefined)
  if (onlyBlobs && !backupBlobs) throw new BkError('--only-blobs needs blob backups: drop --no-backup-blobs')
  if (backupBlobs) {
    const missing = storages.find((s) => !s.blobStorage)
    if (missing && flags['backup-blobs']) {
      throw new BkError(`no blob storage found for ${missing.datafs}; give --blob-storage, or --no-backup-blobs`)
    }
  }
  await checkDistinct(storages)
  // extra filestorages first, the main one last
  storages.sort((a, b) => Number(a.name === MAIN) - Number(b.name === MAIN))
  return {storages, backupBlobs, onlyBlobs}
}

async function checkDistinct(storages: Storage[]): Promise<void> {
  const seen = new Map<string, string>()
  for (const s of storages) {
    for (const [key, flag] of KEYS) {
      const real = await resolveReal(s.locations[key])
      const label = `--${flag}${s.name === MAIN ? '' : ` (${s.name})`} = ${s.locations[key]}`
      const other = seen.get(real)
      if (other) throw new BkError(`these must be distinct locations: ${other} and ${label}`)
      seen.set(real, label)
      for (const t of storages) {
        if (t.blobStorage && (await sameOrInside(s.locations[key], t.blobStorage))) {
          throw new BkError(`${label} lies inside the blob storage ${t.blobStorage}; choose a location outside it`)
        }
        if (real === (await resolveReal(dirname(t.datafs)))) {
          throw new BkError(`${label} is the filestorage's own directory; choose another location`)
        }
      }
    }
  }
}
