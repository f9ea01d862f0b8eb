// A streaming FileStorage parser: fed the bytes of a Data.fs (or of a repozo chain, concatenated) chunk by
// chunk as they are copied, it checks the structure fstest checks (transaction and data record headers,
// redundant lengths, tloc) and reports each data record's oid and offset, so the `.index` is built in the
// same pass as the copy. Pickles are skipped without being buffered.
import {COMMITTED_STATUSES, DATA_HEADER_LEN, MAGIC, readU64, TXN_HEADER_LEN} from './filestorage.js'

export class StructureError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message)
  }
}

type State = 'magic' | 'txn' | 'data' | 'trailer' | 'skip'

export interface ParserOptions {
  /** absolute offset of the first byte fed (0 → the FS30 magic is expected first) */
  start: number
  /** called for every data record of a transaction that is not undone: FileStorage's read_index rule */
  onRecord?: (oid: Buffer, offset: number) => void
}

export class RecordParser {
  private pos: number
  private state: State
  private need: number
  private carry: Buffer[] = []
  private carried = 0
  private skipLeft = 0
  private afterSkip: State = 'txn'
  private tpos = 0
  private tend = 0
  private tlen = 0
  private undone = false
  private lastTid: Buffer | undefined
  transactions = 0
  records = 0
  /** tids that did not increase (fstest: "time-stamp reduction"); FileStorage only warns */
  tidWarnings = 0

  constructor(private readonly options: ParserOptions) {
    this.pos = options.start
    this.state = options.start === 0 ? 'magic' : 'txn'
    this.need = options.start === 0 ? 4 : TXN_HEADER_LEN
  }

  get offset(): number {
    return this.pos
  }

  get lastTransactionTid(): Buffer | undefined {
    return this.lastTid
  }

  push(chunk: Buffer): void {
    let i = 0
    while (i < chunk.length) {
      if (this.state === 'skip') {
        const n = Math.min(this.skipLeft, chunk.length - i)
        i += n
        this.pos += n
        this.skipLeft -= n
        if (this.skipLeft === 0) this.enter(this.afterSkip)
        continue
      }
      // gather `need` bytes, from the chunk directly when possible
      let head: Buffer
      if (this.carried === 0 && chunk.length - i >= this.need) {
        head = chunk.subarray(i, i + this.need)
        i += this.need
      } else {
        const n = Math.min(this.need - this.carried, chunk.length - i)
        this.carry.push(chunk.subarray(i, i + n))
        this.carried += n
        i += n
        if (this.carried < this.need) continue
        head = Buffer.concat(this.carry, this.carried)
        this.carry = []
        this.carried = 0
      }
      this.handle(head)
    }
  }

  /** Call after the last chunk: the bytes must end exactly on a transaction boundary. */
  end(): void {
    if (this.state !== 'txn' || this.carried !== 0) {
      const what = this.state === 'magic' ? 'the FS30 header' : 'a transaction'
      throw new StructureError(`data ends inside ${what} at offset ${this.pos + this.carried}`, this.pos)
    }
  }

  private enter(state: State): void {
    this.state = state
    if (state === 'txn') this.need = TXN_HEADER_LEN
    else if (state === 'data') {
      if (this.pos === this.tend) {
        this.enter('trailer')
        return
      }
      this.need = DATA_HEADER_LEN
    } else if (state === 'trailer') this.need = 8
  }

  private skip(n: number, then: State): void {
    if (n === 0) {
      this.enter(then)
      return
    }
    this.state = 'skip'
    this.skipLeft = n
    this.afterSkip = then
  }

  private handle(b: Buffer): void {
    const at = this.pos
    this.pos += b.length
    switch (this.state) {
      case 'magic':
        if (!b.equals(MAGIC)) throw new StructureError('not a FileStorage: the file does not start with FS30', 0)
        this.enter('txn')
        return
      case 'txn': {
        const tlen = readU64(b, 8)
        const status = String.fromCharCode(b[16]!)
        const meta = b.readUInt16BE(17) + b.readUInt16BE(19) + b.readUInt16BE(21)
        if (status === 'c') throw new StructureError(`transaction at ${at} was voted but never finished`, at)
        if (!COMMITTED_STATUSES.has(status)) throw new StructureError(`transaction at ${at} has invalid status`, at)
        if (tlen < TXN_HEADER_LEN + meta) throw new StructureError(`transaction at ${at} has an invalid length`, at)
        const tid = b.subarray(0, 8)
        if (this.lastTid && Buffer.compare(tid, this.lastTid) <= 0) this.tidWarnings++
        this.lastTid = Buffer.from(tid)
        this.tpos = at
        this.tlen = tlen
        this.tend = at + tlen
        this.undone = status === 'u'
        if (this.undone) {
          this.skip(this.tend - this.pos, 'trailer')
          return
        }
        this.skip(meta, 'data')
        return
      }
      case 'data': {
        const tloc = readU64(b, 24)
        const vlen = b.readUInt16BE(32)
        const plen = readU64(b, 34)
        if (tloc !== this.tpos) throw new StructureError(`data record at ${at} points to the wrong transaction`, at)
        if (vlen !== 0) throw new StructureError(`data record at ${at} has a version (unsupported)`, at)
        const body = plen === 0 ? 8 : plen
        if (at + DATA_HEADER_LEN + body > this.tend) {
          throw new StructureError(`data record at ${at} runs past its transaction`, at)
        }
        this.records++
        this.options.onRecord?.(b.subarray(0, 8), at)
        this.skip(body, 'data')
        return
      }
      case 'trailer':
        if (readU64(b, 0) !== this.tlen) {
          throw new StructureError(`inconsistent transaction length at ${at} (transaction at ${this.tpos})`, at)
        }
        this.transactions++
        this.enter('txn')
        return
      default:
        throw new Error(`parser in state ${this.state}`)
    }
  }
}
