/**
 * Tar archives through node-tar, always streaming. Compression is chosen from the file name
 * (.tar, .tar.gz/.tgz, .tar.zst — zstd through the `zstd` program, which must be on PATH).
 */
export type Compression = 'none' | 'gzip' | 'zstd'

/**
 * A member written first into an archive: a small file given by its `content` (a bk manifest), a regular file read
 * from `source` while the archive is written (streamed: e.g. a database snapshot staged outside cwd), or a directory.
 */
export interface PrependMember {
  /** Name inside the archive (short: at most 100 bytes). */
  name: string
  /** The bytes of a file member (none: `source`, or a directory when `directory`). */
  content?: string | Buffer
  /** A regular file whose bytes are the member's (its size, mode and mtime unless `mode` is given). */
  source?: string
  /** A directory member (no content). */
  directory?: boolean
  /** Default 0o644 (a directory 0o755; a `source` its own). */
  mode?: number
}

/** What to archive, where to write it and how to compress it. */
export interface CreateArchiveOptions {
  /** Directory whose contents are archived (entry names are relative to it, without a './' prefix unless `dotSlash`). */
  cwd: string
  /** Entries (relative to cwd) to archive, in this order (directories recursively); default: everything in cwd. */
  entries?: string[]
  /** Destination file; written atomically (temp name beside it, fsync, rename). Refuses to overwrite unless `overwrite`. */
  file: string
  compression?: Compression // default: from the file name
  /** Extra members written first, e.g. bk-manifest.json. */
  prepend?: PrependMember[]
  /**
   * Archive cwd's entries under this directory name (one or more plain segments, e.g. 'home'): a '<prefix>/' member
   * (cwd's mode, owner and mtime) comes after `prepend`, then 'prefix/<path>' for each entry, so a tree is archived
   * where it lies, beside members staged elsewhere (`prepend` with `source`), without a copy. `filter` and `entries`
   * still see paths relative to cwd. Not with `dotSlash`.
   */
  prefix?: string
  /** Return false to leave a path (relative, '/'-separated) out; for a directory, its contents too. */
  filter?: (path: string) => boolean
  /** Leave owners (uid/gid), atime and ctime out of the archive (node-tar's `portable`). Default false: numeric owners are kept. */
  portable?: boolean
  /** The archive holds secrets (database dumps, .env): written 0600. */
  secret?: boolean
  /** File mode of the archive (default 0o600 when `secret`, else 0o644). */
  mode?: number
  /** zstd/gzip level (default: gzip 6, zstd 3). */
  level?: number
  /**
   * A level for the `prepend` members (and the prefix directory) alone: where pigz or zstd and GNU tar write the
   * archive, they are compressed first as a gzip member / zstd frame of their own at this level, the tree after it
   * at `level` (one valid stream to every reader). E.g. 1 for a staged database, which costs several times the CPU
   * of a tree of text at gzip's default level for a few per cent of size. Ignored elsewhere.
   */
  prependLevel?: number
  /**
   * Called with the bytes produced so far: the uncompressed tar bytes, or the archive's own bytes where GNU tar
   * writes straight into the compressor (nothing in bk reading the tar stream).
   */
  onProgress?: (bytesDone: number) => void
  overwrite?: boolean
  /**
   * Member names start with './' and a './' directory entry (cwd itself: its mode, owner, mtime) comes first, like
   * `tar -C dir -czf f .` (provision's and IOTstack's layout, so `tar xzf f ./database.sql` finds the member).
   * `prepend` members are also named './<name>' and stay before it (createBkArchive's manifest keeps its plain name
   * and stays first). Readers (list, extract, manifests, readArchiveMember) treat './x' and 'x' alike. Default false.
   */
  dotSlash?: boolean
}

/** The archive written: its file, size, member count and sha256. */
export interface ArchiveResult {
  file: string
  /** Size of the archive file. */
  bytes: number
  entries: number
  /** sha256 of the archive file. */
  sha256: string
  /** Sockets, fifos and device files found in the source and left out. */
  skipped: string[]
}

/** Which archive to extract where, and which checks and owners apply. */
export interface ExtractOptions {
  file: string
  /** Directory to extract into; created if missing. Nothing is ever written outside it. */
  target: string
  /** Restore owners (default: when running as root). */
  preserveOwners?: boolean
  /** Return false to leave an entry (its normalised path, no './') out. */
  filter?: (path: string) => boolean
  strip?: number
  /** Called with the member bytes extracted so far. */
  onProgress?: (bytesDone: number) => void
  /**
   * Read the whole archive once through the safety checks before writing anything. Default: only when `target`
   * already has content (a new or empty target is simply removed/emptied again when extraction is refused).
   */
  precheck?: boolean
  /**
   * Expected sha256 (hex) of the archive file: hashed while it is read for extraction (one pass, no separate
   * verify read); a mismatch refuses the extraction like a corrupt archive, and nothing stays behind (a target that
   * already has content is checked in its read-only precheck pass, before anything is written to it).
   */
  sha256?: string
  /**
   * Restore symlinks whose target is absolute or outside `target` (a Docker volume's `localtime -> /etc/localtime`)
   * as links with their text, instead of refusing the archive. Nothing is ever written through a symlink either way,
   * and no mode, owner or time fixup is applied through one.
   */
  outsideSymlinks?: boolean
}

/** What an extraction wrote. */
export interface ExtractResult {
  entries: number
  /** Member data bytes written. */
  bytes: number
}

/** One member of an archive as a listing shows it. */
export interface ArchiveEntry {
  /** Normalised: no leading './', no trailing '/'; '.' for the archive's root directory entry. */
  path: string
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'
  /** node-tar's type name (e.g. 'CharacterDevice' for an 'other'). */
  tarType: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: Date
  linkpath?: string
}

/** What reading an archive through found: members, bytes, unsafe entries and its sha256. */
export interface CheckResult {
  entries: number
  /** Member data bytes. */
  bytes: number
  /** One line per entry extractArchive would refuse: "<path>: <reason>". */
  unsafe: string[]
  /** sha256 (hex) of the archive file, hashed in the same read (no separate sha256File pass needed). */
  sha256: string
}
