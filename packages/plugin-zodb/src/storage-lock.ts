// Is the filestorage in use? ZODB's writable opener (Zope, ZEO) holds `Data.fs.lock` with zc.lockfile, which
// takes flock(LOCK_EX|LOCK_NB) and writes " <pid>\n"; the file stays on disk after release, so only a held
// flock means "in use". The pid written in the file is not evidence: it may be a pid of another namespace (a
// Zope in a container writes "1") or a reused one. Who really holds the flock is read from /proc/locks (by the
// file's inode); that is also how `plan()` checks without touching anything. For the restore itself bk takes
// the flock through util-linux `flock -n` (core's process runner) and keeps it for the whole run, so Zope cannot
// start half-way; without flock(1) it falls back to /proc/locks alone.
import {readFileSync} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {PassThrough} from 'node:stream'
import {BkError} from '@bkcli/core/errors'
import {startTool} from '@bkcli/core/process'
import {pidAlive} from '@bkcli/core/safety'

const CONFLICT = 75

export interface StorageLock {
  /** how the state was determined */
  method: 'flock' | 'proc' | 'absent'
  release(): Promise<void>
}

export function lockPathOf(datafs: string): string {
  return `${datafs}.lock`
}

/** The pids holding a flock/POSIX lock on `path` (from /proc/locks), or undefined when that cannot be read. */
export async function lockHolders(path: string): Promise<number[] | undefined> {
  let inode: number
  let text: string
  try {
    inode = (await stat(path)).ino
    text = await readFile('/proc/locks', 'utf8')
  } catch {
    return undefined
  }
  const pids = new Set<number>()
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF" (blocked waiters are "1: -> FLOCK …": not holders)
    const f = line.trim().split(/\s+/)
    if (f[1] === '->' || f.length < 6) continue
    const ino = Number(f[5]?.split(':')[2])
    if (ino === inode && Number(f[4]) > 0) pids.add(Number(f[4]))
  }
  return [...pids]
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

async function pidInFile(lockPath: string): Promise<number | undefined> {
  const m = /\d+/.exec(await readFile(lockPath, 'utf8').catch(() => ''))
  return m ? Number(m[0]) : undefined
}

/** The refusal, naming the real holder: its pid and program, or saying it is unknown. */
async function lockedError(datafs: string, lockPath: string, holders: number[] | undefined): Promise<BkError> {
  const alive = (holders ?? []).filter((pid) => pid !== process.pid && pidAlive(pid))
  let who: string
  if (alive.length > 0) {
    who = alive.map((pid) => `pid ${pid}${commandOf(pid) ? ` (${commandOf(pid)})` : ''}`).join(', ')
  } else {
    const written = await pidInFile(lockPath)
    who = `a process bk cannot identify (the file exists and is locked${written === undefined ? '' : `; it names pid ${written}, possibly of another pid namespace`})`
  }
  return new BkError(`${datafs} is in use: ${lockPath} is held by ${who}; stop Zope/ZEO first, or pass --ignore-lock`, {
    code: 'ELOCKED',
  })
}

/** Read-only check (for plan()): throws the refusal a real run would give when a process holds the lock. */
export async function checkStorageLock(datafs: string): Promise<void> {
  const lockPath = lockPathOf(datafs)
  const holders = await lockHolders(lockPath)
  if (holders && holders.length > 0) throw await lockedError(datafs, lockPath, holders)
}

/**
 * Takes the filestorage's own lock for the duration of a restore, or throws a BkError naming the process that
 * holds it. When no lock file exists nobody can hold it and none is created (core's target lock keeps other bk
 * runs out).
 */
export async function holdStorageLock(datafs: string): Promise<StorageLock> {
  const lockPath = lockPathOf(datafs)
  try {
    await stat(lockPath)
  } catch {
    return {method: 'absent', release: async () => {}}
  }
  const viaFlock = await tryFlock(lockPath)
  if (viaFlock === 'held') throw await lockedError(datafs, lockPath, await lockHolders(lockPath))
  if (viaFlock) return viaFlock
  await checkStorageLock(datafs)
  return {method: 'proc', release: async () => {}}
}

/** 'held' = someone else has it; a StorageLock = we have it; undefined = flock(1) is not available. */
async function tryFlock(lockPath: string): Promise<StorageLock | 'held' | undefined> {
  const stdin = new PassThrough()
  const {child, done} = await startTool(
    'flock',
    ['--nonblock', '--conflict-exit-code', String(CONFLICT), lockPath, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    {input: stdin, okExitCodes: [0, CONFLICT], label: 'flock'},
  )
  const settled = done.then(
    (r) => r,
    () => undefined,
  )
  const locked = new Promise<boolean>((resolve) => {
    child.stdout?.once('data', () => resolve(true))
    settled.then(() => resolve(false))
  })
  if (await locked) {
    return {
      method: 'flock',
      release: async () => {
        stdin.end()
        await settled
      },
    }
  }
  stdin.end()
  const result = await settled
  return result?.exitCode === CONFLICT ? 'held' : undefined
}
