/**
 * A copy of a live file (one another process may be rewriting) that cannot hang.
 *
 * Node's copyFile (libuv) takes the source's size when it opens it and calls copy_file_range until that many bytes
 * are sent. When the source shrinks meanwhile (logrotate copytruncate, SQLite VACUUM, an app rewriting a file), the
 * kernel returns 0 at the new end for ever: a thread-pool thread spins a core, the request never completes, and the
 * process can neither finish nor exit (exit joins the pool's threads).
 *
 * {@link copyLiveFile} keeps copyFile (reflinks, the kernel's in-kernel copy: a userspace copy costs 1.4–2× the CPU
 * of copy_file_range) and watches a copy that is still running after {@link POLL_MS}: when the copy has reached
 * the source's current end and has not moved for {@link STILL_POLLS} polls, and the source is smaller than it was
 * (see {@link copyLooksStuck}), it is stuck. The stuck thread is ended
 * from our side, never the user's file and never an fd we did not open: the process's file-size limit
 * (RLIMIT_FSIZE, soft, through util-linux prlimit) is lowered to the copy's position for the moment it takes
 * copy_file_range to fail with EFBIG, then restored; libuv then removes its partial copy. The file is then copied
 * again in userspace up to the source's real end. Across file systems (source and destination folder on different
 * devices) the kernel refuses copy_file_range and libuv falls back to sendfile, which ignores the limit at the
 * source's end: such copies are made in userspace from the start (no reflink or in-kernel copy is possible there).
 *
 * The watcher looks at the source through an fd of its own on the file being copied (found by its device and inode,
 * by path or among this process's open files), so a source renamed away or replaced by another file and then cut
 * short is still seen.
 *
 * Limits: without prlimit (util-linux) the copy fails with a one-line error after
 * {@link RELEASE_MS}, but its thread keeps spinning and the process cannot exit; writes of this process past the stuck
 * copy's position during the few milliseconds the limit is low fail with EFBIG (loudly, in their callers; copies made
 * by copyLiveFile itself are then made again in userspace, as often as windows hit them, up to a bound).
 */
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  closeSync,
  constants,
  copyFile as copyFileCb,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  type Stats,
  statSync,
} from 'node:fs'
import {open, rm} from 'node:fs/promises'
import {dirname} from 'node:path'
import {messageOf} from '../errors.js'
import {sha256File} from './hash.js'
import {writeAll} from './write-all.js'

/** How often (ms) a running copy is checked for being stuck at the source's end. */
const POLL_MS = 100

/** Polls in a row with the copy at the source's end and not moving, the source smaller than it was: stuck. */
const STILL_POLLS = 3

/**
 * Polls in a row at the source's end, the source never seen smaller than at the start, after which the copy is
 * taken for stuck all the same (a source that grew before libuv took its size and shrank back before the first
 * poll). A finished copy looks the same until libuv reports it, which a loaded machine can delay for several polls:
 * taken for stuck, its limit window failed other writes of the process with EFBIG.
 */
const STILL_POLLS_UNSHRUNK = 100

/** How long (ms) a stuck copy is given to fail once the file-size limit is lowered. */
const RELEASE_MS = 2000

/** Block size of the userspace copy of a file that shrank. */
const BLOCK = 1024 * 1024

/**
 * The largest file a stoppable copy (copyStoppable) leaves to the kernel's copy in one call: at a slow disk's 10 MB/s,
 * a stop waits under a second for it. The kernel's copy costs less CPU than reads and writes (1.4-2x), so files up to
 * this size, the most of a tree's, keep it.
 */
const STOPPABLE_WHOLE = 8 * 1024 * 1024

/**
 * Attempts of a userspace copy failed with EFBIG by limit windows opened for stuck copies while it ran. Each stuck
 * copy opens one window (a few tries on a busy machine): a follower copies 8 files at a time, so a long copy may see
 * several; past this many, the EFBIG is reported.
 */
const USERSPACE_ATTEMPTS = 8

/** Testing: the poll interval in ms (default {@link POLL_MS}). */
let pollMs = POLL_MS
export function setCopyPollMs(ms: number | undefined): void {
  pollMs = ms ?? POLL_MS
  clearInterval(watcher)
  watcher = undefined
}

/** Testing: how many times the file-size limit was lowered so far (see {@link release}). */
export function copyWindowsOpened(): number {
  return windowsOpened
}

/** A one-line error naming the file, with the errno code kept (callers test ENOENT, EEXIST). */
function copyError(src: string, dest: string, why: string, code?: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`copying ${src} to ${dest} failed: ${why}`)
  if (code) error.code = code
  return error
}

/**
 * Copies `src` to `dest` like fs.promises.copyFile (`mode`: its COPYFILE_* flags; the copy gets the source's mode
 * bits), but never hangs when the source shrinks during the copy: the copy then ends at the source's real end.
 * Returns the copy's size, which is then less than the source's size at any earlier stat: callers record it (or
 * compare it with the size they walked) rather than assume the file is whole.
 */
export function copyLiveFile(src: string, dest: string, mode = 0): Promise<number> {
  // across file systems the kernel refuses copy_file_range (EXDEV) and libuv uses sendfile, which returns 0 at the
  // source's end without checking the file-size limit: a stuck copy there could not be ended, so it is not started
  const from = statOrNot(src)
  if ((mode & constants.COPYFILE_FICLONE_FORCE) === 0 && !sameFileSystem(from, dest)) {
    return userspaceCopy(src, dest, mode & constants.COPYFILE_EXCL ? constants.O_EXCL : constants.O_TRUNC)
  }
  // callbacks rather than promises and a race: this runs for each of thousands of small files
  return new Promise((resolve, reject) => {
    const running: Running = {
      src,
      dest,
      dev: from?.dev ?? -1,
      ino: from?.ino ?? -1,
      since: performance.now(),
      last: -1,
      still: 0,
      largest: from?.size ?? -1,
      windows: windowsOpened,
    }
    running.stuck = () => {
      redo(running).then(resolve, reject)
    }
    watch(running)
    copyFileCb(src, dest, mode, (error) => {
      if (running.ended) {
        // stuck and given up: redo() waits for this end
        running.ended(error)
        return
      }
      unwatch(running)
      if (error?.code === 'EFBIG' && windowsOpened !== running.windows) {
        // failed by the limit lowered for another, stuck copy while this one ran (libuv removed its partial copy):
        // not this file's fault, it is copied again
        userspaceCopy(src, dest, mode & constants.COPYFILE_EXCL ? constants.O_EXCL : constants.O_TRUNC).then(
          resolve,
          reject,
        )
      } else if (error?.code === 'EFBIG') reject(tooBig(src, dest))
      else if (error) reject(error)
      else {
        try {
          resolve(statSync(dest).size)
        } catch (e) {
          reject(e)
        }
      }
    })
  })
}

/**
 * Whether the source (`from`: its stat) and the folder of `dest` are on one file system (same st_dev), where
 * copy_file_range works and checks the file-size limit. A path that cannot be stat'ed counts as the same: copyFile
 * then reports it, with its code.
 */
function sameFileSystem(from: Stats | undefined, dest: string): boolean {
  const to = statOrNot(dirname(dest))
  return !from || !to || from.dev === to.dev
}

/** The one-line error of a copy failed by the file-size limit the process was given (not one of our windows). */
function tooBig(src: string, dest: string): NodeJS.ErrnoException {
  return copyError(src, dest, "the copy would pass this process's file-size limit (ulimit -f): raise it", 'EFBIG')
}

/** A copy in the thread pool, as the watcher sees it. */
interface Running {
  src: string
  dest: string
  /** The source's device and inode when the copy started (-1: not known). */
  dev: number
  ino: number
  /** Our own fd on the file being copied (opened at the first poll), or null when it could not be found. */
  fd?: number | null
  /** performance.now() at its start: copies younger than a poll are not looked at. */
  since: number
  /** The copy's size at the last poll (-1: not known). */
  last: number
  /** Polls in a row at the source's end without moving. */
  still: number
  /** The largest size the source was seen with (at the start, at each poll; -1: not known). */
  largest: number
  /** Set by the watcher when the copy is stuck. */
  stuck?: () => void
  /** {@link windowsOpened} at its start: a later EFBIG may be the limit lowered for another copy. */
  windows: number
  /** Set by redo(): takes the end of the given-up copy. */
  ended?: (error: NodeJS.ErrnoException | null) => void
}

/** How many times the file-size limit was lowered (each a window where any write past its position fails). */
let windowsOpened = 0

/** The copies in flight, and the one timer that polls them (only while there are any: then unreferenced). */
const inFlight = new Set<Running>()
let watcher: NodeJS.Timeout | undefined

function watch(running: Running): void {
  inFlight.add(running)
  if (watcher) return
  watcher = setInterval(poll, pollMs)
  watcher.unref()
}

function unwatch(running: Running): void {
  inFlight.delete(running)
  closeWatchFd(running)
}

function closeWatchFd(running: Running): void {
  if (typeof running.fd === 'number') closeSync(running.fd)
  running.fd = null
}

/**
 * An fd of our own on the file `running` copies: by its path when that still names the same inode, else through
 * the descriptor libuv's copy holds (/proc/self/fd), which follows the file wherever it was renamed. null when
 * neither is found (the source is then stat'ed by path).
 */
function openWatchFd(running: Running): number | null {
  if (running.ino < 0) return null
  const same = (fd: number) => {
    const st = fstatSync(fd)
    return st.dev === running.dev && st.ino === running.ino
  }
  const candidates = [running.src]
  try {
    for (const fd of readdirSync('/proc/self/fd')) candidates.push(`/proc/self/fd/${fd}`)
  } catch {}
  for (const path of candidates) {
    // stat first: only the file itself is opened, never another of this process's descriptors (a pipe, a device)
    const st = statOrNot(path)
    if (!st || st.dev !== running.dev || st.ino !== running.ino) continue
    let fd: number | undefined
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
      if (same(fd)) return fd
    } catch {}
    if (fd !== undefined) closeSync(fd)
  }
  return null
}

function poll(): void {
  if (inFlight.size === 0) {
    clearInterval(watcher)
    watcher = undefined
    return
  }
  const now = performance.now()
  for (const r of inFlight) {
    if (now - r.since < pollMs) continue
    // a path that no longer resolves (ELOOP, EACCES on a folder changed meanwhile) is not a stuck copy; thrown here,
    // in a timer, it would end the process while the copy (on its open fds) goes on
    if (r.fd === undefined) r.fd = openWatchFd(r)
    const s = r.fd === null ? statOrNot(r.src) : fstatSync(r.fd)
    if (copyLooksStuck(r, s?.size, statOrNot(r.dest)?.size)) {
      inFlight.delete(r) // its fd stays open: redo() copies the file through it, wherever it was renamed
      r.stuck?.()
    }
  }
}

/**
 * One poll of a running copy (updates `r`): stuck when it is at (or past) the source's end and has not moved for
 * {@link STILL_POLLS} polls (copy_file_range returns 0 for ever) and the source is smaller than it was seen before:
 * only a source cut short leaves libuv short of the size it took. A copy at the end of a source that never shrank
 * is a finished copy not yet reported, given {@link STILL_POLLS_UNSHRUNK} polls. Exported for its test.
 */
export function copyLooksStuck(
  r: {still: number; last: number; largest: number},
  source: number | undefined,
  dest: number | undefined,
): boolean {
  if (source !== undefined && dest !== undefined && dest >= source && dest === r.last) r.still++
  else r.still = 0
  r.last = dest ?? -1
  const shrank = source !== undefined && source < r.largest
  if (source !== undefined) r.largest = Math.max(r.largest, source)
  return r.still >= (shrank ? STILL_POLLS : STILL_POLLS_UNSHRUNK)
}

/** The path's stat, or undefined when it cannot be had. */
function statOrNot(path: string): Stats | undefined {
  try {
    return statSync(path, {throwIfNoEntry: false})
  } catch {
    return undefined
  }
}

/** Ends the stuck copy `running` and copies its source again in userspace. */
async function redo(running: Running): Promise<number> {
  try {
    return await endAndCopyAgain(running)
  } finally {
    closeWatchFd(running)
  }
}

async function endAndCopyAgain(running: Running): Promise<number> {
  const {src, dest} = running
  const at = statSync(dest, {throwIfNoEntry: false})?.size ?? 0
  const ended = new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    running.ended = (error) => resolve(error ?? undefined)
  })
  // the stuck thread must run during the moment the limit is low: on a busy machine it may not, so the moment is
  // made longer, try after try, until the copy has failed
  const started = Date.now()
  let result: NodeJS.ErrnoException | undefined | 'running' = 'running'
  for (let attempt = 0; result === 'running' && Date.now() - started < RELEASE_MS; attempt++) {
    try {
      release(at, Math.min(2 ** attempt, 50))
    } catch (error) {
      throw copyError(src, dest, messageOf(error))
    }
    const wait = new Promise<'running'>((resolve) => setTimeout(resolve, 20, 'running'))
    result = await Promise.race([ended, wait])
  }
  if (result === 'running') {
    // libuv still holds the copy, and removes `dest` when it fails: no second copy may be put there
    throw copyError(src, dest, 'the source shrank during the copy, which then could not be ended (prlimit missing?)')
  }
  // EFBIG: ended by the limit (libuv removed its partial copy); a copy that finished meanwhile (the source grew back
  // to its size) is a whole copy of what was there
  if (result === undefined) return statSync(dest).size
  if (result.code !== 'EFBIG') throw result
  // the file being copied, even when renamed away since: through our fd on it
  const from = typeof running.fd === 'number' ? `/proc/self/fd/${running.fd}` : src
  return await userspaceCopy(src, dest, constants.O_EXCL, from)
}

/** The soft file-size limit of this process, as prlimit takes it ('unlimited' or bytes). */
function softFsizeLimit(): string {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max file size'))
  return line?.slice(26).trim().split(/\s+/)[0] ?? 'unlimited'
}

/**
 * Lowers this process's soft RLIMIT_FSIZE to `at` (the stuck copy's write position: its next copy_file_range fails
 * with EFBIG; Node ignores SIGXFSZ) and restores it `ms` later, in one child process. Other writes past `at` in that
 * moment (a few milliseconds) fail with EFBIG as well, which their callers report.
 */
function release(at: number, ms: number): void {
  windowsOpened++
  const pid = String(process.pid)
  const soft = softFsizeLimit()
  // the shell ignores a Ctrl-C or a TERM sent to the whole process group, so it lives to restore the limit
  const script = `trap '' INT TERM HUP QUIT; prlimit --pid "$1" --fsize="$2": && { sleep "$4"; prlimit --pid "$1" --fsize="$3":; }`
  spawnSync('sh', ['-c', script, 'sh', pid, String(at), soft, String(ms / 1000)], {stdio: 'ignore'})
  // a limit left low would fail every later write of this process past `at`: checked, restored again if need be
  for (let tries = 0; softFsizeLimit() !== soft; tries++) {
    if (tries === 3) throw new Error(`the file-size limit could not be restored to ${soft} (prlimit failed)`)
    spawnSync('prlimit', ['--pid', pid, `--fsize=${soft}:`], {stdio: 'ignore'})
  }
}

/** The `code` of a {@link copyStoppable} stopped by its caller. */
export const COPY_STOPPED = 'ESTOPPED'

/**
 * As {@link copyLiveFile} (`mode`: 0 or COPYFILE_FICLONE; `dest` created or replaced), for a copy its caller may stop
 * while it runs: `stopped` is asked before each {@link BLOCK} of a file of more than {@link STOPPABLE_WHOLE} bytes,
 * copied with reads and writes (a stop then lands within one block, where the kernel's copy of a big file on a slow
 * disk, one call, could take many seconds), unless a reflink (asked for by `mode`) makes it at once. Smaller files
 * are copyLiveFile's. A stopped copy fails with code {@link COPY_STOPPED} and leaves no partial file.
 */
export async function copyStoppable(src: string, dest: string, mode: number, stopped: () => boolean): Promise<number> {
  const size = statOrNot(src)?.size ?? 0
  if (size <= STOPPABLE_WHOLE) return copyLiveFile(src, dest, mode)
  if (mode & constants.COPYFILE_FICLONE) {
    // a reflink or nothing (libuv removes what it made when it fails): any failure, a real one too (ENOENT), goes
    // on to the copy below, which reports it
    const cloned = await new Promise<boolean>((resolve) =>
      copyFileCb(src, dest, constants.COPYFILE_FICLONE_FORCE, (error) => resolve(!error)),
    )
    if (cloned) return statSync(dest).size
  }
  return userspaceCopy(src, dest, constants.O_TRUNC, src, undefined, stopped)
}

/**
 * copyLiveFile (`dest` created, or replaced when it exists), then the copy's size and sha256, read back from the copy
 * just written: the hash is of the bytes the copy holds, whatever the source did meanwhile (grew, shrank, was
 * renamed). The read-back comes from the page cache, the copy's pages still there: the source is read from disk at
 * most once, by the kernel's copy (or not at all: a reflink). For a source itself in the page cache (a file just
 * written) the kernel's copy and that read cost less than {@link copyHashed}'s reads and writes (bench/follow-restore:
 * its snapshot). Errors keep their code (ENOENT; EISDIR: a folder), and no partial copy is left.
 */
export async function copyLiveHashed(src: string, dest: string): Promise<{bytes: number; sha256: string}> {
  const bytes = await copyLiveFile(src, dest)
  try {
    const sha256 = await sha256File(dest)
    return {bytes, sha256}
  } catch (error) {
    await rm(dest, {force: true})
    throw error
  }
}

/**
 * Copies `src` to `dest` (created, or replaced when it exists; the source's mode bits) with reads and writes, hashing
 * what it reads: the copy and its sha256 from one read of the source, where a copy read back for its hash reads the
 * bytes twice. Up to the source's end (at most its size at open): `bytes` is the copy's size. Errors keep their
 * code (ENOENT: no source; EISDIR: a folder, refused before `dest` is made); no partial copy is left.
 */
export async function copyHashed(src: string, dest: string): Promise<{bytes: number; sha256: string}> {
  let hash = createHash('sha256')
  const bytes = await userspaceCopy(src, dest, constants.O_TRUNC, src, () => {
    hash = createHash('sha256') // each attempt hashes what it copies from the start
    return (piece) => hash.update(piece)
  })
  return {bytes, sha256: hash.digest('hex')}
}

/**
 * Copies `src` to `dest` with reads and writes, up to its end (at most its size at open); returns the size. `flag`:
 * O_EXCL (a new `dest`) or O_TRUNC (one that may exist is replaced). `from`: the path opened (default `src`).
 * `reader`: called at each attempt, gives the function given each piece read, before it is written.
 *
 * A write failed with EFBIG while a limit window was opened for a stuck copy (in this process, see {@link release})
 * is that window's doing, not the file's: the partial copy is removed and the copy made again, up to
 * {@link USERSPACE_ATTEMPTS} times. An EFBIG with no window opened meanwhile is the user's limit: a one-line error.
 */
async function userspaceCopy(
  src: string,
  dest: string,
  flag: number,
  from = src,
  reader?: () => (piece: Buffer) => void,
  stopped?: () => boolean,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const windows = windowsOpened
    try {
      return await userspaceCopyOnce(src, dest, flag, from, reader?.(), stopped)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EFBIG') throw error
      if (windowsOpened === windows) throw tooBig(src, dest)
      if (attempt === USERSPACE_ATTEMPTS) {
        throw copyError(
          src,
          dest,
          `cut short ${attempt} times by the limit lowered to end stuck copies: try again`,
          'EFBIG',
        )
      }
    }
  }
}

/**
 * One attempt of {@link userspaceCopy}; no partial copy left when it fails. `stopped`: asked before each block, the
 * copy fails ({@link COPY_STOPPED}) once it says true.
 */
async function userspaceCopyOnce(
  src: string,
  dest: string,
  flag: number,
  from: string,
  read?: (piece: Buffer) => void,
  stopped?: () => boolean,
): Promise<number> {
  const input = await open(from, constants.O_RDONLY)
  try {
    const st = await input.stat()
    if (st.isDirectory()) throw copyError(src, dest, 'it is a folder', 'EISDIR')
    const output = await open(dest, constants.O_WRONLY | constants.O_CREAT | flag, 0o600)
    let done = 0
    let whole = false
    try {
      // no more than the file needs: a restore copies thousands of small files
      const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(BLOCK, st.size)))
      while (done < st.size) {
        if (stopped?.()) throw copyError(src, dest, 'stopped by its caller', COPY_STOPPED)
        const {bytesRead} = await input.read(buffer, 0, Math.min(buffer.length, st.size - done), done)
        if (bytesRead === 0) break
        read?.(buffer.subarray(0, bytesRead))
        await writeAll(output, buffer.subarray(0, bytesRead))
        done += bytesRead
      }
      await output.chmod(st.mode & 0o7777)
      whole = true
    } finally {
      await output.close()
      if (!whole) await rm(dest, {force: true}) // as copyFile does: no partial copy left
    }
    return done
  } finally {
    await input.close()
  }
}
