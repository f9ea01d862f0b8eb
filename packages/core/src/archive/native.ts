/**
 * The system's programs as archive engines, where they are present and faster than JavaScript: GNU tar builds the
 * tar stream from bk's own walked list of entries (so order, filters and exclusions stay bk's), pigz and
 * `zstd -T0` compress on every core. Each is looked up on PATH (per PATH value, so a test can hide one);
 * BK_ARCHIVE_ENGINE=node forces the JavaScript engines (node-tar, zlib) everywhere.
 */
import {type ChildProcess, execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {basename} from 'node:path'
import {Duplex, Readable, Writable} from 'node:stream'
import {createGunzip, createGzip} from 'node:zlib'
import {endInput} from '../process/end-input.js'
import {whichProgram} from '../process/program.js'
import {lastLine} from '../process/tool.js'
import {spawnTied} from './tied.js'
import type {Compression} from './types.js'

const found = new Map<string, Promise<string | undefined>>()

/** Absolute path of `name` on PATH, or undefined (looked up once per PATH value). */
export function findProgram(name: string): Promise<string | undefined> {
  const path = process.env.PATH ?? ''
  const key = `${name}\0${path}`
  let hit = found.get(key)
  if (!hit) {
    // an executable regular file only: a folder of that name earlier on PATH is passed over, as execvp does
    hit = whichProgram(name, path)
    found.set(key, hit)
  }
  return hit
}

const jsOnly = () => process.env.BK_ARCHIVE_ENGINE === 'node'

const gnuChecked = new Map<string, Promise<boolean>>()

/** Path of a GNU tar (1.29 or later: --verbatim-files-from) on PATH, or undefined. */
export async function gnuTar(): Promise<string | undefined> {
  if (jsOnly()) return undefined
  const tar = await findProgram('tar')
  if (!tar) return undefined
  let ok = gnuChecked.get(tar)
  if (!ok) {
    ok = gnuTarByItsFile(tar).then((known) => known || gnuTarByVersion(tar))
    gnuChecked.set(tar, ok)
  }
  return (await ok) ? tar : undefined
}

/**
 * GNU tar 1.29 or later told by its program file: an executable binary naming itself GNU tar, with the
 * --verbatim-files-from option (new in 1.29). Saves running `tar --version`: a spawn blocks Node's main thread for
 * tens of milliseconds. Anything else (a script, another tar) is asked for its version.
 */
async function gnuTarByItsFile(tar: string): Promise<boolean> {
  try {
    const bytes = await readFile(tar)
    return bytes.subarray(0, 4).equals(ELF) && bytes.includes('GNU tar') && bytes.includes('verbatim-files-from')
  } catch {
    return false
  }
}
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46])

function gnuTarByVersion(tar: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    execFile(tar, ['--version'], {timeout: 10_000}, (error, stdout) => {
      const m = /GNU tar\)? (\d+)\.(\d+)/.exec(String(stdout))
      resolve(!error && m !== null && (Number(m[1]) > 1 || Number(m[2]) >= 29))
    })
  })
}

/** pigz on PATH (and not turned off), else undefined: gzip then runs in zlib. */
export async function pigz(): Promise<string | undefined> {
  return jsOnly() ? undefined : findProgram('pigz')
}

/**
 * A Duplex compressing tar bytes: pigz (all cores) or zlib for gzip, `zstd -T0` for zstd; undefined for 'none'.
 * Output is a standard gzip member / zstd frame sequence whichever engine makes it.
 */
export async function fastCompressor(compression: Compression, level?: number): Promise<Duplex | undefined> {
  if (compression === 'none') return undefined
  const command = await compressorCommand(compression, level)
  if (!command) return createGzip({level: level ?? 6})
  return programDuplex(command.program, command.args)
}

/**
 * The compressor program fastCompressor runs (reading stdin, writing stdout), or undefined where Node compresses
 * (gzip without pigz: zlib) or nothing does ('none'). zstd gets --no-sparse: its output may be a file descriptor
 * read back while it grows, which must never have holes seeked over.
 */
export async function compressorCommand(
  compression: Compression,
  level?: number,
): Promise<{program: string; args: string[]} | undefined> {
  if (compression === 'none') return undefined
  if (compression === 'gzip') {
    const program = await pigz()
    return program ? {program, args: ['-c', `-${level ?? 6}`]} : undefined
  }
  return {program: 'zstd', args: ['-q', '-c', `-${level ?? 3}`, '-T0', '--no-sparse']}
}

/** How a program ended: its exit status, or the signal that killed it, or the error that kept it from starting. */
export interface ProgramEnd {
  status: number | null
  signal: NodeJS.Signals | null
  error?: Error
}

/** 'exited with status N' or 'was killed by SIG…', for a program's failure. */
export function howItEnded(end: ProgramEnd): string {
  return end.signal ? `was killed by ${end.signal}` : `exited with status ${end.status}`
}

/**
 * A program's end as an Error: the one that kept it from starting, or its status or signal and the last line of its
 * stderr; undefined when it exited with status 0.
 */
function exitFailure(program: string, end: ProgramEnd, stderr: string): Error | undefined {
  if (end.error) return end.error
  if (end.status === 0) return undefined
  const last = lastLine(stderr)
  return new Error(`${basename(program)} ${howItEnded(end)}${last ? `: ${last}` : ''}`)
}

/** Keeps what a child writes to its stderr (piped), up to 64 KiB or so: its complaint, for the error it fails with. */
export function keepStderr(child: ChildProcess): () => string {
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < 65536) stderr += text
  })
  return () => stderr
}

/**
 * A started program: `ended` tells how it ended, `exited` the same as an Error or undefined (see exitFailure).
 * `stdout` may be a file descriptor (the program then writes there itself), `stdin` too (an open file it reads).
 */
export function run(
  program: string,
  args: string[],
  stdout: 'pipe' | 'ignore' | number,
  stdin: 'pipe' | number = 'pipe',
) {
  const child = spawnTied(program, args, {stdio: [stdin, stdout, 'pipe']})
  const stderr = keepStderr(child)
  child.stdin?.on('error', () => {}) // EPIPE when the program stops early: its exit status tells why
  const ended = new Promise<ProgramEnd>((resolve) => {
    child.once('error', (error) => resolve({status: null, signal: null, error}))
    child.once('close', (status, signal) => resolve({status, signal}))
  })
  const exited = ended.then((end) => exitFailure(program, end, stderr()))
  return {child, ended, exited, stderr}
}

/**
 * Keeps a child's stdout for a reader that attaches later. On the tick after a child exits, Node resumes its stdout
 * if nothing reads it, and the bytes flow to no one: a decompressor given a small file exits before the reader comes
 * (an await later) and its whole output is lost. resume() does nothing while a 'readable' listener is attached
 * (documented), so this one, which reads nothing, keeps the bytes buffered, with backpressure, until they are read.
 * Only for output that will be read: unread, it is never drained, and the child's 'close' never comes. Returns the
 * release: it takes that listener away again, for a reader by 'data' events (which do not flow while it is there).
 */
export function keepOutput(child: ChildProcess): () => void {
  const keep = () => {}
  child.stdout?.on('readable', keep)
  return () => {
    child.stdout?.off('readable', keep)
  }
}

/**
 * pigz's verdict on bytes after the last gzip member: it ignores them, saying so on stderr only with -v, and exits 0.
 * An Error, so that a file with garbage appended never passes for the stream it starts with.
 */
export function trailingJunk(program: string, stderr: string): Error | undefined {
  if (!/trailing (junk|garbage)/i.test(stderr)) return undefined
  return new Error(`${basename(program)}: bytes after the end of the gzip stream (trailing junk)`)
}

/**
 * A Duplex through a program's stdin and stdout (a compressor): its output ends only after it exited with
 * status 0; any other exit is an error of the stream (with its stderr). Plain child_process: no execa to load.
 */
export function programDuplex(program: string, args: string[]): Duplex {
  const {child, exited} = run(program, args, 'pipe')
  keepOutput(child)
  const stdin = child.stdin as Writable
  const stdout = child.stdout as Readable
  async function* output(): AsyncGenerator<Buffer> {
    for await (const chunk of stdout as AsyncIterable<Buffer>) yield chunk
    const failure = await exited
    if (failure) throw failure
  }
  let gone = false
  child.once('close', () => {
    gone = true
  })
  const writable = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, done) {
      // a program that stopped early: its exit status, surfacing on the output side, tells why
      if (gone) return done()
      if (stdin.write(chunk)) return done()
      drainedOrClosed(stdin, child).then(() => done())
    },
    final(done) {
      // a program that died while fed: its exit (killed, status, stderr) says why, not the closed pipe
      endInput(stdin, (error) => {
        if (!error && stdin.writableFinished) return done()
        void exited.then((failure) => done(failure ?? error))
      })
    },
    destroy(error, done) {
      if (error) child.kill('SIGKILL')
      done(error)
    },
  })
  return Duplex.from({readable: Readable.from(output(), {objectMode: false}), writable})
}

/**
 * The standard output of a program that reads its own input (a decompressor given a file): it ends only after the
 * program exited with status 0; any other exit is an error of the stream (with its stderr). Destroying the stream
 * kills the program.
 */
export function programOutput(program: string, args: string[]): Readable {
  const {child, exited} = run(program, args, 'pipe')
  keepOutput(child)
  child.stdin?.end()
  const stdout = child.stdout as Readable
  async function* output(): AsyncGenerator<Buffer> {
    let finished = false
    try {
      for await (const chunk of stdout as AsyncIterable<Buffer>) yield chunk
      const failure = await exited
      finished = true
      if (failure) throw failure
    } finally {
      if (!finished) child.kill('SIGKILL')
    }
  }
  return Readable.from(output(), {objectMode: false})
}

/**
 * Checks a compressed stream while it is written, with the decompressor's own checksums (gzip: CRC-32 and length of
 * every member, pigz -t or gzip -t; zstd: each frame's content checksum, zstd -t), in another process. Feed it
 * every byte of the file in order; `done()` rejects when the bytes do not decode. Since the compressor computed
 * those checksums over the tar bytes it read, a pass proves the file decodes to exactly the tar stream fed to it.
 */
export async function decodeCheck(compression: Compression): Promise<{
  write(chunk: Buffer): Promise<void> | undefined
  done(): Promise<void>
}> {
  if (compression === 'none') return {write: () => undefined, done: async () => {}}
  // pigz, or zlib: `gzip -t` lets trailing zeros pass
  const program = compression === 'zstd' ? 'zstd' : jsOnly() ? undefined : await pigz()
  if (!program) {
    // zlib in the thread pool; it stops at trailing zeros without a word, so its count of the bytes it consumed
    // must reach the count fed to it
    const gunzip = createGunzip({chunkSize: 256 * 1024})
    let fed = 0
    let failure: Error | undefined
    gunzip.on('error', (error) => {
      failure ??= error
    })
    gunzip.resume()
    const ended = new Promise<void>((resolve) => {
      gunzip.once('end', () => resolve())
      gunzip.once('error', () => resolve())
    })
    return {
      write(chunk) {
        fed += chunk.length
        if (failure || gunzip.write(chunk)) return undefined
        // whichever comes first removes the other listener: one per backpressured write would pile up
        return new Promise<void>((resolve) => {
          const settle = () => {
            gunzip.off('drain', settle)
            gunzip.off('error', settle)
            resolve()
          }
          gunzip.once('drain', settle)
          gunzip.once('error', settle)
        })
      },
      async done() {
        gunzip.end()
        await ended
        if (failure) throw failure
        if (gunzip.bytesWritten !== fed)
          throw new Error(`gzip: ${fed - gunzip.bytesWritten} bytes after the end of the gzip stream (trailing junk)`)
      },
    }
  }
  const {child, exited, stderr} = run(program, compression === 'zstd' ? ['-t', '-q'] : ['-t', '-v'], 'ignore')
  const stdin = child.stdin as Writable
  let closed = false
  child.once('close', () => {
    closed = true
  })
  return {
    write(chunk) {
      if (closed || stdin.write(chunk)) return undefined
      return drainedOrClosed(stdin, child)
    },
    async done() {
      stdin.end()
      const failure = (await exited) ?? trailingJunk(program, stderr())
      if (failure) throw failure
    },
  }
}

export interface GnuTarSource {
  /** Archive names, in order ('.' for cwd itself); bytes for a name that is not valid UTF-8. */
  names: TarNames
}

/**
 * Archive names for GNU tar, in order: one at a time, or in batches (a folder's listing at once: one await per
 * folder rather than one per name, which was most of the listing's cost for a tree of many small files).
 */
export type TarNames = AsyncIterable<string | Buffer | readonly (string | Buffer)[]>

/** GNU tar's complaint about one path, turned into the errno node-tar would have given (for createError). */
function tarFailure(stderr: string, status: number | null, signal: string | null): Error {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/Exiting with failure status/.test(l))
  const first = lines[0] ?? `tar exited with ${signal ?? `status ${status}`}`
  // GNU tar starts each complaint with its argv[0]: the path bk ran it by ('/usr/bin/tar: '), or 'tar: '
  const prefix = /^(?:[^:]*\/)?tar: /.exec(first)?.[0]
  const own = prefix === undefined ? undefined : first.slice(prefix.length)
  const m = own === undefined ? null : /^(.*?): (.*)$/.exec(own)
  const path = m?.[1]
  const what = m?.[2] ?? first
  const error = new Error(own ?? first) as NodeJS.ErrnoException
  if (path) {
    error.path = path
    if (/File shrank/i.test(what)) error.code = 'EOF'
    else if (/No such file|removed before we read/i.test(what)) error.code = 'ENOENT'
    else if (/Permission denied/i.test(what)) error.code = 'EACCES'
  }
  return error
}

/**
 * The uncompressed tar stream of `names` (relative to `cwd`, each archived as given, directories without their
 * contents) made by GNU tar: GNU format, numeric owners, bk's order. A file that shrinks, vanishes or cannot be
 * read fails the stream like node-tar did (with the path, for createError); a file that grew while read is
 * archived at the size it had (GNU tar's "file changed as we read it" is not an error here, as with node-tar).
 */
export async function* gnuTarStream(
  tar: string,
  cwd: string,
  names: TarNames,
  portable: boolean,
  prefix?: string,
): AsyncGenerator<Buffer> {
  const started = startGnuTar(tar, cwd, names, portable, prefix, 'pipe')
  const stdout = started.child.stdout
  if (!stdout) throw new Error('tar: no pipes')
  let finished = false
  try {
    for await (const chunk of stdout as AsyncIterable<Buffer>) yield chunk
    await started.finished
    finished = true
  } finally {
    if (!finished) await started.abort()
  }
}

/**
 * GNU tar started on `names` (as gnuTarStream) writing its tar stream to `stdout`: a pipe for us to read, or a file
 * descriptor / another program's stdin, so that the bytes never pass through Node. `finished` resolves when tar
 * exited cleanly and rejects as gnuTarStream's stream would; `abort()` kills tar and waits for it.
 */
export function startGnuTar(
  tar: string,
  cwd: string,
  names: TarNames,
  portable: boolean,
  prefix: string | undefined,
  stdout: 'pipe' | number | Writable,
): {child: ChildProcess; finished: Promise<void>; abort(): Promise<void>} {
  const args = [
    '--create',
    '--file=-',
    '--format=gnu',
    '--numeric-owner',
    '--no-recursion',
    '--blocking-factor=128',
    '--warning=no-file-changed',
    '--directory',
    cwd,
    '--null',
    '--verbatim-files-from',
    '--no-unquote',
    '--files-from=-',
  ]
  if (portable) args.splice(3, 0, '--owner=0', '--group=0')
  // names and hard-link targets under the prefix, symlink texts untouched ('S'); the prefix is plain segments
  if (prefix !== undefined) args.splice(3, 0, `--transform=s,^,${prefix}/,S`)
  const child: ChildProcess = spawnTied(tar, args, {
    stdio: ['pipe', stdout, 'pipe'],
    env: {...process.env, LC_ALL: 'C'},
  })
  keepOutput(child)
  const stderr = keepStderr(child)
  const exited = new Promise<{status: number | null; signal: string | null}>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (status, signal) => resolve({status, signal}))
  })
  exited.catch(() => {})
  const stdin = child.stdin
  if (!stdin) throw new Error('tar: no pipes')
  stdin.on('error', () => {}) // EPIPE when tar dies early: its exit status tells why
  let feedError: unknown
  const feeding = (async () => {
    let batch: (string | Buffer)[] = []
    let bytes = false
    let size = 0
    const flush = async () => {
      if (batch.length === 0) return
      const ok = stdin.write(
        bytes
          ? Buffer.concat(batch.map((b) => (typeof b === 'string' ? Buffer.from(b) : b)))
          : (batch as string[]).join(''),
      )
      batch = []
      bytes = false
      size = 0
      if (!ok) await drainedOrClosed(stdin, child)
    }
    // the first names go at once: tar waits for them (a folder's listing, not 64 KiB of them)
    let started = false
    try {
      for await (const some of names) {
        if (child.exitCode !== null || child.signalCode !== null) break // tar is gone: its status tells why
        for (const name of Array.isArray(some) ? (some as readonly (string | Buffer)[]) : [some as string | Buffer]) {
          const item = typeof name === 'string' ? `${name}\0` : Buffer.concat([name, Buffer.from([0])])
          if (typeof item !== 'string') bytes = true
          batch.push(item)
          size += item.length
        }
        if (size >= 64 * 1024 || !started) {
          started = true
          await flush()
        }
      }
      await flush()
    } catch (error) {
      feedError = error
      child.kill('SIGKILL')
    } finally {
      stdin.end()
    }
  })()
  const finished = (async () => {
    await feeding
    if (feedError) throw feedError
    const {status, signal} = await exited
    // with --warning=no-file-changed, status 1 and a quiet stderr is only "file changed as we read it"
    if (status === 0 || (status === 1 && stderr().trim() === '')) return
    throw tarFailure(stderr(), status, signal)
  })()
  finished.catch(() => {})
  return {
    child,
    finished,
    async abort() {
      child.kill('SIGKILL')
      await feeding.catch(() => {})
      await exited.catch(() => {})
    },
  }
}

/** Resolves when a child's stdin can take more, or the child is gone (its exit status then tells why). */
export function drainedOrClosed(stdin: Writable, child: ChildProcess): Promise<void> {
  // already gone: its 'close' came before we looked, and no event would ever wake us
  if (stdin.destroyed || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const go = () => {
      stdin.off('drain', go)
      child.off('close', go)
      resolve()
    }
    stdin.on('drain', go)
    child.on('close', go)
  })
}
