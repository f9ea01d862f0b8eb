/**
 * Tar archives through node-tar, always streaming. Compression is chosen from the file name
 * (.tar, .tar.gz/.tgz, .tar.zst — zstd through the `zstd` program, which must be on PATH).
 */
export type Compression = 'none' | 'gzip' | 'zstd'

export interface CreateArchiveOptions {
  /** Directory whose contents are archived (entry names are relative to it). */
  cwd: string
  /** Entries (relative to cwd) to archive, in this order; default: everything in cwd ('.'-less names). */
  entries?: string[]
  /** Destination file; written atomically (temp name beside it, fsync, rename). Refuses to overwrite unless `overwrite`. */
  file: string
  compression?: Compression // default: from the file name
  /** Extra members written first, e.g. bk-manifest.json: name inside the archive -> content. */
  prepend?: {name: string; content: string | Buffer; mode?: number}[]
  /** Return false to leave a path (relative, '/'-separated) out. */
  filter?: (path: string) => boolean
  /** Keep numeric owners (default true; owners are only restored on extraction by root). */
  portable?: boolean
  /** File mode of the archive (default 0o600 when `secret`, else 0o644). */
  mode?: number
  onProgress?: (bytesDone: number) => void
  overwrite?: boolean
}
export interface ArchiveResult {
  file: string
  bytes: number
  entries: number
  sha256: string
}

export interface ExtractOptions {
  file: string
  /** Directory to extract into; created if missing. Nothing is ever written outside it. */
  target: string
  /** Restore owners (default: when running as root). */
  preserveOwners?: boolean
  filter?: (path: string) => boolean
  strip?: number
  onProgress?: (bytesDone: number) => void
}

export interface ArchiveEntry {
  path: string
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'
  size: number
  mode: number
  uid: number
  gid: number
  mtime: Date
  linkpath?: string
}
