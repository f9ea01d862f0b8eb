import {renameSync, rmSync} from 'node:fs'
import {chmod, lstat, mkdir, readdir, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '../errors.js'
import {fsyncPath, pathExists} from '../fs/paths.js'
import {onInterrupt} from './interrupt.js'
import {pidAlive} from './pid.js'

/** How a restore stages, swaps and keeps the previous state. */
export interface SafeRestoreOptions {
  /** What is replaced: a directory (default) or a file (`type: 'file'`). It need not exist yet. */
  target: string
  type?: 'dir' | 'file'
  /** Fill the stage (created empty for a dir; for a file: write a file at this path). Beside the target, so same file system. */
  stage: (stagePath: string) => Promise<void>
  /** Check the stage before anything live is touched; throw to abort (the target is left untouched). */
  verify?: (stagePath: string) => Promise<void>
  /** Runs after the swap with the new target in place (e.g. fix owners, integrity check); a throw rolls back. */
  afterSwap?: (target: string) => Promise<void>
  /** Keep the replaced copy as `<target>.old` (or `previousName`, a name beside the target); an existing one is replaced. */
  keepPrevious?: boolean
  previousName?: string
}

/** What a restore replaced and where the previous state was kept, if anywhere. */
export interface SafeRestoreResult {
  target: string
  /** Whether there was something to replace. */
  replaced: boolean
  /** Where the replaced copy was kept (keepPrevious only). */
  previous?: string
  /** Copies of earlier interrupted restores found beside the target and left for the user to look at. */
  leftovers: string[]
}

const stageName = (base: string, pid: number) => `.${base}.bk-restore-${pid}`
const prevName = (base: string, pid: number) => `${base}.bk-prev-${pid}`

/**
 * Before a new restore: remove stages of interrupted restores, and put back a previous copy that an
 * interrupted swap left while the target is missing. A previous copy beside an existing target is kept
 * (reported as a leftover): it may be the only copy of the old data.
 */
async function recoverInterrupted(dir: string, base: string, target: string): Promise<string[]> {
  const leftovers: string[] = []
  const stagePrefix = `.${base}.bk-restore-`
  const prevPrefix = `${base}.bk-prev-`
  for (const name of await readdir(dir)) {
    const isStage = name.startsWith(stagePrefix)
    const isPrev = name.startsWith(prevPrefix)
    if (!isStage && !isPrev) continue
    const pid = Number(name.slice(isStage ? stagePrefix.length : prevPrefix.length))
    if (!Number.isInteger(pid) || pid <= 0) continue
    if (pid !== process.pid && pidAlive(pid)) {
      throw new BkError(
        `another restore of ${target} seems to be running (pid ${pid}); wait for it or remove ${join(dir, name)} if it is gone`,
        {code: 'ELOCKED'},
      )
    }
    if (isStage) {
      await rm(join(dir, name), {recursive: true, force: true})
    } else if (!(await pathExists(target))) {
      renameSync(join(dir, name), target)
    } else {
      leftovers.push(join(dir, name))
    }
  }
  return leftovers
}

/**
 * Replace `target` safely: build the new copy in a stage beside it, verify it, swap by rename (target →
 * previous, stage → target), run `afterSwap`, then drop the previous copy (or keep it with keepPrevious).
 * Any failure before the swap leaves the target untouched; any failure after it puts the previous copy back,
 * byte for byte (it is the same inode). SIGINT/SIGTERM roll back the same way.
 * Callers hold the target's lock (withLock) for the whole operation.
 */
export async function safeRestore(options: SafeRestoreOptions): Promise<SafeRestoreResult> {
  const target = resolve(options.target)
  const dir = dirname(target)
  const base = basename(target)
  const type = options.type ?? 'dir'
  try {
    await stat(dir)
  } catch {
    throw new BkError(`cannot restore to ${target}: its parent folder ${dir} does not exist`, {code: 'ENOENT'})
  }
  const leftovers = await recoverInterrupted(dir, base, target)
  const stagePath = join(dir, stageName(base, process.pid))
  const prevPath = join(dir, prevName(base, process.pid))
  let state: 'staging' | 'moved' | 'swapped' | 'done' = 'staging'
  let hadTarget = false

  // Synchronous so that it can also run from a signal handler.
  const rollback = () => {
    if (state === 'swapped') {
      rmSync(stagePath, {recursive: true, force: true})
      renameSync(target, stagePath) // the new copy goes back to the stage name, then is removed
      state = 'moved'
    }
    if (state === 'moved') {
      if (hadTarget) renameSync(prevPath, target)
      state = 'staging'
    }
    rmSync(stagePath, {recursive: true, force: true})
  }
  const unregister = onInterrupt(rollback, {sweep: true})
  try {
    const existing = await lstat(target).catch(() => undefined)
    if (existing && existing.isDirectory() !== (type === 'dir')) {
      throw new BkError(
        `cannot restore ${target}: it is a ${existing.isDirectory() ? 'directory' : 'file'}, expected a ${type}`,
      )
    }
    await rm(stagePath, {recursive: true, force: true})
    if (type === 'dir') {
      await mkdir(stagePath, {mode: 0o700})
      await chmod(stagePath, existing ? existing.mode & 0o7777 : 0o755)
    }
    await options.stage(stagePath)
    if (!(await pathExists(stagePath)))
      throw new BkError(`restore of ${target} produced nothing; the target is untouched`)
    if (options.verify) await options.verify(stagePath)
    if (type === 'dir') await fsyncPath(stagePath)

    if (existing) {
      await rm(prevPath, {recursive: true, force: true})
      renameSync(target, prevPath)
      hadTarget = true
      state = 'moved'
    }
    renameSync(stagePath, target)
    state = 'swapped'
    await fsyncPath(dir)
    if (options.afterSwap) await options.afterSwap(target)

    let previous: string | undefined
    if (existing && (options.keepPrevious || options.previousName)) {
      previous = join(dir, options.previousName ?? `${base}.old`)
      await rm(previous, {recursive: true, force: true})
      renameSync(prevPath, previous)
      state = 'done'
    } else if (existing) {
      // Commit before the slow removal: a signal or error during it must not roll back onto a half-removed
      // previous copy. Under the stage name, what is left is removed by the cleanup or by the next restore.
      renameSync(prevPath, stagePath)
      state = 'done'
      await rm(stagePath, {recursive: true, force: true})
    }
    state = 'done'
    await fsyncPath(dir)
    return {target, replaced: Boolean(existing), previous, leftovers}
  } catch (error) {
    if (state !== 'done') rollback()
    throw error
  } finally {
    unregister()
  }
}
