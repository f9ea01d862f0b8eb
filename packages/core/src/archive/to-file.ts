/**
 * The fast data path of writeTar: the compressor program (pigz, `zstd -T0`) writes straight into the temp file (its
 * stdout IS the file's descriptor), fed either by GNU tar's stdout directly (no byte of the archive crosses Node) or
 * by Node (when Node must see the tar bytes: a manifest hashed from them, members prepended). Node reads the file
 * back as it grows (from the page cache, in large reads) to hash it, start the disk's write-back, report progress
 * and feed the decode check: the sha256 and the check then cover the bytes of the file itself.
 */

import type {ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import type {FileHandle} from 'node:fs/promises'
import {open} from 'node:fs/promises'
import {basename} from 'node:path'
import type {Readable, Writable} from 'node:stream'
import {type GrowingHash, growingFileHash} from '../fs/hash-thread.js'
import {writeBehind} from '../fs/write-behind.js'
import {onInterrupt} from '../safety/interrupt.js'
import {drainedOrClosed, pigz, run, startGnuTar, type TarNames, trailingJunk} from './native.js'

/** Bytes per read-back of the growing file (from the page cache). */
const READ_BACK = 2 * 1024 * 1024
/** Read-back buffers `onFile` may hold at once (reused: no new 2 MiB buffer, and no GC, per read). */
const RING = 4
/** Pause before looking again when the read-back caught up with the writer. */
const CAUGHT_UP_MS = 4

/** Where the tar bytes come from: GNU tar writing into the compressor itself, or Node's own stream of them. */
export type TarSource =
  | {
      kind: 'gnu-tar'
      tar: string
      cwd: string
      names: TarNames
      portable: boolean
      /** names archived under '<prefix>/' (GNU tar's --transform) */
      prefix?: string
      /**
       * Tar blocks Node writes into the compressor before tar starts (prepended members): once they are in the pipe,
       * tar gets the compressor's stdin as its stdout and writes the rest straight into it.
       */
      head?: AsyncIterable<Buffer>
    }
  | {kind: 'node'; chunks: AsyncIterable<Buffer>; tap?: (chunk: Buffer) => void}

export interface CompressedWrite {
  bytes: number
  sha256: string
}

/** A program's failure with the errno the rest of bk knows, where its message tells one (ENOSPC). */
function withErrno(error: Error): Error {
  if (/No space left on device|write error code 28|ENOSPC/i.test(error.message)) Object.assign(error, {code: 'ENOSPC'})
  return error
}

/**
 * Compress the tar stream of `source` with `program args` into the open, empty file `handle` (at `path`).
 * `onFile` sees every byte of the file, in order, as it is read back (the decode check); it may return a promise
 * to slow the read-back down (backpressure). Resolves with the size and sha256 of the file once the compressor
 * exited with status 0, tar (if any) succeeded, and every byte of the file was read back; rejects otherwise, with
 * every child gone. On SIGINT/SIGTERM the children are killed (the caller's atomicFile removes the file).
 */
export async function compressIntoFile(
  path: string,
  handle: FileHandle,
  command: {program: string; args: string[]},
  source: TarSource,
  hooks: {
    /** Resolves once it is done with `chunk` (whose buffer is then reused for a later read). */
    onFile?: (chunk: Buffer) => Promise<void>
    onProgress?: (bytes: number) => void
    hash?: boolean
    /**
     * Whether `onFile` leaves this thread free (it only hands each chunk on, e.g. to a decompressor whose output a
     * thread reads): the file's sha256 is then taken here from the chunks already read, not by a thread of its own
     * reading the file once more. Otherwise (default) a thread hashes while `onFile`'s work keeps this one busy.
     */
    onFileLight?: boolean
  } = {},
): Promise<CompressedWrite> {
  const zip = run(command.program, command.args, handle.fd)
  const zipFailed = zip.exited.then((error) => (error ? withErrno(error) : undefined))
  let zipGone = false
  zip.child.once('close', () => {
    zipGone = true
  })
  const stdin = zip.child.stdin as Writable
  let tar: ReturnType<typeof startGnuTar> | undefined
  // ours to kill on a signal: the compressor writes into the file on its own, and would go on after we exit
  const unregister = onInterrupt(() => {
    tar?.child.kill('SIGKILL')
    zip.child.kill('SIGKILL')
  })
  let settled = false
  let feeding: Promise<void> | undefined
  let threadedHash: GrowingHash | undefined
  try {
    const startTar = (gnu: Extract<TarSource, {kind: 'gnu-tar'}>) => {
      try {
        tar = startGnuTar(gnu.tar, gnu.cwd, gnu.names, gnu.portable, gnu.prefix, stdin)
      } finally {
        // tar holds its own copy of the compressor's stdin: ours must close for the compressor to see the end (and
        // when tar could not start, so that the compressor ends and the read-back with it)
        stdin.destroy()
      }
      // a compressor that exited 0 early leaves tar writing into a closed pipe: say which of the two stopped (Node's
      // stdio pipes are socket pairs: tar may see ECONNRESET, "Connection reset by peer", instead of EPIPE)
      return tar.finished.catch(async (error: unknown) => {
        if (
          /Broken pipe|SIGPIPE|Connection reset by peer/i.test(String((error as Error)?.message)) &&
          !(await zip.exited)
        )
          throw new Error(`${basename(command.program)} exited before it read all of its input`)
        throw error
      })
    }
    // inside the try: a tar that cannot start (spawn throws, e.g. EMFILE) must not leave the compressor running
    const tarNow = source.kind === 'gnu-tar' && !source.head ? startTar(source) : undefined
    feeding = (async () => {
      if (tarNow) return await tarNow
      if (source.kind === 'gnu-tar') {
        // the head through Node, every byte of it in the pipe before tar writes the first of its own
        try {
          await writeHead(source.head as AsyncIterable<Buffer>, stdin, zip.child)
        } catch (error) {
          stdin.end() // the compressor ends (status 0, a cut archive): the head's error is the one to tell
          throw error
        }
        if (zipGone || stdin.destroyed) {
          stdin.end()
          await zip.exited
          throw new Error(`${basename(command.program)} exited before it read all of its input`)
        }
        return await startTar(source)
      }
      // bytes the compressor never took: a failing one tells why by its status (checked first), one that exits 0
      // early would leave a well-formed archive of part of the tar stream
      let cut = false
      stdin.once('error', () => {
        cut = true
      })
      try {
        for await (const chunk of source.chunks) {
          if (zipGone) {
            cut = true
            break
          }
          source.tap?.(chunk)
          // (its 'close' may have come already: then no event would ever wake us)
          if (!stdin.write(chunk) && !zipGone) await drainedOrClosed(stdin, zip.child)
        }
      } finally {
        stdin.end()
      }
      await zip.exited
      if (cut) throw new Error(`${basename(command.program)} exited before it read all of its input`)
    })()
    feeding.catch(() => {})
    const hash = createHash('sha256')
    // the main thread busy with the read-back's consumer (a decompressor and the manifest): hash in a thread
    const threaded = (hooks.hash ?? true) && hooks.onFile && !hooks.onFileLight ? growingFileHash(path) : undefined
    threadedHash = threaded
    const hashing = (hooks.hash ?? true) && !threaded
    const reader = await open(path, 'r')
    const flusher = writeBehind(() => handle.fd)
    let bytes = 0
    try {
      let last = false
      const ring = Array.from({length: hooks.onFile ? RING : 1}, () => ({
        buffer: Buffer.allocUnsafe(READ_BACK),
        held: undefined as Promise<void> | undefined,
      }))
      let slot = 0
      for (;;) {
        const ended = zipGone
        const free = ring[slot] as (typeof ring)[number]
        if (free.held) await free.held
        const buffer = free.buffer
        const {bytesRead} = await reader.read(buffer, 0, buffer.length, bytes)
        if (bytesRead === 0) {
          if (last) break
          if (ended) {
            last = true // one more read after the exit: everything it wrote is visible by now
            continue
          }
          await Promise.race([zip.exited, new Promise((r) => setTimeout(r, CAUGHT_UP_MS))])
          continue
        }
        last = false
        const chunk = buffer.subarray(0, bytesRead)
        bytes += bytesRead
        if (hashing) hash.update(chunk)
        flusher.wrote(bytesRead)
        hooks.onProgress?.(bytes)
        if (hooks.onFile) {
          // the consumer may still hold this chunk (a pipe write not flushed yet): the next read takes another buffer
          free.held = hooks.onFile(chunk)
          slot = (slot + 1) % ring.length
        }
      }
      for (const each of ring) await each.held
    } finally {
      await flusher.settle()
      await reader.close()
    }
    const failure = await zipFailed
    // the compressor's own failure first: tar then only saw its stdin close (a broken pipe)
    if (failure) throw failure
    await feeding
    const size = (await handle.stat()).size
    if (size !== bytes) throw new Error(`${path}: read back ${bytes} bytes of ${size}`)
    let sha256 = hashing ? hash.digest('hex') : ''
    if (threaded) {
      const other = await threaded.finish()
      if (other.bytes !== size) throw new Error(`${path}: hashed ${other.bytes} bytes of ${size}`)
      sha256 = other.sha256
    }
    settled = true
    return {bytes, sha256}
  } finally {
    if (!settled) {
      threadedHash?.stop()
      zip.child.kill('SIGKILL')
      await tar?.abort()
      await zip.exited
      await feeding?.catch(() => {})
    }
    unregister()
  }
}

/**
 * Compress `chunks` with `command` into `handle` from its current offset, to their end: a gzip member / zstd frame of
 * their own, the compressor gone when this resolves (a compressor started on the same descriptor next writes after
 * it: they share the offset). Rejects, the compressor killed, if it fails or `chunks` throws.
 */
export async function compressPartInto(
  handle: FileHandle,
  command: {program: string; args: string[]},
  chunks: AsyncIterable<Buffer>,
): Promise<void> {
  const zip = run(command.program, command.args, handle.fd)
  const unregister = onInterrupt(() => zip.child.kill('SIGKILL'))
  let done = false
  try {
    const stdin = zip.child.stdin as Writable
    let cut = false
    try {
      await writeHead(chunks, stdin, zip.child)
      // (writeHead stops early only when the compressor is gone: before its end of input, it cannot have finished)
      cut = stdin.destroyed || zip.child.exitCode !== null || zip.child.signalCode !== null
    } finally {
      stdin.end()
    }
    const failure = await zip.exited
    if (failure) throw withErrno(failure)
    if (cut) throw new Error(`${basename(command.program)} exited before it read all of its input`)
    done = true
  } finally {
    if (!done) {
      zip.child.kill('SIGKILL')
      await zip.ended
    }
    unregister()
  }
}

/**
 * Writes `head` into a compressor's stdin and resolves once all of it went into the pipe (Node holds none of it:
 * another writer of the same pipe, started now, comes after it), or the compressor is gone.
 */
async function writeHead(head: AsyncIterable<Buffer>, stdin: Writable, child: ChildProcess): Promise<void> {
  let flushed: Promise<void> = Promise.resolve()
  for await (const chunk of head) {
    if (stdin.destroyed || child.exitCode !== null || child.signalCode !== null) return
    // write callbacks come in order: the last one's means every earlier chunk left Node
    flushed = new Promise<void>((resolve) => stdin.write(chunk, () => resolve()))
    if (stdin.writableNeedDrain) await drainedOrClosed(stdin, child)
  }
  let gone = () => {}
  const closed = new Promise<void>((resolve) => {
    gone = resolve
    child.once('close', gone)
  })
  await Promise.race([flushed, closed])
  child.off('close', gone)
}

/**
 * The program that decompresses `compression` to stdout (pigz -v: see trailingJunk; zstd), or undefined (zlib, or
 * 'none'). Not `gzip -d`: it lets trailing zeros pass.
 */
export async function decoderCommand(
  compression: 'gzip' | 'zstd' | 'none',
): Promise<{program: string; args: string[]} | undefined> {
  if (compression === 'none') return undefined
  if (compression === 'zstd') return {program: 'zstd', args: ['-d', '-c', '-q']}
  const program = await pigz()
  // -p 1: inflating is one thread's work; pigz -d's other threads only hand each piece on (see decoderFor), and
  // here they took CPU from the compressor running beside it
  return program ? {program, args: ['-d', '-c', '-v', '-p', '1']} : undefined
}

/**
 * A child's stdin fed chunk by chunk: `write` resolves when the chunk went to the pipe (its buffer is then free) or the
 * child is gone (its exit status, not the write, then tells what happened).
 */
export function feederOf(child: ChildProcess): {write(chunk: Buffer): Promise<void>; end(): void} {
  const stdin = child.stdin as Writable
  let closed = false
  const gone = new Promise<void>((resolve) =>
    child.once('close', () => {
      closed = true
      resolve()
    }),
  )
  return {
    write(chunk) {
      if (closed) return Promise.resolve()
      const written = new Promise<void>((resolve) => {
        stdin.write(chunk, () => resolve())
      })
      return Promise.race([written, gone])
    },
    end: () => stdin.end(),
  }
}

/**
 * The decode check and the tar bytes in one: a decompressor (pigz -d, zstd -d) fed the archive's bytes as they are
 * read back, which verifies every gzip member's CRC-32 and length / zstd frame's checksum as decodeCheck does, and
 * gives the tar stream it decoded to `onTar` (the manifest's hashes: they then describe what the file decodes to).
 * `done()` rejects when the bytes do not decode, or `onTar` threw.
 */
export function decodeInto(
  command: {program: string; args: string[]},
  onTar: (chunk: Buffer) => void,
): {write(chunk: Buffer): Promise<void>; done(): Promise<void>} {
  const {child, exited, stderr} = run(command.program, command.args, 'pipe')
  const feed = feederOf(child)
  let tapFailure: unknown
  // 'data' events, not an async iterator: that one's read() joins whatever is buffered into a new Buffer (a copy of
  // every byte and garbage to collect), this gives each pipe read as it came
  const stdout = child.stdout as Readable
  const reading = new Promise<void>((resolve) => {
    stdout.once('end', () => resolve())
    stdout.once('close', () => resolve())
    stdout.once('error', () => resolve())
  })
  stdout.on('data', (chunk: Buffer) => {
    if (tapFailure !== undefined) return // read on to the end: the decompressor must not block on its output
    try {
      onTar(chunk)
    } catch (error) {
      tapFailure = error
    }
  })
  return {
    write: feed.write,
    async done() {
      feed.end()
      const failure = (await exited) ?? trailingJunk(command.program, stderr())
      await reading
      if (failure) throw failure
      if (tapFailure !== undefined) throw tapFailure
    },
  }
}

/**
 * The decode check and the tar bytes of a finished file in one: a decompressor (pigz -d, zstd -d) reading the file
 * itself (its stdin is the file, opened anew: no byte crosses Node on the way in, and it reads in large blocks
 * at its own pace), which verifies every gzip member's CRC-32 and length / zstd frame's checksum as decodeCheck
 * does, and gives the tar stream it decoded to `onTar` (the manifest's hashes: they then describe what the file
 * decodes to). `size` is the size the file was written with (and hashed at): a file of another size is refused.
 * Rejects when the bytes do not decode or `onTar` threw; the decompressor is gone when it settles.
 */
export async function decodeFileInto(
  command: {program: string; args: string[]},
  path: string,
  size: number,
  onTar: (chunk: Buffer) => void,
): Promise<void> {
  const input = await open(path, 'r')
  try {
    const st = await input.stat()
    if (st.size !== size) throw new Error(`${path}: ${st.size} bytes to decode, ${size} written`)
    const {child, exited, stderr} = run(command.program, command.args, 'pipe', input.fd)
    const unregister = onInterrupt(() => child.kill('SIGKILL'))
    try {
      let tapFailure: unknown
      // 'data' events, not an async iterator: one call per pipe read, nothing else per chunk
      child.stdout?.on('data', (chunk: Buffer) => {
        if (tapFailure !== undefined) return // read on to the end: the decompressor must not block on its output
        try {
          onTar(chunk)
        } catch (error) {
          tapFailure = error
        }
      })
      const refused = (await exited) ?? trailingJunk(command.program, stderr())
      if (refused) throw refused
      if (tapFailure !== undefined) throw tapFailure
    } finally {
      unregister()
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  } finally {
    await input.close()
  }
}
