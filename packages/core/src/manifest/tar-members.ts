/**
 * The members of a tar stream, hashed as it goes by, for a manifest. node-tar's Parser costs ~35 µs of JavaScript per
 * member (a ReadEntry stream, events, a Header object): 0.55 s of a 16k-member Roundup backup's 0.6 s went there,
 * the hashing itself 0.04 s. Plain headers (regular files, directories, symlinks, hard links; ASCII names in the
 * name field alone; a valid checksum; an octal size) are read here directly. From the first header that is anything
 * else (pax, GNU long names, other types, a bad checksum, the end-of-archive blocks) node-tar's strict Parser reads
 * the rest of the stream, so every case it models, and every refusal it makes, stays exactly its own.
 */
import {createHash, type Hash} from 'node:crypto'
import {acceptEmptyArchive} from '../archive/empty.js'
import {normalizeName} from '../archive/read.js'
import {nodeTar} from '../archive/tar-lib.js'

const BLOCK = 512

/** Where tarMembers gives the members it read, in the order of the stream. */
export interface TarMemberSink {
  /** A regular file's path (as in the archive, normalized), size and sha256, once its last byte went by. */
  file(path: string, size: number, sha256: string): void
  /** A hard link's path and target (normalized). */
  link(path: string, target: string): void
}

/**
 * A sink fed by a reader of the tar stream elsewhere (decode-thread.ts: tarMembers in a thread): `read()` once that
 * reader took the whole stream, with end()'s refusal if it refused it (undefined: it passed).
 */
export interface TarMembersReadElsewhere extends TarMemberSink {
  read(refusal: unknown): void
}

/**
 * Feed every byte of the tar stream, in order, to `write`; `end()` rejects as node-tar's strict Parser would, and
 * also when the stream lacks its end-of-archive blocks (see cut). `reused`: the caller reuses a chunk's buffer once
 * `write` returned (a thread's read buffer); node-tar's Parser, which may keep part of a chunk, then gets copies.
 */
export function tarMembers(
  sink: TarMemberSink,
  options: {reused?: boolean} = {},
): {write(chunk: Buffer): void; end(): Promise<void>} {
  const own = (chunk: Buffer) => (options.reused ? Buffer.from(chunk) : chunk)
  let parser: ReturnType<typeof nodeParser> | undefined
  let entries = 0
  // the current regular file
  let hash: Hash | undefined
  let path = ''
  let size = 0
  let remain = 0
  let pad = 0
  // a header cut by a chunk boundary
  const partial = Buffer.alloc(BLOCK)
  let partialLength = 0
  // all-zero blocks in a row after the members: two are the end of the archive, which node-tar would read the same way
  // (after them it reads nothing more), and reading them here spares a command the loading of node-tar
  let zeroBlocks = 0

  /** node-tar from here on; after members read here, first a dummy member (skipped) so that it starts in the middle
   * of an archive as it would have been: past its start (no compression sniffed) and with a valid member seen. */
  const handOff = (rest: Buffer[]) => {
    parser = nodeParser(sink, entries > 0)
    if (entries > 0) parser.parser.write(resumeBlock())
    if (zeroBlocks === 1) parser.parser.write(Buffer.alloc(BLOCK)) // a lone zero block, then something else
    for (const chunk of rest) if (chunk.length) parser.parser.write(own(chunk))
  }

  /** Reads a plain header; false (nothing consumed) when node-tar must read it. */
  const header = (block: Buffer): boolean => {
    if (entries > 0 && zeroBlocks === 0 && isZero(block)) {
      zeroBlocks = 1
      return true
    }
    if (zeroBlocks === 1) {
      if (!isZero(block)) return false
      zeroBlocks = 2
      return true
    }
    const plain = plainHeader(block)
    if (!plain) return false
    entries++
    if (plain.type === '0') {
      path = normalizeName(plain.path)
      size = plain.size
      remain = size
      pad = (BLOCK - (size % BLOCK)) % BLOCK
      hash = createHash('sha256')
      if (remain === 0) fileDone()
    } else if (plain.type === '1') sink.link(normalizeName(plain.path), normalizeName(plain.linkpath))
    return true
  }
  const fileDone = () => {
    sink.file(path, size, (hash as Hash).digest('hex'))
    hash = undefined
  }

  return {
    write(chunk) {
      if (parser) {
        const failure = parser.failure()
        if (failure) throw failure
        parser.parser.write(own(chunk))
        return
      }
      let off = 0
      while (off < chunk.length && zeroBlocks < 2) {
        if (remain > 0) {
          const n = Math.min(remain, chunk.length - off)
          hash?.update(chunk.subarray(off, off + n))
          remain -= n
          off += n
          if (remain === 0) fileDone()
          continue
        }
        if (pad > 0) {
          const n = Math.min(pad, chunk.length - off)
          pad -= n
          off += n
          continue
        }
        if (partialLength === 0 && chunk.length - off >= BLOCK) {
          if (!header(chunk.subarray(off, off + BLOCK))) return handOff([chunk.subarray(off)])
          off += BLOCK
          continue
        }
        const n = Math.min(BLOCK - partialLength, chunk.length - off)
        chunk.copy(partial, partialLength, off, off + n)
        partialLength += n
        off += n
        if (partialLength < BLOCK) continue
        partialLength = 0
        if (!header(partial)) return handOff([Buffer.from(partial), chunk.subarray(off)])
      }
    },
    async end() {
      if (!parser && zeroBlocks === 2) return // the end-of-archive blocks: whatever followed them is not read
      if (!parser && zeroBlocks === 1) handOff([partial.subarray(0, partialLength)]) // node-tar's verdict on a lone one
      if (!parser && entries === 0) handOff([partial.subarray(0, partialLength)]) // node-tar's verdict on so little
      if (parser) {
        parser.parser.end()
        await parser.closed
        if (parser.failure()) throw parser.failure()
        if (!parser.sawEnd()) throw cut()
        return
      }
      // node-tar's refusal of a stream that stops inside a member (a bare partial header it lets pass); it counts
      // in whole blocks, the bytes of the last one it holds as 'available' (how many depends on its chunks)
      const needed = remain + pad
      if (needed > 0) {
        const have = (BLOCK - (needed % BLOCK)) % BLOCK
        const error = new Error(
          `TAR_BAD_ARCHIVE: Truncated input (needed ${needed + have} more bytes, only ${have} available)`,
        ) as NodeJS.ErrnoException
        error.code = 'TAR_BAD_ARCHIVE'
        throw error
      }
      throw cut()
    },
  }
}

/**
 * A stream that stops between members, before the end-of-archive blocks: node-tar lets it pass, but the stream a
 * manifest is made of is one bk just wrote (GNU tar and node-tar always end it so), and one cut there is an archive
 * that lost its last members without a word (a compressor that exited 0 before it read all of its input).
 */
function cut(): NodeJS.ErrnoException {
  const error = new Error(
    'TAR_BAD_ARCHIVE: Truncated input (the tar stream ends without its end-of-archive blocks)',
  ) as NodeJS.ErrnoException
  error.code = 'TAR_BAD_ARCHIVE'
  return error
}

/** node-tar's strict Parser, its members to `sink` (a first dummy member skipped when `skipFirst`). */
function nodeParser(sink: TarMemberSink, skipFirst: boolean) {
  let skip = skipFirst
  let failure: unknown
  const parser = acceptEmptyArchive(
    new (nodeTar().Parser)({
      strict: true,
      onReadEntry: (entry) => {
        if (skip) {
          skip = false
          entry.resume()
          return
        }
        const path = normalizeName(entry.path)
        if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
          const hash = createHash('sha256')
          let size = 0
          entry.on('data', (chunk: Buffer) => {
            hash.update(chunk)
            size += chunk.length
          })
          entry.on('end', () => sink.file(path, size, hash.digest('hex')))
        } else if (entry.type === 'Link' && entry.linkpath) sink.link(path, normalizeName(entry.linkpath))
        entry.resume()
      },
    }),
  )
  parser.on('error', (error) => {
    failure ??= error
  })
  let sawEnd = false
  parser.on('eof', () => {
    sawEnd = true
  })
  const closed = new Promise<void>((resolve) => parser.on('close', () => resolve()))
  return {parser, closed, failure: () => failure, sawEnd: () => sawEnd}
}

/** True when every byte of the block is zero (what both tars write as the end of an archive). */
function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false
  return true
}

let resume: Buffer | undefined
/** A plain directory member's header ('bk-resume/'), for node-tar to start on. */
function resumeBlock(): Buffer {
  if (!resume) {
    const h = new (nodeTar().Header)({path: 'bk-resume/', type: 'Directory', mode: 0o755, size: 0, mtime: new Date(0)})
    h.encode()
    resume = h.block as Buffer
  }
  return resume
}

const USTAR = Buffer.from('ustar\x0000')
const GNU = Buffer.from('ustar  \x00')
/** Where the number fields node-tar decodes (besides size and checksum) start. */
const NUMBERS = [100, 108, 116, 136]
const NUMBERS_USTAR = [...NUMBERS, 329, 337]

/**
 * A header node-tar would read as a plain member, with exactly these fields; undefined for anything else (it then
 * reads it itself). Names: printable ASCII, then only NULs (node-tar's field decoding keeps bytes after a NUL that
 * follow a newline); the ustar prefix field empty; a checksum that verifies; an octal size; no base-256 number
 * (node-tar's verdict on those); types 0, 1, 2, 5 with a name and linkname as node-tar requires them.
 */
function plainHeader(block: Buffer): {type: string; path: string; linkpath: string; size: number} | undefined {
  const type = String.fromCharCode(block[156] as number)
  if (type !== '0' && type !== '1' && type !== '2' && type !== '5') return undefined
  const magic = block.subarray(257, 265)
  const ustar = magic.equals(USTAR)
  if (!ustar && !magic.equals(GNU)) return undefined
  if (ustar) for (let i = 345; i < 500; i++) if (block[i] !== 0) return undefined
  const path = asciiField(block, 0, 100)
  const linkpath = asciiField(block, 157, 100)
  if (!path || linkpath === undefined) return undefined
  const linked = type === '1' || type === '2'
  if (linked !== (linkpath !== '')) return undefined
  if (type === '0' && path.endsWith('/')) return undefined // node-tar reads that as a directory
  const size = octal(block, 124, 12)
  const sum = octal(block, 148, 8)
  if (size === undefined || sum === undefined) return undefined
  if (type !== '0' && size !== 0) return undefined // a body node-tar would skip: let it
  // mode, uid, gid, mtime (and ustar's device numbers) in base-256: node-tar refuses one it cannot read, so let it
  for (const at of ustar ? NUMBERS_USTAR : NUMBERS) if ((block[at] as number) & 0x80) return undefined
  let computed = 8 * 0x20
  for (let i = 0; i < 148; i++) computed += block[i] as number
  for (let i = 156; i < BLOCK; i++) computed += block[i] as number
  if (computed !== sum) return undefined
  return {type, path, linkpath, size}
}

/** A name field of printable ASCII followed only by NULs; undefined otherwise. */
function asciiField(block: Buffer, off: number, len: number): string | undefined {
  let end = off
  while (end < off + len && block[end] !== 0) {
    const c = block[end] as number
    if (c < 0x20 || c > 0x7e) return undefined
    end++
  }
  for (let i = end; i < off + len; i++) if (block[i] !== 0) return undefined
  return block.toString('latin1', off, end)
}

/** An octal number field as GNU tar and node-tar write it: octal digits, then at least one NUL or space, and only
 * those; undefined otherwise. */
function octal(block: Buffer, off: number, len: number): number | undefined {
  let value = 0
  let i = off
  while (i < off + len && (block[i] as number) >= 0x30 && (block[i] as number) <= 0x37) {
    value = value * 8 + ((block[i] as number) - 0x30)
    i++
  }
  // a terminator inside the field: node-tar reads the checksum field on into the type flag (octal digits too)
  if (i === off || i === off + len) return undefined
  for (; i < off + len; i++) if (block[i] !== 0 && block[i] !== 0x20) return undefined
  return value
}
