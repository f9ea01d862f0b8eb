// The tar stream reader of the GNU tar engine (gnu-extract.ts): cuts the decompressed stream into entries the way
// GNU tar will (pax path/linkpath, then GNU long names, then the ustar prefix and name), hands each to the caller's
// check, and passes on the header and data blocks of the approved ones verbatim, their size and checksum fields
// rewritten canonically so that tar frames the stream exactly as it was read here. What it does not model exactly
// throws NativeFallback.

import {escapedName} from '../fs/names.js'
import {UnsafeEntry} from './entry-check.js'

/** The archive holds something this reader does not model: extract it with node-tar. */
export class NativeFallback extends Error {}

const BLOCK = 512
export const ZEROS = Buffer.alloc(2 * BLOCK)
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
export const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])
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
    // node-tar would read it with U+FFFD in place of its bytes: two such names (caf\xe8, caf\xe9) one file, the
    // other lost. Refused; GNU tar by hand restores it as its bytes.
    throw new UnsafeEntry(
      escapedName(bytes),
      'a name that is not valid UTF-8, which bk would restore merged with its namesakes; extract this archive with GNU tar (tar -xf) and rename it, e.g. with convmv',
    )
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

/** The header's checksum as tar computes it: every byte unsigned, the checksum field taken as 8 spaces. */
function unsignedSum(header: Buffer): number {
  let sum = 8 * 0x20
  for (let i = 0; i < 148; i++) sum += header[i]!
  for (let i = 156; i < BLOCK; i++) sum += header[i]!
  return sum
}

/** The same with every byte signed (what some old tars wrote): only asked for when the unsigned sum does not match. */
function signedSum(header: Buffer): number {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!
    sum += b > 127 ? b - 256 : b
  }
  return sum
}

function writeChecksum(header: Buffer): void {
  header.write(`${unsignedSum(header).toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
}

/** True when `len` bytes at `off` are all octal digits. */
function octalDigits(buf: Buffer, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (buf[i]! < 0x30 || buf[i]! > 0x37) return false
  return true
}

/**
 * True when the size and checksum fields hold already what writeSize and writeChecksum would write (`size` as 11 octal
 * digits and a NUL; the checksum, `sum`, as 6 octal digits, a NUL and a space: GNU tar's own spelling), so the header
 * can be passed on as it is, byte for byte the same as rewritten.
 */
function canonical(header: Buffer, size: number, recordedSize: number, sum: number, recordedSum: number): boolean {
  return (
    size === recordedSize &&
    sum === recordedSum &&
    size < 8 ** 11 &&
    header[135] === 0 &&
    octalDigits(header, 124, 11) &&
    header[154] === 0 &&
    header[155] === 0x20 &&
    octalDigits(header, 148, 6)
  )
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

  /** `block`: the header as read, a piece of the caller's chunk or this.head (reused for the next header). */
  private header(block: Buffer, out: Buffer[]): void {
    const unsigned = unsignedSum(block)
    if (unsigned === 8 * 0x20 && block.every((b) => b === 0)) {
      if (this.held.length > 0) throw corrupt('a zero block after an extended header')
      this.zeroBlocks++
      this.sawZero = true
      if (this.zeroBlocks === 2) this.ended = true
      return
    }
    if (this.zeroBlocks > 0) throw new NativeFallback('entries after a lone zero block')
    const recorded = numField(block, 148, 8)
    if (recorded === undefined || (recorded !== unsigned && recorded !== signedSum(block)))
      throw corrupt('invalid entry: checksum failure')
    const flag = String.fromCharCode(block[156]!)
    const recordedSize = numField(block, 124, 12)
    if (recordedSize === undefined) throw corrupt('invalid entry: bad size field')
    let size = recordedSize
    if (flag === 'L' || flag === 'K' || flag === 'x') {
      if (size > MAX_META) throw new NativeFallback('an oversized extended header')
      // held until its entry's header comes, maybe after the caller's chunk was reused: a copy
      const header = Buffer.from(block)
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
      if (block[off] !== 0xff && numField(block, off, len) === undefined)
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
      const name = cField(block, 0, 100)
      const prefix = cField(block, 345, 155)
      const posix = block.toString('latin1', 257, 263) === 'ustar\0'
      path = posix && prefix.length > 0 ? `${text(prefix)}/${text(name)}` : text(name)
    }
    const paxLink = pax?.get('linkpath')
    if (paxLink !== undefined && this.longLink !== undefined) throw new NativeFallback('a long link name twice')
    if (paxLink !== undefined) linkpath = text(paxLink)
    else if (this.longLink !== undefined) linkpath = this.longLink
    else linkpath = text(cField(block, 157, 100))
    if (path === '') throw corrupt('invalid entry: path is required')
    if (!FILE_TYPES.has(type) && size !== 0) throw new NativeFallback(`a ${type} entry with data`)
    if (FILE_TYPES.has(type) && path.endsWith('/')) throw new NativeFallback('a file entry named like a folder')
    // tar opens the name as stored, and 'f/.' is no file's name for it (node-tar and the checker read 'f'); nor is
    // 'f/' a hard link's target
    if (type !== 'Directory' && /\/\.\/*$/.test(path)) throw new NativeFallback("a name ending in '/.'")
    if (type === 'Link' && /\/\.?\/*$/.test(linkpath)) throw new NativeFallback("a link target ending in '/' or '/.'")
    // passed on as read when its fields are canonical already (GNU tar's own archives: every header); else a copy
    // rewritten. this.head is filled again by the next header: never passed on itself.
    let header = block
    if (!canonical(block, size, recordedSize, unsigned, recorded)) {
      header = Buffer.from(block)
      writeSize(header, size)
      writeChecksum(header)
    } else if (block === this.head) header = Buffer.from(block)
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
