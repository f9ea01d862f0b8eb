import type {Stats} from 'node:fs'
import {chmod, chown, copyFile, lchown, link, lstat, lutimes, mkdir, readlink, symlink, utimes} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {BkError, messageOf} from '../errors.js'
import {atomicDir} from '../safety/atomic.js'
import {pathExists, sameOrInside} from './paths.js'
import {walk} from './walk.js'

export interface CopyTreeOptions {
  /** Return true to leave a path (relative, '/'-separated) out; for a directory, its contents too. */
  skip?: (path: string, stat: Stats) => boolean
  /** chown copies to the source's owners (default: when running as root). */
  preserveOwners?: boolean
  /** A previous copy: unchanged regular files (same size and mtime) are hard-linked from it (rsync --link-dest). */
  hardlinkFrom?: string
  onProgress?: (bytesDone: number) => void
}

export interface CopyTreeResult {
  files: number
  bytes: number
  dirs: number
  symlinks: number
  /** Files hard-linked (from `hardlinkFrom` or because they were hard links in the source). */
  linked: number
  /** Sockets, fifos and device files, which are not copied. */
  skipped: string[]
}

const isRoot = () => process.getuid?.() === 0

/**
 * Copy a tree like `cp -a`: modes, mtimes (directories' set after their contents), owners when root, symlinks as
 * symlinks, hard links within the source kept, empty dirs kept. `dest` must not exist; the copy is built in a stage
 * beside it (safety's atomicDir) and renamed into place, so a failed or interrupted copy never stays behind.
 */
export async function copyTree(src: string, dest: string, options: CopyTreeOptions = {}): Promise<CopyTreeResult> {
  const srcAbs = resolve(src)
  const destAbs = resolve(dest)
  const srcStat = await lstat(srcAbs).catch(() => undefined)
  if (!srcStat?.isDirectory()) throw new BkError(`cannot copy ${src}: not a directory`)
  if (await pathExists(destAbs)) throw new BkError(`cannot copy to ${dest}: it already exists (choose a new name)`)
  if (await sameOrInside(destAbs, srcAbs)) throw new BkError(`cannot copy ${src} into itself (${dest})`)
  const owners = options.preserveOwners ?? isRoot()
  try {
    return await atomicDir(destAbs, (stage) => copyInto(srcAbs, srcStat, stage, owners, options))
  } catch (error) {
    if (error instanceof BkError) throw error
    throw new BkError(`copying ${src} to ${dest} failed: ${messageOf(error)}`, {cause: error})
  }
}

async function copyInto(
  srcAbs: string,
  srcStat: Stats,
  destAbs: string,
  owners: boolean,
  options: CopyTreeOptions,
): Promise<CopyTreeResult> {
  const result: CopyTreeResult = {files: 0, bytes: 0, dirs: 0, symlinks: 0, linked: 0, skipped: []}
  // directories get their final mode/mtime after their contents are written
  const dirs: {path: string; stat: Stats}[] = [{path: destAbs, stat: srcStat}]
  const inodes = new Map<string, string>() // dev:ino of multiply-linked source files -> first copy
  const skip = options.skip
  for await (const entry of walk(srcAbs, {filter: skip ? (p, s) => !skip(p, s) : undefined})) {
    const target = join(destAbs, entry.path)
    const st = entry.stat
    if (st.isDirectory()) {
      await mkdir(target, {mode: 0o700})
      dirs.push({path: target, stat: st})
      result.dirs++
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(entry.abs), target)
      if (owners) await lchown(target, st.uid, st.gid)
      await lutimes(target, st.atime, st.mtime)
      result.symlinks++
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`
      const first = st.nlink > 1 ? inodes.get(key) : undefined
      if (first) {
        await link(first, target)
        result.linked++
        result.files++
        continue
      }
      if (st.nlink > 1) inodes.set(key, target)
      if (options.hardlinkFrom && (await linkUnchanged(join(options.hardlinkFrom, entry.path), st, target))) {
        result.linked++
      } else {
        await copyFile(entry.abs, target)
        if (owners) await chown(target, st.uid, st.gid)
        // after chown, which clears setuid/setgid
        await chmod(target, st.mode & 0o7777)
        await utimes(target, st.atime, st.mtime)
        result.bytes += st.size
        options.onProgress?.(result.bytes)
      }
      result.files++
    } else {
      result.skipped.push(entry.path)
    }
  }
  // deepest first, so setting a parent's mtime is not undone by touching a child
  for (const dir of dirs.reverse()) {
    if (owners) await chown(dir.path, dir.stat.uid, dir.stat.gid)
    await chmod(dir.path, dir.stat.mode & 0o7777)
    await utimes(dir.path, dir.stat.atime, dir.stat.mtime)
  }
  return result
}

async function linkUnchanged(previous: string, st: Stats, target: string): Promise<boolean> {
  const prev = await lstat(previous).catch(() => undefined)
  // copies carry millisecond mtimes (utimes with a Date, through a float): same to within a millisecond
  if (!prev?.isFile() || prev.size !== st.size || Math.abs(prev.mtimeMs - st.mtimeMs) >= 1) return false
  // a hard link shares mode and owner: only reuse it when those match too, else the copy would lie about them
  if ((prev.mode & 0o7777) !== (st.mode & 0o7777) || prev.uid !== st.uid || prev.gid !== st.gid) return false
  await mkdir(dirname(target), {recursive: true})
  await link(previous, target)
  return true
}
