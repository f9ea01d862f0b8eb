/**
 * Programs on PATH as execvp finds them: the first executable regular file of that name. A folder of that name (a
 * checkout called `tar`, a `zstd/` build folder) is passed over, as the kernel cannot run it.
 */
import {accessSync, constants, statSync} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import {delimiter, join} from 'node:path'

/** True when `path` is a regular file (symlinks followed) this process may execute. */
export async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** isExecutableFile, synchronously (for a spawn, which is synchronous itself). */
export function isExecutableFileSync(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The absolute path of `name` on `path` (default: PATH), or undefined. A name with a '/' is taken as it is. */
export async function whichProgram(name: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutableFile(name)) ? name : undefined
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    if (await isExecutableFile(candidate)) return candidate
  }
  return undefined
}

/** whichProgram, synchronously. */
export function whichProgramSync(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return isExecutableFileSync(name) ? name : undefined
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutableFileSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}
