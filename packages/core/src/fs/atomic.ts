import {rmSync} from 'node:fs'
import {rename, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {registerCleanup} from './cleanup.js'
import {fsyncDir, fsyncPath} from './paths.js'

/**
 * Private stand-in for safety's atomicFile (for small files written whole): temp beside `dest`, fsync, rename,
 * fsync the directory; the temp file is removed on failure and on SIGINT/SIGTERM.
 */
export async function writeFileAtomic(dest: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.partial-${process.pid}`)
  const unregister = registerCleanup(() => rmSync(tmp, {force: true}))
  try {
    await writeFile(tmp, data, {mode, flag: 'w'})
    await fsyncPath(tmp)
    await rename(tmp, dest)
    await fsyncDir(dirname(dest))
  } catch (error) {
    rmSync(tmp, {force: true})
    throw error
  } finally {
    unregister()
  }
}
