// The `.index` repozo writes beside each backup (ZODB fsIndex.save): a stream of protocol-3 pickles —
// pos, then one (oid[:6], suffixes + values) pair per 6-byte oid prefix in ascending order, then None.
// A bucket's bytes are all 2-byte oid suffixes (sorted), then all 6-byte big-endian record offsets.
import {open, readFile} from 'node:fs/promises'
import {PickleReader, pickleBytesPair, pickleInt, pickleNone} from './pickle.js'

/**
 * Oids a dense table holds at most (8 bytes each: 32 MiB). ZODB hands oids out from 0 upwards, so a table indexed by
 * oid holds an index with no hashing per entry; an oid far beyond the table's end goes to a map instead.
 */
const DENSE_MAX = 1 << 22

/** oid → offset of its current data record. Oids are kept as numbers (ZODB hands them out from 0 upwards). */
export class FsIndex {
  /** offset by oid; 0 = none (a data record is never at 0: the file starts with its magic) */
  private dense = new Float64Array(0)
  private denseCount = 0
  /** oids below 2^53 at or beyond the dense table's end */
  private readonly sparse = new Map<number, number>()
  private readonly big = new Map<bigint, number>()

  get size(): number {
    return this.denseCount + this.sparse.size + this.big.size
  }

  set(oid: Buffer, offset: number): void {
    const hi = oid.readUInt32BE(0)
    if (hi < 0x200000) this.setSmall(hi * 0x1_0000_0000 + oid.readUInt32BE(4), offset)
    else this.big.set(oid.readBigUInt64BE(0), offset)
  }

  /** An oid below 2^53, as a number. */
  setSmall(oid: number, offset: number): void {
    const dense = this.dense
    if (oid < dense.length) {
      if (dense[oid] === 0) this.denseCount++
      dense[oid] = offset
      return
    }
    if (oid < DENSE_MAX && oid < 2 * dense.length + 0x10000) {
      this.grow(Math.min(DENSE_MAX, Math.max(oid + 1, 2 * dense.length, 0x10000)))
      this.setSmall(oid, offset)
      return
    }
    this.sparse.set(oid, offset)
  }

  /** A larger dense table; the sparse oids it now covers move into it. */
  private grow(length: number): void {
    const next = new Float64Array(length)
    next.set(this.dense)
    this.dense = next
    for (const [oid, offset] of this.sparse) {
      if (oid >= length) continue
      this.sparse.delete(oid)
      this.denseCount++
      next[oid] = offset
    }
  }

  setNumber(oid: bigint, offset: number): void {
    if (oid < 0x20_0000_0000_0000n) this.setSmall(Number(oid), offset)
    else this.big.set(oid, offset)
  }

  /** Entries in ascending oid order. */
  *sorted(): Generator<[bigint, number]> {
    const {keys, get} = this.sortedSmall()
    for (const k of keys) yield [BigInt(k), get(k)]
    yield* this.sortedBig()
  }

  /** The oids below 2^53, sorted, as numbers (every oid a ZODB hands out in practice). */
  sortedSmall(): {keys: Float64Array; get: (oid: number) => number} {
    // the dense table in order, then the sparse oids (all beyond its end), sorted
    const dense = this.dense
    const sparse = Float64Array.from(this.sparse.keys()).sort()
    const keys = new Float64Array(this.denseCount + sparse.length)
    let n = 0
    for (let k = 0; k < dense.length; k++) if (dense[k] !== 0) keys[n++] = k
    keys.set(sparse, n)
    const length = dense.length
    return {keys, get: (k) => (k < length ? dense[k]! : this.sparse.get(k)!)}
  }

  /** The oids from 2^53 on, sorted. */
  *sortedBig(): Generator<[bigint, number]> {
    const bigKeys = [...this.big.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    for (const k of bigKeys) yield [k, this.big.get(k)!]
  }
}

/** Serialises an index exactly as fsIndex.save(pos, file) does. Returns the bytes in pieces (one per bucket). */
export function* encodeIndex(pos: number, index: FsIndex): Generator<Buffer> {
  yield pickleInt(pos)
  // oids below 2^53 (all of them in practice) are grouped by their 6-byte prefix with plain number arithmetic
  const {keys: smallKeys, get} = index.sortedSmall()
  let at = 0
  while (at < smallKeys.length) {
    const prefix = Math.floor(smallKeys[at]! / 0x10000)
    let stop = at + 1
    while (stop < smallKeys.length && Math.floor(smallKeys[stop]! / 0x10000) === prefix) stop++
    yield bucket(prefix, smallKeys.subarray(at, stop), get)
    at = stop
  }
  let prefix: bigint | undefined
  let keys: number[] = []
  let values: number[] = []
  const flush = function* () {
    if (prefix === undefined) return
    const p = Buffer.alloc(8)
    p.writeBigUInt64BE(prefix << 16n)
    const b = Buffer.alloc(keys.length * 8)
    keys.forEach((k, i) => {
      b.writeUInt16BE(k, i * 2)
      b.writeUIntBE(values[i]!, keys.length * 2 + i * 6, 6)
    })
    yield pickleBytesPair(p.subarray(0, 6), b)
  }
  for (const [oid, offset] of index.sortedBig()) {
    const pre = oid >> 16n
    if (pre !== prefix) {
      yield* flush()
      prefix = pre
      keys = []
      values = []
    }
    keys.push(Number(oid & 0xffffn))
    values.push(offset)
  }
  yield* flush()
  yield pickleNone()
}

/** One bucket: the 6-byte prefix, then the 2-byte suffixes, then the 6-byte offsets. */
function bucket(prefix: number, keys: Float64Array, get: (k: number) => number): Buffer {
  const p = Buffer.alloc(6)
  p.writeUIntBE(prefix, 0, 6)
  const n = keys.length
  const b = Buffer.allocUnsafe(n * 8)
  // byte stores, not write*BE calls (which check their arguments each time): 100k entries in ~1 ms, not ~20
  for (let i = 0, at = 0, v = n * 2; i < n; i++, at += 2, v += 6) {
    const k = keys[i]!
    b[at] = (k >>> 8) & 0xff
    b[at + 1] = k & 0xff
    // 6 bytes big-endian: the high 16 bits, then the low 32 (`>>> 0` is the offset modulo 2^32)
    const offset = get(k)
    const hi = Math.floor(offset / 0x1_0000_0000)
    const lo = offset >>> 0
    b[v] = (hi >>> 8) & 0xff
    b[v + 1] = hi & 0xff
    b[v + 2] = lo >>> 24
    b[v + 3] = (lo >>> 16) & 0xff
    b[v + 4] = (lo >>> 8) & 0xff
    b[v + 5] = lo & 0xff
  }
  return pickleBytesPair(p, b)
}

/** Writes the index to `path`; the caller makes it atomic and durable (one fsync, its own). */
export async function writeIndexFile(path: string, pos: number, index: FsIndex): Promise<void> {
  const fh = await open(path, 'w', 0o644)
  try {
    let batch: Buffer[] = []
    let size = 0
    for (const piece of encodeIndex(pos, index)) {
      batch.push(piece)
      size += piece.length
      if (size >= 1 << 20) {
        await fh.write(Buffer.concat(batch, size))
        batch = []
        size = 0
      }
    }
    if (size) await fh.write(Buffer.concat(batch, size))
  } finally {
    await fh.close()
  }
}

export class IndexFormatError extends Error {}

/** Reads only the first pickle: the position the index is valid for. */
export async function readIndexPos(path: string): Promise<number> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(64)
    const {bytesRead} = await fh.read(buf, 0, 64, 0)
    const v = new PickleReader(buf.subarray(0, bytesRead)).next()
    if (typeof v === 'number') return v
    if (typeof v === 'bigint') return Number(v)
    throw new IndexFormatError('not an fsIndex file (first object is not a position)')
  } catch (e) {
    if (e instanceof IndexFormatError) throw e
    throw new IndexFormatError(`not an fsIndex file (${(e as Error).message})`)
  } finally {
    await fh.close()
  }
}

/** Loads an index file (it is O(objects): ~8 bytes per object). */
export async function readIndexFile(path: string): Promise<{pos: number; index: FsIndex}> {
  const buf = await readFile(path)
  const r = new PickleReader(buf)
  try {
    const first = r.next()
    if (typeof first !== 'number' && typeof first !== 'bigint') {
      throw new IndexFormatError('old dict-format index (not supported)')
    }
    const index = new FsIndex()
    for (;;) {
      const item = r.next()
      if (item === null) break
      if (!Array.isArray(item) || item.length !== 2 || !Buffer.isBuffer(item[0]) || !Buffer.isBuffer(item[1])) {
        throw new IndexFormatError('unexpected object in the index')
      }
      const [prefix, bucket] = item as [Buffer, Buffer]
      if (prefix.length !== 6 || bucket.length % 8 !== 0) throw new IndexFormatError('malformed index bucket')
      const n = bucket.length / 8
      const hi = prefix.readUIntBE(0, 6)
      if (hi < 0x20_0000_0000) {
        // the whole bucket's oids are below 2^53: number arithmetic, no BigInt per entry
        // offsets are 6 bytes big-endian: the high 16 bits, then the low 32 (readUIntBE(…, 6) is several times slower)
        const base = hi * 0x10000
        for (let i = 0, at = n * 2; i < n; i++, at += 6) {
          const offset =
            ((bucket[at]! << 8) | bucket[at + 1]!) * 0x1_0000_0000 +
            ((bucket[at + 2]! << 24) >>> 0) +
            ((bucket[at + 3]! << 16) | (bucket[at + 4]! << 8) | bucket[at + 5]!)
          index.setSmall(base + ((bucket[i * 2]! << 8) | bucket[i * 2 + 1]!), offset)
        }
        continue
      }
      const base = (BigInt(hi) << 16n) as bigint
      for (let i = 0; i < n; i++) {
        const oid = base | BigInt(bucket.readUInt16BE(i * 2))
        const offset = bucket.readUIntBE(n * 2 + i * 6, 6)
        index.setNumber(oid, offset)
      }
    }
    return {pos: Number(first), index}
  } catch (e) {
    if (e instanceof IndexFormatError) throw e
    throw new IndexFormatError(`cannot read the index: ${(e as Error).message}`)
  }
}
