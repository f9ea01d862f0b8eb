/**
 * The GNU tar engine's extraction with the tar stream kept off the main thread: the decompressor (pigz -d, zstd -d)
 * writes into one FIFO, a thread (extract-thread-worker.ts) reads it with blocking reads into one reused buffer,
 * checks every entry as gnuUnpack does and writes the approved blocks into a second FIFO, GNU tar's stdin. Through
 * Node's pipes (sockets) each 32-64 KiB piece was an event-loop turn, a fresh Buffer (page faults) and a socket
 * write on the main thread: most of bk's own CPU time in an extraction.
 *
 * Both FIFOs are made in the (new, empty) folder tar writes, opened at once, and removed before tar starts: nothing
 * is left of them in the tree, and a folder where none can be made (a file system without FIFOs) keeps gnuUnpack.
 * The descriptors are the main thread's: it closes them once the thread is done with them. The thread never waits
 * for good: killing the decompressor ends its read (end of file), killing tar its write (EPIPE).
 */
import type {FileHandle} from 'node:fs/promises'
import {join} from 'node:path'
import {closeAll, type FifoEnds, makeFifos, openEnds, removeFifo, wake as wakeUp} from '../fs/fifo.js'
import {type StartedThread, startThread} from '../fs/start-thread.js'
import {onInterrupt} from '../safety/interrupt.js'
import {UnsafeEntry} from './entry-check.js'
import {type CrossedError, type ExtractJob, type ExtractReply, STOP} from './extract-thread-protocol.js'
import {type Decoder, type GnuUnpackResult, startDecoder, startGnuExtract} from './gnu-extract.js'
import {NativeFallback} from './tar-framer.js'

/** The thread's script, beside this module once built (dist/archive/); run from the sources (tests), the built one. */
const THREAD = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/archive/extract-thread-worker.js', import.meta.url)
  : new URL('./extract-thread-worker.js', import.meta.url)

/** Two FIFOs made in `dir`, opened and removed again; undefined where they cannot be made. */
function fifoPair(dir: string): [FifoEnds, FifoEnds] | undefined {
  const names = ['in', 'out'].map((n) => join(dir, `.bk-fifo-${process.pid}-${n}`))
  try {
    if (!makeFifos(...names)) return undefined
    const first = openEnds(names[0] as string)
    if (!first) return undefined
    let second: FifoEnds | undefined
    try {
      second = openEnds(names[1] as string)
    } finally {
      if (!second) closeAll([first.read, first.write, first.wake])
    }
    if (second) closeAll([second.wake])
    return second ? [first, second] : undefined
  } catch {
    return undefined
  } finally {
    for (const name of names) removeFifo(name)
  }
}

function rebuilt(e: CrossedError): Error {
  if (e.kind === 'unsafe') return new UnsafeEntry(e.entryPath ?? '', e.reason ?? e.message)
  const error = e.kind === 'fallback' ? new NativeFallback(e.message) : new Error(e.message)
  return e.code === undefined ? error : Object.assign(error, {code: e.code})
}

export interface ThreadUnpackOptions {
  preserveOwner: boolean
  outsideSymlinks: boolean
  /** each regular file's size once it was passed on to tar (in batches: the sizes of several at once) */
  onFileDone?: (size: number) => void
  /** sees every byte of the archive file (its checksum, the progress bar): the file then reaches the decoder through Node */
  onRaw?: (chunk: Buffer) => void
  /** the archive file, open (the caller keeps and closes it) */
  input?: FileHandle
}

/**
 * As gnuUnpack with `decoder` (no filter: every approved entry is extracted), the stream read and checked in a thread.
 * Throws what gnuUnpack throws, in the same order; `late` is the first symlink the whole tree shows unsafe
 * (EntryChecker.finish: the caller's to throw, after its own checks). Undefined, having started nothing, where no
 * FIFO can be made in `dest`.
 */
export async function gnuUnpackInThread(
  tar: string,
  file: string,
  decoder: Decoder,
  dest: string,
  options: ThreadUnpackOptions,
): Promise<(GnuUnpackResult & {late?: UnsafeEntry}) | undefined> {
  const fifos = fifoPair(dest)
  if (!fifos) return undefined
  const [decoded, checked] = fifos
  // ours until closed: the thread's two ends (the other two go to the children, closed here once they have theirs),
  // and a write end of the decoder's FIFO kept until the decoder ended (a byte through it ends a read on a signal)
  let open: (number | undefined)[] = [decoded.read, decoded.write, checked.read, checked.write]
  let wake: number | undefined = decoded.wake
  const shared = new SharedArrayBuffer(4)
  const state = new Int32Array(shared)
  let started: StartedThread | undefined
  let decoding: Awaited<ReturnType<typeof startDecoder>> | undefined
  let gnu: ReturnType<typeof startGnuExtract> | undefined
  /**
   * Ends the thread's work at once, wherever it waits: it stops after its current read or write; its read ends with
   * the byte written here (a decompressor's own child may hold the FIFO open: no end of file would come), its write
   * with tar's death.
   */
  const stop = () => {
    Atomics.store(state, 0, STOP)
    if (wake !== undefined) wakeUp(wake)
    decoding?.close()
    gnu?.child.kill('SIGKILL')
  }
  const closeWake = () => {
    closeAll([wake])
    wake = undefined
  }
  // a thread blocked in a read or a write keeps the process from exiting: on a signal, it is woken
  const unregister = onInterrupt(stop)
  let failed = true
  try {
    started = startThread(THREAD, {workerData: {state: shared}})
    const thread = started.worker
    let last = 0
    const answer = new Promise<Extract<ExtractReply, {done: unknown}>['done']>((resolve, reject) => {
      thread.on('message', (m: ExtractReply) => {
        if ('refused' in m) void gnu?.kill()
        else if ('progress' in m) {
          options.onFileDone?.(m.progress - last)
          last = m.progress
        } else if ('done' in m) resolve(m.done)
        else if ('failed' in m) reject(rebuilt(m.failed))
      })
      thread.once('error', reject)
      thread.once('exit', (code) => reject(new Error(`the extract thread stopped (exit code ${code})`)))
    })
    // no unhandled rejection while the children start; awaited below
    answer.catch(() => {})
    decoding = await startDecoder(file, decoder, decoded.write, options.onRaw, options.input)
    // the decoder gone (and its output's other writers: the thread reads on until they are), the thread's read ends
    void decoding.ended.then(closeWake)
    gnu = startGnuExtract(tar, dest, options.preserveOwner, checked.read)
    closeAll([decoded.write, checked.read])
    open = [decoded.read, checked.write]
    const job: ExtractJob = {
      input: decoded.read,
      output: checked.write,
      outsideSymlinks: options.outsideSymlinks,
      progress: options.onFileDone !== undefined,
    }
    thread.postMessage(job)
    const done = await answer
    await decoding.verdict()
    if (done.refusal) throw rebuilt(done.refusal)
    if (done.ended) throw rebuilt(done.ended)
    // the thread wrote its last block: tar reads to the end of its input
    closeAll([checked.write])
    open = [decoded.read]
    const failure = await gnu.finish()
    if (failure) throw failure
    failed = false
    const result: GnuUnpackResult & {late?: UnsafeEntry} = {entries: done.entries, bytes: done.bytes}
    if (done.late) result.late = rebuilt(done.late) as UnsafeEntry
    return result
  } finally {
    if (failed) stop()
    // the thread's reads and writes have ended (or end now): then its descriptors can close (stopped once its
    // modules are loaded: a thread terminated while it starts may leave a module file's descriptor open)
    await started?.stop()
    closeWake()
    closeAll(open)
    if (failed) await gnu?.kill()
    unregister()
  }
}
