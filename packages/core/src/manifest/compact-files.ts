/**
 * A manifest's files list kept off V8's heap while an archive is written: paths as UTF-8, sizes in a Float64Array,
 * digests as their 32 bytes, in blocks of BLOCK entries. About 45 bytes a file plus its path, where an object with two
 * strings took ~200 on the heap and, surviving collection after collection, grew V8's young generation to its largest
 * (a backup of 128 000 files: ~12 MB instead of ~55 MB, its peak). Blocks, not one array grown by doubling: a doubled
 * array held up to twice what it needed, and its copy held both at once (at 262 144 files, +24 MB in one step).
 *
 * Given a folder, the list keeps its first MEMORY_BLOCKS full blocks in memory and writes every later one to a file
 * there (unnamed: nothing is left behind whatever ends the process), so its memory no longer grows with the file count
 * (a million files held ~95 MB, and freed less than that back to the system).
 */
import {closeSync, constants, openSync, readSync, unlinkSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {BkError, messageOf} from '../errors.js'
import type {Manifest, ManifestFile} from './types.js'

const DIGEST = 32
/** Entries per block. */
const BLOCK = 4096
/** Full blocks kept in memory before the list writes them to its file: 65 536 files, ~6 MB at 50-byte paths. */
const MEMORY_BLOCKS = 16
/** A block on disk: ends (4 bytes an entry), sizes (8), digests (32), then the text. */
const SIZES_AT = BLOCK * 4
const DIGESTS_AT = BLOCK * 12
const TEXT_AT = BLOCK * 44
/** Linux's O_TMPFILE: a file with no name in a folder (absent from `constants` on some builds). */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY
/** A UTF-16 surrogate: a lone one would not come back from UTF-8 (a pair would, but is rare enough to keep aside). */
const SURROGATE = /[\uD800-\uDFFF]/

/** BLOCK entries: their paths' UTF-8 one after another (`ends[i]`: where entry i's ends), sizes and digests. */
interface Block {
  text: Buffer
  textUsed: number
  ends: Uint32Array
  sizes: Float64Array
  digests: Buffer
}

/** A full block written to the list's file: where it starts, and its text's length. */
interface Spilled {
  position: number
  textLength: number
}

const newBlock = (): Block => ({
  text: Buffer.allocUnsafe(1 << 16),
  textUsed: 0,
  ends: new Uint32Array(BLOCK),
  sizes: new Float64Array(BLOCK),
  digests: Buffer.allocUnsafe(BLOCK * DIGEST),
})

/** Closes the file of a list that was collected without being closed. */
const closeLater = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd)
  } catch {}
})

/** Options of a CompactFiles. */
export interface CompactFilesOptions {
  /** A folder where blocks past the first MEMORY_BLOCKS go (beside the archive being written); none: all in memory. */
  spillDir?: string
  /** Full blocks kept in memory before spilling (tests). */
  memoryBlocks?: number
}

export class CompactFiles {
  private readonly blocks: (Block | Spilled)[] = []
  /** Entries that would not come back the same from UTF-8 and hex (a lone surrogate, a digest not lowercase hex). */
  private odd: Map<number, ManifestFile> | undefined
  /** Path hash → entry + 1 (open addressing), made at the first hard link (most trees have none). */
  private index: Int32Array | undefined
  private fd: number | undefined
  private fileEnd = 0
  /** The last spilled block read whole (iteration reads them in order). */
  private loaded: {k: number; block: Block} | undefined
  private readonly memoryBlocks: number
  length = 0

  constructor(private readonly options: CompactFilesOptions = {}) {
    this.memoryBlocks = options.memoryBlocks ?? MEMORY_BLOCKS
  }

  add(path: string, size: number, sha256: string): void {
    const i = this.length
    const at = i % BLOCK
    if (at === 0) {
      if (this.blocks.length > 0) this.sealLast()
      this.blocks.push(newBlock())
    }
    const block = this.blocks.at(-1) as Block
    if (block.text.length - block.textUsed < path.length * 3) {
      const more = Buffer.allocUnsafe(Math.max(block.text.length * 2, block.textUsed + path.length * 3))
      block.text.copy(more, 0, 0, block.textUsed)
      block.text = more
    }
    const start = block.textUsed
    block.textUsed += block.text.write(path, block.textUsed, 'utf8')
    block.ends[at] = block.textUsed
    block.sizes[at] = size
    const written = block.digests.write(sha256, at * DIGEST, DIGEST, 'hex')
    if (written !== DIGEST || sha256.length !== 2 * DIGEST || SURROGATE.test(path) || /[^0-9a-f]/.test(sha256)) {
      this.odd ??= new Map()
      this.odd.set(i, {path, size, sha256})
    }
    this.length++
    if (this.index) this.indexAdd(i, block.text.subarray(start, block.textUsed))
  }

  /** Adds `path` as a hard link of the file `target` already added (same size and digest); false if there is none. */
  link(path: string, target: string): boolean {
    if (!this.index) this.reindex(1024)
    const known = this.find(target)
    if (known === undefined) return false
    const file = this.at(known)
    this.add(path, file.size, file.sha256)
    return true
  }

  at(i: number): ManifestFile {
    const odd = this.odd?.get(i)
    if (odd) return {...odd}
    const k = Math.floor(i / BLOCK)
    const at = i % BLOCK
    const block = this.blockIfHeld(k)
    if (!block) return this.readEntry(this.blocks[k] as Spilled, at)
    return {
      path: block.text.toString('utf8', at === 0 ? 0 : (block.ends[at - 1] as number), block.ends[at] as number),
      size: block.sizes[at] as number,
      sha256: block.digests.toString('hex', at * DIGEST, (at + 1) * DIGEST),
    }
  }

  /** The entries in order, `count` at a time, each a new array of new objects (nothing of them is kept). */
  *slices(count: number): Generator<ManifestFile[]> {
    for (let from = 0; from < this.length; from += count) {
      const slice: ManifestFile[] = []
      for (let i = from; i < Math.min(from + count, this.length); i++) slice.push(this.inOrder(i))
      yield slice
    }
  }

  *[Symbol.iterator](): Generator<ManifestFile> {
    for (let i = 0; i < this.length; i++) yield this.inOrder(i)
  }

  /** Whether blocks went to the list's file (tests). */
  get spilled(): boolean {
    return this.fd !== undefined
  }

  /** Entry i when reading in order: a spilled block is read whole once, not an entry at a time. */
  private inOrder(i: number): ManifestFile {
    const k = Math.floor(i / BLOCK)
    if (!this.blockIfHeld(k)) this.load(k)
    return this.at(i)
  }

  /** The full block `k` is done: written to the list's file when the memory's share is used up. */
  private sealLast(): void {
    const k = this.blocks.length - 1
    const full = this.blocks[k] as Block
    if (this.options.spillDir === undefined || k < this.memoryBlocks) {
      // a full block's text cut to its size (its spare room was up to half of it)
      full.text = Buffer.from(full.text.subarray(0, full.textUsed))
      return
    }
    const position = this.fileEnd
    const pieces = [
      Buffer.from(full.ends.buffer, full.ends.byteOffset, full.ends.byteLength),
      Buffer.from(full.sizes.buffer, full.sizes.byteOffset, full.sizes.byteLength),
      full.digests,
      full.text.subarray(0, full.textUsed),
    ]
    try {
      const fd = this.file()
      for (const piece of pieces) {
        let done = 0
        while (done < piece.length) done += writeSync(fd, piece, done, piece.length - done, this.fileEnd + done)
        this.fileEnd += piece.length
      }
    } catch (error) {
      throw new BkError(
        `cannot keep the list of files in ${this.options.spillDir}: ${messageOf(error)}; free some space there`,
        {code: (error as {code?: string}).code ?? 'EIO', cause: error},
      )
    }
    this.blocks[k] = {position, textLength: full.textUsed}
  }

  /** The list's file, opened at the first block spilled: unnamed (O_TMPFILE), else named and unlinked at once. */
  private file(): number {
    if (this.fd !== undefined) return this.fd
    const dir = this.options.spillDir as string
    try {
      this.fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600)
    } catch {
      const name = join(dir, `.bk-files-${process.pid}-${Math.random().toString(36).slice(2)}`)
      this.fd = openSync(name, 'wx+', 0o600)
      unlinkSync(name)
    }
    closeLater.register(this, this.fd)
    return this.fd
  }

  private blockIfHeld(k: number): Block | undefined {
    const block = this.blocks[k] as Block | Spilled
    if ('text' in block) return block
    return this.loaded?.k === k ? this.loaded.block : undefined
  }

  /** Reads spilled block `k` whole, replacing the one read before. */
  private load(k: number): Block {
    const {position, textLength} = this.blocks[k] as Spilled
    const bytes = this.read(position, TEXT_AT + textLength)
    const block: Block = {
      ends: new Uint32Array(bytes.buffer, bytes.byteOffset, BLOCK),
      sizes: new Float64Array(bytes.buffer, bytes.byteOffset + SIZES_AT, BLOCK),
      digests: bytes.subarray(DIGESTS_AT, TEXT_AT),
      text: bytes.subarray(TEXT_AT),
      textUsed: textLength,
    }
    this.loaded = {k, block}
    return block
  }

  /** One entry of a spilled block, read on its own (a hard link's target: anywhere in the list). */
  private readEntry(spilled: Spilled, at: number): ManifestFile {
    const ends = this.read(spilled.position + Math.max(at - 1, 0) * 4, 8)
    const start = at === 0 ? 0 : ends.readUInt32LE(0)
    const end = ends.readUInt32LE(at === 0 ? 0 : 4)
    return {
      path: this.read(spilled.position + TEXT_AT + start, end - start).toString('utf8'),
      size: this.read(spilled.position + SIZES_AT + at * 8, 8).readDoubleLE(0),
      sha256: this.read(spilled.position + DIGESTS_AT + at * DIGEST, DIGEST).toString('hex'),
    }
  }

  private read(position: number, length: number): Buffer {
    // its own memory at offset 0: the typed arrays over it are aligned
    const bytes = Buffer.allocUnsafeSlow(length)
    let done = 0
    while (done < length) {
      const n = readSync(this.fd as number, bytes, done, length - done, position + done)
      if (n === 0) throw new BkError('the list of files being written was cut short (its file shrank)', {code: 'EIO'})
      done += n
    }
    return bytes
  }

  /** The index rebuilt with room for `slots` (a power of two, at least twice the entries). */
  private reindex(slots: number): void {
    while (slots < this.length * 2) slots *= 2
    this.index = new Int32Array(slots)
    for (let i = 0; i < this.length; i++) this.indexAdd(i, this.pathBytes(i))
  }

  private indexAdd(i: number, bytes: Buffer): void {
    const index = this.index as Int32Array
    if ((i + 1) * 2 > index.length) {
      this.reindex(index.length * 2)
      return // reindex added every entry, this one too
    }
    const mask = index.length - 1
    let slot = hash(bytes) & mask
    while (index[slot] !== 0) slot = (slot + 1) & mask
    index[slot] = i + 1
  }

  /** The last entry named `path` (as extraction, a later one wins). */
  private find(path: string): number | undefined {
    const index = this.index as Int32Array
    const mask = index.length - 1
    let found: number | undefined
    for (let slot = hash(Buffer.from(path)) & mask; index[slot] !== 0; slot = (slot + 1) & mask) {
      const i = (index[slot] as number) - 1
      if ((found === undefined || i > found) && this.pathOf(i) === path) found = i
    }
    return found
  }

  private pathOf(i: number): string {
    return this.odd?.get(i)?.path ?? this.at(i).path
  }

  /** Entry i's path as stored (UTF-8; a lone surrogate's as U+FFFD: only a hash's input). */
  private pathBytes(i: number): Buffer {
    const k = Math.floor(i / BLOCK)
    const at = i % BLOCK
    const block = this.blockIfHeld(k) ?? this.load(k)
    return block.text.subarray(at === 0 ? 0 : (block.ends[at - 1] as number), block.ends[at] as number)
  }
}

/** FNV-1a of `bytes`. */
function hash(bytes: Buffer): number {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193)
  return h >>> 0
}

const COMPACT = Symbol('bk compact files')

interface CompactState {
  list: CompactFiles
  /** `files` as an array, once something asked for it (or set it): from then on the array is the truth. */
  array?: ManifestFile[]
}

/**
 * `manifest` with `files` read from `list`: the array is made the first time something reads `files` (and kept,
 * so the manifest behaves as a plain one); until then manifestFiles, manifestText and the like read `list` a slice at
 * a time.
 */
export function withCompactFiles(manifest: Manifest, list: CompactFiles): Manifest {
  const state: CompactState = {list}
  Object.defineProperty(manifest, 'files', {
    enumerable: true,
    configurable: true,
    get: () => {
      state.array ??= Array.from(list)
      return state.array
    },
    set: (files: ManifestFile[]) => {
      state.array = files
    },
  })
  Object.defineProperty(manifest, COMPACT, {value: state, enumerable: false})
  return manifest
}

/** The compact list behind `manifest.files`, while nothing has made the array; else undefined. */
export function compactFilesOf(manifest: Manifest): CompactFiles | undefined {
  const state = (manifest as unknown as Record<symbol, CompactState | undefined>)[COMPACT]
  return state && state.array === undefined ? state.list : undefined
}

/** A manifest's files, one at a time: from its compact list if it has one (no array made), else its array. */
export function manifestFiles(manifest: Manifest): Iterable<ManifestFile> {
  return compactFilesOf(manifest) ?? manifest.files
}

/** How many files a manifest lists, without making its array. */
export function manifestFileCount(manifest: Manifest): number {
  return compactFilesOf(manifest)?.length ?? manifest.files.length
}
