/**
 * The thread of decode-thread.ts: reads the tar stream a decompressor writes into a FIFO, with blocking reads, and
 * reads its members (tarMembers: the headers, every regular file's sha256) itself; only the members and the verdict
 * go back. The main thread, which would otherwise take every 64 KiB pipe read as one event-loop turn and a new Buffer,
 * is not on the bytes' way.
 *
 * `state` (shared with the main thread) says where the FIFO's open stands: the main thread must not close its own
 * end of the FIFO while this thread may still open it (an open without a writer waits for good, and a thread blocked
 * in a system call keeps the process from exiting). IDLE -> OPENING (this thread, about to open) -> OPENED; or
 * IDLE -> CANCELLED (the main thread: this thread then never opens it). On a signal the main thread sets `state[1]`
 * and writes a byte into the FIFO: the read returns (whoever else still holds the FIFO open) and the thread ends, so
 * that the process's exit, which waits for its threads, does not wait on a read.
 */
import {closeSync, openSync, readSync} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'
import {tarMembers} from '../manifest/tar-members.js'
import {IDLE, type MemberRecord, OPENED, OPENING, STOP, type ThreadReply} from './decode-thread-protocol.js'

/** Bytes per read (a pipe gives at most what it holds: 64 KiB, unless its size was raised). */
const READ = 1024 * 1024
/**
 * Members per message, and the characters of their paths: a message's members are cloned into the main thread's
 * young generation all at once, and the batch waits in this thread's heap until it is sent. At 2048 members a batch
 * survived scavenges on both sides, and V8 grew each thread's young generation to keep it: the peak grew with the
 * file count (createBkArchive of 300 000 small files: 123-127 MiB, 109-113 at 256).
 */
const BATCH = 256
const BATCH_CHARS = 64 * 1024

const state = new Int32Array((workerData as {state: SharedArrayBuffer}).state)
const reply = (m: ThreadReply) => parentPort?.postMessage(m)

function errorReply(error: unknown, ended = false): ThreadReply {
  const e = error as {message?: unknown; code?: unknown; tarCode?: unknown}
  return {
    error: {
      message: String(e?.message ?? error),
      code: typeof e?.code === 'string' ? e.code : undefined,
      tarCode: typeof e?.tarCode === 'string' ? e.tarCode : undefined,
      ended,
    },
  }
}

async function decode(fifo: string): Promise<void> {
  if (Atomics.compareExchange(state, 0, IDLE, OPENING) !== IDLE) return // cancelled: never open it
  let fd: number
  try {
    fd = openSync(fifo, 'r')
  } finally {
    Atomics.store(state, 0, OPENED)
    Atomics.notify(state, 0)
  }
  reply({opened: true})
  let batch: MemberRecord[] = []
  let chars = 0
  const flush = () => {
    if (batch.length === 0) return
    reply({members: batch})
    batch = []
    chars = 0
  }
  const members = tarMembers(
    {
      file(path, size, sha256) {
        batch.push([path, size, sha256])
        chars += path.length
        if (batch.length >= BATCH || chars >= BATCH_CHARS) flush()
      },
      link(path, target) {
        batch.push([path, target])
        chars += path.length + target.length
        if (batch.length >= BATCH || chars >= BATCH_CHARS) flush()
      },
    },
    {reused: true},
  )
  let failure: unknown
  const buffer = Buffer.allocUnsafe(READ)
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, READ, null)
      if (Atomics.load(state, 1) === STOP) return // the process exits: no answer is awaited
      if (n === 0) break
      if (failure !== undefined) continue // read on to the end: the decompressor must not block on its output
      try {
        members.write(buffer.subarray(0, n))
      } catch (error) {
        failure = error
      }
    }
  } finally {
    closeSync(fd)
  }
  if (failure !== undefined) return reply(errorReply(failure))
  try {
    await members.end()
  } catch (error) {
    return reply(errorReply(error, true))
  }
  flush()
  reply({done: true})
}

parentPort?.once('message', (m: {fifo: string}) => {
  decode(m.fifo).catch((error: unknown) => reply(errorReply(error)))
})
