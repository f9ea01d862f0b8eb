/**
 * Output folders appear complete or not at all (core atomicDir); roundup-admin's habit of writing into an
 * existing empty directory is kept.
 */
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import {mkdir, rename, rm} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {fsyncPath, syncTree} from '@bkcli/core/fs'
import {atomicDir, onInterrupt, removeStalePartials} from '@bkcli/core/safety'

export function assertEmptyTarget(dest: string): void {
  if (!existsSync(dest)) return
  if (!statSync(dest).isDirectory()) throw new BkError(`${dest} exists and is not a directory; choose a new directory`)
  if (readdirSync(dest).length > 0) throw new BkError(`${dest} is not empty; choose a new or empty directory`)
}

export async function writeDirAtomically<T>(destArg: string, build: (stage: string) => Promise<T>): Promise<T> {
  const dest = resolve(destArg)
  assertEmptyTarget(dest)
  if (!existsSync(dest)) return atomicDir(dest, build)
  return intoEmptyDir(dest, build)
}

/**
 * atomicDir for a `dest` that is an existing empty folder: it stays as it is (empty) until the finished stage
 * replaces it, in one rename (rename(2) puts a directory onto an empty one), so a killed run leaves it in place.
 * The stage has atomicDir's name: the next run removes a dead run's stage the same way.
 */
async function intoEmptyDir<T>(dest: string, build: (stage: string) => Promise<T>): Promise<T> {
  const dir = dirname(dest)
  await removeStalePartials(dir, basename(dest))
  const stage = join(dir, `.${basename(dest)}.bk-partial-${process.pid}`)
  await rm(stage, {recursive: true, force: true})
  const unregister = onInterrupt(() => rmSync(stage, {recursive: true, force: true}), {sweep: true})
  try {
    await mkdir(stage, {mode: 0o755})
    const result = await build(stage)
    // the files' data too, not only the folder: a renamed stage must not hold empty files after a power cut
    await syncTree(stage)
    try {
      await rename(stage, dest)
    } catch (error) {
      const code = (error as {code?: string}).code
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR')
        throw new BkError(`${dest} is no longer an empty folder; the export was not put there`, {cause: error})
      throw error
    }
    await fsyncPath(dir)
    return result
  } catch (error) {
    await rm(stage, {recursive: true, force: true})
    throw error
  } finally {
    unregister()
  }
}
