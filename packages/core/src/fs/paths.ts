import {constants} from 'node:fs'
import {access, lstat, open, opendir, realpath} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve, sep} from 'node:path'
import {walk} from './walk.js'

/** True when something (anything, even a dangling symlink) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** True when `path` is a directory with no entries. False when it is missing or not a directory. */
export async function isEmptyDir(path: string): Promise<boolean> {
  try {
    const dir = await opendir(path)
    try {
      return (await dir.read()) === null
    } finally {
      await dir.close()
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw error
  }
}

/** fsync a file (or directory) so its data survives a crash. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY)
  try {
    await handle.sync()
  } catch (error) {
    // some file systems refuse fsync on directories (EINVAL): durability is then the kernel's business
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
  } finally {
    await handle.close()
  }
}

/** fsync a directory, making renames and creations inside it durable. */
export function fsyncDir(dir: string): Promise<void> {
  return fsyncPath(dir)
}

/** Absolute path with symlinks resolved for the part of it that exists (the rest appended as is). */
export async function resolveReal(path: string): Promise<string> {
  const abs = resolve(path)
  try {
    return await realpath(abs)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    const parent = dirname(abs)
    if (parent === abs) return abs
    return join(await resolveReal(parent), basename(abs))
  }
}

/** True when `a` is `b` or lies inside it (compared after resolving symlinks where the paths exist). */
export async function sameOrInside(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([resolveReal(a), resolveReal(b)])
  return isInside(ra, rb)
}

/** Lexical check on absolute, normalised paths. */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel))
}

/** Apparent size in bytes of the regular files under `path` (or of `path` itself when it is a file). */
export async function dirSize(path: string): Promise<number> {
  const st = await lstat(path)
  if (!st.isDirectory()) return st.isFile() ? st.size : 0
  let bytes = 0
  // a size: a name that is not UTF-8 is left out, not refused
  for await (const entry of walk(path, {notUtf8: 'skip'})) if (entry.stat.isFile()) bytes += entry.stat.size
  return bytes
}

/** True when the file can be read (used before spawning tools on it). */
export async function isReadable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK)
    return true
  } catch {
    return false
  }
}
