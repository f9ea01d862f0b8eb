import {rmSync} from 'node:fs'
import {chmod, link, lstat, mkdir, open, readdir, rename, rm, unlink} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '../errors.js'
import {syncTree} from '../fs/fsync-tree.js'
import {fsyncPath, pathExists} from '../fs/paths.js'
import {errnoOf, randomTag} from './errno.js'
import {onInterrupt} from './interrupt.js'
import {pidAlive} from './pid.js'

/** File mode and whether an existing destination may be replaced. */
export interface AtomicFileOptions {
  /**
   * Mode of the new file (e.g. 0o600 for dumps and secrets). The temp file is then created (empty) with this mode
   * before `write` runs, so it is never more open: write into it with flags 'w' (not 'wx').
   */
  mode?: number
  /** Replace an existing `dest` (default false: an existing `dest` is a BkError, and a racing creator wins). */
  overwrite?: boolean
  /**
   * false: leave the folder's fsync (which makes the new name durable) to the caller, who writes several files into
   * one folder and fsyncs it once before its own commit point. The file's data is fsynced either way. Default true.
   */
  syncDir?: boolean
}

async function checkFolder(dir: string, dest: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined)
  if (!st?.isDirectory()) {
    throw new BkError(`cannot write ${dest}: the folder ${dir} does not exist; create it first`, {code: 'ENOENT'})
  }
}

function alreadyExists(dest: string): BkError {
  return new BkError(`${dest} already exists; remove it or choose another name`, {code: 'EEXIST'})
}

/**
 * Write `dest` so that it appears complete or not at all: `write(tmp)` fills a temp file beside `dest`
 * (`.<name>.bk-partial-<pid>-<tag>`), which is fsynced, renamed onto `dest`, and the directory fsynced.
 * The temp file is removed when `write` throws and on SIGINT/SIGTERM. Returns what `write` returned.
 */
export async function atomicFile<T>(
  dest: string,
  write: (tmpPath: string) => Promise<T>,
  options: AtomicFileOptions = {},
): Promise<T> {
  const target = resolve(dest)
  const dir = dirname(target)
  if (!options.overwrite && (await pathExists(target))) throw alreadyExists(dest)
  await checkFolder(dir, dest)
  const tmp = join(dir, `.${basename(target)}.bk-partial-${process.pid}-${randomTag()}`)
  const unregister = onInterrupt(() => rmSync(tmp, {force: true}), {sweep: true})
  try {
    if (options.mode !== undefined) {
      const handle = await open(tmp, 'wx', options.mode)
      await handle.close()
      await chmod(tmp, options.mode) // the umask may have narrowed it
    }
    const result = await write(tmp)
    let stat: Awaited<ReturnType<typeof lstat>>
    try {
      stat = await lstat(tmp)
    } catch {
      throw new BkError(`nothing was written for ${dest}`, {code: 'ENOWRITE'})
    }
    if (!stat.isFile()) throw new BkError(`${dest}: expected a file to be written, found something else`)
    if (options.mode !== undefined && (stat.mode & 0o7777) !== options.mode) await chmod(tmp, options.mode)
    await fsyncPath(tmp)
    if (options.overwrite) {
      await rename(tmp, target)
    } else {
      // link() fails if dest appeared meanwhile, so a concurrent writer is never silently replaced.
      try {
        await link(tmp, target)
      } catch (error) {
        if (errnoOf(error) === 'EEXIST') throw alreadyExists(dest)
        throw error
      }
      await unlink(tmp)
    }
    if (options.syncDir !== false) await fsyncPath(dir)
    return result
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  } finally {
    unregister()
  }
}

/** The mode of a directory made atomically. */
export interface AtomicDirOptions {
  /** Mode of the directory (default 0o755 less the umask; 0o700 for dirs holding secrets or dumps). */
  mode?: number
  /**
   * How the stage is made durable before the rename. Default: syncTree (one syncfs of its file system, best for
   * many small files, but it also waits for every other process's dirty data there). A caller that has fsynced its
   * big files already passes fsyncTree: one fsync per file and folder, none of them waiting for others' data.
   */
  flush?: (stage: string) => Promise<void>
  /**
   * `dest` may already be an empty folder (a tool's habit of writing into one, e.g. roundup-admin export): it stays
   * as it is, empty, until the finished stage replaces it in one rename (a directory renames onto an empty one), so
   * a killed run leaves it in place. Refused when it is not empty, at the start or by the time of the rename.
   */
  replaceEmpty?: boolean
}

const partialName = (base: string, pid: number | string) => `.${base}.bk-partial-${pid}`

/** Remove `.<base>.bk-partial-<pid>` stage dirs left by processes that are gone (same host). */
export async function removeStalePartials(dir: string, base: string): Promise<string[]> {
  const prefix = `.${base}.bk-partial-`
  const removed: string[] = []
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return removed
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue
    await rm(join(dir, name), {recursive: true, force: true})
    removed.push(join(dir, name))
  }
  return removed
}

/**
 * Build a directory so that `dest` appears complete or not at all: `build(stage)` fills
 * `.<name>.bk-partial-<pid>` beside `dest`, which is then renamed onto `dest` (which must not exist).
 * The stage is removed when `build` throws and on SIGINT/SIGTERM; stages of dead processes are removed first.
 */
export async function atomicDir<T>(
  dest: string,
  build: (stageDir: string) => Promise<T>,
  options: AtomicDirOptions = {},
): Promise<T> {
  const target = resolve(dest)
  const dir = dirname(target)
  const base = basename(target)
  const replaceable = async () => options.replaceEmpty === true && (await readdir(target)).length === 0
  if ((await pathExists(target)) && !(await replaceable().catch(() => false))) throw alreadyExists(dest)
  await checkFolder(dir, dest)
  await removeStalePartials(dir, base)
  const stage = join(dir, partialName(base, process.pid))
  await rm(stage, {recursive: true, force: true})
  const unregister = onInterrupt(() => rmSync(stage, {recursive: true, force: true}), {sweep: true})
  try {
    await mkdir(stage, {mode: options.mode ?? 0o755})
    if (options.mode !== undefined) await chmod(stage, options.mode)
    const result = await build(stage)
    // the files' data too, not only the folder: a renamed stage must not hold empty files after a power cut
    await (options.flush ?? syncTree)(stage)
    if (!options.replaceEmpty && (await pathExists(target))) throw alreadyExists(dest)
    await rename(stage, target).catch((error: unknown) => {
      const code = errnoOf(error)
      if (options.replaceEmpty && (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR'))
        throw new BkError(`${dest} is no longer an empty folder; nothing was put there (run again into an empty one)`, {
          cause: error,
        })
      throw error
    })
    await fsyncPath(dir)
    return result
  } catch (error) {
    // a failed build may still have writes of its own under way (node-tar making the entries before a corrupt
    // header): a removal that meets a folder filled meanwhile (ENOTEMPTY) tries again, so neither the stage stays
    // nor its failure hides the build's
    await rm(stage, {recursive: true, force: true, maxRetries: 10, retryDelay: 20})
    throw error
  } finally {
    unregister()
  }
}
