/**
 * The read-back of an archive (decodeInto's work) with the tar stream kept off the main thread: the decompressor
 * (`pigz -d`, `zstd -d`, fed by Node as the file is read back, alongside its compressor; or, decode(), reading a
 * finished file itself) writes into a FIFO beside the file, and a thread (decode-thread-worker.ts) reads
 * that FIFO with blocking reads and hashes the members itself (tarMembers); only the members and the verdicts come
 * back.
 * Through Node's own pipe reading, each 64 KiB pipe read was an event-loop turn and a new Buffer on the main thread,
 * and the main thread sat idle half of the tail while the decoder waited on it.
 */
import {createHash} from 'node:crypto'
import {closeSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {makeFifos, makeFifosLater, openBoth, removeFifo as unlinkFifo, wakePath} from '../fs/fifo.js'
import {startThread} from '../fs/start-thread.js'
import {type TarMembersReadElsewhere, tarMembers} from '../manifest/tar-members.js'
import {onInterrupt} from '../safety/interrupt.js'
import {CANCELLED, IDLE, OPENING, STOP, type ThreadReply} from './decode-thread-protocol.js'
import {run, trailingJunk} from './native.js'
import {decodeFileInto, feederOf} from './to-file.js'

/** The thread's script, beside this module once built (dist/archive/); run from the sources (tests), the built one. */
const THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/archive/decode-thread-worker.js', import.meta.url)
  : new URL('./decode-thread-worker.js', import.meta.url)

/**
 * The thread's heap: a batch of members and a chunk's hashes live at a time. Its young generation is kept small: left
 * at V8's default it grew from 8 to 16 MiB of new space on larger trees (a 300 000-file archive: the thread's heap
 * 23 MiB at the peak, 11 with this); scavenges of a few MiB cost nothing measurable here.
 */
const LIMITS = {maxYoungGenerationSizeMb: 4}

/**
 * The `code` of the error `through` settles with when the thread itself died (it could not start, its heap, …);
 * decode() and alongside() then read the finished file again on this thread ({@link readAgain}).
 */
export const THREAD_GONE = 'ETHREAD'

/** The FIFO of a file's read-back: a name under the file's own (a temp's), which the partial-file sweep removes. */
export const fifoOf = (path: string) => `${path}-decoded`

/** A thread for one read-back. */
export interface MembersThread {
  /**
   * As decodeFileInto with tarMembers(sink) as its tap, the members read in the thread: rejects when the file is not
   * `size` bytes, the decoder fails (exit status, trailing junk) or the members' reader refused a chunk (in that
   * order); then `sink.read()` gets end()'s refusal, if any (a stream cut short). A thread that dies on the way
   * (ETHREAD) says nothing about the file: it is decoded again on this thread, with the same checks (readAgain). The
   * decoder and the thread are gone, and the FIFO removed, when it settles.
   */
  decode(
    command: {program: string; args: string[]},
    path: string,
    size: number,
    sink: TarMembersReadElsewhere,
  ): Promise<void>
  /**
   * As decodeInto with tarMembers(sink) as its tap, the members read in the thread: the decompressor, started now,
   * is fed each chunk of the file by `write` as it is read back (gzip's check, which runs alongside the compressor);
   * `done(bytes)` ends its input and settles as decode does, `bytes` the size of the whole file now at `path` (none:
   * the write failed, the check only ends). A thread that died on the way (ETHREAD) says nothing about the file:
   * given `bytes`, the finished file is decoded again on this thread, with the same checks (readAgain). Undefined,
   * the thread stopped, where no FIFO can be made beside `path` (the caller then uses decodeInto).
   */
  alongside(
    command: {program: string; args: string[]},
    path: string,
    sink: TarMembersReadElsewhere,
  ): {write(chunk: Buffer): Promise<void>; done(bytes?: number): Promise<void>} | undefined
  /**
   * Makes the FIFO of a later decode() of `path` now, while the archive is written (mkfifo waited for off the main
   * thread): the read-back then starts at once. stop() removes it when no decode() comes.
   */
  prepare(path: string): void
  /** The thread is not needed (the write failed before its read-back): resolves once it is gone (and its FIFO). */
  stop(): Promise<void>
}

/**
 * Makes a FIFO at `path` and opens it O_RDWR (no wait for a reader; and the thread's open, for reading, does not wait
 * for a writer while this end is open); undefined where the file system has none, or one that does not open as such
 * (the read-back then goes through Node's pipe, as it did).
 */
const openFifo = (path: string): number | undefined => (makeFifos(path) ? openBoth(path) : undefined)

/** A read-back's FIFO: its path, our O_RDWR end (undefined where none could be made) and its removal. */
interface ReadBackFifo {
  fifo: string
  ours: number | undefined
  remove(): void
}

/**
 * Before the process exits on a signal: the thread stops after its current read, and a byte in the FIFO ends a read
 * that waits (a killed decoder's own child, a wrapper script's, may hold the FIFO open: no end of file would come).
 */
function wakeFor(state: Int32Array): (fifo: string) => void {
  return (fifo) => {
    Atomics.store(state, 1, STOP)
    wakePath(fifo)
  }
}

const rebuilt = (e: {message: string; code?: string; tarCode?: string}): Error =>
  Object.assign(
    new Error(e.message),
    e.code === undefined ? {} : {code: e.code},
    e.tarCode === undefined ? {} : {tarCode: e.tarCode},
  )

/**
 * A member as {@link tally} and {@link readAgain} record it: one line each, in the stream's order, each name after its
 * length (one reading whatever its characters). Not JSON.stringify per member: that, and a hash update per member,
 * took ~60-90 ms of the main thread for 64k members (a 20 000-issue Roundup backup).
 */
export const fileLine = (path: string, size: number, sha256: string) => `f${path.length}:${path}${size}:${sha256}\n`
export const linkLine = (path: string, target: string) => `l${path.length}:${path}${target.length}:${target}\n`

/** Characters of member lines {@link tally} gathers before it hashes them, in one update. */
const TALLY_PENDING = 64 * 1024

/** What a thread gave a sink before it died: how many members, and the sha256 of their lines. */
interface Given {
  count: number
  digest(): string
}

/** `sink`, with what it was given counted and hashed (see {@link Given}); the lines hashed a batch at a time. */
export function tally(sink: TarMembersReadElsewhere): {sink: TarMembersReadElsewhere; given: Given} {
  let count = 0
  const hash = createHash('sha256')
  let pending = ''
  const add = (line: string) => {
    count++
    pending += line
    if (pending.length < TALLY_PENDING) return
    hash.update(pending)
    pending = ''
  }
  return {
    sink: {
      file(path, size, sha256) {
        add(fileLine(path, size, sha256))
        sink.file(path, size, sha256)
      },
      link(path, target) {
        add(linkLine(path, target))
        sink.link(path, target)
      },
      read: (refusal) => sink.read(refusal),
    },
    given: {
      get count() {
        return count
      },
      digest: () => {
        hash.update(pending)
        pending = ''
        return hash.copy().digest('hex')
      },
    },
  }
}

/**
 * The read-back of the finished file (`size` bytes at `path`) on this thread, after the thread died on the way: the
 * decoder's verdict (its exit status, trailing junk: every gzip member's CRC-32 and length, every zstd frame's
 * checksum) and the members' reader's (tarMembers: each member hashed, node-tar's strict parse, the end of the
 * archive) are the thread's read-back's, on the same bytes. The members the thread already gave `sink` are not given
 * again: they must be the first ones this read-back finds, the same (else it is refused); the rest then go to `sink`,
 * and `sink.read()` gets end()'s refusal, as from the thread.
 */
async function readAgain(
  command: {program: string; args: string[]},
  path: string,
  size: number,
  sink: TarMembersReadElsewhere,
  given: Given,
): Promise<void> {
  let seen = 0
  const hash = createHash('sha256')
  const check = () => {
    if (hash.digest('hex') !== given.digest())
      throw new Error(`the decode thread gave ${given.count} members that ${path} does not decode to`)
  }
  /** Whether the member is past those the thread gave (else it is hashed, to be checked against them). */
  const past = (line: string) => {
    if (seen === given.count) return true
    hash.update(line)
    if (++seen === given.count) check()
    return false
  }
  const members = tarMembers({
    file(path, size, sha256) {
      if (past(fileLine(path, size, sha256))) sink.file(path, size, sha256)
    },
    link(path, target) {
      if (past(linkLine(path, target))) sink.link(path, target)
    },
  })
  await decodeFileInto(command, path, size, (chunk) => members.write(chunk))
  let refused: unknown
  await members.end().catch((error: unknown) => {
    refused = error ?? new Error('refused')
  })
  if (seen < given.count) check() // fewer members than the thread gave: refused (the digests differ)
  sink.read(refused)
}

/** Whether `error` is the thread's own death (see {@link THREAD_GONE}), not a verdict on the file. */
const isThreadGone = (error: unknown) => (error as {code?: unknown} | undefined)?.code === THREAD_GONE

/** Starts the thread; it waits (not keeping the process alive) for decode(), alongside() or stop(). */
export function membersThread(): MembersThread {
  const shared = new SharedArrayBuffer(8)
  const state = new Int32Array(shared)
  const wake = wakeFor(state)
  // stopped once its modules are loaded (startThread): a thread terminated while it starts may leave a module
  // file's descriptor open
  const thread = startThread(THREAD, {workerData: {state: shared}, resourceLimits: LIMITS})
  const worker = thread.worker
  worker.unref()
  /** Ends the thread once it is ready (kept referenced meanwhile: the caller's error is still to be told). */
  const end = () => thread.stop()
  let gone: Error | undefined
  let onReply: ((m: ThreadReply) => void) | undefined
  let onGone: ((error: Error) => void) | undefined
  worker.on('message', (m: ThreadReply) => onReply?.(m))
  worker.on('error', (error) => {
    gone ??= error
    onGone?.(error)
  })
  worker.on('exit', (code) => {
    const error = new Error(`the decode thread stopped (exit code ${code})`)
    gone ??= error
    onGone?.(error)
  })
  /**
   * Starts `command` writing into the FIFO at `fifo` (`ours`: our O_RDWR end), its stdin `stdin`, and the thread
   * reading it; `settled` as decode's verdict once the decoder exited and the thread answered (or died). The decoder
   * is gone, and our end closed, when it settles.
   */
  function through(
    command: {program: string; args: string[]},
    fifo: string,
    ours: number,
    stdin: number | 'pipe',
    sink: TarMembersReadElsewhere,
  ): {child: ReturnType<typeof run>['child']; settled: Promise<void>} {
    let fd = ours
    /**
     * Closes our end of the FIFO, once the thread opened it or never will: an open without a writer would wait
     * for good (and a thread blocked in a system call keeps the process from exiting).
     */
    const release = () => {
      if (fd < 0) return
      if (Atomics.compareExchange(state, 0, IDLE, CANCELLED) === OPENING) Atomics.wait(state, 0, OPENING, 1000)
      closeSync(fd)
      fd = -1
    }
    let endRefusal: unknown
    let threadRefusal: unknown
    let threadGone: Error | undefined
    let settle = () => {}
    const finished = new Promise<void>((resolve) => {
      settle = resolve
    })
    let child: ReturnType<typeof run>['child'] | undefined
    let answered = false
    const cleanUp = () => {
      release()
      onReply = undefined
      onGone = undefined
    }
    onGone = (error) => {
      if (answered) return // its exit after its answer
      threadGone ??= error
      release()
      // its read end may stay open (a thread does not close its files): the decoder would block on a full pipe
      child?.kill('SIGKILL')
      settle()
    }
    onReply = (m) => {
      if ('opened' in m) release()
      else if ('members' in m) {
        for (const r of m.members) r.length === 3 ? sink.file(r[0], r[1], r[2]) : sink.link(r[0], r[1])
      } else if ('done' in m) {
        answered = true
        settle()
      } else if ('error' in m) {
        answered = true
        if (m.error.ended) endRefusal = rebuilt(m.error)
        else threadRefusal = rebuilt(m.error)
        settle()
      }
    }
    let started: ReturnType<typeof run>
    try {
      started = run(command.program, command.args, fd, stdin)
    } catch (error) {
      cleanUp()
      throw error
    }
    child = started.child
    const unregister = onInterrupt(() => {
      started.child.kill('SIGKILL')
      release()
      wake(fifo)
    })
    worker.ref()
    worker.postMessage({fifo})
    const settled = (async () => {
      try {
        const refused = (await started.exited) ?? trailingJunk(command.program, started.stderr())
        // the decoder is gone (its end of the FIFO closed), ours closes once the thread opened it: the thread
        // reads to the end and answers
        await finished
        // (the thread's own failure, which says nothing about the archive: not a decode check's refusal)
        if (threadGone)
          throw Object.assign(new Error(`the decode thread failed: ${threadGone.message}`), {
            code: THREAD_GONE,
            cause: threadGone,
          })
        if (refused) throw refused
        if (threadRefusal !== undefined) throw threadRefusal
        sink.read(endRefusal)
      } finally {
        unregister()
        if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL')
        cleanUp()
      }
    })()
    return {child: started.child, settled}
  }

  /** The removal of a read-back's FIFO, also done on a signal. */
  function removalOf(fifo: string): () => void {
    const removeFifo = () => unlinkFifo(fifo)
    const unregisterFifo = onInterrupt(removeFifo, {sweep: true})
    return () => {
      removeFifo()
      unregisterFifo()
    }
  }

  /** The FIFO of a read-back of `path`, made and opened (undefined where it cannot be), and removed by `remove`. */
  function fifoFor(path: string): ReadBackFifo {
    const fifo = fifoOf(path)
    const remove = removalOf(fifo)
    try {
      return {fifo, ours: gone ? undefined : openFifo(fifo), remove}
    } catch (error) {
      remove()
      throw error
    }
  }

  /** fifoFor, mkfifo waited for off the main thread. */
  async function fifoLater(path: string): Promise<ReadBackFifo> {
    const fifo = fifoOf(path)
    const remove = removalOf(fifo)
    try {
      const made = await makeFifosLater(fifo)
      return {fifo, ours: gone || !made ? undefined : openBoth(fifo), remove}
    } catch (error) {
      remove()
      throw error
    }
  }

  /** The FIFO prepare() is making, for decode() of its path. */
  let prepared: {path: string; fifo: Promise<ReadBackFifo>} | undefined
  /** The prepared FIFO of `path` (our end still open), taken: decode() now owns it. */
  const takePrepared = (path: string) => {
    if (prepared?.path !== path) return undefined
    const {fifo} = prepared
    prepared = undefined
    return fifo
  }
  /** The prepared FIFO of `path`, if any, for decode(); our end closed if the thread died since (no one would read). */
  const preparedFor = async (path: string): Promise<ReadBackFifo | undefined> => {
    const made = await takePrepared(path)?.catch(() => undefined)
    if (made?.ours === undefined || !gone) return made
    closeSync(made.ours)
    return {...made, ours: undefined}
  }
  /** A prepared FIFO no decode() took: our end closed, the FIFO removed. */
  const dropPrepared = async () => {
    const fifo = prepared?.fifo
    prepared = undefined
    const made = await fifo?.catch(() => undefined)
    if (made?.ours !== undefined) closeSync(made.ours)
    made?.remove()
  }

  const stop = async () => {
    await dropPrepared()
    await end()
  }

  return {
    stop,
    prepare(path) {
      void dropPrepared()
      prepared = {path, fifo: fifoLater(path)}
      prepared.fifo.catch(() => {})
    },
    async decode(command, path, size, sink) {
      try {
        const input = await open(path, 'r')
        try {
          const st = await input.stat()
          if (st.size !== size) throw new Error(`${path}: ${st.size} bytes to decode, ${size} written`)
          const {fifo, ours, remove} = (await preparedFor(path)) ?? fifoFor(path)
          try {
            if (ours === undefined) {
              // no thread, or no FIFO here: the members read on this thread, as they were
              const members = tarMembers(sink)
              await decodeFileInto(command, path, size, (chunk) => members.write(chunk))
              let refused: unknown
              await members.end().catch((error: unknown) => {
                refused = error ?? new Error('refused')
              })
              sink.read(refused)
              return
            }
            const {sink: counted, given} = tally(sink)
            try {
              await through(command, fifo, ours, input.fd, counted).settled
            } catch (error) {
              if (!isThreadGone(error)) throw error
              await readAgain(command, path, size, sink, given)
            }
          } finally {
            remove()
          }
        } finally {
          await input.close()
        }
      } finally {
        await dropPrepared() // (one decode() never took: it failed before)
        await end() // (its files gone too: its event loop's own descriptors)
      }
    },
    alongside(command, path, sink) {
      let fifo: ReturnType<typeof fifoFor> | undefined
      let started: ReturnType<typeof through> | undefined
      const {sink: counted, given} = tally(sink)
      try {
        fifo = fifoFor(path)
        if (fifo.ours !== undefined) started = through(command, fifo.fifo, fifo.ours, 'pipe', counted)
      } finally {
        if (!started) {
          fifo?.remove()
          void stop()
        }
      }
      if (!started) return undefined
      const {child, settled} = started
      const remove = fifo.remove
      settled.catch(() => {})
      const feed = feederOf(child)
      return {
        write: feed.write,
        async done(bytes) {
          feed.end()
          let again: number | undefined
          try {
            await settled
          } catch (error) {
            if (bytes === undefined || !isThreadGone(error)) throw error
            again = bytes
          } finally {
            remove()
            await stop()
          }
          // (after the thread and the FIFO are gone: the file is read again from its start)
          if (again !== undefined) await readAgain(command, path, again, sink, given)
        },
      }
    },
  }
}
