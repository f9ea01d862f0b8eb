// The few pickle opcodes repozo's `.index` uses (protocol 3, `fast` mode: no memo), as CPython writes them.
// Writer: exactly CPython's choices, so a bk-written .index is byte-identical to repozo's.
// Reader: accepts the same objects written with any of the usual opcodes (fsIndex.load accepts any valid pickle).

export type PickleValue = number | bigint | Buffer | null | PickleValue[]

const PROTO = 0x80
const STOP = 0x2e // .
const NONE = 0x4e // N
const BININT = 0x4a // J: int32 LE
const BININT1 = 0x4b // K: uint8
const BININT2 = 0x4d // M: uint16 LE
const LONG1 = 0x8a // n (1 byte) + two's complement LE
const SHORT_BINBYTES = 0x43 // C: len (1 byte) + bytes
const BINBYTES = 0x42 // B: len (u32 LE) + bytes
const TUPLE1 = 0x85
const TUPLE2 = 0x86
const TUPLE3 = 0x87
const MARK = 0x28 // (
const TUPLE = 0x74 // t
const EMPTY_TUPLE = 0x29 // )
const BINPUT = 0x71 // q (memo, ignored by the reader)
const LONG_BINPUT = 0x72 // r
const MEMOIZE = 0x94
const FRAME = 0x95
const SHORT_BINUNICODE = 0x8c
const BINUNICODE = 0x58 // X
const NEWTRUE = 0x88
const NEWFALSE = 0x89

/** One complete pickle (`\x80\x03 … .`) of an int, as CPython's save_long writes it. */
export function pickleInt(value: number | bigint): Buffer {
  return frame(encodeInt(BigInt(value)))
}

/** One complete pickle of `None`. */
export function pickleNone(): Buffer {
  return frame(Buffer.from([NONE]))
}

/** One complete pickle of a 2-tuple of bytes objects, e.g. fsIndex's `(prefix, bucket.toString())`. */
export function pickleBytesPair(a: Buffer, b: Buffer): Buffer {
  return frame(Buffer.concat([encodeBytes(a), encodeBytes(b), Buffer.from([TUPLE2])]))
}

function frame(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([PROTO, 3]), body, Buffer.from([STOP])])
}

function encodeBytes(b: Buffer): Buffer {
  if (b.length <= 0xff) return Buffer.concat([Buffer.from([SHORT_BINBYTES, b.length]), b])
  const head = Buffer.alloc(5)
  head[0] = BINBYTES
  head.writeUInt32LE(b.length, 1)
  return Buffer.concat([head, b])
}

function encodeInt(v: bigint): Buffer {
  if (v >= 0n && v <= 0xffn) return Buffer.from([BININT1, Number(v)])
  if (v >= 0n && v <= 0xffffn) {
    const b = Buffer.alloc(3)
    b[0] = BININT2
    b.writeUInt16LE(Number(v), 1)
    return b
  }
  if (v >= -0x80000000n && v <= 0x7fffffffn) {
    const b = Buffer.alloc(5)
    b[0] = BININT
    b.writeInt32LE(Number(v), 1)
    return b
  }
  // LONG1: minimal little-endian two's complement (pickle.encode_long).
  const bytes: number[] = []
  let x = v
  for (;;) {
    const byte = Number(x & 0xffn)
    bytes.push(byte)
    x >>= 8n
    const signBit = (byte & 0x80) !== 0
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break
  }
  return Buffer.from([LONG1, bytes.length, ...bytes])
}

export class PickleError extends Error {}

/**
 * Reads a stream of consecutive pickles from a buffer: `next()` returns the next object or throws PickleError.
 * Only the opcodes needed for ints, bytes, None, bools, short strings and tuples are understood.
 */
export class PickleReader {
  private pos = 0
  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos
  }

  get done(): boolean {
    return this.pos >= this.buf.length
  }

  next(): PickleValue {
    const stack: (PickleValue | typeof MARK_OBJ)[] = []
    for (;;) {
      const op = this.u8()
      switch (op) {
        case PROTO:
          this.u8()
          break
        case FRAME:
          this.take(8)
          break
        case STOP: {
          if (stack.length !== 1 || stack[0] === MARK_OBJ) throw new PickleError('unbalanced pickle')
          return stack[0] as PickleValue
        }
        case NONE:
          stack.push(null)
          break
        case NEWTRUE:
          stack.push(1)
          break
        case NEWFALSE:
          stack.push(0)
          break
        case BININT1:
          stack.push(this.u8())
          break
        case BININT2:
          stack.push(this.take(2).readUInt16LE(0))
          break
        case BININT:
          stack.push(this.take(4).readInt32LE(0))
          break
        case LONG1: {
          const n = this.u8()
          stack.push(decodeLong(this.take(n)))
          break
        }
        case SHORT_BINBYTES:
          stack.push(Buffer.from(this.take(this.u8())))
          break
        case BINBYTES:
          stack.push(Buffer.from(this.take(this.take(4).readUInt32LE(0))))
          break
        case SHORT_BINUNICODE:
          stack.push(Buffer.from(this.take(this.u8())))
          break
        case BINUNICODE:
          stack.push(Buffer.from(this.take(this.take(4).readUInt32LE(0))))
          break
        case EMPTY_TUPLE:
          stack.push([])
          break
        case TUPLE1:
        case TUPLE2:
        case TUPLE3: {
          const n = op - TUPLE1 + 1
          if (stack.length < n) throw new PickleError('tuple needs more items')
          stack.push(stack.splice(stack.length - n, n) as PickleValue[])
          break
        }
        case MARK:
          stack.push(MARK_OBJ)
          break
        case TUPLE: {
          const at = stack.lastIndexOf(MARK_OBJ)
          if (at < 0) throw new PickleError('tuple without mark')
          const items = stack.splice(at + 1) as PickleValue[]
          stack.pop()
          stack.push(items)
          break
        }
        case BINPUT:
          this.u8()
          break
        case LONG_BINPUT:
          this.take(4)
          break
        case MEMOIZE:
          break
        default:
          throw new PickleError(`unsupported pickle opcode 0x${op.toString(16)} at byte ${this.pos - 1}`)
      }
    }
  }

  private u8(): number {
    if (this.pos >= this.buf.length) throw new PickleError('pickle data ends early')
    return this.buf[this.pos++]!
  }

  private take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new PickleError('pickle data ends early')
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

const MARK_OBJ = Symbol('mark')

function decodeLong(bytes: Buffer): bigint | number {
  if (bytes.length === 0) return 0
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!)
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8)
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}
