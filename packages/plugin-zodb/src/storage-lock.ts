// Is the filestorage in use? ZODB's writable opener (Zope, ZEO) holds `Data.fs.lock` with zc.lockfile, which
// takes flock(LOCK_EX|LOCK_NB) and writes " <pid>\n"; the file stays on disk after release, so only a held
// flock means "in use". Node has no flock(2), so bk runs util-linux `flock -n` on the file: it either gets the
// lock (nobody holds it) and keeps it, through a child process, for the whole restore — so Zope cannot start
// half-way — or exits with a conflict code (Zope/ZEO is running). Without flock(1), bk falls back to the pid
// written in the file: held if that process is alive (a reused pid can give a false "locked"; never a false
// "free" while the writer that wrote it lives).
import {spawn} from 'node:child_process'
import {readFile, stat} from 'node:fs/promises'
import {BkError} from '@bkcli/core'

const CONFLICT = 75

export interface StorageLock {
  /** how the state was determined */
  method: 'flock' | 'pid' | 'absent'
  release(): Promise<void>
}

export function lockPathOf(datafs: string): string {
  return `${datafs}.lock`
}

/**
 * Takes the filestorage's own lock for the duration of a restore, or throws a BkError when a running process
 * holds it. When no lock file exists nobody can hold it and none is created.
 */
export async function holdStorageLock(datafs: string): Promise<StorageLock> {
  const lockPath = lockPathOf(datafs)
  try {
    await stat(lockPath)
  } catch {
    return {method: 'absent', release: async () => {}}
  }
  const viaFlock = await tryFlock(lockPath)
  if (viaFlock === 'held') {
    // the pid written in the file names the holder only if it is still alive
    const pid = await pidIn(lockPath)
    throw lockedError(datafs, lockPath, pid !== undefined && pidAlive(pid) ? pid : undefined)
  }
  if (viaFlock) return viaFlock
  const pid = await pidIn(lockPath)
  if (pid !== undefined && pidAlive(pid)) throw lockedError(datafs, lockPath, pid)
  return {method: 'pid', release: async () => {}}
}

function lockedError(datafs: string, lockPath: string, pid: number | undefined): BkError {
  const who = pid === undefined ? 'a running process' : `pid ${pid}`
  return new BkError(
    `${datafs} is in use: ${lockPath} is held by ${who} (Zope/ZEO running?); stop it first, or pass --ignore-lock`,
    {code: 'ELOCKED'},
  )
}

async function pidIn(lockPath: string): Promise<number | undefined> {
  try {
    const m = /\d+/.exec(await readFile(lockPath, 'utf8'))
    return m ? Number(m[0]) : undefined
  } catch {
    return undefined
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** 'held' = someone else has it; a StorageLock = we have it; undefined = flock(1) is not available. */
function tryFlock(lockPath: string): Promise<StorageLock | 'held' | undefined> {
  return new Promise((resolve) => {
    const child = spawn(
      'flock',
      [
        '--nonblock',
        '--conflict-exit-code',
        String(CONFLICT),
        lockPath,
        'sh',
        '-c',
        'echo locked; exec cat >/dev/null',
      ],
      {stdio: ['pipe', 'pipe', 'ignore']},
    )
    let settled = false
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    child.once('error', () => {
      if (!settled) {
        settled = true
        resolve(undefined)
      }
    })
    child.stdout.once('data', () => {
      if (settled) return
      settled = true
      resolve({
        method: 'flock',
        release: async () => {
          child.stdin.end()
          await exited
        },
      })
    })
    child.once('exit', (code) => {
      if (settled) return
      settled = true
      resolve(code === CONFLICT ? 'held' : undefined)
    })
  })
}
