/**
 * A manifest's files list kept off V8's heap while an archive is written: paths as UTF-8 in one growing buffer,
 * sizes in a Float64Array, digests as their 32 bytes. About 90 bytes a file, where an object with two strings took
 * ~200 on the heap and, surviving collection after collection, grew V8's young generation to its largest (a backup of
 * 128 000 files: ~12 MB instead of ~55 MB, its peak).
 */
import type {Manifest, ManifestFile} from './types.js'

const DIGEST = 32
/** A UTF-16 surrogate: a lone one would not come back from UTF-8 (a pair would, but is rare enough to keep aside). */
const SURROGATE = /[\uD800-\uDFFF]/

export class CompactFiles {
  private text = Buffer.allocUnsafe(1 << 16)
  private textUsed = 0
  private ends = new Float64Array(1024)
  private sizes = new Float64Array(1024)
  private digests = Buffer.allocUnsafe(1024 * DIGEST)
  /** Entries that would not come back the same from UTF-8 and hex (a lone surrogate, a digest not lowercase hex). */
  private odd: Map<number, ManifestFile> | undefined
  /** Index by path, made at the first hard link (most trees have none). */
  private byPath: Map<string, number> | undefined
  length = 0

  add(path: string, size: number, sha256: string): void {
    const i = this.length
    if (i === this.sizes.length) this.grow()
    if (this.text.length - this.textUsed < path.length * 3) {
      const more = Buffer.allocUnsafe(Math.max(this.text.length * 2, this.textUsed + path.length * 3))
      this.text.copy(more, 0, 0, this.textUsed)
      this.text = more
    }
    this.textUsed += this.text.write(path, this.textUsed, 'utf8')
    this.ends[i] = this.textUsed
    this.sizes[i] = size
    const written = this.digests.write(sha256, i * DIGEST, DIGEST, 'hex')
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
      for (let i = 0; i < this.length; i++) this.byPath.set(this.pathAt(i), i)
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
    return {
      path: this.pathAt(i),
      size: this.sizes[i] as number,
      sha256: this.digests.toString('hex', i * DIGEST, (i + 1) * DIGEST),
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
    return this.text.toString('utf8', i === 0 ? 0 : (this.ends[i - 1] as number), this.ends[i] as number)
  }

  private grow(): void {
    const n = this.sizes.length * 2
    const ends = new Float64Array(n)
    ends.set(this.ends)
    this.ends = ends
    const sizes = new Float64Array(n)
    sizes.set(this.sizes)
    this.sizes = sizes
    const digests = Buffer.allocUnsafe(n * DIGEST)
    this.digests.copy(digests)
    this.digests = digests
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
