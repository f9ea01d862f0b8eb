// Test helper: zstd frames built by hand (raw blocks, with xxh64 content checksum), so that a test can choose the
// frame's last bytes (zstd's own output would take tens of thousands of runs to end in a given pair of bytes).

const M = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n
const rotl = (x: bigint, r: number) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M, 31) * P1) & M
const merge = (acc: bigint, val: bigint) => ((acc ^ round(0n, val)) * P1 + P4) & M

/** The four xxh64 lanes after the first `n` bytes (n a multiple of 32). */
export type Lanes = [bigint, bigint, bigint, bigint]

export function lanesOf(buf: Buffer, n: number): Lanes {
  const v: Lanes = [(P1 + P2) & M, P2, 0n, (M + 1n - P1) & M]
  for (let p = 0; p + 32 <= n; p += 32)
    for (let i = 0; i < 4; i++) v[i] = round(v[i] as bigint, buf.readBigUInt64LE(p + 8 * i))
  return v
}

/** XXH64 (seed 0) of `buf`; `lanes` after its first `from` bytes may be handed in to skip them. */
export function xxh64(buf: Buffer, from = 0, lanes?: Lanes): bigint {
  const len = buf.length
  let p = from
  let h: bigint
  if (len >= 32) {
    const v = lanes ? ([...lanes] as Lanes) : lanesOf(buf, 0)
    for (; p + 32 <= len; p += 32)
      for (let i = 0; i < 4; i++) v[i] = round(v[i] as bigint, buf.readBigUInt64LE(p + 8 * i))
    const [v1, v2, v3, v4] = v
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) & M
    for (const lane of v) h = merge(h, lane)
  } else h = P5
  h = (h + BigInt(len)) & M
  for (; p + 8 <= len; p += 8) h = (((rotl(h ^ round(0n, buf.readBigUInt64LE(p)), 27) * P1) & M) + P4) & M
  for (; p + 4 <= len; p += 4) h = (rotl(h ^ ((BigInt(buf.readUInt32LE(p)) * P1) & M), 23) * P2 + P3) & M
  for (; p < len; p++) h = (rotl(h ^ ((BigInt(buf[p] as number) * P5) & M), 11) * P1) & M
  h ^= h >> 33n
  h = (h * P2) & M
  h ^= h >> 29n
  h = (h * P3) & M
  h ^= h >> 32n
  return h
}

/** The 4 checksum bytes zstd writes after a frame of `data`. */
export function frameChecksum(data: Buffer, from = 0, lanes?: Lanes): Buffer {
  const sum = Buffer.alloc(4)
  sum.writeUInt32LE(Number(xxh64(data, from, lanes) & 0xffffffffn), 0)
  return sum
}

/** A zstd frame holding `data` (< 128 KiB) in one raw block, with a content checksum. */
export function rawFrame(data: Buffer, options: {singleSegment?: boolean; dictId?: number} = {}): Buffer {
  const {singleSegment = false, dictId} = options
  const dictBytes = dictId === undefined ? 0 : 4
  // FHD: fcs flag 0 (single segment: 1 byte of size), single-segment bit, checksum bit, dictionary id size
  const fhd = (singleSegment ? 0x20 : 0) | 0x04 | (dictBytes ? 3 : 0)
  const header: number[] = [0x28, 0xb5, 0x2f, 0xfd, fhd]
  if (!singleSegment) header.push(0x58) // window descriptor: 8 MiB
  if (dictId !== undefined) header.push(dictId & 0xff, (dictId >> 8) & 0xff, (dictId >> 16) & 0xff, dictId >>> 24)
  if (singleSegment) header.push(data.length) // frame content size, 1 byte: data < 256 bytes
  const block = Buffer.alloc(3)
  block.writeUIntLE((data.length << 3) | 1, 0, 3) // last block, raw
  return Buffer.concat([Buffer.from(header), block, data, frameChecksum(data)])
}
