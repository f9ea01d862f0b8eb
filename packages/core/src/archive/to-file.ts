/**
 * The fast data path of writeTar: the compressor program (pigz, `zstd -T0`) writes straight into the temp file (its
 * stdout IS the file's descriptor), fed either by GNU tar's stdout directly (no byte of the archive crosses Node) or
 * by Node (when Node must see the tar bytes: a manifest hashed from them, members prepended). Node reads the file
 * back as it grows (from the page cache, in large reads) to hash it, start the disk's write-back, report progress
 * and feed the decode check: the sha256 and the check then cover the bytes of the file itself.
 */
import {createHash} from 'node:crypto'
import type {FileHandle} from 'node:fs/promises'
import {open} from 'node:fs/promises'
import type {Writable} from 'node:stream'
import {writeBehind} from '../fs/write-behind.js'
import {onInterrupt} from '../safety/interrupt.js'
import {drainedOrClosed, run, startGnuTar} from './native.js'

/** Bytes per read-back of the growing file (from the page cache). */
const READ_BACK = 4 * 1024 * 1024
/** Pause before looking again when the read-back caught up with the writer. */
const CAUGHT_UP_MS = 4

/** Where the tar bytes come from: GNU tar writing into the compressor itself, or Node's own stream of them. */
export type TarSource =
  | {
      kind: 'gnu-tar'
      tar: string
      cwd: string
      names: AsyncIterable<string | Buffer>
      portable: boolean
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
    onFile?: (chunk: Buffer) => Promise<void> | undefined
    onProgress?: (bytes: number) => void
    hash?: boolean
  } = {},
): Promise<CompressedWrite> {
  const zip = run(command.program, command.args, handle.fd)
  const zipFailed = zip.exited.then((error) => (error ? withErrno(error) : undefined))
  let zipGone = false
  zip.child.once('close', () => {
    zipGone = true
  })
  const stdin = zip.child.stdin as Writable
  const tar =
    source.kind === 'gnu-tar'
      ? startGnuTar(source.tar, source.cwd, source.names, source.portable, undefined, stdin)
      : undefined
  // ours to kill on a signal: the compressor writes into the file on its own, and would go on after we exit
  const unregister = onInterrupt(() => {
    tar?.child.kill('SIGKILL')
    zip.child.kill('SIGKILL')
  })
  let settled = false
  let feeding: Promise<void> | undefined
  try {
    feeding = (async () => {
      if (tar) {
        // tar holds its own copy of the compressor's stdin: ours must close for the compressor to see the end
        stdin.destroy()
        await tar.finished
        return
      }
      if (source.kind !== 'node') return
      try {
        for await (const chunk of source.chunks) {
          if (zipGone) break // its exit status tells why
          source.tap?.(chunk)
          // (its 'close' may have come already: then no event would ever wake us)
          if (!stdin.write(chunk) && !zipGone) await drainedOrClosed(stdin, zip.child)
        }
      } finally {
        stdin.end()
      }
    })()
    feeding.catch(() => {})
    const hash = createHash('sha256')
    const hashing = hooks.hash ?? true
    const reader = await open(path, 'r')
    const flusher = writeBehind(() => handle.fd)
    let bytes = 0
    try {
      let last = false
      let buffer = Buffer.allocUnsafe(READ_BACK)
      for (;;) {
        const ended = zipGone
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
          const waiting = hooks.onFile(chunk)
          // the consumer may still hold this chunk (a pipe write not flushed yet): read the next into a new buffer
          buffer = Buffer.allocUnsafe(READ_BACK)
          if (waiting) await waiting
        }
      }
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
    settled = true
    return {bytes, sha256: hashing ? hash.digest('hex') : ''}
  } finally {
    if (!settled) {
      zip.child.kill('SIGKILL')
      await tar?.abort()
      await zip.exited
      await feeding?.catch(() => {})
    }
    unregister()
  }
}
