import {lstatSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'

/** The parts of a tar entry the safety rules look at (node-tar's ReadEntry has them). */
export interface RawEntry {
  path: string
  type: string
  linkpath?: string
}

export interface CheckedEntry {
  /** Normalised path relative to the target ('.' is the target itself). */
  path: string
  /** Normalised link target for hard links (relative to the target); symlink target as stored otherwise. */
  linkpath?: string
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])
const DIR_TYPES = new Set(['Directory', 'GNUDumpDir'])
const MAX_LINK_DEPTH = 40

/** How strict the entry check is about where symlinks point. */
export interface EntryCheckOptions {
  /**
   * Accept symlinks whose target is absolute or resolves outside the target (Docker volumes hold links such as
   * `localtime -> /etc/localtime`): they are restored as links, with their text. Nothing is ever written through a
   * symlink either way (no entry below one, no hard link through one). Default: refused.
   */
  outsideSymlinks?: boolean
}

export class UnsafeEntry extends Error {
  constructor(
    readonly entryPath: string,
    readonly reason: string,
  ) {
    super(`${entryPath}: ${reason}`)
  }
}

/** A GNU tar PAX sparse file's stored name: `GNUSparseFile.<pid>/<name>`, its body a map and the data blocks. */
const PAX_SPARSE = /(^|\/)GNUSparseFile\.\d+\//

/**
 * The refusal for an entry node-tar's reader skips before any filter sees it (a type it does not know), or undefined
 * for one that is rightly skipped (a tape volume label). A skipped sparse file was a file missing, silently.
 */
export function skippedEntry(entry: RawEntry): UnsafeEntry | undefined {
  if (entry.type === 'TapeVolumeHeader') return undefined
  if (entry.type === 'SparseFile') return new UnsafeEntry(entry.path, sparseReason)
  return new UnsafeEntry(entry.path, `unsupported entry type ${entry.type}`)
}

const sparseReason =
  'a sparse file (tar --sparse), which bk cannot restore; extract this archive with GNU tar (tar -xf)'

/** Split an archive path into clean components; throws UnsafeEntry for absolute paths and '..'. */
export function splitSafe(raw: string, what = 'path'): string[] {
  if (raw.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(raw) || raw.startsWith('\\'))
    throw new UnsafeEntry(raw, `absolute ${what}`)
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.includes('..')) throw new UnsafeEntry(raw, `${what} contains '..'`)
  return parts
}

/**
 * Decides, entry by entry and in archive order, whether extracting an archive into a directory is safe:
 * no absolute paths, no '..', nothing written through a symlink, no symlink or hard link whose target resolves
 * outside the directory (following the archive's own symlinks and those already on disk), no devices or fifos.
 * Symlinks are checked again at the end, because a later entry can change what an earlier link resolves to.
 */
export class EntryChecker {
  /** archive path -> symlink target, as extracted so far */
  private readonly links = new Map<string, string>()
  /** archive paths that are folders: folder entries and the parents of every entry */
  private readonly dirs = new Set<string>()
  /** Paths seen holding U+FFFD: what node-tar reads a name that is not valid UTF-8 as (several names, one path). */
  private readonly replacement = new Set<string>()

  /** `root`: the extraction directory, consulted for symlinks that exist before extraction (optional). */
  constructor(
    private readonly root?: string,
    private readonly strip = 0,
    private readonly options: EntryCheckOptions = {},
  ) {}

  /**
   * Returns the normalised entry, undefined when `strip` removes it entirely, or throws UnsafeEntry. `keep`: the
   * caller's filter; an entry it leaves out is checked but replaces nothing (a symlink on disk stays one).
   */
  check(entry: RawEntry, keep?: (path: string) => boolean): CheckedEntry | undefined {
    // no file's name: node-tar cuts a name at its first NUL only up to a newline ('f\0\n\0' is 'f\n\0'), and its
    // file calls then threw out of their callbacks (the process died)
    if (entry.path.includes('\0') || entry.linkpath?.includes('\0'))
      throw new UnsafeEntry(entry.path, 'a name with a NUL byte')
    // node-tar reads such a file as a plain one: a folder GNUSparseFile.N holding the file's map and data blocks
    if (PAX_SPARSE.test(entry.path)) throw new UnsafeEntry(entry.path, sparseReason)
    let parts = splitSafe(entry.path)
    if (this.strip > 0) {
      if (parts.length <= this.strip) return undefined
      parts = parts.slice(this.strip)
    }
    const path = parts.length === 0 ? '.' : parts.join('/')
    const type = entry.type
    // caf\xe8 and caf\xe9 both read as caf\uFFFD: restored as one file, the other lost (the GNU tar engine's reader
    // refuses such a name itself; node-tar gives no bytes to tell by, so a second entry of that path is refused)
    if (path.includes('\uFFFD')) {
      if (this.replacement.has(path))
        throw new UnsafeEntry(
          entry.path,
          'two entries read as this name, names that are not valid UTF-8, which bk would restore merged; extract this archive with GNU tar (tar -xf) and rename them, e.g. with convmv',
        )
      this.replacement.add(path)
    }
    if (path === '.' && !DIR_TYPES.has(type)) throw new UnsafeEntry(entry.path, 'replaces the target directory itself')
    const through = this.firstLinkIn(parts.slice(0, -1))
    if (through !== undefined) throw new UnsafeEntry(entry.path, `is written through the symlink ${through}`)
    const extracted = !keep || keep(path)
    this.noteFolders(parts, DIR_TYPES.has(type), extracted)
    if (FILE_TYPES.has(type) || DIR_TYPES.has(type)) {
      if (extracted) this.forget(path)
      return {path}
    }
    if (type === 'SymbolicLink') {
      const target = entry.linkpath ?? ''
      this.assertInside(entry.path, parts, target)
      this.links.set(path, target)
      return {path, linkpath: target}
    }
    if (type === 'Link') {
      let linkParts: string[]
      try {
        linkParts = splitSafe(entry.linkpath ?? '', 'hard link target')
      } catch (error) {
        if (!(error instanceof UnsafeEntry)) throw error
        throw new UnsafeEntry(entry.path, `${error.reason}: ${entry.linkpath}`)
      }
      if (this.strip > 0) {
        if (linkParts.length <= this.strip) throw new UnsafeEntry(entry.path, 'hard link target removed by strip')
        linkParts = linkParts.slice(this.strip)
      }
      if (linkParts.length === 0) throw new UnsafeEntry(entry.path, 'hard link to the target directory')
      const linkThrough = this.firstLinkIn(linkParts.slice(0, -1))
      if (linkThrough !== undefined)
        throw new UnsafeEntry(entry.path, `hard link target goes through the symlink ${linkThrough}`)
      const linkpath = linkParts.join('/')
      // no archiver makes one; node-tar never ends on one made over a symlink, GNU tar refuses it
      if (this.isFolder(linkpath)) throw new UnsafeEntry(entry.path, `hard link to the folder ${linkpath}`)
      // a hard link to a symlink is a new symlink with the same text, which may resolve elsewhere from here
      const symlinkText = this.symlinkAt(linkpath)
      if (symlinkText !== undefined) {
        this.assertInside(entry.path, parts, symlinkText)
        this.links.set(path, symlinkText)
      } else if (extracted) this.forget(path)
      return {path, linkpath}
    }
    if (type === 'CharacterDevice' || type === 'BlockDevice') throw new UnsafeEntry(entry.path, 'device file')
    if (type === 'FIFO') throw new UnsafeEntry(entry.path, 'fifo (named pipe)')
    throw new UnsafeEntry(entry.path, `unsupported entry type ${type}`)
  }

  /**
   * Records the folders an entry shows: its parents, and itself when it is one; an extracted entry of another type
   * takes a folder's place (a symlink over it, as GNU tar writes a member archived twice).
   */
  private noteFolders(parts: string[], isFolder: boolean, extracted: boolean): void {
    const parent = parts.slice(0, -1).join('/')
    if (parent !== '' && !this.dirs.has(parent)) {
      // its parents' parents too, each once
      for (let i = 1; i < parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'))
    }
    if (isFolder && parts.length > 0) this.dirs.add(parts.join('/'))
    else if (extracted && !isFolder && this.dirs.size > 0) this.dirs.delete(parts.join('/'))
  }

  /** Whether an archive path is a folder: one this archive showed, or one on disk (pre-existing content). */
  private isFolder(path: string): boolean {
    if (this.dirs.has(path)) return true
    if (!this.root) return false
    try {
      return lstatSync(join(this.root, path)).isDirectory()
    } catch {
      return false
    }
  }

  /** Whether the entry path `raw` (as stored) names a symlink: one this archive made so far, or one on disk. */
  isSymlink(raw: string): boolean {
    let parts: string[]
    try {
      parts = splitSafe(raw).slice(this.strip)
    } catch (error) {
      if (error instanceof UnsafeEntry) return false
      throw error
    }
    return parts.length > 0 && this.symlinkAt(parts.join('/')) !== undefined
  }

  /** Re-check every symlink against the final tree; returns the unsafe ones. */
  finish(): UnsafeEntry[] {
    const bad: UnsafeEntry[] = []
    for (const [path, target] of this.links) {
      try {
        this.assertInside(path, path.split('/'), target)
      } catch (error) {
        if (error instanceof UnsafeEntry) bad.push(error)
        else throw error
      }
    }
    return bad
  }

  private assertInside(rawPath: string, parts: string[], target: string): void {
    if (target === '') throw new UnsafeEntry(rawPath, 'symlink with an empty target')
    if (this.options.outsideSymlinks) return
    if (target.startsWith('/'))
      throw new UnsafeEntry(rawPath, `symlink to the absolute path ${target}, outside the target`)
    if (this.resolve(parts.slice(0, -1), target.split('/'), 0) === undefined)
      throw new UnsafeEntry(rawPath, `symlink to ${target} resolves outside the target`)
  }

  /** Resolve `link` from directory `from` (both inside the root), following symlinks; undefined = escapes. */
  private resolve(from: string[], link: string[], depth: number): string[] | undefined {
    if (depth > MAX_LINK_DEPTH) return undefined
    let stack = [...from]
    for (const part of link) {
      if (part === '' || part === '.') continue
      if (part === '..') {
        if (stack.length === 0) return undefined
        stack.pop()
        continue
      }
      stack.push(part)
      const text = this.symlinkAt(stack.join('/'))
      if (text === undefined) continue
      if (text.startsWith('/')) return undefined
      const resolved = this.resolve(stack.slice(0, -1), text.split('/'), depth + 1)
      if (resolved === undefined) return undefined
      stack = resolved
    }
    return stack
  }

  private firstLinkIn(dirParts: string[]): string | undefined {
    for (let i = 1; i <= dirParts.length; i++) {
      const p = dirParts.slice(0, i).join('/')
      if (this.symlinkAt(p) !== undefined) return p
    }
    return undefined
  }

  /** Symlink text at an archive path: from this archive's entries, else from the disk (pre-existing content). */
  private symlinkAt(path: string): string | undefined {
    const known = this.links.get(path)
    if (known !== undefined) return known
    if (!this.root || this.replaced.has(path)) return undefined
    let onDisk = this.disk.get(path)
    if (onDisk === undefined) {
      onDisk = null
      try {
        const abs = join(this.root, path)
        if (lstatSync(abs).isSymbolicLink()) onDisk = readlinkSync(abs)
      } catch {}
      this.disk.set(path, onDisk)
    }
    return onDisk ?? undefined
  }

  /** An entry that is not a symlink now occupies `path` (extraction replaces whatever was there). */
  private forget(path: string): void {
    this.links.delete(path)
    if (this.root) this.replaced.add(path)
  }

  /** Only used when the target had content before: what was on disk, and what this archive replaced. */
  private readonly disk = new Map<string, string | null>()
  private readonly replaced = new Set<string>()
}
