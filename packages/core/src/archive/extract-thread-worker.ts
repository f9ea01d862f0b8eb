/**
 * The thread of extract-thread.ts: reads the tar stream the decompressor writes into a FIFO with blocking reads into
 * one reused buffer, cuts it into entries (TarFramer), checks each (EntryChecker) and writes the approved entries'
 * blocks, verbatim, into GNU tar's FIFO, many at once (writev). Through the main thread each 32-64 KiB piece was an
 * event-loop turn, a new Buffer and a socket write; here the bytes are read once and written once.
 *
 * The descriptors are the main thread's (it opens and closes them); this thread only reads and writes. It answers
 * `done` once the decoder's output ended (all read: the decoder never blocks on a full pipe), or `failed`. After a
 * refusal it says so at once (`refused`: the main thread stops tar) and reads on to the end, passing nothing on.
 */
import {readSync, writevSync} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'
import {EntryChecker, UnsafeEntry} from './entry-check.js'
import {type CrossedError, type ExtractJob, type ExtractReply, STOP} from './extract-thread-protocol.js'
import {FILE_TYPES, NativeFallback, TarFramer, ZEROS} from './tar-framer.js'

/** Bytes per read (a pipe gives at most what it holds, 64 KiB unless raised). */
const READ = 1024 * 1024
/** Buffers per writev (IOV_MAX is 1024). */
const IOV = 512

const state = new Int32Array((workerData as {state: SharedArrayBuffer}).state)
const reply = (m: ExtractReply) => parentPort?.postMessage(m)
const stopping = () => Atomics.load(state, 0) === STOP

function crossed(error: unknown): CrossedError {
  if (error instanceof UnsafeEntry)
    return {kind: 'unsafe', message: error.message, entryPath: error.entryPath, reason: error.reason}
  const e = error as {message?: unknown; code?: unknown}
  return {
    kind: error instanceof NativeFallback ? 'fallback' : 'error',
    message: String(e?.message ?? error),
    ...(typeof e?.code === 'string' ? {code: e.code} : {}),
  }
}

/** Reads again when a signal interrupted the call (EINTR), as a blocking read is expected to go on. */
function again<T>(call: () => T): T {
  for (;;) {
    try {
      return call()
    } catch (error) {
      if ((error as {code?: string}).code !== 'EINTR') throw error
    }
  }
}

/** All of `chunks`, written in order: false when the pipe refused (tar is gone). */
function writeAll(fd: number, chunks: Buffer[]): boolean {
  let i = 0
  while (i < chunks.length) {
    if (stopping()) return false
    const batch = chunks.slice(i, i + IOV)
    let written: number
    try {
      written = again(() => writevSync(fd, batch))
    } catch {
      return false
    }
    // a pipe write may return short (a signal): drop what went, write the rest
    while (written > 0 && i < chunks.length) {
      const first = chunks[i] as Buffer
      if (written >= first.length) {
        written -= first.length
        i++
      } else {
        chunks[i] = first.subarray(written)
        written = 0
      }
    }
  }
  return true
}

function extract(job: ExtractJob): void {
  const checker = new EntryChecker(undefined, 0, {outsideSymlinks: job.outsideSymlinks})
  let entries = 0
  let bytes = 0
  let passed = 0
  let reported = 0
  let refusal: UnsafeEntry | undefined
  const framer = new TarFramer(
    (entry) => {
      // as gnuUnpack's check (gnu-extract.ts), without the caller's filter (none is sent here)
      if (checker.isSymlink(entry.path)) throw new NativeFallback('an entry in the place of a symlink')
      const checked = checker.check(entry)
      if (!checked) return false
      entries++
      if (FILE_TYPES.has(entry.type)) bytes += entry.size
      return true
    },
    job.progress
      ? (entry) => {
          if (FILE_TYPES.has(entry.type)) passed += entry.size
        }
      : undefined,
  )
  const buffer = Buffer.allocUnsafe(READ)
  const out: Buffer[] = []
  let endSent = false
  let writing = true
  for (;;) {
    const n = again(() => readSync(job.input, buffer, 0, READ, null))
    if (stopping()) return // the process exits: no answer is awaited
    if (n === 0) break
    if (refusal) continue // read on to the end: the decoder's verdict on the rest still counts
    out.length = 0
    try {
      framer.push(buffer.subarray(0, n), out)
    } catch (error) {
      if (!(error instanceof UnsafeEntry)) {
        reply({failed: crossed(error)})
        return
      }
      refusal = error
      writing = false
      reply({refused: true})
      continue
    }
    if (framer.ended && !endSent) {
      endSent = true
      out.push(ZEROS)
    }
    // the framer's pieces of `buffer` go before the next read overwrites it
    if (writing && out.length > 0) writing = writeAll(job.output, out)
    if (passed !== reported) {
      reported = passed
      reply({progress: passed})
    }
  }
  const done: Extract<ExtractReply, {done: unknown}>['done'] = {entries, bytes}
  if (refusal) done.refusal = crossed(refusal)
  else {
    try {
      framer.finish()
      if (!framer.sawZero)
        throw Object.assign(new Error('the archive ends without its end-of-archive blocks'), {code: 'TAR_BAD_ARCHIVE'})
      // as node-tar: no member at all is an archive only with both end blocks (what an empty tree archives to)
      if (framer.entries === 0 && !framer.ended)
        throw Object.assign(new Error('Unrecognized archive format'), {code: 'TAR_BAD_ARCHIVE'})
    } catch (error) {
      done.ended = crossed(error)
    }
    if (!done.ended) {
      // tar finishes first (its failure is told before a late refusal, as in gnuUnpack): the stage goes either way
      if (!endSent && writing) writeAll(job.output, [ZEROS])
      const late = checker.finish()
      if (late[0]) done.late = crossed(late[0])
    }
  }
  reply({done})
}

parentPort?.once('message', (job: ExtractJob) => {
  try {
    extract(job)
  } catch (error) {
    reply({failed: crossed(error)})
  }
})
