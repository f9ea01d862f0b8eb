import {createHash} from 'node:crypto'
import type {Dirent, Stats} from 'node:fs'
import {type FileHandle, lstat, open, readdir, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {Readable, type Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {BkError, isBkError, messageOf} from '../errors.js'
import {notUtf8Error} from '../fs/names.js'
import {pathExists} from '../fs/paths.js'
import {walk} from '../fs/walk.js'
import {fileSink, writeAll} from '../fs/write-all.js'
import {writeBehind} from '../fs/write-behind.js'
import type {TarMembersReadElsewhere} from '../manifest/tar-members.js'
import {atomicFile} from '../safety/atomic.js'
import {pidAlive} from '../safety/pid.js'
import {stepProgress} from '../ui/progress.js'
import {compressionOf, requireZstd} from './compression.js'
import {compressorCommand, decodeCheck, fastCompressor, gnuTar, gnuTarStream} from './native.js'
import {normalizeName} from './read.js'
import {nodeTar} from './tar-lib.js'
import {tiedReady} from './tied.js'
import {compressIntoFile, compressPartInto, decodeInto, decoderCommand} from './to-file.js'
import type {ArchiveResult, Compression, CreateArchiveOptions, PrependMember} from './types.js'
import {plainHeaderBlock} from './ustar-header.js'

/** Paths queued in node-tar's Pack but not yet turned into entries: bounds memory on huge trees. */
const MAX_QUEUED = 256
/** node-tar reads files in blocks of this size (its default, 16 MiB per concurrent entry, is too greedy). */
const READ_BLOCK = 1024 * 1024

export interface WrittenTar {
  bytes: number
  entries: number
  sha256: string
  skipped: string[]
}

/** Extra stages for createBkArchive: `tap` sees every uncompressed tar byte, in order. */
export interface WriteHooks {
  tap?: (chunk: Buffer) => void
  /**
   * The tap's members, for a read-back that reads the tar stream in a thread of its own (decode-thread.ts)
   * instead of calling `tap`: it gives them here, then its verdict on the whole stream. With a tap only.
   */
  members?: TarMembersReadElsewhere
  /** Other files of ours that may sit inside cwd (temp files) and must not be archived. */
  exclude?: string[]
  /** The caller hashes the output itself (createBkArchive copies it once more): `sha256` comes back ''. */
  skipHash?: boolean
  /**
   * Check, while it is written, that the output decodes (decodeCheck: the gzip/zstd checksums of every member or
   * frame, in another process): the proof a read-back gave, without reading the file again.
   */
  verify?: boolean
}

/**
 * Create a tar archive (.tar, .tar.gz/.tgz, .tar.zst), streaming: memory stays flat whatever the size of the tree.
 * Written through safety's atomicFile (a `.<name>.bk-partial-<pid>-<tag>` temp beside it, fsync, rename); on any
 * failure, SIGINT or SIGTERM the partial file is removed, so a file at `file` is always complete. Modes, numeric owners, mtimes, symlinks, hard links and empty
 * directories are kept; sockets, fifos and devices are left out (listed in `skipped`).
 */
export async function createArchive(options: CreateArchiveOptions): Promise<ArchiveResult> {
  const compression = await checkCreate(options)
  try {
    const written = await atomicFile(options.file, (tmp) => writeTar(tmp, options, compression), {
      mode: archiveMode(options),
      overwrite: options.overwrite ?? false,
    })
    return {file: options.file, ...written}
  } catch (error) {
    throw createError(options, error)
  }
}

export function archiveMode(options: CreateArchiveOptions): number {
  return options.mode ?? (options.secret ? 0o600 : 0o644)
}

/** Validate the options; returns the compression to use. */
export async function checkCreate(options: CreateArchiveOptions): Promise<Compression> {
  // setpriv's answer found while the checks and the listing's start run (awaited before the first spawn)
  tiedReady().catch(() => {})
  const cwdStat = await stat(options.cwd).catch(() => undefined)
  if (!cwdStat?.isDirectory()) throw new BkError(`cannot archive ${options.cwd}: not a directory`)
  if (!options.overwrite && (await pathExists(options.file)))
    throw new BkError(`${options.file} already exists (remove it or choose another name)`, {code: 'EEXIST'})
  const dirStat = await stat(dirname(resolve(options.file))).catch(() => undefined)
  if (!dirStat?.isDirectory())
    throw new BkError(`cannot write ${options.file}: folder ${dirname(options.file)} does not exist`)
  const compression = options.compression ?? compressionOf(options.file)
  if (compression === 'zstd') await requireZstd(options.file)
  await sweepPartials(options.file)
  return compression
}

/** Temp files (atomicFile's, and createBkArchive's `-body` beside them) this process is writing now. */
const writing = new Set<string>()

/**
 * Remove the partial files of `file` (`.<name>.bk-partial-<pid>-…`, regular files and FIFOs) that killed runs left: those of a
 * process that is gone, and those of this very pid that this process is not writing. A run killed the hard way
 * (kill -9, the OOM killer, a power cut) removes nothing, and bk as a container's main process has the same pid in
 * every run: a sweep that passed over its own pid's names would keep such a file for good.
 */
async function sweepPartials(file: string): Promise<void> {
  const dir = dirname(resolve(file))
  const prefix = `.${basename(resolve(file))}.bk-partial-`
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const m = /^(\d+)-/.exec(name.slice(prefix.length))
    const pid = Number(m?.[1])
    if (!m || !Number.isInteger(pid) || pid <= 0) continue
    const path = join(dir, name)
    if (pid === process.pid ? [...writing].some((own) => path.startsWith(own)) : pidAlive(pid)) continue
    const st = await lstat(path).catch(() => undefined)
    // (a FIFO: a zstd read-back's, decode-thread.ts)
    if (st?.isFile() || st?.isFIFO()) await rm(path, {force: true})
  }
}

export function createError(options: CreateArchiveOptions, error: unknown): BkError {
  if (isBkError(error)) return error
  const e = error as NodeJS.ErrnoException
  if (e.code === 'EOF' && e.path)
    return new BkError(`${e.path} shrank while ${options.file} was being written; stop the application or retry`, {
      cause: error,
    })
  if (e.code === 'ENOSPC')
    return new BkError(`no space left writing ${options.file}; nothing was written`, {cause: error})
  if (e.code === 'ENOENT' && e.path)
    return new BkError(`${e.path} vanished while ${options.file} was being written; run the backup again`, {
      cause: error,
    })
  if (e.code === 'EACCES' && e.path) return new BkError(`cannot read ${e.path}: permission denied`, {cause: error})
  return new BkError(`creating ${options.file} failed: ${messageOf(error).split('\n')[0]}`, {cause: error})
}

/** A Map that stores nothing: turns off node-tar's unbounded caches. */
class ForgetfulMap<K, V> extends Map<K, V> {
  override set(_key: K, _value: V): this {
    return this
  }
}

/** One regular-file member as raw tar blocks (header, content, padding), for `prepend`. */
export function memberBlocks(member: PrependMember): Buffer {
  const content = typeof member.content === 'string' ? Buffer.from(member.content) : (member.content ?? Buffer.alloc(0))
  return Buffer.concat(memberPieces(member.name, [content], member.mode ?? 0o644))
}

/** One regular-file member as tar blocks in pieces: its header, the content's own pieces (not copied), padding. */
export function memberPieces(name: string, content: readonly Buffer[], mode = 0o644): Buffer[] {
  const size = content.reduce((sum, piece) => sum + piece.length, 0)
  return [...memberStream(name, size, content, mode)]
}

/**
 * One regular-file member of `size` bytes as tar blocks, its content streamed from `content` as it is taken (the
 * header needs the size first); content of another size fails the stream rather than make a member that lies.
 */
export function* memberStream(name: string, size: number, content: Iterable<Buffer>, mode = 0o644): Generator<Buffer> {
  yield headerBlock(name, {
    mode,
    size,
    mtime: new Date(),
    type: 'File',
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  })
  let seen = 0
  for (const piece of content) {
    seen += piece.length
    if (seen > size) break
    yield piece
  }
  if (seen !== size) throw new Error(`${name}: its content came to ${seen} bytes, its header says ${size}`)
  yield Buffer.alloc((512 - (size % 512)) % 512)
}

function headerBlock(
  name: string,
  fields: {mode: number; size: number; mtime: Date; type: 'File' | 'Directory'; uid: number; gid: number},
): Buffer {
  const plain = plainHeaderBlock(name, fields)
  if (plain) return plain
  const header = new (nodeTar().Header)({path: name, ...fields})
  if (header.encode() || !header.block) throw new BkError(`prepended member name too long: ${name}`)
  return header.block
}

/** A `prepend` member as tar blocks: from its content, or its `source` file streamed, or a directory header. */
async function* prependBlocks(member: PrependMember, portable: boolean): AsyncGenerator<Buffer> {
  if (member.source === undefined && !member.directory) {
    yield memberBlocks(member)
    return
  }
  if (member.directory) {
    const name = member.name.endsWith('/') ? member.name : `${member.name}/`
    yield headerBlock(name, {
      mode: member.mode ?? 0o755,
      size: 0,
      mtime: new Date(),
      type: 'Directory',
      uid: portable ? 0 : (process.getuid?.() ?? 0),
      gid: portable ? 0 : (process.getgid?.() ?? 0),
    })
    return
  }
  const source = member.source as string
  const handle = await open(source, 'r')
  try {
    const st = await handle.stat()
    if (!st.isFile()) throw new BkError(`cannot archive ${source} as ${member.name}: not a regular file`)
    yield headerBlock(member.name, {
      mode: member.mode ?? st.mode & 0o7777,
      size: st.size,
      mtime: st.mtime,
      type: 'File',
      uid: portable ? 0 : st.uid,
      gid: portable ? 0 : st.gid,
    })
    let read = 0
    for await (const chunk of handle.createReadStream({
      start: 0,
      end: st.size === 0 ? 0 : st.size - 1,
      highWaterMark: READ_BLOCK,
      autoClose: false,
    }) as AsyncIterable<Buffer>) {
      if (st.size === 0) break
      read += chunk.length
      yield chunk
    }
    // the header promised st.size bytes: a file that shrank would shift every member after it
    if (read !== st.size) throw new BkError(`${source} changed size while it was archived as ${member.name}`)
    const pad = (512 - (st.size % 512)) % 512
    if (pad) yield Buffer.alloc(pad)
  } finally {
    await handle.close()
  }
}

/** The '<prefix>/' directory member of cwd itself (its mode, owner, mtime). */
async function prefixBlock(prefix: string, cwd: string, portable: boolean): Promise<Buffer> {
  const st = await stat(cwd)
  return headerBlock(`${prefix}/`, {
    mode: st.mode & 0o7777,
    size: 0,
    mtime: st.mtime,
    type: 'Directory',
    uid: portable ? 0 : st.uid,
    gid: portable ? 0 : st.gid,
  })
}

/** A `prefix` option checked: plain name segments, no './', '..' or characters GNU tar's --transform would read. */
function checkedPrefix(options: CreateArchiveOptions): string | undefined {
  const prefix = options.prefix
  if (prefix === undefined) return undefined
  if (options.dotSlash) throw new BkError('cannot archive with both a prefix and dotSlash')
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(prefix))
    throw new BkError(`archive prefix '${prefix}': give plain name segments (letters, digits, '.', '_', '-')`)
  return prefix
}

/** Write the (compressed) tar stream of `options` to `path` (a fresh temp file: truncated). */
export async function writeTar(
  path: string,
  options: CreateArchiveOptions,
  compression: Compression,
  hooks: WriteHooks = {},
): Promise<WrittenTar> {
  const prefix = checkedPrefix(options)
  // ours while it is written: a sweep of this target's leftovers (another write of it in this process) keeps it
  const own = ownStem(path)
  writing.add(own)
  try {
    return await writeTarOwned(path, options, compression, hooks, prefix)
  } finally {
    writing.delete(own)
  }
}

/** `.<name>.bk-partial-<pid>-<tag>` of a temp path (createBkArchive's body file is that name and `-body`), else the path. */
function ownStem(path: string): string {
  const name = basename(path)
  const m = /^(.*\.bk-partial-\d+-[^-]+)/.exec(name)
  return join(dirname(path), m?.[1] ?? name)
}

async function writeTarOwned(
  path: string,
  options: CreateArchiveOptions,
  compression: Compression,
  hooks: WriteHooks,
  prefix: string | undefined,
): Promise<WrittenTar> {
  // pigz / zstd: they write the file themselves (compressIntoFile); else Node writes it (zlib, or no compression)
  const command = await compressorCommand(compression, options.level)
  await tiedReady()
  const handle = await open(path, 'w', 0o600)
  try {
    return await writeTarTo(path, options, compression, hooks, prefix, handle, command)
  } finally {
    await handle.close()
  }
}

async function writeTarTo(
  path: string,
  options: CreateArchiveOptions,
  compression: Compression,
  hooks: WriteHooks,
  prefix: string | undefined,
  handle: FileHandle,
  /** pigz or zstd, writing `handle` itself; undefined: Node writes it */
  command: {program: string; args: string[]} | undefined,
): Promise<WrittenTar> {
  // never archive the archive itself (when it is written inside cwd)
  const own = await stat(path)
  // by identity (dev:ino), looked up by name: the fast listing lstats only entries that bear one of these names
  const exclude = new Map<string, Set<string>>()
  const excludeFile = (name: string, st: Stats) => {
    const ids = exclude.get(name) ?? new Set<string>()
    ids.add(`${st.dev}:${st.ino}`)
    exclude.set(name, ids)
  }
  excludeFile(basename(path), own)
  for (const other of [options.file, ...(hooks.exclude ?? [])]) {
    const st = await stat(other).catch(() => undefined)
    if (st) excludeFile(basename(other), st)
  }
  const excluded = (name: string, st: Stats) => exclude.get(name)?.has(`${st.dev}:${st.ino}`) ?? false
  const skipped: string[] = []
  let entries = 0
  let produced = 0
  const step = stepProgress('archiving')
  const hash = createHash('sha256')
  let bytes = 0

  const portable = options.portable ?? false
  const tar = await gnuTar()
  /** An entry's archive name, or undefined for one left out (listed in `skipped`). */
  const nameOf = (entry: Source): string | Buffer | undefined => {
    if (entry.kind === 'other') {
      skipped.push(entry.path)
      return undefined
    }
    entries++
    return options.dotSlash ? dotSlashName(entry.path) : entry.path
  }
  /** GNU tar's names, a batch at a time (it lstats every entry itself: the listings' types are all bk needs). */
  const acceptedBatches = async function* (): AsyncGenerator<(string | Buffer)[]> {
    for await (const batch of listedSources(options, exclude, excluded)) {
      const names: (string | Buffer)[] = []
      for (const entry of batch) {
        const name = nameOf(entry)
        if (name !== undefined) names.push(name)
      }
      if (names.length > 0) yield names
    }
  }
  /** node-tar's names, one at a time, each lstat-ed. */
  const accepted = async function* (): AsyncGenerator<string> {
    for await (const entry of sources(options, excluded)) {
      const name = nameOf(entry)
      if (name !== undefined) yield name as string
    }
  }

  /** The members Node makes, before the tree's: `prepend`'s, then the prefix directory. */
  async function* headBytes(): AsyncGenerator<Buffer> {
    for (const member of options.prepend ?? []) {
      entries++
      for await (const block of prependBlocks(
        options.dotSlash ? {...member, name: dotSlashName(member.name)} : member,
        portable,
      )) {
        produced += block.length
        yield block
      }
    }
    if (prefix !== undefined) {
      const block = await prefixBlock(prefix, resolve(options.cwd), portable)
      entries++
      produced += block.length
      yield block
    }
  }

  async function* tarBytes(): AsyncGenerator<Buffer> {
    yield* headBytes()
    const body = tar
      ? gnuTarStream(tar, resolve(options.cwd), acceptedBatches(), portable, prefix)
      : nodeTarStream(options, accepted())
    for await (const chunk of body) {
      produced += chunk.length
      options.onProgress?.(produced)
      step.update(produced)
      yield chunk
    }
  }

  if (command) {
    // GNU tar straight into the compressor: Node writes only the members it makes itself (prepend, the prefix
    // directory) into the compressor first, then hands the compressor's stdin to tar as its stdout
    const head = (options.prepend?.length ?? 0) > 0 || prefix !== undefined
    // a tap (and with it a decode check, asked for or not): from the decompressed read-back (pigz -d / zstd -d), so
    // tar still writes straight into the compressor, and the manifest lists what the file decodes to
    const decoder = tar !== undefined && hooks.tap ? await decoderCommand(compression) : undefined
    const direct = tar !== undefined && (!hooks.tap || decoder !== undefined)
    // the head at a level of its own: its own member, written before the tree's compressor starts
    const apart =
      direct && head && options.prependLevel !== undefined
        ? await compressorCommand(compression, options.prependLevel)
        : undefined
    const check = await decodeCheckFor(compression, decoder, hooks, path)
    let written: {bytes: number; sha256: string}
    try {
      if (apart) await compressPartInto(handle, apart, headBytes())
      written = await compressIntoFile(
        path,
        handle,
        command,
        direct
          ? {
              kind: 'gnu-tar',
              tar,
              cwd: resolve(options.cwd),
              names: acceptedBatches(),
              portable,
              prefix,
              head: head && !apart ? headBytes() : undefined,
            }
          : {kind: 'node', chunks: tarBytes(), tap: decoder ? undefined : hooks.tap},
        {
          hash: !hooks.skipHash,
          onFile: check.during?.write,
          onFileLight: check.light,
          // without Node in the tar stream, progress counts the archive's bytes
          onProgress: direct
            ? (done) => {
                options.onProgress?.(done)
                step.update(done)
              }
            : undefined,
        },
      )
    } catch (error) {
      await check.during?.done().catch(() => {}) // the checker sees a cut stream; the write's error is the one to tell
      throw error
    }
    // (given the file's size, a check whose thread died reads the whole file again)
    if (check.during) await checked(check.during.done(written.bytes), options)
    step.done()
    return {bytes: written.bytes, entries, sha256: written.sha256, skipped}
  }
  const stages: (
    | NodeJS.ReadableStream
    | NodeJS.WritableStream
    | Transform
    | ((src: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>)
  )[] = [Readable.from(tarBytes())]
  if (hooks.tap) {
    const tap = hooks.tap
    stages.push(async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        tap(chunk)
        yield chunk
      }
    })
  }
  const zip = await fastCompressor(compression, options.level)
  if (zip) stages.push(zip)
  const hashing = !hooks.skipHash
  const flusher = writeBehind(() => handle.fd)
  const check = hooks.verify ? await decodeCheck(compression) : undefined
  stages.push(async function* (src: AsyncIterable<Buffer>) {
    try {
      for await (const chunk of src) {
        if (hashing) hash.update(chunk)
        bytes += chunk.length
        flusher.wrote(chunk.length)
        const checking = check?.write(chunk)
        if (checking) await checking
        yield chunk
      }
    } finally {
      await flusher.settle()
    }
  })
  stages.push(fileSink(handle))
  try {
    // biome-ignore lint/suspicious/noExplicitAny: pipeline's overloads do not take a computed list of stages
    await (pipeline as any)(...stages)
  } catch (error) {
    await check?.done().catch(() => {}) // the checker sees a cut stream; the pipeline's error is the one to tell
    throw error
  }
  if (check) await checked(check.done(), options)
  step.done()
  return {bytes, entries, sha256: hashing ? hash.digest('hex') : '', skipped}
}

/**
 * The decode check of a file a compressor writes into (compressIntoFile): `during`, fed every byte of the file as it
 * is read back. With a `decoder` (hooks with both a tap and
 * a check, tar writing straight into the compressor) the check is that decompressor, and the tap gets the tar stream
 * it decodes: the manifest then lists what the file decodes to. Else decodeCheck when hooks.verify asks for one.
 * `path`: the file's, beside which a read-back's FIFO is made.
 */
async function decodeCheckFor(
  compression: Compression,
  decoder: {program: string; args: string[]} | undefined,
  hooks: WriteHooks,
  path: string,
): Promise<{
  /** `done(bytes)`: the whole file is written, of `bytes` bytes; `done()`: the write failed, the check only ends */
  during?: {write(chunk: Buffer): Promise<void>; done(bytes?: number): Promise<void>}
  /** `during` only hands the bytes on (its decoder's output read in a thread): the file is hashed as it is read back */
  light?: boolean
}> {
  const tap = hooks.tap
  if (decoder && tap) {
    // The decompressor runs alongside the compressor, fed by Node with each chunk of the file as it is read back,
    // so the check ends with the write. (zstd's used to read the finished file itself, after the compressor: a
    // serial tail of ~40% of the compression's time, 256 MiB backed up; alongside, ~6% less wall for ~5-9% more CPU
    // on a busy 2-core machine, paired: the compressor now shares the cores with the check.) Either way it verifies every gzip member's / zstd
    // frame's checksum, as decodeCheck does.
    // the members read in a thread where a FIFO can be made beside the file (else Node's pipe, on this thread)
    const members = hooks.members
    if (!members) return {during: decodeInto(decoder, tap)}
    // (its module, and the thread's, load only where a read-back needs them)
    const {membersThread} = await import('./decode-thread.js')
    // The thread, its FIFO and the decoder are made on the next turn of the event loop: the compressor and tar are
    // spawned first (a spawn copies this process's memory map, a thread's too; ~50 ms less before tar starts).
    // Where no FIFO can be made, decodeInto on this thread. A thread that cannot be made fails the first write.
    const made = new Promise<{write(chunk: Buffer): Promise<void>; done(bytes?: number): Promise<void>}>(
      (resolve, reject) =>
        setImmediate(() => {
          try {
            resolve(membersThread().alongside(decoder, path, members) ?? decodeInto(decoder, tap))
          } catch (error) {
            reject(error)
          }
        }),
    )
    made.catch(() => {}) // told by the first write or by done()
    return {
      during: {
        write: (chunk) => {
          const written = made.then((check) => check.write(chunk))
          written.catch(() => {}) // (the read-back awaits it later, or never once the write failed)
          return written
        },
        done: async (bytes) => (await made).done(bytes),
      },
      // (through the thread, this one only relays the file's bytes into the decoder: it hashes them too, rather than
      // a hashing thread of its own started and reading the file a second time)
      light: true,
    }
  }
  if (!hooks.verify) return {}
  const check = await decodeCheck(compression)
  return {
    during: {
      // decodeCheck may keep a chunk queued after it returns: give it its own copy
      write: (chunk) => check.write(Buffer.from(chunk)) ?? Promise.resolve(),
      done: () => check.done(),
    },
  }
}

/**
 * The decode check's verdict on the whole file: a refusal is ECORRUPT (nothing is kept). The decode thread's own
 * death (ETHREAD) says nothing about the file: the read-back then reads it again on this thread (decode-thread.ts),
 * and an ETHREAD that still gets here fails the write as itself.
 */
async function checked(verdict: Promise<void>, options: CreateArchiveOptions): Promise<void> {
  await verdict.catch((error) => {
    if ((error as NodeJS.ErrnoException)?.code === 'ETHREAD') throw error
    throw new BkError(
      `${options.file} does not read back as it was written (${messageOf(error)}); nothing was kept, run it again`,
      {cause: error, code: 'ECORRUPT'},
    )
  })
}

/** The tar stream of `names` made by node-tar (where no GNU tar is found). */
async function* nodeTarStream(options: CreateArchiveOptions, names: AsyncIterable<string>): AsyncGenerator<Buffer> {
  let created = 0
  let wake: (() => void) | undefined
  const pack = new (nodeTar().Pack)({
    cwd: resolve(options.cwd),
    portable: options.portable ?? false,
    prefix: options.prefix,
    noDirRecurse: true,
    maxReadSize: READ_BLOCK,
    jobs: 4,
    // node-tar keeps every lstat and readdir result for the whole run by default: memory grew with the file count
    // (258 MB for 64k files). Nothing needs them afterwards (hard links are matched through its linkCache).
    statCache: new ForgetfulMap(),
    readdirCache: new ForgetfulMap(),
    onWriteEntry: (entry) => {
      created++
      wake?.()
      // node-tar adds SCHILY.dev/ino/nlink to pax headers (long or non-ASCII names), which GNU tar warns about on
      // every restore; nobody needs them. Hard-linked files keep theirs: node-tar still matches links by them.
      const st = (entry as unknown as {stat?: Stats}).stat
      if (st && !(st.isFile() && st.nlink > 1)) Object.assign(st, {dev: undefined, ino: undefined, nlink: undefined})
    },
  })
  const feeding = (async () => {
    let written = 0
    for await (const name of names) {
      pack.write(name)
      written++
      while (written - created > MAX_QUEUED) await new Promise<void>((r) => (wake = r))
      wake = undefined
    }
    pack.end()
  })()
  feeding.catch((error) => pack.emit('error', error))
  for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk
  await feeding
}

/** 'x' -> './x' ('.' stays '.', which node-tar writes as './'). */
export function dotSlashName(path: string): string {
  const name = normalizeName(path)
  return name === '.' ? '.' : `./${name}`
}

type SourceKind = 'file' | 'directory' | 'symlink' | 'other'

/** An entry to archive: its path relative to cwd and its type ('other': a socket, fifo or device, left out). */
interface Source {
  path: string
  kind: SourceKind
}

function kindOf(
  st: Pick<
    Stats,
    'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isSocket' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice'
  >,
): SourceKind | undefined {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'directory'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isSocket() || st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) return 'other'
  return undefined // a directory listing that does not tell (DT_UNKNOWN): lstat it
}

/** The validated `entries` of the options, each with its lstat (none to list: undefined). */
async function* listedEntries(options: CreateArchiveOptions): AsyncGenerator<{rel: string; stat: Stats}> {
  const cwd = resolve(options.cwd)
  for (const raw of options.entries ?? []) {
    const rel = normalizeName(raw)
    if (rel === '.' || rel.split('/').includes('..') || raw.startsWith('/'))
      throw new BkError(`cannot archive entry '${raw}': give paths inside ${options.cwd}`)
    if (options.filter && !options.filter(rel)) continue
    const st = await lstat(join(cwd, rel)).catch(() => undefined)
    if (!st) throw new BkError(`cannot archive ${join(options.cwd, rel)}: no such file or directory`)
    yield {rel, stat: st}
  }
}

/** Entries to archive, each lstat-ed (the node-tar engine): everything under cwd, or the listed entries, filtered. */
async function* sources(
  options: CreateArchiveOptions,
  excluded: (name: string, st: Stats) => boolean,
): AsyncGenerator<Source> {
  const cwd = resolve(options.cwd)
  const filter = options.filter
  // the root entry: node-tar names it './' (not subject to the filter, which sees paths inside cwd)
  if (options.dotSlash) yield {path: '.', kind: 'directory'}
  const keep = (entry: {path: string; stat: Stats}) => !excluded(basename(entry.path), entry.stat)
  if (!options.entries) {
    for await (const entry of walk(cwd, {filter: filter ? (p) => filter(p) : undefined}))
      if (keep(entry)) yield {path: entry.path, kind: kindOf(entry.stat) ?? 'other'}
    return
  }
  for await (const {rel, stat: st} of listedEntries(options)) {
    if (excluded(basename(rel), st)) continue
    yield {path: rel, kind: kindOf(st) ?? 'other'}
    if (st.isDirectory())
      for await (const entry of walk(join(cwd, rel), {filter: filter ? (p) => filter(`${rel}/${p}`) : undefined}))
        if (keep(entry)) yield {path: `${rel}/${entry.path}`, kind: kindOf(entry.stat) ?? 'other'}
  }
}

/** Most entries listedSources gives in one batch. */
const LISTED_BATCH = 1024

/**
 * The same entries, in the same order, from directory listings alone (for GNU tar, which lstats each entry itself):
 * an lstat only where the listing does not give the type or the name is one of ours to exclude. Saves one
 * thread-pool lstat per entry (most of the time of a tree of many small files). In batches (up to a folder's
 * listing, handed on before the next folder is read): a generator's yield per entry cost more than the listing.
 */
async function* listedSources(
  options: CreateArchiveOptions,
  exclude: Map<string, Set<string>>,
  excluded: (name: string, st: Stats) => boolean,
): AsyncGenerator<Source[]> {
  const cwd = resolve(options.cwd)
  const filter = options.filter
  // a folder holding a name that may be lossy is listed again as bytes: a name that is not valid UTF-8 (an old
  // Latin-1 file name) is refused (fs/names.ts), never archived under the lossy string readdir gives, nor as its
  // bytes (a manifest would name it lossily, and a restore by bk would merge it with its lossy namesakes)
  const SLASH = Buffer.from('/')
  const byName = (a: {name: string}, b: {name: string}) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  /** A listed entry's kind: from the listing, or an lstat where it does not tell or the name may be ours to leave
   * out; undefined to skip it (excluded, or removed between readdir and lstat: a live application's temp file). */
  const kindOfListed = async (
    dirent: Parameters<typeof kindOf>[0],
    name: string,
    child: string | Buffer,
  ): Promise<SourceKind | undefined> => {
    const listed = kindOf(dirent)
    if (listed !== undefined && !exclude.has(name)) return listed
    const st = await lstat(child).catch((error) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    })
    if (!st || excluded(name, st)) return undefined
    return kindOf(st) ?? 'other'
  }
  /** A folder's listing, sorted, and how far the walk has taken it. */
  interface Level {
    abs: string | Buffer
    rel: string
    /** listed as strings (several times faster than as bytes, for a folder of many small files) */
    named?: Dirent[]
    /** listed as bytes: a name may be lossy (U+FFFD) or sort differently by UTF-16 units than by UTF-8 bytes */
    listing?: Dirent<Buffer>[]
    next: number
  }
  const levelOf = async (abs: Buffer | string, rel: string): Promise<Level> => {
    if (typeof abs === 'string') {
      // listed as strings unless a name may be lossy (U+FFFD) or sorts differently by UTF-16 units than by UTF-8
      // bytes (U+D800 and up): then that folder is listed again as bytes
      const named = await readdir(abs, {withFileTypes: true})
      if (!named.some((dirent) => /[\uD800-\uFFFF]/.test(dirent.name))) {
        named.sort(byName)
        return {abs, rel, named, next: 0}
      }
      abs = Buffer.from(abs)
    }
    const listing = await readdir(abs, {withFileTypes: true, encoding: 'buffer'})
    listing.sort((a, b) => Buffer.compare(a.name, b.name))
    return {abs, rel, listing, next: 0}
  }
  /** A folder's listing read before the folder is yielded: undefined when it was removed since its parent was
   * listed (a live application's temp folder), which leaves it out as a file removed before its lstat is. */
  const levelOrGone = (abs: Buffer | string, rel: string) =>
    levelOf(abs, rel).catch((error) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    })
  /**
   * The tree below `abs`, depth first, each folder's entries in name order, a folder before its contents: one
   * generator with a stack of listings rather than one generator per folder (every entry went through each
   * enclosing folder's generator, a promise and an event-loop turn per level), and no await where the listing
   * tells the entry's kind.
   */
  async function* below(abs: Buffer | string, rel: string): AsyncGenerator<Source[]> {
    const stack = [await levelOf(abs, rel)]
    let out: Source[] = []
    while (stack.length > 0) {
      if (out.length >= LISTED_BATCH) {
        yield out
        out = []
      }
      const level = stack[stack.length - 1] as Level
      if (level.named) {
        const dirent = level.named[level.next++]
        if (dirent === undefined) {
          stack.pop()
          continue
        }
        const name = dirent.name
        const path = level.rel === '' ? name : `${level.rel}/${name}`
        if (filter && !filter(path)) continue
        const child = `${level.abs}/${name}`
        const listed = kindOf(dirent)
        const kind = listed !== undefined && !exclude.has(name) ? listed : await kindOfListed(dirent, name, child)
        if (kind === undefined) continue
        if (kind !== 'directory') {
          out.push({path, kind})
          continue
        }
        // what is listed so far goes to tar while this folder is read
        if (out.length > 0) {
          yield out
          out = []
        }
        const below = await levelOrGone(child, path)
        if (!below) continue
        out.push({path, kind})
        stack.push(below)
        continue
      }
      const dirent = (level.listing as Dirent<Buffer>[])[level.next++]
      if (dirent === undefined) {
        stack.pop()
        continue
      }
      const bytes = dirent.name
      const name = bytes.toString('utf8')
      const at = level.rel
      const path = at === '' ? name : `${at}/${name}`
      if (filter && !filter(path)) continue
      const child = Buffer.concat([level.abs as Buffer, SLASH, bytes])
      // two such names would be one path of the manifest, naming neither file: refused before anything is written
      if (name.includes('\uFFFD') && !Buffer.from(name).equals(bytes)) throw notUtf8Error(child)
      const kind = await kindOfListed(dirent, name, child)
      if (kind === undefined) continue
      const below = kind === 'directory' ? await levelOrGone(child.toString(), path) : undefined
      if (kind === 'directory' && !below) continue
      out.push({path, kind})
      if (below) stack.push(below)
    }
    if (out.length > 0) yield out
  }
  if (options.dotSlash) yield [{path: '.', kind: 'directory'}]
  if (!options.entries) {
    yield* below(cwd, '')
    return
  }
  for await (const {rel, stat: st} of listedEntries(options)) {
    if (excluded(basename(rel), st)) continue
    yield [{path: rel, kind: kindOf(st) ?? 'other'}]
    if (st.isDirectory()) yield* below(join(cwd, rel), rel)
  }
}

/** Bytes of the body read at a time by writeConcatenated (two such buffers: one read while the other is written). */
const BODY_READ = 1024 * 1024

/**
 * Write `head` (bytes, or pieces streamed as they come) then the bytes of `bodyPath` into `path` (truncated); returns
 * size and sha256 of the result. At most two buffers of the body are held: through a stream pipeline each stage
 * queued up to 16 chunks of 1 MiB, ~20 MB more at the end of a backup (its peak of memory).
 */
export async function writeConcatenated(
  path: string,
  head: Buffer | AsyncIterable<Buffer>,
  bodyPath: string,
): Promise<{bytes: number; sha256: string}> {
  const hash = createHash('sha256')
  let bytes = 0
  const out = await open(path, 'w', 0o600)
  const flusher = writeBehind(() => out.fd)
  const put = async (chunk: Buffer) => {
    hash.update(chunk)
    bytes += chunk.length
    flusher.wrote(chunk.length)
    await writeAll(out, chunk)
  }
  try {
    if (Buffer.isBuffer(head)) await put(head)
    else for await (const piece of head) await put(piece)
    const body = await open(bodyPath, 'r')
    let [filling, spare] = [Buffer.allocUnsafe(BODY_READ), Buffer.allocUnsafe(BODY_READ)]
    let reading = body.read(filling, 0, BODY_READ, null)
    try {
      for (;;) {
        const {bytesRead} = await reading
        if (bytesRead === 0) break
        const chunk = filling.subarray(0, bytesRead)
        ;[filling, spare] = [spare, filling]
        reading = body.read(filling, 0, BODY_READ, null)
        await put(chunk)
      }
    } finally {
      // a read still under way when a write failed: done before its file closes
      await reading.catch(() => {})
      await body.close()
    }
  } finally {
    await flusher.settle()
    await out.close()
  }
  return {bytes, sha256: hash.digest('hex')}
}
