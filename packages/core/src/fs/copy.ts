import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  type Stats,
  statfsSync,
  utimesSync,
  writeSync,
} from 'node:fs'
import {lchown, link, lstat, lutimes, mkdir, readlink, rm, symlink} from 'node:fs/promises'
import {resolve} from 'node:path'
import {setImmediate as nextTurn} from 'node:timers/promises'
import {BkError, messageOf} from '../errors.js'
import {atomicDir} from '../safety/atomic.js'
import {stepProgress} from '../ui/progress.js'
import {COPY_STOPPED, copyLiveFile, copyStoppable} from './copy-file.js'
import {type CopyLane, copyLane, type LaneDir, type LaneFile} from './copy-lane.js'
import {readSmall, setDirMeta, setFileMeta} from './copy-small.js'
import {startWriteback} from './fsync-tree.js'
import {pathExists, sameOrInside} from './paths.js'
import {walkSync} from './walk-sync.js'

/** What a tree copy skips, whether it keeps owners, what it hard-links from, and its progress. */
export interface CopyTreeOptions {
  /** Return true to leave a path (relative, '/'-separated) out; for a directory, its contents too. */
  skip?: (path: string, stat: Stats) => boolean
  /** chown copies to the source's owners (default: when running as root). */
  preserveOwners?: boolean
  /** A previous copy: unchanged regular files (same size and mtime) are hard-linked from it (rsync --link-dest). */
  hardlinkFrom?: string
  onProgress?: (bytesDone: number) => void
  /**
   * Called when a regular file has been copied (not hard-linked): its path, the copy's absolute path, its size. A
   * promise returned holds the copy back until it settles (the caller's work per file kept bounded); a rejection
   * fails the copy.
   */
  onFile?: (path: string, target: string, size: number) => void | Promise<void>
  /**
   * false: `dest` is a new path inside a stage of the caller's own (safety's atomicDir), which flushes and publishes
   * it whole: the copy is made straight there, without a second stage, flush and rename of its own. A failed copy
   * still removes what it made. Default true.
   */
  stage?: boolean
  /**
   * Threads of the small-file lane (copy-lane.ts) beside the walk: default two; 0 copies every small file on the
   * walk's own thread (a caller whose other threads already keep the cores busy: each lane thread is an isolate,
   * ~15 MB, and more threads than cores only take turns).
   */
  laneThreads?: number
  /**
   * Asked at each entry and, for a file of more than 8 MiB, before each MiB of it (such files are then copied with
   * reads and writes instead of the kernel's copy in one call, unless a reflink makes them at once): once it returns
   * true the copy fails ("… stopped by its caller", code ESTOPPED in its cause) and removes what it made, as on any
   * failure.
   * For a caller that must be able to stop a copy under way (copyTreeInThread's stop()).
   */
  stopped?: () => boolean
}

/** What a tree copy did: files, bytes, folders, symlinks, links and what it skipped. */
export interface CopyTreeResult {
  files: number
  bytes: number
  dirs: number
  symlinks: number
  /** Files hard-linked (from `hardlinkFrom` or because they were hard links in the source). */
  linked: number
  /** Sockets, fifos and device files, which are not copied. */
  skipped: string[]
}

const isRoot = () => process.getuid?.() === 0

/**
 * A time for utimes from a Stats' milliseconds (fractional: microseconds kept), not its Date: a Date rounds to the
 * millisecond, and a time 0.5 ms or less before a second's end became the next second (a copy newer than its source).
 */
const seconds = (ms: number) => ms / 1000

/**
 * Copy a tree like `cp -a`: modes, mtimes (directories' set after their contents), owners when root, symlinks as
 * symlinks, hard links within the source kept, empty dirs kept. `dest` must not exist; the copy is built in a stage
 * beside it (safety's atomicDir) and renamed into place, so a failed or interrupted copy never stays behind.
 */
export async function copyTree(src: string, dest: string, options: CopyTreeOptions = {}): Promise<CopyTreeResult> {
  const srcAbs = resolve(src)
  const destAbs = resolve(dest)
  const srcStat = await lstat(srcAbs).catch(() => undefined)
  if (!srcStat?.isDirectory()) throw new BkError(`cannot copy ${src}: not a directory`)
  if (await pathExists(destAbs)) throw new BkError(`cannot copy to ${dest}: it already exists (choose a new name)`)
  if (await sameOrInside(destAbs, srcAbs)) throw new BkError(`cannot copy ${src} into itself (${dest})`)
  const owners = options.preserveOwners ?? isRoot()
  try {
    if (options.stage !== false) {
      return await atomicDir(destAbs, (stage) => copyInto(srcAbs, srcStat, stage, owners, options))
    }
    await mkdir(destAbs, {mode: 0o700})
    try {
      return await copyInto(srcAbs, srcStat, destAbs, owners, options)
    } catch (error) {
      await rm(destAbs, {recursive: true, force: true})
      throw error
    }
  } catch (error) {
    if (error instanceof BkError) throw error
    throw new BkError(`copying ${src} to ${dest} failed: ${messageOf(error)}`, {cause: error})
  }
}

/** Numbers kept per copied folder until its metadata is set: mode, uid, gid, atime and mtime (ms, as Stats hold). */
const DIR_FIELDS = 5

/** Files copied at once: enough to keep the thread pool and the disk queue busy, bounded for memory and fds. */
const IN_FLIGHT = 16

/**
 * Regular files up to this size are copied on the main thread with synchronous calls into one reused buffer (open,
 * read, open, write, futimes, close: the data and metadata of small files are cached, each call takes microseconds,
 * less than the thread-pool round trips of copyFile + utimes). Larger files go through copyFile (reflinks, the
 * kernel's copy_file_range) in the thread pool.
 */
const SMALL_FILE = 64 * 1024

/** Synchronous steps (small copies, links, folders) between two turns of the event loop (signals, progress). */
const TURN_EVERY = 256

/**
 * A synchronous small copy this slow (ms) waited for the disk (cold cache): the next SLOW_RUN small files go through
 * the thread pool, IN_FLIGHT at a time, so their reads overlap, then a synchronous copy is tried again.
 */
const SLOW_COPY_MS = 2
const SLOW_RUN = 256

/** Synchronous steps between two turns of the event loop while the pool has copies running, or the lane a batch. */
const TURN_BUSY = 8
const TURN_LANE = 32

/**
 * Small files copied on this thread before the rest go to a copy lane (copy-lane.ts): a tree this small is copied
 * before a thread would have started (~30 ms); a larger one gets a second core.
 */
const LANE_AFTER = 256

/**
 * The lane's threads: two, beside the walk. On an idle machine one already keeps the second core busy; on a busy
 * one the scheduler shares the cores per thread, and a copy with one thread of its own got less than the old
 * thread-pool copies (five threads) and finished later for less CPU.
 */
const LANE_THREADS = 2

/** Small files per batch sent to the lane; batches in flight: one being copied and one queued per thread. */
const LANE_BATCH = 64

/** Folders per message when the lane sets folders' metadata. */
const LANE_DIRS = 2048

/**
 * Files sent to the lane between two background syncfs: every copy is flushed before it is published (atomicDir),
 * and 20k small files' inodes and blocks take that flush ~0.3-0.5 s after the last file. Started while the copy goes
 * on, the disk writes them back beside it and the publishing flush has less left to wait for.
 */
const WRITEBACK_FILES = 6000

async function copyInto(
  srcAbs: string,
  srcStat: Stats,
  destAbs: string,
  owners: boolean,
  options: CopyTreeOptions,
): Promise<CopyTreeResult> {
  const result: CopyTreeResult = {files: 0, bytes: 0, dirs: 0, symlinks: 0, linked: 0, skipped: []}
  // directories get their final mode/owner/times after their contents are written: per folder its relative path
  // and five numbers (DIR_FIELDS), not its Stats (a few hundred bytes each: 84k folders held 50 MB of them)
  const dirPaths: string[] = ['']
  const dirMeta: number[] = []
  const keepDir = (st: Stats) => {
    dirMeta.push(st.mode, st.uid, st.gid, st.atimeMs, st.mtimeMs)
  }
  keepDir(srcStat)
  // dev:ino of multiply-linked source files -> first copy (a promise: linking waits until that copy exists)
  const inodes = new Map<string, Promise<string>>()
  const skip = options.skip
  const stopped = options.stopped
  const step = stepProgress('copying files')
  const running = new Set<Promise<void>>()
  let failure: unknown
  let synced = 0
  const launch = (task: Promise<void>) => {
    const tracked = task.then(
      () => {
        running.delete(tracked)
      },
      (error) => {
        running.delete(tracked)
        failure ??= error
      },
    )
    running.add(tracked)
  }

  // What a new entry in the stage gets without chown: this process's uid, and its gid or, under a setgid folder,
  // the folder's. A chown is a syscall per entry; it is skipped when the source's owners are already those.
  const top = lstatSync(destAbs)
  const newUid = process.geteuid?.() ?? top.uid
  const newGid = top.mode & 0o2000 ? top.gid : (process.getegid?.() ?? top.gid)
  const needsChown = (st: Stats) => owners && (st.uid !== newUid || st.gid !== newGid)
  // mkdir applies the umask: a folder whose mode survives it (and that we can fill) gets its mode at creation
  // (not under a setgid stage: its folders inherit the bit, which a chmod must then clear)
  const umask = process.umask()
  const modeAtMkdir = (mode: number) =>
    (top.mode & 0o2000) === 0 && (mode & 0o7000) === 0 && (mode & 0o700) === 0o700 && (mode & umask) === 0

  // destAbs and linkBase are resolved (no trailing slash): entry paths are appended as they are
  const linkBase = options.hardlinkFrom === undefined ? undefined : resolve(options.hardlinkFrom)

  // what the last synchronous small copy's onFile asked the copy to wait for
  let held: Promise<void> | undefined
  // a small file's copy: the file's mode at creation when the umask leaves it whole (else fchmod, as copyFile does)
  const small = Buffer.allocUnsafe(SMALL_FILE)
  const copiedSmall = (abs: string, path: string, st: Stats, target: string): boolean => {
    const mode = st.mode & 0o7777
    const exact = (mode & 0o7000) === 0 && (mode & umask) === 0 && !needsChown(st)
    const length = readSmall(abs, small, st.size)
    if (length >= SMALL_FILE) return false // grew since the walk's lstat: copyFile takes it whole
    const output = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, exact ? mode : 0o600)
    try {
      for (let w = 0; w < length; ) w += writeSync(output, small, w, length - w)
      setFileMeta(output, needsChown(st) ? st.uid : -1, st.gid, mode, exact, seconds(st.atimeMs), seconds(st.mtimeMs))
    } finally {
      closeSync(output)
    }
    result.bytes += length // what was copied: less than st.size if the file shrank since the walk
    held = options.onFile?.(path, target, length) as Promise<void> | undefined
    options.onProgress?.(result.bytes)
    step.update(result.bytes)
    return true
  }

  // small files left to the thread pool after a slow (cold) copy: their reads overlap there
  let asyncRun = 0
  const poolTurn = () => {
    if (asyncRun === 0) return false
    asyncRun--
    return true
  }
  // completions of the pool's copies are taken in at each turn of the event loop (and the lane's answers, which
  // free it for the next batch: a batch of 64 takes a few ms)
  const turnEvery = () => (running.size > 0 ? TURN_BUSY : laneBusy > 0 ? TURN_LANE : TURN_EVERY)
  const copiedSmallTimed = (abs: string, path: string, st: Stats, target: string): boolean => {
    const started = performance.now()
    const copied = copiedSmall(abs, path, st, target)
    if (performance.now() - started >= SLOW_COPY_MS) asyncRun = SLOW_RUN
    return copied
  }

  // where a regular file is copied: in the lane or on this thread (small), else by copyFile in the thread pool
  // (large, or during a run after a cold copy); a file with other links stays on this thread, whose copy exists
  // before its next link is made. While the lane is full this thread copies too rather than wait: on a busy
  // machine the lane's thread gets less than a core, and waiting for it made the copy slower than the pool's
  const smallWay = (st: Stats): 'lane' | 'here' | 'pool' => {
    if (st.size >= SMALL_FILE || poolTurn()) return 'pool'
    return lane && st.nlink === 1 && (batch.length < LANE_BATCH || laneBusy < laneDepth) ? 'lane' : 'here'
  }

  // the copy lane: started after LANE_AFTER small files; batches of files and their paths, oldest first
  const laneThreads = options.laneThreads ?? LANE_THREADS
  const laneDepth = 2 * laneThreads
  let lane: CopyLane | undefined
  let smallSeen = 0
  let batch: LaneFile[] = []
  let batchEntries: {path: string; st: Stats}[] = []
  const inLane: Promise<void>[] = []
  // batches sent and not yet answered
  let laneBusy = 0
  let laneFiles = 0
  let writingBack = false
  let walked = false
  const sendBatch = () => {
    if (batch.length === 0 || !lane) return
    const files = batch
    const entries = batchEntries
    batch = []
    batchEntries = []
    laneBusy++
    const settled = lane.copy(files).then(({sizes, slow}) => {
      laneBusy--
      if (slow) asyncRun = SLOW_RUN
      for (let i = 0; i < sizes.length; i++) {
        const file = files[i]!
        const {path, st} = entries[i]!
        const size = sizes[i]!
        if (size < 0) {
          // grew past the small size since the walk: copyFile takes it whole
          launch(copyOne(file.src, path, st, file.dest))
          continue
        }
        result.bytes += size
        const held = options.onFile?.(path, file.dest, size)
        if (held) launch(held)
        options.onProgress?.(result.bytes)
        step.update(result.bytes)
      }
      // the next batch, filled while this one was copied, goes at once
      if (batch.length >= LANE_BATCH) sendBatch()
    })
    // a failure stops the walk at its next entry
    inLane.push(settled.catch((error) => (failure ??= error)))
  }
  // queues a small file for the lane; a full batch is sent when the lane has room (else when a batch returns)
  const toLane = (abs: string, path: string, st: Stats, target: string) => {
    const mode = st.mode & 0o7777
    const chown = needsChown(st)
    batch.push({
      src: abs,
      dest: target,
      size: st.size,
      mode,
      exact: (mode & 0o7000) === 0 && (mode & umask) === 0 && !chown,
      uid: chown ? st.uid : -1,
      gid: st.gid,
      // seconds of the Dates the synchronous copy gives futimes: the same times
      atime: seconds(st.atimeMs),
      mtime: seconds(st.mtimeMs),
    })
    batchEntries.push({path, st})
    if (++laneFiles % WRITEBACK_FILES === 0 && !writingBack) {
      writingBack = true
      startWriteback(destAbs).then(() => {
        writingBack = false
      })
    }
    if (batch.length >= LANE_BATCH && laneBusy < laneDepth) sendBatch()
  }

  // a reflink is tried only where the stage's file system may have them: on ext4 and tmpfs every try is a failed
  // ioctl before the copy
  const clone = mayReflink(destAbs) ? constants.COPYFILE_FICLONE : 0
  const copyOne = async (abs: string, path: string, st: Stats, target: string) => {
    // copyFile gives the copy the source's mode (setuid/setgid bits included, umask ignored)
    // the copy's size: less than st.size if it shrank meanwhile
    const size = stopped ? await copyStoppable(abs, target, clone, stopped) : await copyLiveFile(abs, target, clone)
    // then synchronously, on the copy's cached inode: a syscall each, cheaper than more thread-pool round trips.
    // chown clears setuid/setgid: set the mode again after it; utimes is independent of both
    if (needsChown(st)) {
      chownSync(target, st.uid, st.gid)
      if (st.mode & 0o6000) chmodSync(target, st.mode & 0o7777)
    }
    utimesSync(target, seconds(st.atimeMs), seconds(st.mtimeMs))
    result.bytes += size
    await options.onFile?.(path, target, size)
    options.onProgress?.(result.bytes)
    step.update(result.bytes)
  }

  try {
    // synchronous listing and lstat, as rsync and cp do: cached metadata, no thread-pool round trip per folder
    const keep =
      skip || stopped
        ? (p: string, s: Stats) => {
            if (stopped?.()) throw Object.assign(new Error('stopped by its caller'), {code: COPY_STOPPED})
            return !skip?.(p, s)
          }
        : undefined
    for (const entry of walkSync(srcAbs, keep)) {
      if (failure) break
      const target = `${destAbs}/${entry.path}`
      const st = entry.stat
      if (st.isDirectory()) {
        // in walk order and synchronous (one cached-metadata syscall, cheaper than a thread-pool round trip):
        // everything below is created after it
        const mode = st.mode & 0o7777
        mkdirSync(target, {mode: modeAtMkdir(mode) ? mode : 0o700})
        dirPaths.push(entry.path)
        keepDir(st)
        result.dirs++
        if (++synced % turnEvery() === 0) await nextTurn()
        continue
      }
      if (st.isSymbolicLink()) {
        const abs = entry.abs
        launch(
          (async () => {
            await symlink(await readlink(abs), target)
            if (owners) await lchown(target, st.uid, st.gid)
            await lutimes(target, seconds(st.atimeMs), seconds(st.mtimeMs))
            result.symlinks++
          })(),
        )
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`
        const first = st.nlink > 1 ? inodes.get(key) : undefined
        result.files++
        if (first) {
          launch(
            (async () => {
              await link(await first, target)
              result.linked++
            })(),
          )
        } else if (linkBase && linkUnchanged(`${linkBase}/${entry.path}`, st, target)) {
          result.linked++
          if (st.nlink > 1) inodes.set(key, Promise.resolve(target))
          if (++synced % turnEvery() === 0) await nextTurn()
          continue
        } else {
          const way = smallWay(st)
          if (way === 'lane') {
            toLane(entry.abs, entry.path, st, target)
            if (++synced % turnEvery() === 0) await nextTurn()
            continue
          }
          if (way === 'here' && copiedSmallTimed(entry.abs, entry.path, st, target)) {
            if (st.nlink > 1) inodes.set(key, Promise.resolve(target))
            if (held) {
              const wait = held
              held = undefined
              await wait
            }
            // a tree of many small files: the next go to the lane, beside the walk
            if (++smallSeen === LANE_AFTER && laneThreads > 0) lane = copyLane(SMALL_FILE, SLOW_COPY_MS, laneThreads)
            if (++synced % turnEvery() === 0) await nextTurn()
            continue
          }
          const copied = copyOne(entry.abs, entry.path, st, target).then(() => target)
          if (st.nlink > 1) {
            copied.catch(() => {}) // reported through launch
            inodes.set(key, copied)
          }
          launch(copied.then(() => {}))
        }
      } else {
        result.skipped.push(entry.path)
        continue
      }
      while (running.size >= IN_FLIGHT) await Promise.race(running)
    }
    sendBatch()
    walked = true
  } finally {
    // also when the walk fails: nothing may still be writing into the stage when it is removed
    // every batch's answer (an answer may send the batch held behind it, which this loop then awaits too)
    for (let i = 0; i < inLane.length; i++) await inLane[i]
    await Promise.all(running)
    // the lane stays for the folders' metadata, unless the copy failed
    if (!walked || failure) await lane?.close()
    step.done()
  }
  if (failure) throw failure
  // after every entry is in place (a folder's mtime changes only when entries are added or removed), synchronously:
  // metadata of cached inodes, one syscall each, cheaper than a thread-pool round trip per folder
  const dirJob = (i: number): LaneDir => {
    const at = i * DIR_FIELDS
    const mode = dirMeta[at] as number
    const uid = dirMeta[at + 1] as number
    const gid = dirMeta[at + 2] as number
    const chowned = owners && (uid !== newUid || gid !== newGid)
    return {
      path: i === 0 ? destAbs : `${destAbs}/${dirPaths[i]}`,
      mode: chowned || i === 0 || !modeAtMkdir(mode & 0o7777) ? mode & 0o7777 : -1,
      uid: chowned ? uid : -1,
      gid,
      // seconds, as utimes takes a Date (its milliseconds / 1000): the same times as before
      atime: (dirMeta[at + 3] as number) / 1000,
      mtime: (dirMeta[at + 4] as number) / 1000,
    }
  }
  try {
    // one folder's metadata changes no other's mtime: with a lane, it takes the later half of the folders
    // while this thread does the first (20k folders: 20k utimes of deep paths, 0.2-0.7 s)
    let split = dirPaths.length
    const handedOver: Promise<void>[] = []
    if (lane && dirPaths.length >= 2 * LANE_BATCH) {
      split = Math.ceil(dirPaths.length / 2)
      for (let from = split; from < dirPaths.length; from += LANE_DIRS) {
        const dirs: LaneDir[] = []
        for (let i = from; i < Math.min(from + LANE_DIRS, dirPaths.length); i++) dirs.push(dirJob(i))
        const done = lane.setDirs(dirs)
        done.catch(() => {}) // awaited below, unless this thread's part fails first
        handedOver.push(done)
      }
    }
    for (let i = split - 1; i >= 0; i--) {
      setDirMeta(dirJob(i))
    }
    await Promise.all(handedOver)
  } finally {
    await lane?.close()
  }
  return result
}

/**
 * Hard-links `target` to `previous` when that is the same file (size, mtime, mode, owner). Synchronous on purpose:
 * an lstat and a link of a cached inode take microseconds in the kernel, less than one thread-pool round trip each,
 * and an unchanged tree is all such pairs (rsync --link-dest does the same). `target`'s folder exists already
 * (folders are created in walk order before their contents).
 */
function linkUnchanged(previous: string, st: Stats, target: string): boolean {
  let prev: Stats | undefined
  try {
    prev = lstatSync(previous, {throwIfNoEntry: false})
  } catch {
    return false // ENOTDIR and the like: no previous copy of this path
  }
  // copies carry millisecond mtimes (utimes with a Date, through a float): same to within a millisecond
  if (!prev?.isFile() || prev.size !== st.size || Math.abs(prev.mtimeMs - st.mtimeMs) >= 1) return false
  // a hard link shares mode and owner: only reuse it when those match too, else the copy would lie about them
  if ((prev.mode & 0o7777) !== (st.mode & 0o7777) || prev.uid !== st.uid || prev.gid !== st.gid) return false
  try {
    linkSync(previous, target)
  } catch (e) {
    // another mount of the same file system (EXDEV, same st_dev), protected_hardlinks (EPERM), too many links
    // (EMLINK): the file is copied instead
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') return false
    throw e
  }
  return true
}

/** statfs(2) magic numbers of file systems without reflinks (copy_file_range still makes in-kernel copies there). */
const NO_REFLINK = new Set([
  0xef53, // ext2/3/4
  0x01021994, // tmpfs
])

/** Whether copies into `dir` may be reflinks (btrfs, xfs, bcachefs, …, or a file system statfs cannot tell). */
function mayReflink(dir: string): boolean {
  try {
    return !NO_REFLINK.has(Number(statfsSync(dir).type))
  } catch {
    return true
  }
}
