import {createHash} from 'node:crypto'
import {lstatSync, opendirSync, readdirSync, rmSync, unlinkSync} from 'node:fs'
import {chmod, lchown, lstat, lutimes, mkdir, stat, utimes} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import type {ReadEntry} from 'tar'
import {BkError, isBkError, messageOf} from '../errors.js'
import {writebackWhile} from '../fs/fsync-tree.js'
import {isEmptyDir, pathExists} from '../fs/paths.js'
import {atomicDir} from '../safety/atomic.js'
import {onInterrupt} from '../safety/interrupt.js'
import {progressOutput, stepProgress} from '../ui/progress.js'
import {sniffCompression} from './compression.js'
import {feedTar} from './drive.js'
import {acceptEmptyArchive} from './empty.js'
import {EntryChecker, type EntryCheckOptions, skippedEntry, UnsafeEntry} from './entry-check.js'
import {readError} from './errors.js'
import {gnuUnpackInThread} from './extract-thread.js'
import {decoderFor, gnuUnpack, NativeFallback, openTarFast} from './gnu-extract.js'
import {hashAside} from './hash-aside.js'
import {gnuTar} from './native.js'
import {scanArchive} from './read.js'
import {nodeTar} from './tar-lib.js'
import type {ExtractOptions, ExtractResult} from './types.js'

const isRoot = () => process.getuid?.() === 0

interface Fixups {
  dirs: {path: string; mode: number; mtime?: Date}[]
  files: {path: string; mode: number}[]
  symlinks: {path: string; uid: number; gid: number; mtime?: Date}[]
}

/**
 * Extract an archive safely: every entry is checked before node-tar sees it (see EntryChecker) and the first unsafe
 * one refuses the whole extraction with a BkError naming it. A missing `target` is built in a stage beside it
 * (safety's atomicDir) and renamed into place at the end; an empty one is emptied again on failure; one that already
 * has content is checked in a first read-only pass (`precheck`) before anything is written to it. So a refused,
 * corrupt or interrupted extraction leaves nothing behind, and nothing is ever written outside `target`.
 * Modes (setuid/setgid included), numeric owners (as root), mtimes of files, directories and symlinks are restored.
 */
export async function extractArchive(options: ExtractOptions): Promise<ExtractResult> {
  const file = options.file
  const target = resolve(options.target)
  const fileStat = await stat(file).catch((error) => {
    throw readError(file, error)
  })
  if (!fileStat.isFile()) throw new BkError(`archive ${file} is not a file`)
  const existing = await lstat(target).catch(() => undefined)
  if (existing && !existing.isDirectory()) throw new BkError(`cannot extract into ${options.target}: not a directory`)
  const hasContent = existing !== undefined && !(await isEmptyDir(target))
  const strip = options.strip ?? 0
  try {
    const verifyFirst = options.precheck ?? hasContent
    if (verifyFirst)
      await precheck(file, hasContent ? target : undefined, strip, options.filter, options.sha256, {
        outsideSymlinks: options.outsideSymlinks,
      })
    // checked already (precheck) or checked by the extracting pass itself
    if (verifyFirst) options = {...options, sha256: undefined}
    if (!existing) {
      await mkdir(dirname(target), {recursive: true})
      // the stage written back to disk while it is extracted: atomicDir's flush before the rename then waits less
      return await atomicDir(target, (stage) =>
        writebackWhile(stage, () => unpackInto(file, stage, undefined, options)),
      )
    }
    if (hasContent) return await unpackInto(file, target, target, options)
    // an empty directory (maybe a mount point, which cannot be renamed over): fill it, empty it again on failure
    const unregister = onInterrupt(() => emptyDirSync(target), {sweep: true})
    try {
      return await unpackInto(file, target, undefined, options)
    } catch (error) {
      emptyDirSync(target)
      throw error
    } finally {
      unregister()
    }
  } catch (error) {
    if (error instanceof UnsafeEntry)
      throw new BkError(
        `refusing to extract ${file}: unsafe entry '${error.entryPath}' (${error.reason}); nothing was extracted`,
        {code: 'EUNSAFE', cause: error},
      )
    if (isBkError(error)) throw error
    const converted = readError(file, error)
    if (converted.code === 'ECORRUPT' || converted.code === 'ENOENT') throw converted
    throw new BkError(`extracting ${file} into ${options.target} failed: ${messageOf(error)}`, {cause: error})
  }
}

/** Drops the pending fixups at `path` and below (a link replaced what was there). */
function forgetFixups(fix: Fixups, path: string): void {
  const gone = (p: string) => p === path || p.startsWith(`${path}/`)
  fix.files = fix.files.filter((f) => !gone(f.path))
  fix.dirs = fix.dirs.filter((d) => !gone(d.path))
  fix.symlinks = fix.symlinks.filter((l) => !gone(l.path))
}

/** True when `path` (relative to `dest`) and its folders are no symlinks: a chmod there stays inside `dest`. */
async function isNoLink(dest: string, path: string): Promise<boolean> {
  const parts = path.split('/')
  for (let i = 1; i <= parts.length; i++) {
    const st = await lstat(join(dest, ...parts.slice(0, i))).catch(() => undefined)
    if (!st || st.isSymbolicLink()) return false
  }
  return true
}

/**
 * Makes way for the folders above `path` (relative to `dest`): a file there (an old tree's, or an earlier entry's) is
 * removed, as the archive says a folder is there. node-tar's mkdir without its path rules (preservePaths) would fail
 * on it. `folders`: those known to be folders already (no syscall for them: an archive lists a folder before its
 * content). The checker admits no entry below a symlink, so none is met here.
 */
function clearWay(dest: string, path: string, type: string, folders: Set<string>): void {
  if (type === 'Directory') folders.add(path)
  else folders.delete(path)
  const parts = path.split('/')
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/')
    if (folders.has(dir)) continue
    try {
      const st = lstatSync(join(dest, dir))
      if (!st.isDirectory()) unlinkSync(join(dest, dir))
      else folders.add(dir)
    } catch {
      return // missing: node-tar makes it and those below it; not removable: node-tar's mkdir says why
    }
  }
}

const isFolderType = (type: string) => type === 'Directory' || type === 'GNUDumpDir'

/** True when `path` is a folder (not a symlink to one) that is not empty. */
function isFullFolder(path: string): boolean {
  try {
    if (!lstatSync(path).isDirectory()) return false
    const dir = opendirSync(path)
    try {
      return dir.readSync() !== null
    } finally {
      dir.closeSync()
    }
  } catch {
    return false
  }
}

function emptyDirSync(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), {recursive: true, force: true})
}

/** What sees each archive byte read (the checksum, the progress bar), or undefined when neither needs them. */
function archiveTap(
  sum: ReturnType<typeof checksum>,
  step: ReturnType<typeof stepProgress>,
  showProgress: boolean,
): ((chunk: Buffer) => void) | undefined {
  if (sum.onRaw === undefined && !showProgress) return undefined
  let read = 0
  return (chunk) => {
    sum.onRaw?.(chunk)
    read += chunk.length
    step.update(read)
  }
}

/** Compares the hash of everything read with the expected sha256; a mismatch is a corrupt archive. */
function checksum(file: string, expected: string | undefined) {
  if (!expected) return {onRaw: undefined, verify: () => {}}
  const hash = createHash('sha256')
  return {
    onRaw: (chunk: Buffer) => {
      hash.update(chunk)
    },
    verify: () => {
      const actual = hash.digest('hex')
      if (actual !== expected.toLowerCase())
        throw new BkError(`archive ${file} is corrupt: its sha256 is ${actual}, expected ${expected}`, {
          code: 'ECORRUPT',
        })
    },
  }
}

async function precheck(
  file: string,
  root: string | undefined,
  strip: number,
  filter?: (path: string) => boolean,
  sha256?: string,
  checks: EntryCheckOptions = {},
) {
  const checker = new EntryChecker(root, strip, checks)
  const sum = checksum(file, sha256)
  let refusal: UnsafeEntry | undefined
  let blocked: string | undefined
  await scanArchive(
    file,
    (entry, stop) => {
      try {
        const checked = checker.check(entry, filter)
        if (!checked || (filter && !filter(checked.path))) return
        if (root && !isFolderType(entry.type) && isFullFolder(join(root, checked.path))) {
          blocked = checked.path
          stop()
        }
      } catch (error) {
        if (!(error instanceof UnsafeEntry)) throw error
        refusal = error
        stop()
      }
    },
    sum.onRaw,
    (skipped, stop) => {
      refusal ??= skipped
      stop()
    },
  )
  if (refusal) throw refusal
  // extraction never empties a folder: node-tar would fail there, after the entries before it were written
  if (blocked !== undefined)
    throw new BkError(
      `cannot extract ${file} into ${root}: '${blocked}' is a folder with content there, the archive has a file or link in its place; move it away and run again (nothing was extracted)`,
      {code: 'EEXIST'},
    )
  sum.verify()
  const late = checker.finish()
  if (late[0]) throw late[0]
}

async function unpackInto(
  file: string,
  dest: string,
  existingRoot: string | undefined,
  options: ExtractOptions,
): Promise<ExtractResult> {
  // GNU tar writes into a new or empty folder (emptied again when it must give way); a folder with content, and
  // --strip, keep node-tar
  const tar = existingRoot === undefined && !options.strip ? await gnuTar() : undefined
  if (tar) {
    try {
      return await unpackWithGnuTar(tar, file, dest, options)
    } catch (error) {
      if (!(error instanceof NativeFallback)) throw error
      emptyDirSync(dest)
    }
  }
  return unpackWithNodeTar(file, dest, existingRoot, options)
}

/**
 * GNU tar writes the files, bk reads and checks every entry first (gnu-extract.ts): owners (as root, or when asked),
 * modes, setuid/setgid, mtimes of files, folders and symlinks as the node-tar engine restores them.
 */
async function unpackWithGnuTar(tar: string, file: string, dest: string, options: ExtractOptions) {
  const checker = new EntryChecker(undefined, 0, {outsideSymlinks: options.outsideSymlinks})
  const showProgress = progressOutput() !== 'off'
  // the file's head is read once: the compression decides the decoder and whether the sha256 can be taken aside
  const decoder = await decoderFor(file, await sniffCompression(file))
  // an archive's sha256 without a progress bar: the decoder (pigz, zstd) reads the file itself, another thread hashes it
  const aside = options.sha256 && !showProgress && decoder ? await hashAside(file) : undefined
  try {
    const sum = checksum(file, aside ? undefined : options.sha256)
    const step = stepProgress('extracting', {total: (await stat(file)).size})
    const onRaw = archiveTap(sum, step, showProgress)
    let progress = 0
    const onProgress = options.onProgress
    const onFileDone = onProgress
      ? (size: number) => {
          progress += size
          onProgress(progress)
        }
      : undefined
    const preserveOwner = options.preserveOwners ?? isRoot()
    // the stream read and checked in a thread (the caller's filter is a function: it stays on this one)
    const threaded =
      decoder && !options.filter
        ? await gnuUnpackInThread(tar, file, decoder, dest, {
            preserveOwner,
            outsideSymlinks: options.outsideSymlinks ?? false,
            onFileDone,
            onRaw,
            input: aside?.handle,
          })
        : undefined
    let result: ExtractResult
    if (threaded) result = {entries: threaded.entries, bytes: threaded.bytes}
    else {
      const source = await openTarFast(file, decoder, onRaw, aside?.handle)
      result = await gnuUnpack(tar, source, dest, checker, preserveOwner, options.filter, onFileDone)
    }
    step.done()
    sum.verify()
    if (aside && options.sha256) await aside.verify(options.sha256)
    if (threaded?.late) throw threaded.late
    return finishGnuUnpack(checker, dest, result)
  } finally {
    await aside?.close()
  }
}

async function finishGnuUnpack(checker: EntryChecker, dest: string, result: ExtractResult): Promise<ExtractResult> {
  const late = checker.finish()
  if (late[0]) throw late[0]
  if (!(await pathExists(dest))) throw new Error(`${dest} vanished during extraction`)
  return result
}

async function unpackWithNodeTar(
  file: string,
  dest: string,
  existingRoot: string | undefined,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const preserveOwner = options.preserveOwners ?? isRoot()
  const umask = process.umask()
  const checker = new EntryChecker(existingRoot, options.strip ?? 0, {outsideSymlinks: options.outsideSymlinks})
  const fix: Fixups = {dirs: [], files: [], symlinks: []}
  const result: ExtractResult = {entries: 0, bytes: 0}
  let refusal: UnsafeEntry | undefined
  let progress = 0
  const folders = new Set<string>()

  const admitted = new WeakSet<ReadEntry>()
  const admit = (entry: ReadEntry): boolean => {
    admitted.add(entry)
    if (refusal) return false
    let checked: ReturnType<EntryChecker['check']>
    try {
      checked = checker.check(entry, options.filter)
    } catch (error) {
      if (error instanceof UnsafeEntry) {
        refusal = error
        return false
      }
      throw error
    }
    if (!checked) return false
    if (options.filter && !options.filter(checked.path)) return false
    // A link now takes this path: the mode/owner/mtime fixups of what was here (or below it) must never be applied
    // through it (a chmod follows a symlink, e.g. one to /etc).
    if (entry.type === 'SymbolicLink' || entry.type === 'Link') forgetFixups(fix, checked.path)
    entry.path = checked.path
    if (entry.type === 'Link') entry.linkpath = checked.linkpath
    clearWay(dest, checked.path, entry.type, folders)
    // A GNU incremental archive's folder entry (its body lists the folder's names) is a folder to node-tar, except
    // where it meets a folder already there: UnpackSync then removes that folder, the target itself included (the
    // first entry of an incremental archive is '.'), and writes into nothing. As 'Directory' it is kept.
    if (entry.type === 'GNUDumpDir') entry.type = 'Directory'
    const mode = (entry.mode ?? 0) & 0o7777
    switch (entry.type) {
      case 'Directory':
        // node-tar forces u+rwx on directories so it can fill them: the real mode is put back afterwards
        if (entry.mode !== undefined) fix.dirs.push({path: checked.path, mode, mtime: entry.mtime})
        break
      case 'SymbolicLink':
        fix.symlinks.push({path: checked.path, uid: entry.uid ?? 0, gid: entry.gid ?? 0, mtime: entry.mtime})
        break
      case 'Link':
        break
      default:
        // open(2) applies the umask, and chown(2) clears setuid/setgid: such files get a chmod afterwards
        if ((mode & umask) !== 0 || (mode & 0o6000) !== 0) fix.files.push({path: checked.path, mode})
        result.bytes += entry.size ?? 0
        if (options.onProgress) {
          const size = entry.size ?? 0
          entry.on('end', () => {
            progress += size
            options.onProgress?.(progress)
          })
        }
    }
    result.entries++
    return true
  }

  // node-tar's synchronous Unpack: each entry's fs calls (mkdir of its folder, lstat, unlink, open, write, futimes,
  // fchown, close) are plain syscalls on this thread, not one thread-pool round trip each. 64k files of 2 KB: the
  // round trips' wake-ups were most of the ~26 s of system time. It writes entries strictly in order (no path
  // reservations to keep), and the event loop still turns between the blocks that feedTar hands it.
  const tarUnpack = new (nodeTar().UnpackSync)({
    cwd: dest,
    strict: true,
    preserveOwner,
    chmod: true,
    processUmask: umask,
    // replace existing files instead of rewriting them in place: an in-place rewrite keeps the old mode and owner,
    // and would change the content of every other hard link to them
    unlink: true,
    maxDepth: 4096,
    // node-tar's own path rules are off: the checker above is the one guard (no absolute path, no '..', no entry
    // below a symlink, no hard link through one, symlinks inside unless outsideSymlinks), and node-tar's rules differ
    // from it on names that are sound here. They read a name as Windows would ('c:foo' was written as 'foo', over the
    // archive's own 'foo'; 'a\..\b' failed as holding '..'), rewrote link texts ('c:x' became 'x'), and refused
    // a symlink whose target passes through another symlink (bin -> cur/bin, cur -> releases/2), after the entries
    // before it were written.
    preservePaths: true,
    filter: (_path, entry) => admit(entry as ReadEntry),
  })
  const unpack = acceptEmptyArchive(tarUnpack)
  // a type node-tar does not know (a GNU sparse file) is skipped before the filter: it refuses, as a missing file
  unpack.on('ignoredEntry', (entry: ReadEntry) => {
    if (!admitted.has(entry)) refusal ??= skippedEntry(entry)
  })
  const sum = checksum(file, options.sha256)
  // progress counts the archive's own (compressed) bytes read, so its size gives the ETA
  const step = stepProgress('extracting', {total: (await stat(file)).size})
  await feedTar(file, unpack, undefined, archiveTap(sum, step, progressOutput() !== 'off'))
  step.done()
  if (refusal) throw refusal
  sum.verify()
  const late = checker.finish()
  if (late[0]) throw late[0]

  for (const f of fix.files) if (await isNoLink(dest, f.path)) await chmod(join(dest, f.path), f.mode)
  for (const l of fix.symlinks) {
    const abs = join(dest, l.path)
    const parent = l.path.split('/').slice(0, -1).join('/')
    if (parent !== '' && !(await isNoLink(dest, parent))) continue
    if (preserveOwner) await lchown(abs, l.uid, l.gid).catch(() => {})
    if (l.mtime) await lutimes(abs, l.mtime, l.mtime).catch(() => {})
  }
  for (const d of fix.dirs) {
    const abs = join(dest, d.path)
    if (!(await isNoLink(dest, d.path))) continue
    await chmod(abs, d.mode)
    if (d.mtime) await utimes(abs, d.mtime, d.mtime)
  }
  if (!(await pathExists(dest))) throw new Error(`${dest} vanished during extraction`)
  return result
}
