// Writes synthetic but structurally valid FileStorage files, for tests and benchmarks (no ZODB needed):
// transactions of data records with tids from the clock, prev pointers, redundant lengths; a "pack" that
// rewrites the file keeping the current records (a new inode, renamed over, like ZODB's pack); and an
// unfinished ('c') transaction at the tail, as a commit in progress leaves it. Pickles are random bytes.
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, writeSync} from 'node:fs'
import {DATA_HEADER_LEN, MAGIC, TXN_HEADER_LEN} from './filestorage.js'
import {RecordParser} from './record-parser.js'

export interface CommitOptions {
  /** oids to write (numbers) */
  oids: number[]
  /** pickle size per record */
  size: number
  user?: string
  description?: string
  /** leave the transaction voted but unfinished (status 'c') */
  unfinished?: boolean
  /** pickle bytes to use (sliced to `size`) instead of random ones, e.g. compressible text for benchmarks */
  data?: Buffer
  /** called with the transaction's tid before it is written, as ZODB puts a blob's file in place before it commits */
  beforeWrite?: (tid: Buffer) => void
}

export class SyntheticStorage {
  private index = new Map<number, number>()
  private lastTid = 0n
  private end = 4

  private constructor(readonly path: string) {}

  /** Opens (or creates) a FileStorage; the existing file is parsed to learn its end, index and last tid. */
  static open(path: string): SyntheticStorage {
    const s = new SyntheticStorage(path)
    if (!existsSync(path)) {
      const fd = openSync(path, 'w')
      writeSync(fd, MAGIC)
      closeSync(fd)
      return s
    }
    const fd = openSync(path, 'r')
    try {
      const parser = new RecordParser({
        start: 0,
        onRecord: (oid, at) => s.index.set(Number(oid.readBigUInt64BE(0)), at),
      })
      const buf = Buffer.alloc(1 << 20)
      let pos = 0
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos)
        if (n === 0) break
        parser.push(buf.subarray(0, n))
        pos += n
      }
      parser.end()
      s.end = pos
      s.lastTid = parser.lastTransactionTid ? parser.lastTransactionTid.readBigUInt64BE(0) : 0n
    } finally {
      closeSync(fd)
    }
    return s
  }

  get size(): number {
    return this.end
  }

  /** Appends one transaction. Returns its offset. */
  commit(options: CommitOptions): number {
    if (options.data && options.data.length < options.size) throw new Error('data is shorter than size')
    const tid = this.nextTid()
    if (options.beforeWrite) {
      const raw = Buffer.alloc(8)
      raw.writeBigUInt64BE(tid)
      options.beforeWrite(raw)
    }
    const user = Buffer.from(options.user ?? 'bk-test')
    const descr = Buffer.from(options.description ?? '')
    const tpos = this.end
    const parts: Buffer[] = []
    let pos = tpos + TXN_HEADER_LEN + user.length + descr.length
    const updates: [number, number][] = []
    for (const oid of options.oids) {
      const h = Buffer.alloc(DATA_HEADER_LEN)
      h.writeBigUInt64BE(BigInt(oid), 0)
      h.writeBigUInt64BE(tid, 8)
      h.writeBigUInt64BE(BigInt(this.index.get(oid) ?? 0), 16)
      h.writeBigUInt64BE(BigInt(tpos), 24)
      h.writeUInt16BE(0, 32)
      h.writeBigUInt64BE(BigInt(options.size), 34)
      parts.push(h, options.data ? options.data.subarray(0, options.size) : randomBytes(options.size))
      updates.push([oid, pos])
      pos += DATA_HEADER_LEN + options.size
    }
    const tlen = pos - tpos
    const th = Buffer.alloc(TXN_HEADER_LEN)
    th.writeBigUInt64BE(tid, 0)
    th.writeBigUInt64BE(BigInt(tlen), 8)
    th.write(options.unfinished ? 'c' : ' ', 16, 'latin1')
    th.writeUInt16BE(user.length, 17)
    th.writeUInt16BE(descr.length, 19)
    th.writeUInt16BE(0, 21)
    const trailer = Buffer.alloc(8)
    trailer.writeBigUInt64BE(BigInt(tlen))
    const fd = openSync(this.path, 'r+')
    try {
      writeSync(fd, Buffer.concat([th, user, descr, ...parts, trailer]), 0, undefined, tpos)
    } finally {
      closeSync(fd)
    }
    if (!options.unfinished) {
      for (const [oid, at] of updates) this.index.set(oid, at)
      this.end = pos + 8
    }
    return tpos
  }

  /** Cuts the file back to the end of the last finished transaction (what ZODB's abort does). */
  truncateToEnd(): void {
    const fd = openSync(this.path, 'r+')
    try {
      if (fstatSync(fd).size > this.end) ftruncateSync(fd, this.end)
    } finally {
      closeSync(fd)
    }
  }

  /**
   * A pack: writes `<path>.pack` with one transaction holding the current record of every object (status
   * 'p'), renames the old file to `<path>.old` and the pack over the path.
   */
  pack(size = 64): void {
    const packPath = `${this.path}.pack`
    const fd = openSync(packPath, 'w')
    writeSync(fd, MAGIC)
    closeSync(fd)
    const packed = new SyntheticStorage(packPath)
    packed.lastTid = this.lastTid
    const oids = [...this.index.keys()].sort((a, b) => a - b)
    packed.commit({oids, size, description: 'packed'})
    const pfd = openSync(packPath, 'r+')
    writeSync(pfd, Buffer.from('p'), 0, 1, 4 + 16)
    closeSync(pfd)
    renameSync(this.path, `${this.path}.old`)
    renameSync(packPath, this.path)
    this.index = packed.index
    this.lastTid = packed.lastTid
    this.end = packed.end
  }

  private nextTid(): bigint {
    const now = new Date()
    const minutes =
      ((((now.getUTCFullYear() - 1900) * 12 + now.getUTCMonth()) * 31 + now.getUTCDate() - 1) * 24 +
        now.getUTCHours()) *
        60 +
      now.getUTCMinutes()
    const seconds = now.getUTCSeconds() + now.getUTCMilliseconds() / 1000
    let tid = (BigInt(minutes) << 32n) | BigInt(Math.floor(seconds / (60 / 2 ** 32)))
    if (tid <= this.lastTid) tid = this.lastTid + 1n
    this.lastTid = tid
    return tid
  }
}
