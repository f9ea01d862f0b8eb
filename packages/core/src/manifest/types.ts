/** The file name of a manifest inside a backup. */
export const MANIFEST_NAME = 'bk-manifest.json'

/** A tree of files in a backup. */
export interface FilesComponent {
  type: 'files'
  /** Folder (relative to the artifact) holding these files; '.' for the whole artifact. */
  path: string
  count: number
  bytes: number
}

/** A database in a backup: engine, dump file and the tool that made it. */
export interface DatabaseComponent {
  type: 'database'
  engine: string
  serverVersion?: string
  /** The dump or database file, relative to the artifact. */
  path: string
  database?: string
  /** e.g. 'sqlite', 'sql', 'sql.gz', 'pg_dump-custom'. */
  format: string
}

/** Plugins may describe other parts (e.g. {type: 'blobs', ...}); only 'files' and 'database' have a fixed shape. */
export interface OtherComponent {
  type: string
  [key: string]: unknown
}

/** One part of a backup: files, a database, or something else the application names. */
export type Component = FilesComponent | DatabaseComponent | OtherComponent

/** One file of a backup with its size and sha256. */
export interface ManifestFile {
  path: string
  size: number
  sha256: string
}

/** What a backup holds and how to check it: tool, plugin, components and file checksums. */
export interface Manifest {
  format: 1
  tool: {name: 'bk'; version: string}
  plugin: {name: string; version: string}
  /** 'trac' | 'roundup' | 'zodb' | 'aegir' | 'iotstack' */
  application: string
  /** 'full' | 'incremental' | 'snapshot' | 'hotcopy' | 'pre-restore' | ... */
  kind: string
  /** UTC ISO-8601 */
  created: string
  /** What was backed up: an absolute path or a URL without password. */
  source: string
  description?: string
  components: Component[]
  /** Every regular file of the artifact except the manifest itself, '/'-separated paths relative to it. */
  files: ManifestFile[]
  extra?: Record<string, unknown>
}

/** What a plugin supplies; `format`, `files` are computed, `created` defaults to now and `tool` to this bk. */
export type ManifestMeta = Omit<Manifest, 'format' | 'files' | 'created' | 'tool'> & {
  created?: string
  tool?: Manifest['tool']
}

/** The outcome of checking a backup against its manifest. */
export interface VerifyResult {
  ok: boolean
  missing: string[]
  changed: string[]
  extra: string[]
  /** Files hashed and compared. */
  checked: number
  manifest: Manifest
}
