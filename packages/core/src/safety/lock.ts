import {readFileSync, unlinkSync} from 'node:fs'
import {link, readFile, unlink, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {BkError, messageOf} from '../errors.js'
import {errnoOf, randomTag} from './errno.js'
import {onInterrupt} from './interrupt.js'
import {pidAlive} from './pid.js'

/** What a lock file holds (JSON). */
export interface LockInfo {
  pid: number
  host: string
  operation: string
  /** UTC ISO-8601 */
  started: string
  /** Linux boot id: a lock from before a reboot is stale whatever its pid. */
  boot?: string
  /** Unique per acquisition, so release() never removes someone else's lock. */
  token: string
}

/** A held lock file; release it when done. */
export interface Lock {
  readonly path: string
  readonly resource: string
  readonly info: LockInfo
  release(): Promise<void>
}

/** What a lock is taken for (named to whoever is refused) and where its file goes. */
export interface LockOptions {
  /** What is running, shown to whoever finds the lock: 'bk trac hotcopy'. */
  operation: string
  /** Where the lock file goes (default: beside the resource, see lockPathFor). */
  path?: string
}

/** `.<name>.bk-lock` beside the protected resource. */
export function lockPathFor(resource: string): string {
  const abs = resolve(resource)
  return join(dirname(abs), `.${basename(abs)}.bk-lock`)
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return undefined
  }
}

async function readInfo(path: string): Promise<LockInfo | undefined | 'missing'> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return 'missing'
    throw error
  }
  try {
    const info = JSON.parse(text) as LockInfo
    return typeof info.pid === 'number' && typeof info.host === 'string' ? info : undefined
  } catch {
    return undefined
  }
}

/** A holder is stale when it ran on this host and its process is gone (or the host rebooted since). */
function isStale(info: LockInfo, host: string, boot: string | undefined): boolean {
  if (info.host !== host) return false
  if (boot && info.boot && info.boot !== boot) return true
  return info.pid !== process.pid && !pidAlive(info.pid)
}

function lockedError(resource: string, path: string, info: LockInfo | undefined, host: string): BkError {
  if (!info) {
    return new BkError(
      `${resource} is locked (${path} is unreadable); wait for the other run or remove ${path} if no bk is running`,
      {code: 'ELOCKED'},
    )
  }
  const where = info.host === host ? '' : ` on ${info.host}`
  return new BkError(
    `${resource} is locked by pid ${info.pid}${where} (${info.operation}, since ${info.started}); ` +
      `wait for it or remove ${path} if that process is gone`,
    {code: 'ELOCKED'},
  )
}

/** Create `path` holding `text` atomically and exclusively: written to a temp name, then hard-linked (fails if it exists). */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}-${randomTag()}`
  await writeFile(tmp, text, {mode: 0o644, flag: 'wx'})
  try {
    await link(tmp, path)
    return true
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false
    throw error
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/**
 * Replace a stale lock without racing another taker: only the holder of `<lock>.takeover` may remove it,
 * and it re-reads the lock first to be sure it is still the stale one it saw.
 */
async function takeOver(path: string, stale: LockInfo, host: string, boot: string | undefined): Promise<boolean> {
  const guard = `${path}.takeover`
  const guardText = JSON.stringify({pid: process.pid, host, boot, token: randomTag()})
  if (!(await createExclusive(guard, guardText))) {
    const holder = await readInfo(guard)
    if (holder === 'missing') return false
    // A taker that died holding the guard: remove its guard, then retry from the start.
    if (holder === undefined || isStale(holder as LockInfo, host, boot)) await unlink(guard).catch(() => {})
    return false
  }
  try {
    const now = await readInfo(path)
    if (now === 'missing') return false
    if (now && now.token === stale.token && now.pid === stale.pid) await unlink(path).catch(() => {})
    return false
  } finally {
    await unlink(guard).catch(() => {})
  }
}

/**
 * Take the lock of `resource` (a path) or fail fast with a BkError naming the holder. A lock left by a dead
 * process on this host is taken over. The lock is released by `release()`, and on SIGINT/SIGTERM.
 */
export async function acquireLock(resource: string, options: LockOptions): Promise<Lock> {
  const abs = resolve(resource)
  const path = options.path ?? lockPathFor(abs)
  const host = hostname()
  const boot = bootId()
  const info: LockInfo = {
    pid: process.pid,
    host,
    operation: options.operation,
    started: new Date().toISOString(),
    boot,
    token: `${process.pid}-${Date.now()}-${randomTag()}`,
  }
  const text = `${JSON.stringify(info, null, 2)}\n`
  for (let attempt = 0; attempt < 50; attempt++) {
    let created: boolean
    try {
      created = await createExclusive(path, text)
    } catch (error) {
      throw lockCreateError(abs, path, error)
    }
    if (created) return makeLock(abs, path, info)
    const holder = await readInfo(path)
    if (holder === 'missing') continue // released meanwhile: try again
    if (holder === undefined || !isStale(holder, host, boot)) throw lockedError(abs, path, holder, host)
    await takeOver(path, holder, host, boot)
    await sleep(5 + Math.random() * 20)
  }
  throw new BkError(`could not take the lock ${path} (too much contention); try again`, {code: 'ELOCKED'})
}

/** Why the lock file could not be written, and what to do about it (one line). */
function lockCreateError(resource: string, path: string, error: unknown): BkError {
  const dir = dirname(path)
  const code = errnoOf(error)
  const why =
    code === 'ENOENT'
      ? `the folder ${dir} does not exist; check the path`
      : code === 'EACCES' || code === 'EPERM'
        ? `no permission to create ${path}; run bk as a user who may write in ${dir}`
        : code === 'EROFS'
          ? `${dir} is on a read-only file system, where bk cannot keep its lock; remount it read-write`
          : `cannot create ${path}: ${messageOf(error)}`
  return new BkError(`cannot lock ${resource}: ${why}`, {code: 'ELOCK', cause: error})
}

function makeLock(resource: string, path: string, info: LockInfo): Lock {
  let released = false
  const removeIfOurs = () => {
    try {
      const now = JSON.parse(readFileSync(path, 'utf8')) as LockInfo
      if (now.token === info.token) unlinkSync(path)
    } catch {
      // gone already, or unreadable: not ours to remove
    }
  }
  const unregister = onInterrupt(removeIfOurs)
  return {
    path,
    resource,
    info,
    async release() {
      if (released) return
      released = true
      unregister()
      removeIfOurs()
    },
  }
}

/** Run `fn` holding the lock of `resource`; the lock is released however `fn` ends. */
export async function withLock<T>(resource: string, operation: string, fn: (lock: Lock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(resource, {operation})
  try {
    return await fn(lock)
  } finally {
    await lock.release()
  }
}
