import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {chmod, mkdir, realpath} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {acquireLock, type Lock} from '../safety/lock.js'

/**
 * Locks of targets and locations live in one machine-wide runtime folder, keyed by the target's real path, not
 * beside the target: a read-only source (a file-system snapshot) can be backed up, and two spellings of one
 * path (a symlink, `..`) meet on the same lock. `BK_LOCK_DIR` moves it (tests, containers).
 */
export function lockDir(): string {
  if (process.env.BK_LOCK_DIR) return process.env.BK_LOCK_DIR
  return existsSync('/run/lock') ? '/run/lock/bk' : join(tmpdir(), 'bk-locks')
}

/** The real path of `target`, or of its nearest existing parent plus the rest (a restore target may not exist yet). */
async function canonical(target: string): Promise<string> {
  const abs = resolve(target)
  try {
    return await realpath(abs)
  } catch {
    const parent = dirname(abs)
    return parent === abs ? abs : join(await canonical(parent), basename(abs))
  }
}

/** The lock file of a target in the machine-wide lock folder (keyed by the target's real path). */
export async function targetLockPath(target: string): Promise<string> {
  const real = await canonical(target)
  const key = createHash('sha256').update(real).digest('hex').slice(0, 16)
  return join(lockDir(), `${basename(real) || 'root'}-${key}.lock`)
}

async function ensureLockDir(): Promise<void> {
  const dir = lockDir()
  if (existsSync(dir)) return
  await mkdir(dir, {recursive: true})
  // Every user's bk meets here (sticky, like /tmp): a user's backup must see root's restore of the same target.
  await chmod(dir, 0o1777).catch(() => {})
}

/**
 * Lock every target for one operation, in a fixed order (two runs locking the same pair cannot deadlock).
 * Fails fast naming the other bk command and its pid. Released by the returned function and on signals.
 */
export async function lockTargets(targets: string[], operation: string): Promise<() => Promise<void>> {
  await ensureLockDir()
  const unique = [...new Set(await Promise.all(targets.map(canonical)))].sort()
  const held: Lock[] = []
  try {
    for (const target of unique) {
      held.push(await acquireLock(target, {operation, path: await targetLockPath(target)}))
    }
  } catch (error) {
    for (const lock of held.reverse()) await lock.release()
    throw error
  }
  return async () => {
    for (const lock of held.reverse()) await lock.release()
  }
}
