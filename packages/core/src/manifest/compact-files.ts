/**
 * A manifest's files list kept off V8's heap while an archive is written: paths as UTF-8, sizes in a Float64Array,
 * digests as their 32 bytes, in blocks of BLOCK entries. About 45 bytes a file plus its path, where an object with two
 * strings took ~200 on the heap and, surviving collection after collection, grew V8's young generation to its largest
 * (a backup of 128 000 files: ~12 MB instead of ~55 MB, its peak). Blocks, not one array grown by doubling: a doubled
 * array held up to twice what it needed, and its copy held both at once (at 262 144 files, +24 MB in one step).
 */
import type {Manifest, ManifestFile} from './types.js'

const DIGEST = 32
/** Entries per block. */
const BLOCK = 4096
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

const newBlock = (): Block => ({
  text: Buffer.allocUnsafe(1 << 16),
  textUsed: 0,
  ends: new Uint32Array(BLOCK),
  sizes: new Float64Array(BLOCK),
  digests: Buffer.allocUnsafe(BLOCK * DIGEST),
})

export class CompactFiles {
  private readonly blocks: Block[] = []
  /** Entries that would not come back the same from UTF-8 and hex (a lone surrogate, a digest not lowercase hex). */
  private odd: Map<number, ManifestFile> | undefined
  /** Index by path, made at the first hard link (most trees have none). */
  private byPath: Map<string, number> | undefined
  length = 0

  add(path: string, size: number, sha256: string): void {
    const i = this.length
    const at = i % BLOCK
    if (at === 0) {
      const full = this.blocks.at(-1)
      // a full block's text cut to its size (its spare room was up to half of it)
      if (full) full.text = Buffer.from(full.text.subarray(0, full.textUsed))
      this.blocks.push(newBlock())
    }
    const block = this.blocks.at(-1) as Block
    if (block.text.length - block.textUsed < path.length * 3) {
      const more = Buffer.allocUnsafe(Math.max(block.text.length * 2, block.textUsed + path.length * 3))
      block.text.copy(more, 0, 0, block.textUsed)
      block.text = more
    }
    block.textUsed += block.text.write(path, block.textUsed, 'utf8')
    block.ends[at] = block.textUsed
    block.sizes[at] = size
    const written = block.digests.write(sha256, at * DIGEST, DIGEST, 'hex')
    if (written !== DIGEST || sha256.length !== 2 * DIGEST || SURROGATE.test(path) || /[^0-9a-f]/.test(sha256)) {
      this.odd ??= new Map()
      this.odd.set(i, {path, size, sha256})
    }
    this.byPath?.set(path, i)
    this.length++
  }

  /** Adds `path` as a hard link of the file `target` already added (same size and digest); false if there is none. */
  link(path: string, target: string): boolean {
    if (!this.byPath) {
      this.byPath = new Map()
      // an entry kept aside by its own path: its text would come back changed (a lone surrogate as U+FFFD)
      for (let i = 0; i < this.length; i++) this.byPath.set(this.odd?.get(i)?.path ?? this.pathAt(i), i)
    }
    const known = this.byPath.get(target)
    if (known === undefined) return false
    const file = this.at(known)
    this.add(path, file.size, file.sha256)
    return true
  }

  at(i: number): ManifestFile {
    const odd = this.odd?.get(i)
    if (odd) return {...odd}
    const block = this.blocks[Math.floor(i / BLOCK)] as Block
    const at = i % BLOCK
    return {
      path: this.pathAt(i),
      size: block.sizes[at] as number,
      sha256: block.digests.toString('hex', at * DIGEST, (at + 1) * DIGEST),
    }
  }

  /** The entries in order, `count` at a time, each a new array of new objects (nothing of them is kept). */
  *slices(count: number): Generator<ManifestFile[]> {
    for (let from = 0; from < this.length; from += count) {
      const slice: ManifestFile[] = []
      for (let i = from; i < Math.min(from + count, this.length); i++) slice.push(this.at(i))
      yield slice
    }
  }

  *[Symbol.iterator](): Generator<ManifestFile> {
    for (let i = 0; i < this.length; i++) yield this.at(i)
  }

  private pathAt(i: number): string {
    const block = this.blocks[Math.floor(i / BLOCK)] as Block
    const at = i % BLOCK
    return block.text.toString('utf8', at === 0 ? 0 : (block.ends[at - 1] as number), block.ends[at] as number)
  }
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
