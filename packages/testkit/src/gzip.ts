import {inflateRawSync} from 'node:zlib'

/** One gzip member of a file: its XFL byte (2: slowest level, 4: fastest) and the bytes it decodes to. */
export interface GzipMember {
  xfl: number
  data: Buffer
}

/** Every gzip member of a file, in order (throws where a member does not start with gzip's magic and deflate). */
export function gzipMembers(file: Buffer): GzipMember[] {
  const members: GzipMember[] = []
  let at = 0
  while (at < file.length) {
    if (file[at] !== 0x1f || file[at + 1] !== 0x8b || file[at + 2] !== 8) {
      throw new Error(`no gzip member at byte ${at}`)
    }
    const flags = file[at + 3] as number
    const xfl = file[at + 8] as number
    let p = at + 10
    if (flags & 4) p += 2 + file.readUInt16LE(p) // FEXTRA
    if (flags & 8) p = file.indexOf(0, p) + 1 // FNAME
    if (flags & 16) p = file.indexOf(0, p) + 1 // FCOMMENT
    if (flags & 2) p += 2 // FHCRC
    const {buffer, engine} = inflateRawSync(file.subarray(p), {info: true}) as unknown as {
      buffer: Buffer
      engine: {bytesWritten: number}
    }
    members.push({xfl, data: buffer})
    at = p + engine.bytesWritten + 8 // CRC-32 and ISIZE
  }
  return members
}
