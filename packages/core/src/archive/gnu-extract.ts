/**
 * Extraction written by GNU tar, every entry checked by bk first. The decompressed tar stream is read here, header
 * by header: each entry (with its GNU long-name and pax headers) goes through bk's EntryChecker, and only then are
 * its header blocks and data blocks passed on, verbatim, to `tar --extract` writing into the (fresh) folder. An entry
 * the checker refuses stops everything before tar sees it; tar is killed and the caller discards the folder.
 *
 * tar must frame the stream exactly as it is read here, or it would take data blocks for headers bk never checked.
 * So every header passed on gets its size and checksum fields rewritten canonically (the values read here, in plain
 * octal or base-256), the only header fields tar reads to find the next header; pax `size` must agree. Anything this
 * reader does not model exactly (global pax headers, sparse files, dump directories, unknown pax keywords, names that
 * are not UTF-8, a lone zero block followed by more entries, data on a link or directory) is not guessed at: the
 * caller empties the folder and extracts with node-tar instead (NativeFallback).
 */
import type {ChildProcess} from 'node:child_process'
import {createReadStream} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import {finished, pipeline, type Readable, Transform, type Writable} from 'node:stream'
import {lastLine} from '../process/tool.js'
import {openTar, requireZstd} from './compression.js'
import {type EntryChecker, UnsafeEntry} from './entry-check.js'
import {drainedOrClosed, howItEnded, keepOutput, keepStderr, pigz, run, trailingJunk} from './native.js'
import {FILE_TYPES, NativeFallback, TarFramer, ZEROS} from './tar-framer.js'
import {spawnTied} from './tied.js'
import type {Compression} from './types.js'
import {missingHeadBytes} from './zstd-head.js'

export {NativeFallback}

/**
 * GNU tar extracting a tar stream read on its stdin into `dest`, as bk's node-tar engine would: a pipe written by
 * send(), or `input` (a descriptor the caller writes by other means; finish() then waits for tar to read its end).
 */
export function startGnuExtract(tar: string, dest: string, preserveOwner: boolean, input?: number) {
  const args = [
    '--extract',
    '--file=-',
    '--read-full-records',
    // 64 KiB reads of the pipe (a pipe's size), not 10 KiB ones
    '--blocking-factor=128',
    '--directory',
    dest,
    '--numeric-owner',
    '--preserve-permissions',
    preserveOwner ? '--same-owner' : '--no-same-owner',
    // modes and times of folders last, as node-tar's engine does (an archive in any order)
    '--delay-directory-restore',
    // every name and link was checked by bk (no absolute path, no '..', nothing through a symlink, links inside
    // unless outsideSymlinks): symlinks are made at once, as node-tar does, not as placeholders replaced at the end
    // (a placeholder's inode, reused by a folder made in its place, fails tar's last step)
    '--absolute-names',
    // tar's own word that it read the archive to its end-of-archive blocks (checked in finish())
    '--totals',
  ]
  // spawnTied leaves out TAR_OPTIONS, which tar would read as options (--strip-components, --transform,
  // --keep-old-files...): a tree other than the one checked
  const env: NodeJS.ProcessEnv = {...process.env, LC_ALL: 'C'}
  const child: ChildProcess = spawnTied(tar, args, {stdio: [input ?? 'pipe', 'ignore', 'pipe'], env})
  const stderr = keepStderr(child)
  const totals = keepTotals(child)
  const stdin = child.stdin as Writable
  stdin?.on('error', () => {}) // EPIPE when tar stops early: its exit status tells why
  const exited = new Promise<{status: number | null; signal: string | null; error?: Error}>((resolve) => {
    child.once('error', (error) => resolve({status: null, signal: null, error}))
    child.once('close', (status, signal) => resolve({status, signal}))
  })
  return {
    child,
    stdin,
    /**
     * Passes bytes on, in one writev when there are several (a header and a body's piece): false when tar's pipe is
     * full (wait for {@link drained} before more). Bytes for a tar that is gone are dropped: its exit says why.
     */
    send(chunks: Buffer[]): boolean {
      if (chunks.length === 0 || child.exitCode !== null || child.signalCode !== null) return true
      if (chunks.length === 1) return stdin.write(chunks[0])
      let room = true
      stdin.cork()
      for (const chunk of chunks) room = stdin.write(chunk)
      stdin.uncork()
      return room
    },
    /** Resolves when tar's pipe has room again, or tar is gone. */
    drained(): Promise<void> {
      return drainedOrClosed(stdin, child)
    },
    /**
     * Ends the stream and waits for tar: an Error when it did not exit 0 (its first complaint), or exited 0 without
     * saying it read the archive to its end, or having read fewer than `sent` bytes (what it was given before the
     * end-of-archive blocks): a tar stopped early would leave members out, unnoticed.
     */
    async finish(sent = 0): Promise<Error | undefined> {
      stdin?.end()
      const {status, signal, error} = await exited
      if (error) return error
      if (status === 0) {
        const read = totals()
        if (read !== undefined && read >= sent) return undefined
        const what =
          read === undefined ? 'without saying it read the archive to its end' : `having read ${read} bytes of ${sent}`
        return Object.assign(new Error(`tar exited 0 ${what}: members may be missing (is ${tar} GNU tar?)`), {
          code: 'TAR_INCOMPLETE',
        })
      }
      const lines = stderr()
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/Exiting with failure status|Error is not recoverable|^Total bytes read/.test(l))
      // tar names itself as started (its full path): the line without it
      const first = (lines[0] ?? `tar ${signal ? `was killed by ${signal}` : `exited with status ${status}`}`).replace(
        /^\S*tar: /,
        '',
      )
      // a full disk shows as a short write (tar does not write again to get the errno): said, with node-tar's code
      if (/: Wrote only \d+ of \d+ bytes$/.test(first))
        return Object.assign(new Error(`${first}: no space left on device (or over quota)`), {code: 'ENOSPC'})
      if (/No space left on device/.test(first)) return Object.assign(new Error(first), {code: 'ENOSPC'})
      return new Error(first)
    },
    async kill(): Promise<void> {
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** The byte count of tar's --totals line ("Total bytes read: N ..."), once said, or undefined. */
function keepTotals(child: ChildProcess): () => number | undefined {
  let tail = ''
  let total: number | undefined
  child.stderr?.on('data', (text: string | Buffer) => {
    tail = (tail + String(text)).slice(-4096)
    const m = /Total bytes read: (\d+)/.exec(tail)
    if (m) {
      total = Number(m[1])
      tail = ''
    }
  })
  return () => total
}

export interface GnuUnpackResult {
  entries: number
  bytes: number
}

/**
 * Decompressed tar bytes: `stream`, and what the program making them said of them once it ended (`verdict`).
 */
export interface TarSource {
  stream: Readable
  /** After `stream` ended: rejects when its bytes were not all of a clean, complete compressed file. */
  verdict(): Promise<void>
  /** Stops reading (the decompressor, if any, is killed). */
  close(): void
  /**
   * Called once the reader is attached: lets the program's output flow (kept until then: see keepOutput). A
   * program's stdout read otherwise than by `data` events must not get it.
   */
  attached(): void
}

/**
 * Reads `source` (decompressed tar bytes) through the framer and the checker into GNU tar writing `dest`. Throws
 * UnsafeEntry (the first refusal, after the source was read through, as node-tar's engine reports it), the source's
 * own errors, a truncation (TAR_BAD_ARCHIVE), tar's complaint, or NativeFallback. tar is dead when it returns/throws.
 */
export async function gnuUnpack(
  tar: string,
  source: TarSource,
  dest: string,
  checker: EntryChecker,
  preserveOwner: boolean,
  filter: ((path: string) => boolean) | undefined,
  onFileDone?: (size: number) => void,
): Promise<GnuUnpackResult> {
  const result = {entries: 0, bytes: 0}
  let refusal: UnsafeEntry | undefined
  const framer = new TarFramer(
    (entry) => {
      // tar goes on after an entry it fails to make (a hard link to a missing file or to a folder, a file named
      // 'x/.'), and a folder may take a symlink to a folder for itself: the symlink would stay while the checker
      // takes it for replaced, and the next entries would be written through it (outside the folder). An entry in
      // a symlink's place (rare: an appended archive): node-tar extracts.
      if (checker.isSymlink(entry.path)) throw new NativeFallback('an entry in the place of a symlink')
      let checked: ReturnType<EntryChecker['check']>
      try {
        checked = checker.check(entry, filter)
      } catch (error) {
        if (error instanceof UnsafeEntry) refusal = error
        throw error
      }
      if (!checked) return false
      if (filter && !filter(checked.path)) return false
      result.entries++
      if (FILE_TYPES.has(entry.type)) result.bytes += entry.size
      return true
    },
    onFileDone ? (entry) => FILE_TYPES.has(entry.type) && onFileDone(entry.size) : undefined,
  )
  const gnu = startGnuExtract(tar, dest, preserveOwner)
  let failed = true
  try {
    let endSent = false
    // bytes given to tar before the end of the archive (the chunk holding its end not counted): tar must read them
    let sent = 0
    await pump(source, (chunk, out) => {
      try {
        framer.push(chunk, out)
      } catch (error) {
        if (!(error instanceof UnsafeEntry)) throw error
        // read through: the decompressor's verdict on the rest still counts, as with node-tar
        void gnu.kill()
        return 'stop'
      }
      if (framer.ended && !endSent) {
        endSent = true
        out.push(ZEROS)
      }
      if (!framer.ended) for (const piece of out) sent += piece.length
      return gnu.send(out) ? 'more' : gnu.drained()
    })
    await source.verdict()
    if (refusal) throw refusal
    framer.finish()
    if (!framer.sawZero)
      throw Object.assign(new Error('the archive ends without its end-of-archive blocks'), {code: 'TAR_BAD_ARCHIVE'})
    // as node-tar: no member at all is an archive only with both end blocks (what an empty tree archives to)
    if (framer.entries === 0 && !framer.ended)
      throw Object.assign(new Error('Unrecognized archive format'), {code: 'TAR_BAD_ARCHIVE'})
    if (!endSent && !gnu.send([ZEROS])) await gnu.drained()
    const failure = await gnu.finish(sent)
    if (failure) throw failure
    failed = false
    return result
  } finally {
    if (failed) await gnu.kill()
    source.close()
  }
}

/**
 * Hands every chunk of `source.stream` to `each` as it comes, by 'data' events: no promise, no async iterator per
 * chunk (a pipe's 64 KiB: 4000 a GiB), which made bk's hop between the decompressor and tar the slower side of the
 * pipeline. `each` fills `out` (reused: its buffers must be taken by then) and answers 'more', a promise to wait for
 * before the next chunk (the stream pauses), or 'stop' (the rest is read and dropped). Resolves at the stream's end,
 * rejects with its error or `each`'s.
 */
function pump(
  source: TarSource,
  each: (chunk: Buffer, out: Buffer[]) => 'more' | 'stop' | Promise<void>,
): Promise<void> {
  const {stream} = source
  return new Promise<void>((resolve, reject) => {
    const out: Buffer[] = []
    let stopped = false
    let settled = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      stream.off('data', onData)
      stopWatching()
      if (error === undefined) resolve()
      else reject(error)
    }
    const onData = (chunk: Buffer) => {
      if (stopped || settled) return
      out.length = 0
      let next: ReturnType<typeof each>
      try {
        next = each(chunk, out)
      } catch (error) {
        settle(error)
        return
      }
      if (next === 'stop') stopped = true
      else if (next !== 'more') {
        stream.pause()
        next.then(() => {
          if (!settled) stream.resume()
        }, settle)
      }
    }
    const stopWatching = finished(stream, {writable: false}, (error) => settle(error ?? undefined))
    stream.on('data', onData)
    source.attached()
    stream.resume()
  })
}

/** A program decompressing a file for {@link openTarFast}: pigz for gzip, zstd for zstd. */
export interface Decoder {
  program: string
  args: string[]
  kind: 'gzip' | 'zstd'
}

/**
 * The program that decompresses `file` itself (reading it from its stdin, an open file), or undefined where Node
 * reads it (gzip without pigz: zlib; no compression; a zstd file with the old missing-bytes defect, which openTar
 * mends on the way). For zstd, its absence is the error openTar gives (ENOZSTD).
 */
export async function decoderFor(file: string, compression: Compression): Promise<Decoder | undefined> {
  if (compression === 'gzip') {
    const program = await pigz()
    // -p 1: inflating is one thread's work whatever -p says; pigz -d's other threads (read, CRC, write) only hand
    // every 32 KiB piece from one to the next, which cost 3 times the CPU of the inflating itself (256 MiB: 0.8 s
    // against 0.25 s, and a slower pipe on 2 cores). The CRC-32 and length are checked the same way.
    return program ? {program, args: ['-d', '-c', '-v', '-p', '1'], kind: 'gzip'} : undefined
  }
  if (compression !== 'zstd') return undefined
  await requireZstd(file)
  if ((await missingHeadBytes(file)) !== undefined) return undefined
  return {program: 'zstd', args: ['-d', '-c', '-q'], kind: 'zstd'}
}

/**
 * The decompressed bytes of `file` as openTar gives them, but by `decoder` where there is one (see decoderFor: its
 * own threads read, inflate and check; the file goes to it directly unless `onRaw` must see its bytes: `input` when
 * given, an open file the caller keeps and closes). Bytes after the last gzip member, and any other complaint of
 * pigz, fail the verdict as corrupt data (Z_DATA_ERROR), as with zlib; zstd's failures are named as zstd's.
 */
export async function openTarFast(
  file: string,
  decoder: Decoder | undefined,
  onRaw?: (chunk: Buffer) => void,
  input?: FileHandle,
): Promise<TarSource> {
  if (!decoder) {
    const stream = await openTar(file, onRaw)
    return {stream, verdict: async () => {}, close: () => stream.destroy(), attached: () => {}}
  }
  const started = await startDecoder(file, decoder, 'pipe', onRaw, input)
  const stdout = started.child.stdout as Readable
  return {
    stream: stdout,
    attached() {
      // keepOutput's listener, whose only work was to keep the bytes until now: with it, 'data' would not flow
      started.release()
    },
    verdict: started.verdict,
    close() {
      started.close()
      stdout.destroy()
    },
  }
}

/**
 * `decoder` started on `file` (its stdin: the file itself, or a pipe that `onRaw` sees the bytes of on their way;
 * `input` when given, an open file the caller keeps and closes), writing to `stdout` (a pipe, or a descriptor the
 * caller opened: the child gets its own copy). A pipe's output is kept until `release()` (see keepOutput).
 * `verdict()` as TarSource's, once the decoder ended; `close()` kills it unless it ended.
 */
export async function startDecoder(
  file: string,
  decoder: Decoder,
  stdout: 'pipe' | number,
  onRaw?: (chunk: Buffer) => void,
  input?: FileHandle,
) {
  const {program, args, kind} = decoder
  const handle = onRaw ? undefined : (input ?? (await open(file, 'r')))
  let started: ReturnType<typeof run>
  let kept: (() => void) | undefined
  try {
    started = run(program, args, stdout, handle ? handle.fd : 'pipe')
    // claimed before any await (the close below): unclaimed, Node drops a fast child's output once it exits
    if (stdout === 'pipe') kept = keepOutput(started.child)
  } finally {
    if (handle !== input) await handle?.close()
  }
  const {child, ended, exited, stderr} = started
  let gone = false
  void ended.then(() => {
    gone = true
  })
  if (onRaw && child.stdin) {
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        onRaw(chunk)
        done(null, chunk)
      },
    })
    pipeline(createReadStream(file, {highWaterMark: 1024 * 1024}), hashing, child.stdin, () => {})
  }
  return {
    child,
    /** resolves once the decoder ended (its exit, or its failure to start) */
    ended,
    release: () => kept?.(),
    async verdict() {
      if (kind === 'zstd') {
        const failure = await exited
        if (failure) throw Object.assign(failure, {command: 'zstd -d'})
        return
      }
      const end = await ended
      if (end.error) throw end.error
      const junk = trailingJunk(program, stderr())
      if (end.status === 0 && !junk) return
      // pigz -v names its output on lines of their own: not a reason
      const last = lastLine(
        stderr()
          .split('\n')
          .filter((line) => !/ to <stdout>\s*$/.test(line))
          .join('\n'),
      )
      const why = junk?.message ?? `pigz ${howItEnded(end)}${last ? `: ${last}` : ''}`
      throw Object.assign(new Error(`incorrect data: ${why}`), {code: 'Z_DATA_ERROR'})
    },
    close() {
      if (!gone) child.kill('SIGKILL')
    },
  }
}
