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
import {pipeline, Readable, Transform, type Writable} from 'node:stream'
import {openTar, sniffCompression} from './compression.js'
import {type EntryChecker, UnsafeEntry} from './entry-check.js'
import {drainedOrClosed, pigz, trailingJunk} from './native.js'
import {spawnTied} from './tied.js'

/** The archive holds something this reader does not model: extract it with node-tar. */
export class NativeFallback extends Error {}

const BLOCK = 512
const ZEROS = Buffer.alloc(2 * BLOCK)
/** Longest GNU long name / pax header body read (tar's own names are far shorter). */
const MAX_META = 1024 * 1024

const TYPES: Record<string, string> = {
  '0': 'File',
  '\0': 'OldFile',
  '7': 'ContiguousFile',
  '5': 'Directory',
  '1': 'Link',
  '2': 'SymbolicLink',
  '3': 'CharacterDevice',
  '4': 'BlockDevice',
  '6': 'FIFO',
}
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])
/** mode, uid, gid, mtime: offset and length in a header */
const NUMERIC: [number, number][] = [
  [100, 8],
  [108, 8],
  [116, 8],
  [136, 12],
]

/** pax keywords GNU tar reads that change nothing this reader decides (times, owners, comments, attributes it is
 * told not to restore). `path`, `linkpath` and `size` are read here. Any other keyword: node-tar extracts. */
const PAX_KEPT = /^(mtime|atime|ctime|uid|gid|uname|gname|comment|SCHILY\.xattr\..+|LIBARCHIVE\.xattr\..+)$/

// ignoreBOM: a name's leading U+FEFF is kept, as tar writes it (the default drops it: a prefix 'a' and a name
// '\uFEFFl/x' were checked as 'a/l/x', written as 'a/\uFEFFl/x')
const utf8 = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})

function text(bytes: Buffer): string {
  if (bytes.includes(0)) throw new NativeFallback('a name with a NUL byte')
  try {
    return utf8.decode(bytes)
  } catch {
    throw new NativeFallback('a name that is not UTF-8')
  }
}

/** A NUL-terminated field (or the whole field), as GNU tar reads it. */
function cField(buf: Buffer, off: number, len: number): Buffer {
  const field = buf.subarray(off, off + len)
  const nul = field.indexOf(0)
  return nul < 0 ? field : field.subarray(0, nul)
}

/** A numeric field: octal (leading spaces, ending in spaces/NULs) or base-256; undefined when malformed. */
function numField(buf: Buffer, off: number, len: number): number | undefined {
  const first = buf[off]!
  if (first === 0x80 || first === 0xff) {
    if (first === 0xff) return undefined // negative
    let n = 0
    for (let i = off + 1; i < off + len; i++) n = n * 256 + buf[i]!
    return Number.isSafeInteger(n) ? n : undefined
  }
  let i = off
  const end = off + len
  while (i < end && buf[i] === 0x20) i++
  let n = 0
  let digits = 0
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x37) {
    n = n * 8 + (buf[i]! - 0x30)
    digits++
    i++
  }
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++
  return i === end && digits > 0 ? n : undefined
}

function writeSize(header: Buffer, size: number): void {
  if (size < 8 ** 11) {
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1')
    return
  }
  header[124] = 0x80
  let n = size
  for (let i = 135; i > 124; i--) {
    header[i] = n % 256
    n = Math.floor(n / 256)
  }
}

function sums(header: Buffer): {unsigned: number; signed: number} {
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!
    unsigned += b
    signed += b > 127 ? b - 256 : b
  }
  return {unsigned, signed}
}

function writeChecksum(header: Buffer): void {
  const {unsigned} = sums(header)
  header.write(`${unsigned.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
}

function corrupt(message: string): Error {
  return Object.assign(new Error(message), {code: 'TAR_ENTRY_INVALID'})
}

/** pax records ("<len> <key>=<value>\n"), strictly; a malformed one: node-tar decides. */
function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  let pos = 0
  while (pos < body.length) {
    if (body[pos] === 0) break
    const space = body.indexOf(0x20, pos)
    if (space < 0) throw new NativeFallback('a malformed pax header')
    const lenText = body.toString('latin1', pos, space)
    if (!/^[1-9][0-9]{0,8}$/.test(lenText)) throw new NativeFallback('a malformed pax header')
    const end = pos + Number(lenText)
    if (end > body.length || body[end - 1] !== 0x0a) throw new NativeFallback('a malformed pax header')
    const record = body.subarray(space + 1, end - 1)
    const eq = record.indexOf(0x3d)
    if (eq <= 0) throw new NativeFallback('a malformed pax header')
    const key = record.toString('latin1', 0, eq)
    if (out.has(key)) throw new NativeFallback(`a repeated pax keyword ${key}`)
    out.set(key, record.subarray(eq + 1))
    pos = end
  }
  return out
}

/** One entry as read, for the check. */
export interface FramedEntry {
  path: string
  type: string
  linkpath?: string
  size: number
}

/**
 * Cuts a tar stream into entries. `onEntry` decides for each: true passes its blocks on, false drops them; it may
 * throw (UnsafeEntry) to stop. `push` returns the bytes to pass on, in order.
 */
export class TarFramer {
  private head = Buffer.alloc(BLOCK)
  private headFill = 0
  /** bytes of the current entry's data (with padding) still to come */
  private body = 0
  private passBody = false
  /** collecting a meta body (L, K, x) */
  private meta: {kind: string; size: number; chunks: Buffer[]; got: number} | undefined
  private held: Buffer[] = []
  private longName: string | undefined
  private longLink: string | undefined
  private pax: Map<string, Buffer> | undefined
  private zeroBlocks = 0
  private current: FramedEntry | undefined
  /** true once the end-of-archive blocks were read (the rest is ignored, as node-tar does) */
  ended = false
  /** a zero block was seen (what drive.ts calls the end marker) */
  sawZero = false
  /** entries read (kept or not) */
  entries = 0

  constructor(
    private readonly onEntry: (entry: FramedEntry) => boolean,
    private readonly onEntryDone?: (entry: FramedEntry) => void,
  ) {}

  push(chunk: Buffer, out: Buffer[]): void {
    let pos = 0
    while (pos < chunk.length && !this.ended) {
      if (this.body > 0) {
        const n = Math.min(this.body, chunk.length - pos)
        if (this.meta) {
          const useful = Math.min(n, this.meta.size - this.meta.got)
          if (useful > 0) this.meta.chunks.push(Buffer.from(chunk.subarray(pos, pos + useful)))
          this.meta.got += useful
          this.held.push(Buffer.from(chunk.subarray(pos, pos + n)))
        } else if (this.passBody) out.push(chunk.subarray(pos, pos + n))
        this.body -= n
        pos += n
        if (this.body === 0) this.bodyDone()
        continue
      }
      const n = Math.min(BLOCK - this.headFill, chunk.length - pos)
      if (n === BLOCK) {
        this.header(chunk.subarray(pos, pos + BLOCK), out)
      } else {
        chunk.copy(this.head, this.headFill, pos, pos + n)
        this.headFill += n
        if (this.headFill === BLOCK) {
          this.headFill = 0
          this.header(this.head, out)
        }
      }
      pos += n
    }
  }

  /** Whether the stream stopped cleanly: between entries, after at least one zero block. */
  finish(): void {
    if (this.body > 0 || this.headFill > 0 || this.meta || this.held.length > 0)
      throw Object.assign(new Error('Truncated input (needed more bytes)'), {code: 'TAR_BAD_ARCHIVE'})
  }

  private bodyDone(): void {
    if (this.meta) {
      const body = Buffer.concat(this.meta.chunks)
      const kind = this.meta.kind
      this.meta = undefined
      if (kind === 'x') {
        if (this.pax) throw new NativeFallback('two pax headers for one entry')
        this.pax = parsePax(body)
      } else {
        const name = text(cField(body, 0, body.length))
        if (kind === 'L') {
          if (this.longName !== undefined) throw new NativeFallback('two long names for one entry')
          this.longName = name
        } else {
          if (this.longLink !== undefined) throw new NativeFallback('two long link names for one entry')
          this.longLink = name
        }
      }
      return
    }
    const entry = this.current
    this.current = undefined
    if (entry && this.passBody) this.onEntryDone?.(entry)
  }

  private header(block: Buffer, out: Buffer[]): void {
    const {unsigned, signed} = sums(block)
    if (unsigned === 8 * 0x20 && block.every((b) => b === 0)) {
      if (this.held.length > 0) throw corrupt('a zero block after an extended header')
      this.zeroBlocks++
      this.sawZero = true
      if (this.zeroBlocks === 2) this.ended = true
      return
    }
    if (this.zeroBlocks > 0) throw new NativeFallback('entries after a lone zero block')
    const recorded = numField(block, 148, 8)
    if (recorded === undefined || (recorded !== unsigned && recorded !== signed))
      throw corrupt('invalid entry: checksum failure')
    const header = Buffer.from(block)
    const flag = String.fromCharCode(header[156]!)
    let size = numField(header, 124, 12)
    if (size === undefined) throw corrupt('invalid entry: bad size field')
    if (flag === 'L' || flag === 'K' || flag === 'x') {
      if (size > MAX_META) throw new NativeFallback('an oversized extended header')
      writeSize(header, size)
      writeChecksum(header)
      this.held.push(header)
      this.meta = {kind: flag, size, chunks: [], got: 0}
      this.body = Math.ceil(size / BLOCK) * BLOCK
      if (this.body === 0) this.bodyDone()
      return
    }
    const type = TYPES[flag]
    if (!type) throw new NativeFallback(`entry type '${flag}'`)
    // an entry's mode, owner or time GNU tar would not read (an error failing the whole extract, or a blank mode taken as 0);
    // node-tar reads them leniently
    for (const [off, len] of NUMERIC)
      if (header[off] !== 0xff && numField(header, off, len) === undefined)
        throw new NativeFallback('a malformed numeric field')
    const pax = this.pax
    let path: string
    let linkpath: string | undefined
    if (pax) {
      for (const key of pax.keys())
        if (key !== 'path' && key !== 'linkpath' && key !== 'size' && !PAX_KEPT.test(key))
          throw new NativeFallback(`the pax keyword ${key}`)
      const paxSize = pax.get('size')
      if (paxSize !== undefined) {
        const s = paxSize.toString('latin1')
        if (!/^[0-9]{1,15}$/.test(s)) throw new NativeFallback('a pax size out of range')
        size = Number(s)
      }
    }
    const paxPath = pax?.get('path')
    if (paxPath !== undefined && this.longName !== undefined) throw new NativeFallback('a long name twice')
    if (paxPath !== undefined) path = text(paxPath)
    else if (this.longName !== undefined) path = this.longName
    else {
      const name = cField(header, 0, 100)
      const prefix = cField(header, 345, 155)
      const posix = header.toString('latin1', 257, 263) === 'ustar\0'
      path = posix && prefix.length > 0 ? `${text(prefix)}/${text(name)}` : text(name)
    }
    const paxLink = pax?.get('linkpath')
    if (paxLink !== undefined && this.longLink !== undefined) throw new NativeFallback('a long link name twice')
    if (paxLink !== undefined) linkpath = text(paxLink)
    else if (this.longLink !== undefined) linkpath = this.longLink
    else linkpath = text(cField(header, 157, 100))
    if (path === '') throw corrupt('invalid entry: path is required')
    if (!FILE_TYPES.has(type) && size !== 0) throw new NativeFallback(`a ${type} entry with data`)
    if (FILE_TYPES.has(type) && path.endsWith('/')) throw new NativeFallback('a file entry named like a folder')
    // tar opens the name as stored, and 'f/.' is no file's name for it (node-tar and the checker read 'f'); nor is
    // 'f/' a hard link's target
    if (type !== 'Directory' && /\/\.\/*$/.test(path)) throw new NativeFallback("a name ending in '/.'")
    if (type === 'Link' && /\/\.?\/*$/.test(linkpath)) throw new NativeFallback("a link target ending in '/' or '/.'")
    writeSize(header, size)
    writeChecksum(header)
    const entry: FramedEntry = {path, type, size}
    if (type === 'Link' || type === 'SymbolicLink') entry.linkpath = linkpath
    const held = this.held
    this.held = []
    this.longName = undefined
    this.longLink = undefined
    this.pax = undefined
    this.entries++
    const keep = this.onEntry(entry)
    if (keep) {
      for (const b of held) out.push(b)
      out.push(header)
    }
    this.passBody = keep
    this.current = entry
    this.body = Math.ceil(size / BLOCK) * BLOCK
    if (this.body === 0) this.bodyDone()
  }
}

/** GNU tar extracting a tar stream read on its stdin into `dest`, as bk's node-tar engine would. */
export function startGnuExtract(tar: string, dest: string, preserveOwner: boolean) {
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
  ]
  // spawnTied leaves out TAR_OPTIONS, which tar would read as options (--strip-components, --transform,
  // --keep-old-files...): a tree other than the one checked
  const env: NodeJS.ProcessEnv = {...process.env, LC_ALL: 'C'}
  const child: ChildProcess = spawnTied(tar, args, {stdio: ['pipe', 'ignore', 'pipe'], env})
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (t: string) => {
    if (stderr.length < 65536) stderr += t
  })
  const stdin = child.stdin as Writable
  stdin.on('error', () => {}) // EPIPE when tar stops early: its exit status tells why
  const exited = new Promise<{status: number | null; signal: string | null; error?: Error}>((resolve) => {
    child.once('error', (error) => resolve({status: null, signal: null, error}))
    child.once('close', (status, signal) => resolve({status, signal}))
  })
  return {
    child,
    stdin,
    /** Feeds bytes, waiting while tar's pipe is full. */
    async write(chunks: Buffer[]): Promise<void> {
      if (chunks.length === 0 || child.exitCode !== null || child.signalCode !== null) return
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      if (!stdin.write(data)) await drainedOrClosed(stdin, child)
    },
    /** Ends the stream and waits for tar: an Error when it did not exit 0 (its first complaint). */
    async finish(): Promise<Error | undefined> {
      stdin.end()
      const {status, signal, error} = await exited
      if (error) return error
      if (status === 0) return undefined
      const lines = stderr
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/Exiting with failure status|Error is not recoverable/.test(l))
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

export interface GnuUnpackResult {
  entries: number
  bytes: number
}

/**
 * Reads `source` (decompressed tar bytes) through the framer and the checker into GNU tar writing `dest`. Throws
 * UnsafeEntry (the first refusal, after the source was read through, as node-tar's engine reports it), the source's
 * own errors, a truncation (TAR_BAD_ARCHIVE), tar's complaint, or NativeFallback. tar is dead when it returns/throws.
 */
export async function gnuUnpack(
  tar: string,
  source: Readable,
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
    const out: Buffer[] = []
    let stopped = false
    let endSent = false
    // chunks as they come (a pipe's 64 KiB, zlib's 256 KiB): no gathering copy; the pipes buffer between processes
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (stopped) continue // read through: the decompressor's verdict on the rest still counts, as with node-tar
      out.length = 0
      try {
        framer.push(chunk, out)
      } catch (error) {
        if (!(error instanceof UnsafeEntry)) throw error
        stopped = true
        await gnu.kill()
        continue
      }
      if (framer.ended && !endSent) {
        endSent = true
        out.push(ZEROS)
      }
      await gnu.write(out)
    }
    if (refusal) throw refusal
    framer.finish()
    if (!framer.sawZero)
      throw Object.assign(new Error('the archive ends without its end-of-archive blocks'), {code: 'TAR_BAD_ARCHIVE'})
    // as node-tar: no member at all is an archive only with both end blocks (what an empty tree archives to)
    if (framer.entries === 0 && !framer.ended)
      throw Object.assign(new Error('Unrecognized archive format'), {code: 'TAR_BAD_ARCHIVE'})
    if (!endSent) await gnu.write([ZEROS])
    const failure = await gnu.finish()
    if (failure) throw failure
    failed = false
    return result
  } finally {
    if (failed) await gnu.kill()
    source.destroy()
  }
}

/**
 * The decompressed bytes of `file` as openTar gives them, but gzip by pigz where it is installed (its own threads
 * read, inflate and check; the file goes to it directly unless `onRaw` must see its bytes: `input` when given, an
 * open file the caller keeps and closes). Bytes after the last gzip
 * member, and any other complaint of pigz, fail the stream as corrupt data (Z_DATA_ERROR), as with zlib.
 */
export async function openTarFast(
  file: string,
  onRaw?: (chunk: Buffer) => void,
  input?: FileHandle,
): Promise<Readable> {
  const program = (await sniffCompression(file)) === 'gzip' ? await pigz() : undefined
  if (!program) return openTar(file, onRaw)
  const handle = onRaw ? undefined : (input ?? (await open(file, 'r')))
  let child: ChildProcess
  try {
    child = spawnTied(program, ['-d', '-c', '-v'], {stdio: [handle ? handle.fd : 'pipe', 'pipe', 'pipe']})
  } finally {
    if (handle !== input) await handle?.close()
  }
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (t: string) => {
    if (stderr.length < 65536) stderr += t
  })
  const exited = new Promise<{status: number | null; signal: string | null; error?: Error}>((resolve) => {
    child.once('error', (error) => resolve({status: null, signal: null, error}))
    child.once('close', (status, signal) => resolve({status, signal}))
  })
  if (onRaw && child.stdin) {
    child.stdin.on('error', () => {}) // EPIPE when pigz stops early: its exit status tells why
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        onRaw(chunk)
        done(null, chunk)
      },
    })
    pipeline(createReadStream(file, {highWaterMark: 1024 * 1024}), hashing, child.stdin, () => {})
  }
  const stdout = child.stdout as Readable
  async function* output(): AsyncGenerator<Buffer> {
    let finished = false
    try {
      for await (const chunk of stdout as AsyncIterable<Buffer>) yield chunk
      const {status, signal, error} = await exited
      finished = true
      if (error) throw error
      const junk = trailingJunk(program as string, stderr)
      if (status === 0 && !junk) return
      const last = stderr
        .trim()
        .split('\n')
        .filter((l) => !/ to <stdout>\s*$/.test(l))
        .at(-1)
        ?.trim()
      const why =
        junk?.message ?? `pigz ${signal ? `was killed by ${signal}` : `exited with status ${status}`}: ${last}`
      throw Object.assign(new Error(`incorrect data: ${why}`), {code: 'Z_DATA_ERROR'})
    } finally {
      if (!finished) child.kill('SIGKILL')
    }
  }
  return Readable.from(output(), {objectMode: false})
}
