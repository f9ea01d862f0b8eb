/**
 * Reading bk archives damaged by an old defect: before this fix, createBkArchive compressed its manifest member
 * through execa with `stripFinalNewline` on, so when that zstd frame's last byte was 0x0a (1 archive in 256) the
 * byte was dropped, and when its last two bytes were 0x0d 0x0a (1 in 65536) both were (strip-final-newline drops a
 * final CR LF whole). The body frame that follows is intact; only the head frame's checksum lacks its last byte, so
 * zstd and GNU tar refuse the whole file. Such a file is recognised exactly (the first frame, parsed block by
 * block, ends one byte after the second frame's magic number) and read with the byte put back; the frame checksum
 * then proves the repair, so nothing is ever guessed.
 */
import {execFile} from 'node:child_process'
import {readSync} from 'node:fs'
import type {FileHandle} from 'node:fs/promises'
import {open} from 'node:fs/promises'

const MAGIC = 0xfd2fb528
/** Largest first frame looked at: bk's manifest frame of a million files is ~100 MiB uncompressed, far less packed. */
const MAX_HEAD_FRAME = 256 * 1024 * 1024
/** What execa stripped: a final LF, or a final CR LF. */
const STRIPPED = [Buffer.of(0x0a), Buffer.of(0x0d, 0x0a)]

/** Where the dropped bytes go back (an offset into the file) and which they are. */
export interface MissingHead {
  offset: number
  bytes: Buffer
}

/** Offset just past the first zstd frame of the file (with its checksum), or undefined if it does not parse. */
function firstFrameEnd(handle: FileHandle, size: number): {end: number; checksum: boolean} | undefined {
  const buf = Buffer.alloc(18)
  // positioned reads on the calling thread: a tar --zstd archive's one frame is walked through ~8 block headers a
  // MiB (2000 for 250 MB), and a thread-pool round trip for each cost 0.3-0.9 s before extraction began
  const at = (pos: number, n: number) => {
    if (pos + n > size) return undefined
    const bytesRead = readSync(handle.fd, buf, 0, n, pos)
    return bytesRead === n ? buf : undefined
  }
  const head = at(0, 5)
  if (!head || head.readUInt32LE(0) !== MAGIC) return undefined
  const fhd = head[4] as number
  if (fhd & 0x08) return undefined // reserved bit
  const fcsFlag = fhd >> 6
  const singleSegment = (fhd >> 5) & 1
  const checksum = Boolean((fhd >> 2) & 1)
  const dictIdBytes = [0, 1, 2, 4][fhd & 3] as number
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] as number
  let pos = 5 + (singleSegment ? 0 : 1) + dictIdBytes + fcsBytes
  for (;;) {
    const block = at(pos, 3)
    if (!block) return undefined
    const header = block.readUIntLE(0, 3)
    const last = header & 1
    const type = (header >> 1) & 3
    const blockSize = header >> 3
    if (type === 3) return undefined // reserved block type
    pos += 3 + (type === 1 ? 1 : blockSize)
    // a manifest frame is far smaller: a huge first frame (another tool's archive) is not walked block by block
    if (pos > MAX_HEAD_FRAME) return undefined
    if (last) break
  }
  return {end: pos + (checksum ? 4 : 0), checksum}
}

/**
 * Where to put back the bytes the old defect dropped (an offset into the file) and which, or undefined when the file
 * does not have that defect (the usual case; also for any other damage, which then fails as it would have).
 */
export async function missingHeadBytes(file: string): Promise<MissingHead | undefined> {
  const handle = await open(file, 'r')
  try {
    const {size} = await handle.stat()
    const frame = firstFrameEnd(handle, size)
    if (!frame?.checksum || frame.end < 9 || frame.end > size) return undefined
    const next = Buffer.alloc(4)
    const read = async (pos: number) => (await handle.read(next, 0, 4, pos)).bytesRead === 4
    if (frame.end + 4 <= size && (await read(frame.end)) && next.readUInt32LE(0) === MAGIC) return undefined
    if (frame.end === size) return undefined // a single healthy frame
    for (const bytes of STRIPPED) {
      const offset = frame.end - bytes.length
      if (!(await read(offset)) || next.readUInt32LE(0) !== MAGIC) continue
      // prove it: the head frame with the bytes put back must pass zstd's own check (content checksum included)
      const head = Buffer.alloc(frame.end)
      const {bytesRead} = await handle.read(head, 0, offset, 0)
      if (bytesRead !== offset) return undefined
      bytes.copy(head, offset)
      return (await zstdAccepts(head)) ? {offset, bytes} : undefined
    }
    return undefined
  } finally {
    await handle.close()
  }
}

function zstdAccepts(frame: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const child = execFile('zstd', ['-t', '-q'], {timeout: 60_000}, (error) => resolve(!error))
    child.stdin?.on('error', () => {})
    child.stdin?.end(frame)
  })
}
